"""A user's table as a file: read with pandas (pyarrow for Parquet), checked, its feature columns sorted into numbers
and categories, and its target's task guessed. Each problem with the file is one line that names it."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

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


def read_table(path: str | Path, key: str = "data.path") -> pd.DataFrame:
    """The file as a pandas DataFrame, or one line saying what is wrong with it."""
    require_tables_extra()
    import pandas as pd

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
    if kind == "parquet":
        try:
            return pd.read_parquet(file)
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError... depending on the damage
            raise ZooError(
                f"{key}={path} is not a readable Parquet file: {' '.join(str(error).split())[:150]}"
            ) from None
    separator = "\t" if file.suffix.lower() == ".tsv" else ","
    check_rows(file, separator, key)
    try:
        return pd.read_csv(file, sep=separator, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise ZooError(f"{key}={path} is empty; give a CSV file with a header row and data rows") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise ZooError(f"{key}={path} is not a readable CSV file: {' '.join(str(error).split())[:150]}") from None


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
