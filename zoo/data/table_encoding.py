"""How the rows of a table become a model's inputs, fitted on the training rows alone and kept as plain values in
every checkpoint, so that zoo-predict encodes new rows exactly as training did, without the training data.

An encoded row is float32: first the numeric columns, standardized (a missing value takes the training median, then
is standardized like any other), then one missing-indicator (0/1) per numeric column that had missing values in
training, then one code per categorical column: 0 for a value training never saw, 1 for a missing value, 2 and up
for the training values, most frequent first. The families read these through zoo.models.table.
"""

import math

import numpy as np

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
    def fit(cls, frame, numeric: list[str], categorical: list[str]) -> "TableEncoding":
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
    def from_dict(cls, saved: dict) -> "TableEncoding":
        return cls(
            {key: list(value) for key, value in saved["numeric"].items()},
            list(saved["indicators"]),
            {key: list(value) for key, value in saved["categories"].items()},
        )
