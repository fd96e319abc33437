"""zoo: train the classic families of neural network with one command and compare them in TensorBoard."""

__version__ = "0.1.0"

from pathlib import Path as _Path

_PACKAGE = _Path(__file__).resolve().parent
# Absolute, so the configs are found however zoo is started (train.py, zoo-train, python -m zoo.training).
# An installed wheel carries them as zoo/conf; a checkout (and an editable install) reads the repo's conf/.
CONFIG_DIR = str(_PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf")


def load(path):
    """The model saved at `path` (a checkpoint, or a run directory for its best checkpoint) as an
    nn.Module in eval mode that takes raw inputs, as the data set stores them, and returns logits;
    `.class_names` names its outputs and `.probabilities(x)` gives each class's probability."""
    from zoo.predict import load as load_predictor  # here, so `import zoo` stays light

    return load_predictor(path)
