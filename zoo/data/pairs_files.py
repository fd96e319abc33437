"""Sentence pairs for translation as a file, and their symbols: reading and checking a user's pairs (a tab-separated
file, the Tatoeba format; CSV or Parquet with a source and a target column), and the vocabulary that turns a sentence
into ids and ids back into a sentence. Light (torch alone, pandas only for CSV and Parquet), so that zoo-generate and
zoo-predict translate without Lightning.

Each problem with a file is one line that names it: a missing file, a line with fewer than two fields (its number),
an empty source or target (its line), a file that is not UTF-8 (the line and byte). Pairs longer than `data.max_len`
symbols on either side are skipped and counted, not an error: a corpus such as Tatoeba has a long tail of long
sentences, and the run says how many it left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from zoo.errors import ZooError

PAD, START, END, UNKNOWN = 0, 1, 2, 3  # the ids every pair vocabulary reserves, in this order
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
LEVELS = ("char", "word")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class PairVocabulary:
    """The symbols of one side of the pairs (or both, where they share one): ids 0-3 are padding, the start and the
    end of a sentence and the unknown symbol, then the training symbols, most frequent first (ties in sorted order).
    `level` says what a symbol is: a character (`char`) or a word between spaces (`word`). A symbol training never
    saw encodes as the unknown one, which decodes as "<unk>"."""

    def __init__(self, symbols: Sequence[str], level: str) -> None:
        if level not in LEVELS:
            raise ZooError(f"data.level={level!r} must be one of {', '.join(LEVELS)}")
        self.level = level
        self.symbols = [*SPECIALS, *(symbol for symbol in symbols if symbol not in SPECIALS)]
        self.ids = {symbol: i for i, symbol in enumerate(self.symbols)}

    @classmethod
    def of(cls, sentences: Iterable[str], level: str) -> PairVocabulary:
        counts = Counter(symbol for sentence in sentences for symbol in split(sentence, level))
        return cls(sorted(counts, key=lambda symbol: (-counts[symbol], symbol)), level)

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other) -> bool:
        return isinstance(other, PairVocabulary) and self.to_dict() == other.to_dict()

    def tokens(self, sentence: str) -> list[str]:
        return split(sentence, self.level)

    def encode(self, sentence: str, frame: bool = False) -> list[int]:
        """The ids of a sentence's symbols; with `frame`, between the start and the end symbols (a target)."""
        ids = [self.ids.get(symbol, UNKNOWN) for symbol in self.tokens(sentence)]
        return [START, *ids, END] if frame else ids

    def decode(self, ids: Iterable[int]) -> str:
        """The sentence of `ids` up to the first end symbol; padding and the start symbol are left out."""
        symbols = []
        for i in ids:
            i = int(i)
            if i == END:
                break
            if i not in (PAD, START):
                symbols.append(self.symbols[i] if 0 <= i < len(self.symbols) else SPECIALS[UNKNOWN])
        return join(symbols, self.level)

    def unknown(self, sentence: str) -> list[str]:
        """The symbols of `sentence` this vocabulary lacks (they encode as the unknown symbol)."""
        return sorted({symbol for symbol in self.tokens(sentence) if symbol not in self.ids})

    def to_dict(self) -> dict:
        """Plain values: checkpoints that hold it open with torch.load(weights_only=True)."""
        return {"level": self.level, "symbols": self.symbols[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, saved: dict) -> PairVocabulary:
        return cls(saved["symbols"], saved["level"])


def split(sentence: str, level: str) -> list[str]:
    return list(sentence) if level == "char" else sentence.split()


def join(symbols: Sequence[str], level: str) -> str:
    return "".join(symbols) if level == "char" else " ".join(symbols)


def padded(rows: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    """Rows of ids as one (rows, width) tensor, padded at the end with PAD."""
    width = max((len(row) for row in rows), default=0) if width is None else width
    out = torch.full((len(rows), max(width, 1)), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def utf8_text(path: Path, key: str) -> str:
    """A file's text, or one line naming the problem: missing, not a file, empty, not UTF-8 (line and byte)."""
    if not path.exists():
        raise ZooError(f"{key}={path}: no such file; give a tab-separated file of pairs (source<TAB>target a line)")
    if not path.is_file():
        raise ZooError(f"{key}={path} is not a file; give a tab-separated file of pairs")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ZooError(
            f"{key}={path} is not UTF-8 text: line {line} holds byte 0x{data[error.start]:02x}, which cannot be "
            f"decoded ({error.reason}); convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text.removeprefix("\ufeff")


def read_pairs(path: str | Path, source: str = "source", target: str = "target", key: str = "data.path") -> list:
    """The (source, target) sentences of a file: tab-separated lines (the first two fields; further ones, such as
    Tatoeba's attribution, are ignored; blank lines are skipped), or a .csv/.parquet file's `source` and `target`
    columns. Surrounding spaces are stripped; a pair with an empty side is an error naming its line."""
    file = Path(path).expanduser()
    if file.suffix.lower() in TABLE_SUFFIXES:
        return table_pairs(file, source, target, key)
    pairs = []
    for number, line in enumerate(utf8_text(file, key).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ZooError(
                f"{key}={file}: line {number} has {len(fields)} field, not the 2 of a pair; separate the source "
                f"and the target with a tab"
            )
        pairs.append(checked_pair(fields[0], fields[1], f"{key}={file}: line {number}"))
    if not pairs:
        raise ZooError(f"{key}={file} holds no pairs; give one source<TAB>target pair a line")
    return pairs


def checked_pair(source, target, where: str) -> tuple[str, str]:
    source, target = ("" if side is None or side != side else str(side).strip() for side in (source, target))
    for side, text in (("source", source), ("target", target)):
        if not text:
            raise ZooError(f"{where} has an empty {side}; every pair needs a source and a target")
    return source, target


def table_pairs(file: Path, source: str, target: str, key: str) -> list:
    from zoo.data.table_files import SUFFIXES, header_of, read_table

    if not file.is_file():
        raise ZooError(f"{key}={file}: no such file; give a .tsv, .csv or .parquet file of pairs")
    header = header_of(file, SUFFIXES[file.suffix.lower()], key)
    for setting, column in (("data.source", source), ("data.target", target)):
        if column not in header:
            raise ZooError(
                f"{setting}={column!r} is not a column of {file}; its columns are {', '.join(map(str, header))}"
            )
    frame = read_table(file, key)
    first = 2 if file.suffix.lower() == ".csv" else 1  # the line of the first row (a CSV's header is line 1)
    where = "line" if file.suffix.lower() == ".csv" else "row"
    pairs = [
        checked_pair(left, right, f"{key}={file}: {where} {first + i}")
        for i, (left, right) in enumerate(zip(frame[source].tolist(), frame[target].tolist(), strict=True))
    ]
    if not pairs:
        raise ZooError(f"{key}={file} holds no pairs")
    return pairs


def read_sources(path: str | Path, key: str = "input", column: str = "source") -> list[str]:
    """Sentences to translate: a text file's non-empty lines (of a tab-separated file, each line's first field), or
    a .csv/.parquet file's `column`."""
    file = Path(path).expanduser()
    if file.suffix.lower() in TABLE_SUFFIXES:
        from zoo.data.table_files import read_table

        if not file.is_file():
            raise ZooError(f"{key}={file}: no such file")
        frame = read_table(file, key)
        if column not in frame.columns:
            raise ZooError(f"{key}={file} has no column {column!r}, which holds the sentences the model translates")
        return [str(value).strip() for value in frame[column].tolist()]
    lines = [line.split("\t")[0].strip() for line in utf8_text(file, key).splitlines() if line.strip()]
    if not lines:
        raise ZooError(f"{key}={file} holds no sentence; give one a line")
    return lines
