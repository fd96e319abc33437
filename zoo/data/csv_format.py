"""How a CSV file is written: the separator between its fields and its decimal mark, as given (`data.sep`,
`data.decimal`) or sniffed from its first lines, with the line a run says first where they were sniffed. A file saved
by a spreadsheet in a European locale has ';' between fields and ',' as the decimal mark; read as a plain CSV, its
first line is one field and its next ones several. Light: the standard library alone (zoo-predict reads tables too).
"""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ZooError

# The separators a CSV file may use, by the name a message gives them.
SEPARATORS = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}
SNIFFED_LINES = 200  # the lines of a file its format is sniffed from
DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is read: the separator between fields, the decimal mark, and what was sniffed, as the line a
    run says first (None where the file is read as zoo reads CSV files by default, or as data.sep says)."""

    sep: str
    decimal: str
    note: str | None = None


def csv_format(file: Path, key: str, sep: str | None = None, decimal: str | None = None) -> CsvFormat:
    """The separator and decimal mark of a CSV file: those given, else sniffed from its first lines.

    The separator is the default (a comma; a tab in a .tsv file) where every line has the header's number of fields
    with it; else the one other separator of , ; | and tab that gives every line the same number of fields, more
    than one (csv.Sniffer's test, the consistency of the counts, made explicit so that a refusal can say why). Where
    none does and the header splits into more fields by another separator than by the default, that is one line
    naming the separator seen and data.sep. The decimal mark is a comma where the separator is not and the numbers
    are written 3,14, never 3.14."""
    default = "\t" if file.suffix.lower() == ".tsv" else ","
    given = sep is not None
    if decimal is not None and decimal not in (".", ","):
        raise ZooError(f"data.decimal={decimal!r} must be '.' or ','")
    lines = first_lines(file)
    chosen = separator_setting(sep) if sep is not None else sniffed_separator(file, key, lines, default)
    sniffed_decimal = decimal is None
    if decimal is None:
        decimal = "," if chosen != "," and decimal_comma(lines, chosen) else "."
    said = [f"{SEPARATORS.get(chosen, repr(chosen))} between fields"] * (chosen != default and not given)
    said += [f"'{decimal}' as the decimal mark"] * (decimal == "," and sniffed_decimal)
    note = None
    if said:
        shown = "\\t" if chosen == "\t" else chosen
        note = (
            f"{key}={file.name} is read with {' and '.join(said)}, sniffed from its first lines "
            f"(data.sep='{shown}' data.decimal='{decimal}' would say so)"
        )
    return CsvFormat(sep=chosen, decimal=decimal, note=note)


def sniffed_separator(file: Path, key: str, lines: list[str], default: str) -> str:
    counts = {candidate: field_counts(lines, candidate) for candidate in SEPARATORS}
    if len(counts[default]) < 2 or consistent(counts[default]):
        return default
    others = [candidate for candidate in SEPARATORS if candidate != default and consistent(counts[candidate])]
    if len(others) == 1:
        return others[0]
    seen = max(SEPARATORS, key=lambda candidate: counts[candidate][0] if counts[candidate] else 0)
    if seen != default and counts[seen][0] > counts[default][0]:
        header = counts[default][0]
        line = next((i for i, count in enumerate(counts[default], start=1) if count != header), None)
        with_default = (
            f"line {line} has {counts[default][line - 1]} fields, the header {header}"
            if line
            else "every line is one field"
        )
        shown = "\\t" if seen == "\t" else seen
        raise ZooError(
            f"{key}={file}: {with_default} with {SEPARATORS[default]} between fields; the header is separated by "
            f"{SEPARATORS[seen]} ({counts[seen][0]} fields), but not every line is: give the separator, "
            f"data.sep='{shown}' (and a decimal comma, data.decimal=',')"
        )
    return default  # check_rows names the line that does not fit


def separator_setting(sep: str) -> str:
    """`data.sep` as the character it means: a tab may be typed as \\t or tab."""
    sep = {"\\t": "\t", "tab": "\t"}.get(str(sep), str(sep))
    if len(sep) != 1 or sep.isalnum() or sep in '"\n\r':
        raise ZooError(f"data.sep={sep!r} must be one character between fields, such as ',' ';' '|' or tab")
    return sep


def first_lines(file: Path) -> list[str]:
    """The file's first SNIFFED_LINES lines (as text; undecodable bytes replaced: check_rows names them)."""
    lines: list[str] = []
    with open(file, newline="", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            lines.append(line)
            if len(lines) >= SNIFFED_LINES:
                break
    return lines


def field_counts(lines: list[str], sep: str) -> list[int]:
    """Fields per non-empty row of `lines`, read with `sep` (quotes respected), without a last row cut short."""
    try:
        rows = [len(row) for row in csv.reader(lines, delimiter=sep) if row]
    except csv.Error:
        return []
    return rows[:-1] if len(lines) >= SNIFFED_LINES and len(rows) > 2 else rows


def consistent(counts: list[int]) -> bool:
    return len(counts) > 1 and len(set(counts)) == 1 and counts[0] > 1


def decimal_comma(lines: list[str], sep: str) -> bool:
    fields = [field.strip() for row in csv.reader(lines[1:], delimiter=sep) for field in row]
    return any(DECIMAL_COMMA.match(field) for field in fields) and not any(DECIMAL_POINT.match(f) for f in fields)
