"""Predict with a saved model: `zoo.load(...)` gives a `Predictor`, the trained network behind the normalization (or a
table's encoding) it was trained with, raw inputs in, logits (a regressor's values) out; `zoo-predict ckpt=<path>
input=<file>` runs one on new files and writes a CSV.

A checkpoint carries what turns raw inputs into the network's inputs (the training part's per-channel mean and std,
a table's encoding, in `hyper_parameters["dataset"]`), so no data set is needed to predict. Nothing of training is
imported on the way (tests/test_inference_imports.py).
"""

import csv
import sys
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from zoo.data.image_files import IMAGE_SUFFIXES, UnreadableImage, is_image_name, read_image
from zoo.data.table_files import TableEncoding
from zoo.errors import ZooError
from zoo.files import write_atomically
from zoo.inference.arguments import parse_settings

if TYPE_CHECKING:  # only for annotations: pandas is imported where a table is read
    import pandas as pd


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
        # A series classifier's (data=signals): the file's time columns, in order, and its label column.
        self.signals: dict | None = dataset.get("signals")
        if self.signals is not None:
            self.target = self.signals["label"]
        # A forecaster's: its windows' sizes, quantiles and encoding (zoo.inference.forecast).
        self.series: dict | None = dataset.get("series")

    @property
    def regression(self) -> bool:
        return self.scale is not None

    def encode(self, rows) -> torch.Tensor:
        """A table's rows (a pandas DataFrame holding every feature column; others are ignored) as the network
        takes them: missing values and categories training never saw are encoded as in training."""
        if self.signals is not None:
            return self.signal_rows(rows, self.signals["columns"])
        if self.encoding is None:
            raise ZooError(f"a model for {self.data_name} takes arrays, not a table's rows")
        absent = [column for column in self.encoding.columns if column not in rows.columns]
        if absent:
            raise ZooError(
                f"the rows lack the column{'s' * (len(absent) > 1)} {', '.join(map(repr, absent))}, which "
                f"the model reads; it reads {', '.join(map(repr, self.encoding.columns))}"
            )
        return torch.from_numpy(self.encoding.encode(rows))

    @staticmethod
    def signal_rows(rows, columns: list[str]) -> torch.Tensor:
        """A series classifier's rows, one series each in the training file's time `columns`, as raw signals."""
        from pandas.api import types

        absent = [column for column in columns if column not in rows.columns]
        if absent:
            raise ZooError(
                f"the rows lack {len(absent)} of the model's {len(columns)} time columns ({', '.join(absent[:3])}"
                f"{' ...' * (len(absent) > 3)}); it reads {columns[0]} ... {columns[-1]}, one row per series"
            )
        wrong = [column for column in columns if not types.is_numeric_dtype(rows[column])]
        if wrong:
            raise ZooError(f"the rows' column {wrong[0]!r} holds values that are not numbers; a signal's steps are")
        return torch.from_numpy(rows[columns].to_numpy(dtype="float32"))

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

    def forecast(self, rows) -> "pd.DataFrame":
        """A forecaster's forecasts of the series in `rows` (a pandas DataFrame in the training file's layout: each
        series' history, and rows ahead with its future covariates): a DataFrame, one row per series and step ahead,
        with the point forecast and each quantile (zoo.inference.forecast)."""
        from zoo.inference.forecast import forecast_rows

        if self.series is None:
            raise ZooError(f"a model for {self.data_name} is not a forecaster: call it on its inputs")
        return forecast_rows(self, rows, "the rows")

    @torch.no_grad()
    def probabilities(self, x) -> torch.Tensor:
        """The probability of each class (columns in the order of `class_names`) for each input."""
        if self.series is not None:
            raise ZooError(f"a forecaster of {self.data_name} gives quantiles, not class probabilities: call forecast")
        if self.regression:
            raise ZooError(f"a regressor of {self.target} gives values, not class probabilities: call the model")
        return self(x).softmax(dim=1)


def load(path) -> Predictor:
    """The model saved at `path` (a checkpoint, a run directory for its best checkpoint, or a folder zoo-export
    wrote with format=safetensors), in eval mode."""
    from zoo.runs.export_folder import is_export_folder, load_network

    if is_export_folder(Path(path)):
        net, config = load_network(Path(path))
        if config["task"] in ("language_model", "translation"):
            raise ZooError(
                f"{path} holds a {'language model' if config['task'] == 'language_model' else 'translation model'}, "
                f"not a classifier; use its checkpoint with "
                f"zoo-generate"
            )
        return Predictor(net, config["data"], checkpoint=str(path)).eval()
    # Imported here, not at the top: zoo-predict checks its command line and input files first.
    from zoo.inference.network import open_network

    trained = open_network(path)
    path, dataset = trained.path, trained.dataset
    if trained.task == "language_model":
        raise ZooError(f"{path} is a language model, not a classifier; sample from it with zoo-generate ckpt={path}")
    if trained.task == "translation":
        raise ZooError(
            f"{path} is a translation model: give it sentences, input=<a .txt file, one a line> (or .tsv, .csv, "
            f".parquet of pairs)"
        )
    if "mean" not in dataset:
        raise ZooError(
            f"{path} was saved before zoo kept the input normalization in its checkpoints, so it "
            f"cannot take raw inputs; train the model again (zoo-eval can still test it)"
        )
    return Predictor(trained.net, dataset, checkpoint=str(path)).eval()


USAGE = (
    "usage: zoo-predict ckpt=<checkpoint, run directory or export folder> input=<file.npy, an image, a folder "
    "of images, a table's rows or a forecaster's series in .csv or .parquet, or sentences to translate in .txt> "
    "[output=<file.csv>]"
)
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
SENTENCE_SUFFIXES = (".txt", *TABLE_SUFFIXES)  # what a translation model reads: zoo.data.pairs_files.read_sources
BATCH_SIZE = 1024


def input_files(source: Path) -> list[Path]:
    """The .npy array or the image to read, or the images of a folder and its subfolders (sorted by path; hidden
    and other files are left alone)."""
    if source.is_dir():
        images = sorted(
            path
            for path in source.rglob("*")
            if path.is_file()
            and is_image_name(path.name)
            and not any(part.startswith(".") for part in path.relative_to(source).parts)
        )
        if not images:
            raise ZooError(f"input folder {source} holds no images ({' '.join(IMAGE_SUFFIXES)})")
        return images
    if not source.is_file():
        raise ZooError(f"input {source} does not exist")
    if source.suffix.lower() not in (".npy", *IMAGE_SUFFIXES):
        raise ZooError(
            f"input {source}: zoo-predict reads a .npy array, an image ({' '.join(IMAGE_SUFFIXES)}) or a "
            f"folder of images, not {source.suffix or 'a file without a suffix'}"
        )
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
    """Images of any size and mode as (N, channels, height, width), read as training read them (zoo.data.image_files:
    converted to the model's channels, shorter side resized and the centre cut out), their 0-255 pixels brought to
    the scale of the stored data."""
    shape = predictor.input_shape
    if predictor.pixel_max is None or len(shape) != 3 or shape[0] not in (1, 3):
        raise ZooError(
            f"a model for {predictor.data_name} takes arrays of shape (N, {', '.join(map(str, shape))}), "
            f"not images; give a .npy file"
        )
    images = []
    for path in paths:
        try:
            images.append(read_image(path, shape[0], tuple(shape[1:])).numpy())
        except UnreadableImage as error:
            raise ZooError(f"input {path} is not a readable image: {error}") from None
    return np.stack(images) * (predictor.pixel_max / 255)


def default_output(source: Path) -> Path:
    """Beside the input: signals.npy -> signals_predictions.csv, a folder images/ -> images_predictions.csv."""
    source = source.resolve()
    return source.parent / f"{source.stem}_predictions.csv"


def write_csv(target: Path, id_column: str, ids: list, logits: torch.Tensor, class_names: list[str]) -> None:
    """One row per input."""

    def write(partial: Path) -> None:
        with open(partial, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow([id_column, "predicted_index", "predicted", *class_names])
            # The class is the logits' argmax, as training scores it (rounded probabilities can tie).
            for row_id, best, row in zip(
                ids, logits.argmax(dim=1).tolist(), logits.softmax(dim=1).tolist(), strict=False
            ):
                writer.writerow([row_id, best, class_names[best], *(f"{p:.6f}" for p in row)])

    write_output(target, write)


def predict_rows(predictor: Predictor, source: Path, target: Path) -> int:
    """A table's new rows: every column carried through, then the prediction (and each class's probability)."""
    from zoo.data.table_files import read_table

    if predictor.encoding is None and predictor.signals is None:
        raise ZooError(f"input {source}: a model for {predictor.data_name} takes a .npy array or images, not a table")
    rows = read_table(source, key="input")
    if not len(rows):
        raise ZooError(f"input {source} holds no rows")
    x = predictor.encode(rows)
    if predictor.signals is not None:  # raw values: normalized as in training (a table's encoding is the network's)
        x = predictor.normalize(x)
    with torch.no_grad():
        out = predictor.outputs(torch.cat([predictor.net(x[i : i + BATCH_SIZE]) for i in range(0, len(x), BATCH_SIZE)]))
    predicted = rows.copy()
    if predictor.regression:
        predicted[f"predicted_{predictor.target}"] = out.numpy()
    else:
        predicted[f"predicted_{predictor.target}"] = [predictor.class_names[i] for i in out.argmax(dim=1).tolist()]
        for name, column in zip(predictor.class_names, out.softmax(dim=1).T.tolist(), strict=False):
            predicted[f"p_{name}"] = np.round(column, 6)
    write_output(target, lambda partial: predicted.to_csv(partial, index=False))
    return len(rows)


def write_output(target: Path, write) -> None:
    """The predictions, written atomically (zoo.files): a failed write leaves nothing, and says where in one line."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, write)
    except OSError as error:
        raise ZooError(f"could not write {target}: {error.strerror}; choose another output=...") from None


def predict(ckpt: str, given: str, output: str | None = None) -> Path:
    """Predict every input in `given` (a file or folder) with the model at `ckpt`; write the CSV and return where."""
    source = Path(given)
    if source.suffix.lower() in SENTENCE_SUFFIXES and translates(ckpt):
        return predict_translations(ckpt, source, output)
    if source.suffix.lower() in TABLE_SUFFIXES:
        if not source.is_file():
            raise ZooError(f"input {source} does not exist")
        files = [source]
    else:
        files = input_files(source)
    target = Path(output) if output else default_output(source)
    if target.suffix.lower() != ".csv":
        raise ZooError(f"output={target} must be a .csv file")
    predictor = load(ckpt)
    if source.suffix.lower() in TABLE_SUFFIXES and predictor.series is not None:
        from zoo.inference.forecast import predict_series

        count = predict_series(predictor, source, target, write_output)
        horizon = predictor.series["horizon"]
        print(
            f"zoo: forecast {horizon} steps of {count} series of {source} with {predictor.checkpoint}; "
            f"written to {target}"
        )
        return target
    if predictor.series is not None:
        raise ZooError(f"input {source}: a forecaster reads series from a .csv or .parquet file in the long format")
    if source.suffix.lower() in TABLE_SUFFIXES:
        count = predict_rows(predictor, source, target)
        print(f"zoo: predicted {count} rows of {source} with {predictor.checkpoint}; written to {target}")
        return target
    if predictor.regression or predictor.encoding is not None:
        raise ZooError(f"input {source}: a model of a table takes its rows, a .csv or .parquet file")
    if files[0].suffix.lower() == ".npy":
        inputs, id_column = read_array(files[0]), "index"
        ids: list[int | str] = list(range(len(inputs)))
    else:
        inputs, id_column = read_images(files, predictor), "file"
        ids = [str(path.relative_to(source)) if source.is_dir() else path.name for path in files]
    x = predictor.normalize(inputs)  # checks the shape and values of all inputs before any is predicted
    with torch.no_grad():
        logits = torch.cat([predictor.net(x[start : start + BATCH_SIZE]) for start in range(0, len(x), BATCH_SIZE)])
    write_csv(target, id_column, ids, logits, predictor.class_names)
    print(f"zoo: predicted {len(ids)} inputs of {source} with {predictor.checkpoint}; written to {target}")
    return target


def translates(ckpt: str) -> bool:
    """Whether `ckpt` holds a translation model (an export folder never does: zoo-export leaves the decoding loop
    outside the files it writes)."""
    from zoo.runs.export_folder import is_export_folder

    if is_export_folder(Path(ckpt)):
        return False
    from zoo.inference.network import checkpoint_to_open
    from zoo.runs.checkpoint import load_checkpoint

    saved = load_checkpoint(checkpoint_to_open(Path(ckpt))).get("hyper_parameters") or {}
    return (saved.get("dataset") or {}).get("task") == "translation"


def predict_translations(ckpt: str, source: Path, output: str | None) -> Path:
    """Translate every sentence of `source` (zoo.inference.translate); write a CSV of source and translation."""
    from zoo.inference.translate import open_translator, sentences_of, write_translations

    target = Path(output) if output else default_output(source)
    if target.suffix.lower() != ".csv":
        raise ZooError(f"output={target} must be a .csv file")
    translator = open_translator(ckpt)
    sentences = sentences_of(None, str(source), translator.source_column)
    write_translations(target, sentences, translator.translate(sentences))
    print(f"zoo: translated {len(sentences)} sentences of {source} with {ckpt}; written to {target}")
    return target


def main() -> None:
    try:
        settings = parse_settings(
            "zoo-predict", sys.argv[1:], USAGE, required=("ckpt", "input"), optional={"output": None}
        )
        predict(settings["ckpt"], settings["input"], settings["output"])
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
