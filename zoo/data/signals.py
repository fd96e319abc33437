"""Series to classify from a user's file: `data=signals data.path=<file.csv|file.parquet> data.label=<column>`.

The wide layout: one row per series, its values in the columns after one another (`t0, t1, ..., tN`, in the file's
order), and a label column. Each row becomes a 1-D signal of one channel, `(1, N)`, as MNIST-1D's are, so every
family reads it as a signal: the CNN convolves along time, the RNN reads one step a value, the transformer takes
patches of it (zoo.models, the classification builders). A table of features (`data=table`) instead gives each
column a token of its own, which throws the order of time away. Forecasting a series is `data=series`.

The test split is drawn stratified by class (`data.test_fraction`), validation from the rest (`data.val_fraction`),
both by `split_seed`; the values are standardized with the training signals' mean and standard deviation. Columns in
`data.drop=[id, ...]` are neither label nor signal. Bad input is one line before anything trains: a column that is
not a number (named with its row), a missing value, fewer than two time columns, a label with one class.
"""

from pathlib import Path

import numpy as np
import torch

from zoo.data.base import InMemoryDataModule
from zoo.data.splits import split_off
from zoo.data.table_files import category_text, read_table
from zoo.errors import ZooError


def _known_once_read(name: str) -> property:
    """A member of the data contract known once the file has been read: asking for it reads the file."""

    def get(data: "Signals"):
        data.read()
        return data.__dict__[f"_{name}"]

    def put(data: "Signals", value) -> None:
        data.__dict__[f"_{name}"] = value

    return property(get, put)


def class_order(texts: list[str]) -> list[str]:
    """The classes, sorted: as numbers where every one is a whole number (2 before 10), else as text."""
    numbers = all(text.lstrip("-").isdigit() for text in texts)
    return sorted(set(texts), key=lambda text: (int(text), "") if numbers else (0, text))


def signal_values(frame, columns: list[str], path) -> np.ndarray:
    """(rows, 1, time) float32 of `columns`; a value that is not a number, or none, is one line naming where."""
    import pandas as pd
    from pandas.api import types

    for column in columns:
        values = frame[column]
        if not types.is_numeric_dtype(values) or types.is_bool_dtype(values):
            parsed = pd.to_numeric(
                values.astype(object).where(~values.map(lambda v: isinstance(v, bool))), errors="coerce"
            )
            wrong = (parsed.isna() & values.notna()).to_numpy()
            row = int(np.argmax(wrong)) if wrong.any() else 0
            raise ZooError(
                f"column {column!r} holds {values.iloc[row]!r} in row {row + 1} of {path}, which is not a number; "
                f"every column but data.label and data.drop is a step of the signal"
            )
        missing = values.isna().to_numpy()
        if missing.any():
            raise ZooError(
                f"column {column!r} has no value in row {int(np.argmax(missing)) + 1} of {path}; give every step of "
                f"every signal (or resample the series to one length first)"
            )
    return frame[columns].to_numpy(dtype=np.float32)[:, None, :]


def numbered_run(columns: list[str], least: int = 8) -> str | None:
    """The longest run of columns numbered one after another (t0, t1, t2... or 0, 1, 2...), as "t0 ... t99", where it
    holds at least `least` columns: a series per row, as data=table would read it."""
    import re

    best: list[str] = []
    run: list[str] = []
    previous: tuple[str, int] | None = None
    for column in columns:
        match = re.fullmatch(r"(.*?)(\d+)", str(column))
        current = (match.group(1), int(match.group(2))) if match else None
        if current and previous and current == (previous[0], previous[1] + 1):
            run.append(str(column))
        else:
            run = [str(column)] if current else []
        previous = current
        best = run if len(run) > len(best) else best
    return f"{best[0]} ... {best[-1]}" if len(best) >= least else None


class Signals(InMemoryDataModule):
    """Rows of `path`, each a series of the columns' values, classified by `label` (the module docstring)."""

    task = "classification"
    # Known once the file has been read (`read`): asking for one reads it.
    class_names = _known_once_read("class_names")
    num_classes = _known_once_read("num_classes")
    input_shape = _known_once_read("input_shape")

    def __init__(
        self,
        path: str | None = None,
        label: str = "label",
        drop: list[str] | None = None,
        test_fraction: float = 0.2,
        **kwargs,
    ) -> None:
        self.was_read = False
        super().__init__(**kwargs)
        if not path:
            raise ZooError(
                "data=signals needs data.path=<file.csv or .parquet>: one row per series, its values in the columns "
                "t0, t1, ... and a label column (data.label)"
            )
        if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1) or (
            self.val_fraction + test_fraction >= 1
        ):
            raise ZooError(
                f"data.test_fraction={test_fraction!r} must be a number in (0, 1) that leaves, with "
                f"data.val_fraction, series to train on"
            )
        self.path, self.label, self.drop = str(Path(path).expanduser()), label, list(drop or [])
        self.test_fraction = test_fraction

    def prepare_data(self) -> None:
        self.read()

    def read(self) -> None:
        """Read and check the file, and draw the test split: once, when the data is first needed."""
        if self.was_read:
            return
        frame = read_table(self.path)
        for key, names in (("data.label", [self.label]), ("data.drop", self.drop)):
            for name in names:
                if name not in frame.columns:
                    raise ZooError(
                        f"{key}={name!r} is not a column of {self.path}; its columns are "
                        f"{', '.join(map(str, frame.columns[:12]))}{' ...' * (len(frame.columns) > 12)}"
                    )
        self.columns = [str(c) for c in frame.columns if c != self.label and c not in self.drop]
        if len(self.columns) < 2:
            raise ZooError(
                f"{self.path} has {len(self.columns)} column besides data.label={self.label!r}: a signal needs "
                f"at least two steps, one a column"
            )
        labelled = frame[self.label].notna().to_numpy()
        self.dropped_rows = int((~labelled).sum())
        frame = frame[labelled].reset_index(drop=True)
        texts = [str(category_text(value)) for value in frame[self.label].tolist()]
        class_names = class_order(texts)
        if len(class_names) < 2:
            raise ZooError(
                f"data.label={self.label!r} has {len(class_names)} class in {self.path}; there is nothing to tell apart"
            )
        self.x = torch.from_numpy(signal_values(frame, self.columns, self.path))
        self.y = torch.tensor([class_names.index(text) for text in texts])
        generator = torch.Generator().manual_seed(self.split_seed)
        self.train_rows, self.test_rows = split_off(torch.arange(len(self.y)), self.y, self.test_fraction, generator)
        if len(self.train_rows) < 2 or not len(self.test_rows):
            raise ZooError(
                f"{self.path} has {len(self.y)} labelled series: too few for the splits with "
                f"data.test_fraction={self.test_fraction}; give more rows"
            )
        self.was_read = True
        self.class_names, self.num_classes = tuple(class_names), len(class_names)
        self.input_shape = (1, len(self.columns))

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        self.read()
        return self.x[self.train_rows], self.y[self.train_rows], self.x[self.test_rows], self.y[self.test_rows]

    def describe(self) -> dict:
        """What a checkpoint keeps: with the file's time columns, zoo-predict reads new rows of the same layout."""
        self.read()
        return {**super().describe(), "path": self.path, "signals": {"columns": self.columns, "label": self.label}}

    def check_matches(self, saved: dict) -> None:
        self.read()
        signals = saved.get("signals") or {}
        if signals and signals.get("columns") != self.columns:
            raise ZooError(
                f"{self.path} no longer has the time columns the model was trained on; evaluate on the file it was "
                f"trained on"
            )

    def write_run_files(self, folder) -> None:
        self.read()
        dropped = f"; left out {self.dropped_rows} rows without a label" if self.dropped_rows else ""
        names = ", ".join(self.class_names[:8]) + " ..." * (self.num_classes > 8)
        print(
            f"zoo: data=signals: {self.path}, label {self.label!r}: {self.num_classes} classes ({names}); signals of "
            f"{len(self.columns)} steps ({self.columns[0]} ... {self.columns[-1]}); series: train and val "
            f"{len(self.train_rows):,}, test {len(self.test_rows):,}{dropped}",
            flush=True,
        )
