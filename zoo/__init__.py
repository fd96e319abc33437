"""zoo: train the classic families of neural network with one command and compare them in TensorBoard."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["CONFIG_DIR", "ZooError", "load", "open_run", "train"]

from pathlib import Path as _Path
from typing import TYPE_CHECKING

from zoo.errors import ZooError  # what zoo.train and zoo.load raise on bad input: one line

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    from zoo.predictor import Predictor


_PACKAGE = _Path(__file__).resolve().parent
# Absolute, so the configs are found however zoo is started (train.py, zoo-train, python -m zoo.training).
# An installed wheel carries them as zoo/conf; a checkout (and an editable install) reads the repo's conf/.
CONFIG_DIR = str(_PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf")


def load(path) -> Predictor:
    """The model saved at `path` (a checkpoint, or a run directory for its best checkpoint) as an
    nn.Module in eval mode that takes raw inputs, as the data set stores them, and returns logits;
    `.class_names` names its outputs and `.probabilities(x)` gives each class's probability."""
    from zoo.predictor import load as load_predictor  # here, so `import zoo` stays light

    return load_predictor(path)


def train(*overrides: str) -> dict:
    """Train as `python train.py <overrides>` would (zoo.train("model=cnn", "data=digits")) and return the
    run's metrics, with "run_dir", its folder; a bad override raises a one-line zoo.ZooError."""
    from zoo.notebook import train as train_from_python

    return train_from_python(*overrides)


def open_run(run, data_dir=None) -> tuple:
    """(network, data module) of a finished run (its folder or a checkpoint): the best checkpoint's network
    in eval mode and the run's data module set up as in training (same splits, same normalization)."""
    from zoo.notebook import open_run as open_finished_run

    return open_finished_run(run, data_dir)
