"""zoo: train the classic families of neural network with one command and compare them in TensorBoard."""

__version__ = "0.1.0"

from pathlib import Path as _Path

# Absolute, so the configs are found however zoo is started (train.py, zoo-train, python -m zoo.train).
CONFIG_DIR = str(_Path(__file__).resolve().parent.parent / "conf")


def load(path):
    """The model saved at `path` (a checkpoint, or a run directory for its best checkpoint) as an
    nn.Module in eval mode that takes raw inputs, as the data set stores them, and returns logits;
    `.class_names` names its outputs and `.probabilities(x)` gives each class's probability."""
    from zoo.predict import load as load_predictor  # here, so `import zoo` stays light

    return load_predictor(path)
