"""zoo: train the classic families of neural network with one command and compare them in TensorBoard.

The public API, for notebooks and scripts (the command lines are the `zoo-*` commands):

    zoo.train("model=cnn", "data=digits")   # python train.py model=cnn data=digits, in this process
    model = zoo.load("logs/runs/<run>")     # a trained model that takes raw inputs
    net, data = zoo.open_run("logs/runs/<run>")
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["CONFIG_DIR", "ZooError", "load", "open_run", "train"]

from typing import TYPE_CHECKING

from zoo.configs import CONFIG_DIR
from zoo.errors import ZooError  # what zoo.train and zoo.load raise on bad input: one line

if TYPE_CHECKING:  # only for annotations: imported where used, so that `import zoo` stays light
    from zoo.inference.predict import Predictor


def load(path) -> Predictor:
    """The model saved at `path` (a checkpoint, or a run directory for its best checkpoint) as an
    nn.Module in eval mode that takes raw inputs, as the data set stores them, and returns logits;
    `.class_names` names its outputs and `.probabilities(x)` gives each class's probability."""
    from zoo.inference.predict import load as load_predictor

    return load_predictor(path)


def train(*overrides: str) -> dict:
    """Train as `python train.py <overrides>` would (zoo.train("model=cnn", "data=digits")) and return the
    run's metrics, with "run_dir", its folder; a bad override raises a one-line zoo.ZooError."""
    from zoo.training.command import train_from_python

    return train_from_python(*overrides)


def open_run(run, data_dir=None) -> tuple:
    """(network, data module) of a finished run (its folder or a checkpoint): the best checkpoint's network
    in eval mode and the run's data module set up as in training (same splits, same normalization)."""
    from zoo.inference.restore import open_run as open_finished_run

    return open_finished_run(run, data_dir)
