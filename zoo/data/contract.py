"""What every zoo data set offers the rest of zoo: the data contract.

A data set is a LightningDataModule (its loaders, `prepare_data`, `setup`) that also declares, before any file is
read or as soon as it has been, what a model, a task, a view and a checkpoint need to know of it. Every data module
derives from `ZooDataModule` and fills these members; nothing in zoo asks a data set for anything else.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch


class ZooDataModule(L.LightningDataModule, ABC):
    """The members below, documented once.

    - `name`: what runs and TensorBoard folders go by (`data.name`)
    - `task`: the task this data trains (zoo/tasks/): it decides the loss, the metrics, the best checkpoint
    - `batch_size`: training samples per step, of all processes together
    - `eval_batch_size`: samples per validation and test batch (any size gives the same metrics)
    - `class_names`: a classifier's classes, in the order of its outputs (empty for other tasks)
    - `feature_names`: what each value of a vector input is, in the order the model takes them (a table's columns,
      a toy set's features), for the views that show one; empty where the values have no names of their own
    - `pixel_max`: the value of a white pixel in stored images (None: not images), so that an image file's
      0-255 pixels can be brought to the scale the model was trained on (zoo-predict)
    - `continuous_inputs`: whether every input value is a quantity that noise, gradients and saliency can act on
      (a table's category codes are not: the robustness and saliency views leave such data alone)
    - `suited_models`: the families that can take these inputs, where only some can (None: any that builds)
    - `normalization`: per-channel "mean" and "std" of the training part, known after setup (None before)
    - `splits`: after setup, each split's (inputs, targets) as the model takes them, on the training device
    """

    name: str
    task: str = "classification"
    batch_size: int
    eval_batch_size: int
    class_names: Sequence[str] = ()
    feature_names: Sequence[str] = ()
    pixel_max: float | None = None
    suited_models: tuple[str, ...] | None = None
    normalization: dict[str, list[float]] | None = None
    splits: Mapping[str, tuple[torch.Tensor, torch.Tensor]]

    @property
    def continuous_inputs(self) -> bool:
        return True

    @property
    @abstractmethod
    def model_inputs(self) -> dict:
        """What a model builder needs to know of this data, for its task (zoo.models' docstring says what)."""

    @abstractmethod
    def describe(self) -> dict:
        """What a checkpoint stores of the data (plain containers, known once the data is set up): enough to rebuild
        the model and to feed it raw inputs (its normalization, a language model's vocabulary, a table's encoding).
        `name`, `task` and `model_inputs` always."""

    def check_matches(self, saved: dict) -> None:
        """Raise ZooError where this data no longer fits a model trained on the data `saved` (a checkpoint's
        description) describes. Nothing to check by default: building the model checks shapes and classes."""

    def split_sizes(self) -> dict[str, int]:
        """Samples in each split (after setup)."""
        return {split: len(targets) for split, (_, targets) in self.splits.items()}

    def write_run_files(self, folder: Path) -> None:
        """Files about the data that the run folder keeps (an image folder's splits.csv), and the line that says
        what was read; nothing by default."""

    def data_notes(self) -> list["DataNote"]:
        """What zoo noticed about the data that could make its scores lie (zoo.data.table_checks), or that says how
        it was read; known once the data has been read. Nothing by default."""
        return []

    def write_notes(self, folder: Path) -> None:
        """Say `data_notes` in the run's first lines, and keep them in the run folder's data_checks.json (zoo-compare's
        report shows them)."""
        import json

        from zoo.files import write_text_atomically

        notes = self.data_notes()
        for note in notes:
            print(note.line(), flush=True)
        payload = json.dumps({"notes": [note.to_dict() for note in notes]}, indent=2) + "\n"
        write_text_atomically(Path(folder) / "data_checks.json", payload)


@dataclass(frozen=True)
class DataNote:
    """One thing zoo noticed about the data: `check` (format, dedupe, duplicates, identifier, leak, classes...) and
    the line that says it. A warning may make the scores lie; the others (format, dedupe) say how it was read."""

    check: str
    text: str

    @property
    def warning(self) -> bool:
        return self.check not in ("format", "dedupe")

    def line(self) -> str:
        return f"zoo: {'warning: ' * self.warning}{self.text}"

    def to_dict(self) -> dict:
        return {"check": self.check, "text": self.text, "warning": self.warning}
