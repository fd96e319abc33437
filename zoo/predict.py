"""Predict with a saved model on new inputs, given as the data set stores them: `zoo.load(...)` in Python,
`zoo-predict ckpt=<path> input=<file>` on the command line.

A checkpoint carries what turns raw inputs into the network's inputs (the training part's per-channel
mean and std, in `hyper_parameters["dataset"]`), so no data set is needed to predict.
"""

import csv
import os
import sys
from math import prod
from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.cli import parse_settings
from zoo.errors import ZooError

USAGE = ("usage: zoo-predict ckpt=<checkpoint, run directory or export folder> input=<file.npy, .png/.jpg image or folder of "
         "images> [output=<file.csv>]")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BATCH_SIZE = 1024


class Predictor(nn.Module):
    """A trained network behind the normalization it was trained with: raw inputs in, logits out.

    Takes inputs of shape (N, *input_shape), (N, features) flattened, or (N, height, width) for a
    one-channel set, as a NumPy array or a tensor of floats or integers (uint8 images as stored).
    """

    def __init__(self, net: nn.Module, dataset: dict, checkpoint: str = ""):
        super().__init__()
        self.net = net
        self.data_name, self.input_shape = dataset["name"], tuple(dataset["input_shape"])
        self.class_names = list(dataset["class_names"])
        self.pixel_max = dataset.get("pixel_max")
        self.checkpoint = checkpoint
        channels = (1, -1) + (1,) * (len(self.input_shape) - 1)
        self.register_buffer("mean", torch.tensor(dataset["mean"], dtype=torch.float32).view(channels))
        self.register_buffer("std", torch.tensor(dataset["std"], dtype=torch.float32).view(channels))

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
            raise ZooError(f"inputs of type {getattr(x, 'dtype', type(x).__name__)}: {self.data_name} takes "
                           f"numbers (float or uint8)") from None
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
        return self.net(self.normalize(x))

    @torch.no_grad()
    def probabilities(self, x) -> torch.Tensor:
        """The probability of each class (columns in the order of `class_names`) for each input."""
        return self(x).softmax(dim=1)


def load(path) -> Predictor:
    """The model saved at `path` (a checkpoint, a run directory for its best checkpoint, or a folder zoo-export
    wrote with format=safetensors), in eval mode."""
    from zoo.export_folder import is_export_folder, load_network

    if is_export_folder(Path(path)):
        net, config = load_network(Path(path))
        if config["task"] != "classification":
            raise ZooError(f"{path} holds a {config['task'].replace('_', ' ')}, not a classifier; sample from its "
                           f"checkpoint with zoo-generate")
        return Predictor(net, config["data"], checkpoint=str(path)).eval()
    # Imported here, not at the top: zoo-predict checks its command line and input files first, in a
    # fraction of the seconds Lightning and Hydra take to import.
    from zoo.evaluate import restore

    path, checkpoint, _, task = restore(path)
    dataset = checkpoint["hyper_parameters"]["dataset"]
    if task.name != "classification":
        raise ZooError(f"{path} is a {task.name.replace('_', ' ')}, not a classifier; sample from it with "
                       f"zoo-generate ckpt={path}")
    if "mean" not in dataset:
        raise ZooError(f"{path} was saved before zoo kept the input normalization in its checkpoints, so it "
                       f"cannot take raw inputs; train the model again (zoo-eval can still test it)")
    return Predictor(task.net, dataset, checkpoint=str(path)).eval()


def input_files(source: Path) -> list[Path]:
    """The .npy array or the image to read, or the images of a folder (sorted by name)."""
    if source.is_dir():
        images = sorted(path for path in source.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
        if not images:
            raise ZooError(f"input folder {source} holds no .png or .jpg images")
        return images
    if not source.is_file():
        raise ZooError(f"input {source} does not exist")
    if source.suffix.lower() not in (".npy", *IMAGE_SUFFIXES):
        raise ZooError(f"input {source}: zoo-predict reads a .npy array, a .png/.jpg image or a folder of images, "
                       f"not {source.suffix or 'a file without a suffix'}")
    return [source]


def read_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ZooError(f"input {path} is not a readable .npy array: {' '.join(str(error).split())[:150]}") from None
    if not isinstance(array, np.ndarray):  # np.load opens a .npz archive under any name
        raise ZooError(f"input {path} is a .npz archive, not a .npy array; save one array with numpy.save")
    return array


def read_images(paths: list[Path], predictor: Predictor) -> np.ndarray:
    """Images as (N, channels, height, width), their 0-255 pixels brought to the scale of the stored data."""
    from PIL import Image, UnidentifiedImageError

    shape = predictor.input_shape
    if predictor.pixel_max is None or len(shape) != 3 or shape[0] not in (1, 3):
        raise ZooError(f"a model for {predictor.data_name} takes arrays of shape (N, {', '.join(map(str, shape))}), "
                       f"not images; give a .npy file")
    channels, height, width = shape
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
        except (OSError, UnidentifiedImageError) as error:
            raise ZooError(f"input {path} is not a readable image: {' '.join(str(error).split())[:150]}") from None
        if pixels.shape[:2] != (height, width):
            raise ZooError(f"image {path} is {pixels.shape[1]}x{pixels.shape[0]} pixels; a model for "
                           f"{predictor.data_name} takes {width}x{height}")
        images.append(pixels.reshape(height, width, channels).transpose(2, 0, 1))
    return np.stack(images) * (predictor.pixel_max / 255)


def default_output(source: Path) -> Path:
    """Beside the input: signals.npy -> signals_predictions.csv, a folder images/ -> images_predictions.csv."""
    source = source.resolve()
    return source.parent / f"{source.stem}_predictions.csv"


def write_csv(target: Path, id_column: str, ids: list, logits: torch.Tensor, class_names: list[str]) -> None:
    """One row per input; written beside the target and renamed into place, so a failed write leaves nothing."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow([id_column, "predicted_index", "predicted", *class_names])
            # The class is the logits' argmax, as training scores it (rounded probabilities can tie).
            for row_id, best, row in zip(ids, logits.argmax(dim=1).tolist(), logits.softmax(dim=1).tolist()):
                writer.writerow([row_id, best, class_names[best], *(f"{p:.6f}" for p in row)])
        os.replace(partial, target)
    except OSError as error:
        raise ZooError(f"could not write {target}: {error.strerror}; choose another output=...") from None
    finally:
        partial.unlink(missing_ok=True)


def predict(ckpt: str, source: str, output: str | None = None) -> Path:
    """Predict every input in `source` with the model at `ckpt`; write the CSV and return where."""
    source = Path(source)
    files = input_files(source)
    target = Path(output) if output else default_output(source)
    if target.suffix.lower() != ".csv":
        raise ZooError(f"output={target} must be a .csv file")
    predictor = load(ckpt)
    if files[0].suffix.lower() == ".npy":
        inputs, id_column, ids = read_array(files[0]), "index", None
    else:
        inputs, id_column, ids = read_images(files, predictor), "file", [path.name for path in files]
    x = predictor.normalize(inputs)  # checks the shape and values of all inputs before any is predicted
    with torch.no_grad():
        logits = torch.cat([predictor.net(x[start:start + BATCH_SIZE]) for start in range(0, len(x), BATCH_SIZE)])
    ids = ids or list(range(len(x)))
    write_csv(target, id_column, ids, logits, predictor.class_names)
    print(f"zoo: predicted {len(ids)} inputs of {source} with {predictor.checkpoint}; written to {target}")
    return target


def main() -> None:
    try:
        settings = parse_settings("zoo-predict", sys.argv[1:], USAGE, required=("ckpt", "input"),
                                  optional={"output": None})
        predict(settings["ckpt"], settings["input"], settings["output"])
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
