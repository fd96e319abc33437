"""zoo: train the classic families of neural network with one command and compare them in TensorBoard."""

__version__ = "0.1.0"
