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
classification), so every run is measured on the same rows; `train_fraction` trains on a part of the training rows.
The encoding (zoo.data.table_files) is fitted on the rows trained on, before the network is built, so the model
knows each categorical column's number of codes.
"""

from pathlib import Path

import torch

from zoo.data.base import InMemoryDataModule
from zoo.data.signals import numbered_run
from zoo.data.splits import split_off, stratified_subset
from zoo.data.table_files import TableEncoding, category_text, column_kinds, guess_task, read_table
from zoo.errors import ZooError


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
        self.path, self.target, self.test_fraction, self.token_dim = (
            str(Path(path).expanduser()),
            target,
            test_fraction,
            token_dim,
        )
        self.task_setting, self.categorical, self.drop = task, list(categorical or []), list(drop or [])

    @staticmethod
    def choose_task(path: str, target: str) -> str:
        """The task a file's target column asks for, from that column alone (an early, cheap look: the command line
        asks before Hydra composes the run's config, zoo.training.command)."""
        values = read_table(path, columns=[target])[target].dropna()
        return guess_task(values)

    def prepare_data(self) -> None:
        self.read()

    def read(self) -> None:
        """Read the file, choose the task, draw the splits and fit the encoding on the rows trained on: once, when
        the data is first needed (preparing it, or the model's inputs, which the network is built from)."""
        if self.was_read:
            return
        target = self.target
        frame = read_table(self.path)
        if target not in frame.columns:
            raise ZooError(
                f"data.target={target!r} is not a column of {self.path}; its columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
        self.dropped_rows = int(frame[target].isna().sum())
        frame = frame[frame[target].notna()].reset_index(drop=True)
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
        if task == "classification":
            texts = [str(category_text(value)) for value in values.tolist()]  # no missing values: dropped above
            numbers = all(text.lstrip("-").isdigit() for text in texts)  # classes 2, 10 in that order, not 10, 2
            class_names = sorted(set(texts), key=lambda text: (int(text), "") if numbers else (0, text))
            y = torch.tensor([class_names.index(text) for text in texts])
        else:
            y = torch.tensor(values.astype("float64").to_numpy())
            class_names = []
        self.positions = self.draw_splits(y, task)
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
        self.encoding = TableEncoding.fit(
            frame.iloc[self.rows_trained.numpy()], self.numeric_columns, self.categorical_columns
        )
        self.x = torch.from_numpy(self.encoding.encode(frame))
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
        generator = torch.Generator().manual_seed(self.split_seed)
        positions = torch.arange(len(y))
        train, test = split_off(positions, labels, self.test_fraction, generator)
        train, val = split_off(train, None if labels is None else labels[train], self.val_fraction, generator)
        sizes = {"train": len(train), "val": len(val), "test": len(test)}
        needed = {"train": 2, "val": 1 if self.val_fraction else 0, "test": 1}
        short = [split for split in sizes if sizes[split] < needed[split]]
        if short:
            raise ZooError(
                f"{self.path} has {len(y)} rows with a target: too few for the splits (train "
                f"{sizes['train']}, val {sizes['val']}, test {sizes['test']} with data.val_fraction="
                f"{self.val_fraction} and data.test_fraction={self.test_fraction}); give more rows"
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
        rows = {"train": self.rows_trained, "val": self.positions["val"], "test": self.positions["test"]}
        self.indices = rows
        self.samples_per_epoch = len(self.positions["train"])
        self.splits = {split: (self.x[kept].to(device), self.y[kept].to(device)) for split, kept in rows.items()}

    def check_matches(self, saved: dict) -> None:
        self.read()
        if "encoding" in saved and saved["encoding"] != self.encoding.to_dict():
            raise ZooError(
                f"{self.path} no longer gives the encoding the model was trained with (its columns, "
                f"categories or training rows changed); evaluate on the file it was trained on"
            )

    def write_run_files(self, folder) -> None:
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
            f"{len(self.positions['test']):,}{dropped}",
            flush=True,
        )
        if self.numbered:  # one series a row: data=table gives each column a token of its own, order unseen
            print(
                f"zoo: data=table: the columns {self.numbered} look like the steps of one series a row; to classify "
                f"series as 1-D signals, the families reading them in order, use data=signals data.path={self.path} "
                f"data.label={self.target}; to forecast, data=series (docs/time-series.md)",
                flush=True,
            )
