"""A user's table as a file: read with pandas (pyarrow for Parquet), checked, its feature columns sorted into numbers
and categories, and its target's task guessed. Each problem with the file is one line that names it.

How the rows of a table become a model's inputs, fitted on the training rows alone and kept as plain values in
every checkpoint, so that zoo-predict encodes new rows exactly as training did, without the training data.

An encoded row is float32: first the numeric columns, standardized (a missing value takes the training median, then
is standardized like any other), then one missing-indicator (0/1) per numeric column that had missing values in
training, then one code per categorical column: 0 for a value training never saw, 1 for a missing value, 2 and up
for the training values, most frequent first. The families read these through zoo.models.table.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo.data.csv_format import CsvFormat, csv_format
from zoo.errors import ZooError

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    import pandas as pd


MAX_CLASSES = 20  # a numeric target of whole numbers with at most this many values is classes, not a quantity


SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def require_tables_extra() -> None:
    import importlib.util

    missing = [module for module in ("pandas", "pyarrow") if importlib.util.find_spec(module) is None]
    if missing:
        raise ZooError(
            f"data=table needs {', '.join(missing)}, which is not installed: install zoo's tables extra, "
            f'pip install "zoo[tables]" (in a checkout: pip install -e ".[tables]")'
        )


def read_table(
    path: str | Path,
    key: str = "data.path",
    columns: list[str] | None = None,
    sep: str | None = None,
    decimal: str | None = None,
) -> pd.DataFrame:
    """The file as a pandas DataFrame, or one line saying what is wrong with it; with `columns`, those columns alone
    (a quick look, which leaves the checks of every row to the full read). A CSV's separator and decimal mark are
    `sep` and `decimal`, or where not given, sniffed (`csv_format`)."""
    require_tables_extra()
    import pandas as pd

    file, kind = table_file(path, key)
    form = csv_format(file, key, sep, decimal) if kind == "csv" else None
    if columns is not None:
        header = header_of(file, kind, key, form)
        absent = [column for column in columns if column not in header]
        if absent:
            raise ZooError(
                f"data.target={absent[0]!r} is not a column of {path}; its columns are {', '.join(map(str, header))}"
            )
    if form is None:
        try:
            return pd.read_parquet(file, columns=columns)
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError... depending on the damage
            raise ZooError(
                f"{key}={path} is not a readable Parquet file: {' '.join(str(error).split())[:150]}"
            ) from None
    if columns is None:
        check_rows(file, form.sep, key)
    try:
        return pd.read_csv(file, sep=form.sep, decimal=form.decimal, encoding="utf-8", usecols=columns)
    except pd.errors.EmptyDataError:
        raise ZooError(f"{key}={path} is empty; give a CSV file with a header row and data rows") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise ZooError(f"{key}={path} is not a readable CSV file: {' '.join(str(error).split())[:150]}") from None


def table_file(path: str | Path, key: str) -> tuple[Path, str]:
    """The file and its kind (csv or parquet), or one line saying why it is none."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ZooError(
            f"{key}={path} "
            + ("is not a file" if file.exists() else "does not exist")
            + "; give a .csv or .parquet file"
        )
    kind = SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise ZooError(
            f"{key}={path}: zoo reads tables from .csv (.tsv) and .parquet files, not "
            f"{file.suffix or 'a file without a suffix'}"
        )
    return file, kind


def header_of(file: Path, kind: str, key: str, form: CsvFormat | None = None) -> list[str]:
    """The column names of a table file, read without its rows."""
    if kind == "parquet":
        import pyarrow.parquet

        try:
            return list(pyarrow.parquet.read_schema(file).names)
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError... depending on the damage
            raise ZooError(
                f"{key}={file} is not a readable Parquet file: {' '.join(str(error).split())[:150]}"
            ) from None
    separator = form.sep if form else ("\t" if file.suffix.lower() == ".tsv" else ",")
    try:
        with open(file, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle, delimiter=separator), [])
    except (UnicodeDecodeError, csv.Error):
        check_rows(file, separator, key)  # says what is wrong, in one line
        raise


def check_rows(file: Path, separator: str, key: str) -> None:
    """Every row must have the header's number of fields (pandas would fill a short row with missing values), and
    the file must be UTF-8."""
    try:
        with open(file, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle, delimiter=separator)
            header = next(rows, None)
            if header is None:
                raise ZooError(f"{key}={file} is empty; give a CSV file with a header row and data rows")
            for number, row in enumerate(rows, start=2):
                if row and len(row) != len(header):
                    raise ZooError(
                        f"{key}={file}: line {number} has {len(row)} fields, the header {len(header)}; "
                        f"every row needs one value per column (an empty one for a missing value)"
                    )
    except UnicodeDecodeError as error:
        raise ZooError(
            f"{key}={file} is not UTF-8 text: byte 0x{error.object[error.start]:02x} cannot be decoded; "
            f"save it as UTF-8 (or convert it: iconv -f latin1 -t utf-8)"
        ) from None
    except csv.Error as error:
        raise ZooError(f"{key}={file} is not a readable CSV file: {error}") from None


def column_kinds(frame, target: str, categorical: list[str], drop: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns, in the file's order."""
    from pandas.api import types

    for key, names in (("data.categorical", categorical), ("data.drop", drop)):
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise ZooError(
                f"{key} names {absent[0]!r}, which is not a column; the columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
    numeric, categories = [], []
    for column in frame.columns:
        if column == target or column in drop:
            continue
        values = frame[column]
        if values.isna().all():
            raise ZooError(f"column {column!r} is missing in every row; drop it with data.drop=[{column}]")
        if (
            column in categorical
            or types.is_bool_dtype(values)
            or types.is_object_dtype(values)
            or isinstance(values.dtype, types.CategoricalDtype)
            or types.is_string_dtype(values)
        ):
            categories.append(column)
        elif types.is_numeric_dtype(values):
            numeric.append(column)
        else:
            raise ZooError(
                f"column {column!r} holds {values.dtype} values; zoo reads numbers and categories: "
                f"convert it, or leave it out with data.drop=[{column}]"
            )
    if not numeric and not categories:
        raise ZooError(f"the table has no feature columns besides the target {target!r}")
    return numeric, categories


def guess_task(values) -> str:
    from pandas.api import types

    if not types.is_numeric_dtype(values) or types.is_bool_dtype(values):
        return "classification"
    whole = bool((values == values.round()).all())
    return "classification" if whole and values.nunique() <= MAX_CLASSES else "regression"


UNKNOWN, MISSING = 0, 1  # the codes every categorical column reserves
UNKNOWN_VALUE, MISSING_VALUE = "<unknown>", "<missing>"


def category_text(value) -> str | None:
    """A categorical value as the text it is compared by (None: missing): 3, 3.0 and "3" are the same category, as
    a column of codes read from CSV (int), from Parquet with missing values (float) or typed by hand gives them."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:
        pass
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


class TableEncoding:
    """`numeric`: {column: (median, mean, std)}; `indicators`: numeric columns with a missing-indicator;
    `categories`: {column: [values, most frequent first]}."""

    def __init__(
        self, numeric: dict[str, list[float]], indicators: list[str], categories: dict[str, list[str]]
    ) -> None:
        self.numeric, self.indicators, self.categories = numeric, indicators, categories

    @classmethod
    def fit(cls, frame, numeric: list[str], categorical: list[str]) -> TableEncoding:
        """Statistics and vocabularies of `frame`'s rows (the training split)."""
        stats, indicators = {}, []
        for column in numeric:
            values = frame[column].astype("float64")
            observed = values.dropna()
            median = float(observed.median())
            filled = values.fillna(median)
            std = float(filled.std(ddof=0)) if len(filled) > 1 else 0.0
            stats[column] = [median, float(filled.mean()), std if std > 1e-12 else 1.0]
            if values.isna().any():
                indicators.append(column)
        categories = {}
        for column in categorical:
            texts = [text for text in map(category_text, frame[column].tolist()) if text is not None]
            counts: dict[str, int] = {}
            for text in texts:
                counts[text] = counts.get(text, 0) + 1
            categories[column] = sorted(counts, key=lambda text: (-counts[text], text))
        return cls(stats, indicators, categories)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categories]

    @property
    def feature_names(self) -> list[str]:
        """What each encoded value is, in the order `encode` writes them: a numeric column, whether a column's
        value was missing, a categorical column's code."""
        return [*self.numeric, *(f"{column} missing" for column in self.indicators), *self.categories]

    @property
    def width(self) -> int:
        """Numbers per encoded row."""
        return len(self.numeric) + len(self.indicators) + len(self.categories)

    def schema(self) -> dict:
        """What a model needs to know (zoo.models.table): how many leading values are numbers, and how many codes
        each categorical column has."""
        return {
            "numeric": len(self.numeric) + len(self.indicators),
            "categories": [len(values) + 2 for values in self.categories.values()],
        }

    def names(self) -> list[str]:
        """A name for each encoded value, in order (the saliency of a feature, the baselines' columns)."""
        return [*self.numeric, *(f"{column} missing" for column in self.indicators), *self.categories]

    def encode(self, frame) -> np.ndarray:
        """(rows, width) float32. `frame` must hold every column of `columns`; others are ignored."""
        parts = []
        for column, (median, mean, std) in self.numeric.items():
            values = frame[column].astype("float64").to_numpy()
            parts.append((np.where(np.isnan(values), median, values) - mean) / std)
        for column in self.indicators:
            parts.append(frame[column].isna().to_numpy().astype(np.float64))
        for column, values in self.categories.items():
            codes = {text: index + 2 for index, text in enumerate(values)}
            parts.append(
                np.array(
                    [
                        MISSING if text is None else codes.get(text, UNKNOWN)
                        for text in map(category_text, frame[column].tolist())
                    ],
                    dtype=np.float64,
                )
            )
        if not parts:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.stack(parts, axis=1).astype(np.float32)

    def to_dict(self) -> dict:
        return {"numeric": self.numeric, "indicators": self.indicators, "categories": self.categories}

    @classmethod
    def from_dict(cls, saved: dict) -> TableEncoding:
        return cls(
            {key: list(value) for key, value in saved["numeric"].items()},
            list(saved["indicators"]),
            {key: list(value) for key, value in saved["categories"].items()},
        )
