"""A user's own table: `data=table data.path=<file.csv|file.parquet> data.target=<column>`.

Read with pandas (pyarrow for Parquet; the tables extra). Every column but the target (and `data.drop`) is a
feature: numeric columns are numbers, and columns of text or booleans, and numeric ones listed in
`data.categorical`, are categories. Rows whose target is missing are left out (and counted).

The target decides the task (`data.task=auto`): text or booleans, or whole numbers with at most
table_files.MAX_CLASSES distinct values, are classes (classification; the class names are the values); other numbers
are regression, where the model learns the target standardized by the training split's mean and std and is scored
in the target's own units. `data.task=classification|regression` overrides the guess. The command line asks
`Table.choose_task` before Hydra composes the run's config, so that it composes that task's config (`task=...`), and
a user's `task.*` overrides apply to it.

The file is read when the data is first needed (preparing it, or the model's inputs), never when the module is made.

The splits are drawn once by `split_seed` (test, then validation out of the rest; stratified by class for
classification), so every run is measured on the same rows; or with `data.folds=K data.fold=i`, the test rows are the
i-th of K folds (zoo.data.splits.Folds) and validation is drawn from the rest. `train_fraction` trains on a part of
the training rows. Every row's split goes into the run folder's splits.csv. A CSV's separator and decimal mark are
`data.sep` and `data.decimal`, or sniffed and said (zoo.data.csv_format); what could make the scores lie
(rows repeated across the splits, identifier-like columns, a one-feature leak: zoo.data.table_checks) is said in the
run's first lines, and `data.dedupe=true` drops repeated rows before splitting.
The encoding (zoo.data.table_files) is fitted on the rows trained on, before the network is built, so the model
knows each categorical column's number of codes.
"""

import csv
from pathlib import Path

import torch

from zoo.data.base import InMemoryDataModule
from zoo.data.contract import DataNote
from zoo.data.csv_format import csv_format
from zoo.data.signals import numbered_run
from zoo.data.splits import Folds, rare_classes, split_off, stratified_subset
from zoo.data.table_checks import (
    duplicates_across_splits,
    identifier_columns,
    repeated_rows,
    row_hashes,
    single_feature_leaks,
)
from zoo.data.table_files import (
    TableEncoding,
    category_text,
    column_kinds,
    guess_task,
    read_table,
    table_file,
)
from zoo.errors import ZooError
from zoo.files import write_atomically


def _known_once_read(name: str) -> property:
    """A member of the data contract that a table knows once its file has been read: asking for it reads the file."""

    def get(table: "Table"):
        table.read()
        return table.__dict__[f"_{name}"]

    def put(table: "Table", value) -> None:
        table.__dict__[f"_{name}"] = value

    return property(get, put)


class Table(InMemoryDataModule):
    """Rows of `path` for predicting `target` (see the module docstring)."""

    # Known once the file has been read (`read`): asking for one reads it.
    task = _known_once_read("task")
    class_names = _known_once_read("class_names")
    num_classes = _known_once_read("num_classes")
    input_shape = _known_once_read("input_shape")
    normalization = _known_once_read("normalization")

    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        task: str = "auto",
        categorical: list[str] | None = None,
        drop: list[str] | None = None,
        test_fraction: float = 0.2,
        token_dim: int = 16,
        sep: str | None = None,
        decimal: str | None = None,
        dedupe: bool = False,
        folds: int | None = None,
        fold: int = 0,
        repeats: int = 1,
        **kwargs,
    ) -> None:
        self.was_read = False
        super().__init__(**kwargs)
        if not path or not target:
            raise ZooError(
                "data=table needs data.path=<file.csv or .parquet> and data.target=<the column to "
                "predict>, e.g. data.path=houses.csv data.target=price"
            )
        if task not in ("auto", "classification", "regression"):
            raise ZooError(f"data.task={task!r} must be auto, classification or regression")
        if (
            not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1)
            or self.val_fraction + test_fraction >= 1
        ):
            raise ZooError(
                f"data.test_fraction={test_fraction!r} must be a number in (0, 1) that leaves, with "
                f"data.val_fraction, rows to train on"
            )
        if not (isinstance(token_dim, int) and token_dim > 0):
            raise ZooError(f"data.token_dim={token_dim!r} must be a positive integer")
        if not isinstance(dedupe, bool):
            raise ZooError(f"data.dedupe={dedupe!r} must be true or false")
        self.folds = Folds(folds, fold, repeats)
        self.sep, self.decimal, self.dedupe = sep, decimal, dedupe
        self.path, self.target, self.test_fraction, self.token_dim = (
            str(Path(path).expanduser()),
            target,
            test_fraction,
            token_dim,
        )
        self.task_setting, self.categorical, self.drop = task, list(categorical or []), list(drop or [])

    @staticmethod
    def choose_task(path: str, target: str, sep: str | None = None, decimal: str | None = None) -> str:
        """The task a file's target column asks for, from that column alone (an early, cheap look: the command line
        asks before Hydra composes the run's config, zoo.training.command)."""
        values = read_table(path, columns=[target], sep=sep, decimal=decimal)[target].dropna()
        return guess_task(values)

    def prepare_data(self) -> None:
        self.read()

    def read(self) -> None:
        """Read the file, choose the task, draw the splits and fit the encoding on the rows trained on: once, when
        the data is first needed (preparing it, or the model's inputs, which the network is built from)."""
        if self.was_read:
            return
        target = self.target
        file, kind = table_file(self.path, "data.path")
        self.notes: list[DataNote] = []
        if kind == "csv" and (note := csv_format(file, "data.path", self.sep, self.decimal).note):
            self.notes.append(DataNote("format", note))
        frame = read_table(self.path, sep=self.sep, decimal=self.decimal)
        self.file_rows = len(frame)
        if target not in frame.columns:
            raise ZooError(
                f"data.target={target!r} is not a column of {self.path}; its columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
        self.dropped_rows = int(frame[target].isna().sum())
        frame = frame[frame[target].notna()]
        values = frame[target]
        if values.nunique() < 2:
            raise ZooError(
                f"data.target={target!r} has {'one value' if values.nunique() else 'no values'} in "
                f"{self.path}; there is nothing to predict"
            )
        task = guess_task(values) if self.task_setting == "auto" else self.task_setting
        if task == "regression":
            from pandas.api import types

            if not types.is_numeric_dtype(values) or types.is_bool_dtype(values):
                raise ZooError(f"data.task=regression needs a numeric target; {target!r} holds {values.dtype} values")
        self.numeric_columns, self.categorical_columns = column_kinds(frame, target, self.categorical, self.drop)
        self.numbered = numbered_run([str(c) for c in frame.columns if c != target and c not in self.drop])
        features = [*self.numeric_columns, *self.categorical_columns]
        hashes = row_hashes(frame, [*features, target])
        self.rows_with_target = frame.index.to_numpy()
        self.repeated = 0
        if self.dedupe:
            repeated = repeated_rows(hashes)
            frame, hashes, self.repeated = frame[~repeated], hashes[~repeated], int(repeated.sum())
            self.notes.append(
                DataNote(
                    "dedupe",
                    f"data.dedupe=true: left out {self.repeated:,} rows that repeat an earlier one (features and "
                    f"target), of {len(repeated):,}, before splitting",
                )
            )
        self.row_numbers = frame.index.to_numpy()  # each row's number in the file (0: the first under the header)
        frame = frame.reset_index(drop=True)
        values = frame[target]
        if task == "classification":
            texts = [str(category_text(value)) for value in values.tolist()]  # no missing values: dropped above
            numbers = all(text.lstrip("-").isdigit() for text in texts)  # classes 2, 10 in that order, not 10, 2
            class_names = sorted(set(texts), key=lambda text: (int(text), "") if numbers else (0, text))
            y = torch.tensor([class_names.index(text) for text in texts])
        else:
            y = torch.tensor(values.astype("float64").to_numpy())
            class_names = []
        self.positions = self.draw_splits(y, task)
        if self.folds.folds and task == "classification" and (rare := rare_classes(y, self.folds.folds, class_names)):
            self.notes.append(DataNote("classes", rare))
        self.rows_trained = self.positions["train"]
        if self.train_fraction != 1:
            part = (
                stratified_subset(y[self.rows_trained], self.train_fraction, self.seed)
                if task == "classification"
                else torch.randperm(len(self.rows_trained), generator=torch.Generator().manual_seed(self.seed))[
                    : max(1, round(len(self.rows_trained) * self.train_fraction))
                ]
                .sort()
                .values
            )
            self.rows_trained = self.rows_trained[part]
        # Each split's rows, known once the file is read (zoo-which sizes its runs by them before any trains).
        self.indices = {"train": self.rows_trained, "val": self.positions["val"], "test": self.positions["test"]}
        self.encoding = TableEncoding.fit(
            frame.iloc[self.rows_trained.numpy()], self.numeric_columns, self.categorical_columns
        )
        self.x = torch.from_numpy(self.encoding.encode(frame))
        self.notes += identifier_columns(frame, features)
        if duplicated := duplicates_across_splits(hashes, self.positions, "test"):
            self.notes.append(duplicated)
        rows = self.rows_trained.numpy()
        self.notes += single_feature_leaks(self.x.numpy()[rows], y.numpy()[rows], self.encoding.names(), task)
        if task == "regression":
            trained = y[self.rows_trained]
            mean, std = float(trained.mean()), (float(trained.std()) if len(trained) > 1 else 1.0) or 1.0
            self.target_scale: list[float] | None = [mean, std]
            self.y = ((y - mean) / std).float()
        else:
            self.target_scale, self.y = None, y.long()
        self.was_read = True
        self.task, self.class_names = task, class_names
        self.num_classes = len(class_names) if task == "classification" else 1
        self.input_shape = (self.encoding.width,)
        self.feature_names = self.encoding.feature_names
        self.normalization = {"mean": [0.0] * self.encoding.width, "std": [1.0] * self.encoding.width}

    @property
    def continuous_inputs(self) -> bool:
        """Numbers only: category codes take no noise, gradients or saliency (zoo/views/)."""
        self.read()
        return not self.categorical_columns

    def draw_splits(self, y: torch.Tensor, task: str) -> dict[str, torch.Tensor]:
        labels = y if task == "classification" else None
        if self.folds:
            folds = self.folds.split(len(y), labels, self.val_fraction, self.split_seed)
            train, val, test = folds["train"], folds["val"], folds["test"]
        else:
            generator = torch.Generator().manual_seed(self.split_seed)
            train, test = split_off(torch.arange(len(y)), labels, self.test_fraction, generator)
            train, val = split_off(train, None if labels is None else labels[train], self.val_fraction, generator)
        sizes = {"train": len(train), "val": len(val), "test": len(test)}
        needed = {"train": 2, "val": 1 if self.val_fraction else 0, "test": 1}
        short = [split for split in sizes if sizes[split] < needed[split]]
        if short:
            raise ZooError(
                f"{self.path} has {len(y)} rows with a target: too few for the splits (train "
                f"{sizes['train']}, val {sizes['val']}, test {sizes['test']} with data.val_fraction="
                f"{self.val_fraction} and "
                + (f"data.folds={self.folds.folds}" if self.folds else f"data.test_fraction={self.test_fraction}")
                + "); give more rows"
            )
        return {"train": train, "val": val, "test": test}

    @property
    def model_inputs(self) -> dict:
        outputs = {"num_classes": self.num_classes} if self.task == "classification" else {"num_outputs": 1}
        return {
            "input_shape": tuple(self.input_shape),
            **outputs,
            "table": {**self.encoding.schema(), "token_dim": self.token_dim},
        }

    def describe(self) -> dict:
        """What a checkpoint keeps: the encoding and the target, with which zoo-predict reads new rows."""
        model_inputs = self.model_inputs
        return {
            **super().describe(),
            "model_inputs": {**model_inputs, "input_shape": list(self.input_shape)},
            "path": self.path,
            "encoding": self.encoding.to_dict(),
            "target": {"name": self.target, "task": self.task, "scale": self.target_scale},
        }

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoded rows and targets of the train and test splits."""
        self.read()
        train, test = self.rows_trained, self.positions["test"]
        return self.x[train], self.y[train], self.x[test], self.y[test]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.read()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.samples_per_epoch = len(self.positions["train"])
        self.splits = {
            split: (self.x[kept].to(device), self.y[kept].to(device)) for split, kept in self.indices.items()
        }

    def check_matches(self, saved: dict) -> None:
        self.read()
        if "encoding" in saved and saved["encoding"] != self.encoding.to_dict():
            raise ZooError(
                f"{self.path} no longer gives the encoding the model was trained with (its columns, "
                f"categories or training rows changed); evaluate on the file it was trained on"
            )

    def data_notes(self) -> list[DataNote]:
        self.read()
        return list(self.notes)

    def write_run_files(self, folder) -> None:
        """The data's line, then what zoo noticed about it (data_checks.json), and each row's split (splits.csv)."""
        self.read()
        dropped = f"; left out {self.dropped_rows} rows without a target" if self.dropped_rows else ""
        what = (
            f"classification into {self.num_classes} classes ({', '.join(self.class_names[:8])}"
            f"{' ...' * (self.num_classes > 8)})"
            if self.task == "classification"
            else "regression"
        )
        print(
            f"zoo: data=table: {self.path}, target {self.target!r}: {what}; {len(self.numeric_columns)} numeric "
            f"and {len(self.categorical_columns)} categorical feature columns; rows: train "
            f"{len(self.rows_trained):,}, val {len(self.positions['val']):,}, test "
            f"{len(self.positions['test']):,}{f' ({self.folds.name})' if self.folds else ''}{dropped}",
            flush=True,
        )
        if self.numbered:  # one series a row: data=table gives each column a token of its own, order unseen
            print(
                f"zoo: data=table: the columns {self.numbered} look like the steps of one series a row; to classify "
                f"series as 1-D signals, the families reading them in order, use data=signals data.path={self.path} "
                f"data.label={self.target}; to forecast, data=series (docs/time-series.md)",
                flush=True,
            )
        self.write_notes(folder)
        self.write_splits(Path(folder) / "splits.csv")

    def write_splits(self, path: Path) -> None:
        """splits.csv: every data row of the file by its number (0: the first row under the header) and its split:
        train, val, test, train_unused (data.train_fraction), no target, or repeated (left out by data.dedupe)."""
        split_of = ["no target"] * self.file_rows
        for row in self.rows_with_target.tolist():
            split_of[row] = "repeated"  # unless a split holds it, below
        for split, rows in {"train_unused": self.positions["train"], **self.positions}.items():
            for position in (self.rows_trained if split == "train" else rows).tolist():
                split_of[self.row_numbers[position]] = split

        def write(partial: Path) -> None:
            with open(partial, "w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(["row", "split"])
                writer.writerows(enumerate(split_of))

        write_atomically(path, write)
