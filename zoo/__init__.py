"""zoo: train the classic families of neural network with one command and compare them in TensorBoard."""

__version__ = "0.1.0"

from pathlib import Path as _Path

# Absolute, so the configs are found however zoo is started (train.py, zoo-train, python -m zoo.train).
CONFIG_DIR = str(_Path(__file__).resolve().parent.parent / "conf")
