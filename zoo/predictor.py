"""A trained model as it predicts: the network behind the normalization (or a table's encoding) it was trained with,
raw inputs in, logits (a regressor's values) out. `zoo.load` gives one; zoo-predict uses one.

A checkpoint carries what turns raw inputs into the network's inputs (the training part's per-channel mean and std,
a table's encoding, in `hyper_parameters["dataset"]`), so no data set is needed to predict.
"""

from math import prod
from pathlib import Path

import torch
from torch import nn

from zoo.data.table_encoding import TableEncoding
from zoo.errors import ZooError


class Predictor(nn.Module):
    """A trained network behind the normalization it was trained with: raw inputs in, logits out (a regressor's
    predictions, in the target's units).

    Takes inputs of shape (N, *input_shape), (N, features) flattened, or (N, height, width) for a
    one-channel set, as a NumPy array or a tensor of floats or integers (uint8 images as stored). A table's rows
    go through `encode` first (a pandas DataFrame, as the file holds them).
    """

    def __init__(self, net: nn.Module, dataset: dict, checkpoint: str = "") -> None:
        super().__init__()
        self.net = net
        self.data_name, self.input_shape = dataset["name"], tuple(dataset["input_shape"])
        self.class_names = list(dataset["class_names"])
        self.pixel_max = dataset.get("pixel_max")
        self.checkpoint = checkpoint
        channels = (1, -1) + (1,) * (len(self.input_shape) - 1)
        self.register_buffer("mean", torch.tensor(dataset["mean"], dtype=torch.float32).view(channels))
        self.register_buffer("std", torch.tensor(dataset["std"], dtype=torch.float32).view(channels))
        # A table's: its encoding, and the target's name and (regression) standardization.
        self.encoding = TableEncoding.from_dict(dataset["encoding"]) if "encoding" in dataset else None
        target = dataset.get("target") or {}
        self.target, self.scale = target.get("name"), target.get("scale")

    @property
    def regression(self) -> bool:
        return self.scale is not None

    def encode(self, rows) -> torch.Tensor:
        """A table's rows (a pandas DataFrame holding every feature column; others are ignored) as the network
        takes them: missing values and categories training never saw are encoded as in training."""
        if self.encoding is None:
            raise ZooError(f"a model for {self.data_name} takes arrays, not a table's rows")
        absent = [column for column in self.encoding.columns if column not in rows.columns]
        if absent:
            raise ZooError(
                f"the rows lack the column{'s' * (len(absent) > 1)} {', '.join(map(repr, absent))}, which "
                f"the model reads; it reads {', '.join(map(repr, self.encoding.columns))}"
            )
        return torch.from_numpy(self.encoding.encode(rows))

    def accepted_shapes(self) -> list[tuple[int, ...]]:
        shapes = [self.input_shape, (prod(self.input_shape),)]
        if self.input_shape[0] == 1 and len(self.input_shape) > 2:
            shapes.append(self.input_shape[1:])  # one channel left out, as torchvision stores MNIST
        return shapes

    def normalize(self, x) -> torch.Tensor:
        """Raw inputs -> the network's inputs, exactly as training normalized them (in float32)."""
        try:
            x = torch.as_tensor(x)
        except (TypeError, RuntimeError, ValueError):
            raise ZooError(
                f"inputs of type {getattr(x, 'dtype', type(x).__name__)}: {self.data_name} takes "
                f"numbers (float or uint8)"
            ) from None
        if x.dtype == torch.bool or x.is_complex():
            raise ZooError(f"inputs of dtype {x.dtype}: {self.data_name} takes numbers (float or uint8)")
        if x.dim() < 2 or tuple(x.shape[1:]) not in self.accepted_shapes():
            shapes = " or ".join(f"(N, {', '.join(map(str, shape))})" for shape in self.accepted_shapes())
            raise ZooError(f"inputs of shape {tuple(x.shape)}: a model for {self.data_name} takes {shapes}")
        if len(x) == 0:
            raise ZooError(f"no inputs: an array of shape {tuple(x.shape)}")
        x = x.to(self.mean.device, torch.float32).reshape(len(x), *self.input_shape)
        if not torch.isfinite(x).all():
            raise ZooError("the inputs hold NaN or infinite values")
        return (x - self.mean) / self.std

    def forward(self, x) -> torch.Tensor:
        return self.outputs(self.net(self.normalize(x)))

    def outputs(self, out: torch.Tensor) -> torch.Tensor:
        """The network's outputs as the model gives them: logits, or a regressor's values in the target's units."""
        if self.scale is None:
            return out
        return out.squeeze(-1) * self.scale[1] + self.scale[0]

    @torch.no_grad()
    def probabilities(self, x) -> torch.Tensor:
        """The probability of each class (columns in the order of `class_names`) for each input."""
        if self.regression:
            raise ZooError(f"a regressor of {self.target} gives values, not class probabilities: call the model")
        return self(x).softmax(dim=1)


def load(path) -> Predictor:
    """The model saved at `path` (a checkpoint, a run directory for its best checkpoint, or a folder zoo-export
    wrote with format=safetensors), in eval mode."""
    from zoo.export_folder import is_export_folder, load_network

    if is_export_folder(Path(path)):
        net, config = load_network(Path(path))
        if config["task"] == "language_model":
            raise ZooError(
                f"{path} holds a language model, not a classifier; sample from its checkpoint with zoo-generate"
            )
        return Predictor(net, config["data"], checkpoint=str(path)).eval()
    # Imported here, not at the top: zoo-predict checks its command line and input files first.
    from zoo.network import open_network

    trained = open_network(path)
    path, dataset = trained.path, trained.dataset
    if trained.task == "language_model":
        raise ZooError(f"{path} is a language model, not a classifier; sample from it with zoo-generate ckpt={path}")
    if "mean" not in dataset:
        raise ZooError(
            f"{path} was saved before zoo kept the input normalization in its checkpoints, so it "
            f"cannot take raw inputs; train the model again (zoo-eval can still test it)"
        )
    return Predictor(trained.net, dataset, checkpoint=str(path)).eval()
