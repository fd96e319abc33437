"""zoo.load and zoo-predict: a saved model predicts on new inputs given as the data set stores them."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

import zoo
import zoo.inference.predict
from zoo.data.digits import Digits
from zoo.data.mnist1d import MNIST1D
from zoo.inference.predict import Predictor, read_images

from conftest import REPO, TINY, command_here, read_metrics, run_dirs, train_here

DIGITS = [str(digit) for digit in range(10)]


def trained(tmp_path_factory, data_dir, *overrides):
    log_dir = tmp_path_factory.mktemp("runs")
    result = train_here("model=cnn", *overrides, *TINY, log_dir=log_dir, data_dir=data_dir)
    [run_dir] = run_dirs(log_dir)
    assert Path(result["run_dir"]) == run_dir and result["status"] == "finished"
    return run_dir


@pytest.fixture(scope="module")
def mnist1d_run(tmp_path_factory, data_dir):
    return trained(tmp_path_factory, data_dir)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, data_dir):
    return trained(tmp_path_factory, data_dir, "data=digits")


@pytest.fixture(scope="module")
def mnist1d_test(mnist1d_run, data_dir):
    """The raw test signals, (1000, 40) float64, and their labels, as the run's data cache holds them."""
    with np.load(MNIST1D(name="mnist1d", data_dir=str(data_dir)).cache_path) as data:
        return data["x_test"], data["y_test"]


def zoo_predict(*arguments):
    """zoo-predict's main() in this process: its exit status and what it printed."""
    return command_here(zoo.inference.predict.main, *arguments)


def zoo_predict_process(*arguments):
    """`python -m zoo.inference.predict` as a user starts it: the exit status and stderr of the process itself."""
    return subprocess.run(
        [sys.executable, "-m", "zoo.inference.predict", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_csv(path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def probabilities_of(rows) -> np.ndarray:
    return np.array([[float(row[name]) for name in DIGITS] for row in rows])


@pytest.mark.slow
def test_checkpoints_carry_the_normalization_of_the_training_part(mnist1d_run, data_dir):
    datamodule = MNIST1D(name="mnist1d", data_dir=str(data_dir))
    datamodule.setup()
    assert len(datamodule.normalization["mean"]) == len(datamodule.normalization["std"]) == 1  # one channel
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(mnist1d_run / "checkpoints" / name, weights_only=True)
        dataset = checkpoint["hyper_parameters"]["dataset"]
        # The same statistics; the last float32 digits of a sum depend on how torch splits it over threads.
        assert dataset["mean"] == pytest.approx(datamodule.normalization["mean"], rel=1e-5, abs=1e-8)
        assert dataset["std"] == pytest.approx(datamodule.normalization["std"], rel=1e-5)
        assert dataset["class_names"] == DIGITS


@pytest.mark.slow
def test_zoo_predict_on_the_raw_test_signals_reproduces_the_runs_test_accuracy(mnist1d_run, mnist1d_test, tmp_path):
    signals, labels = mnist1d_test
    np.save(tmp_path / "signals.npy", signals)
    result = zoo_predict(f"ckpt={mnist1d_run}", f"input={tmp_path / 'signals.npy'}")  # run dir: its best.ckpt
    assert result.returncode == 0, result.stderr
    written = tmp_path / "signals_predictions.csv"  # beside the input
    assert str(written) in result.stdout and "best.ckpt" in result.stdout
    rows = read_csv(written)
    assert list(rows[0]) == ["index", "predicted_index", "predicted", *DIGITS]
    assert [int(row["index"]) for row in rows] == list(range(len(labels)))
    predicted = np.array([int(row["predicted_index"]) for row in rows])
    assert (predicted == labels).mean() == pytest.approx(read_metrics(mnist1d_run)["test/acc"], abs=1e-6)
    assert [row["predicted"] for row in rows] == [DIGITS[index] for index in predicted]
    probabilities = probabilities_of(rows)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert (probabilities[np.arange(len(rows)), predicted] == probabilities.max(axis=1)).all()


@pytest.mark.slow
def test_zoo_load_gives_a_model_that_takes_raw_inputs(mnist1d_run, mnist1d_test):
    signals, labels = mnist1d_test
    model = zoo.load(mnist1d_run)
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model.class_names == DIGITS
    with torch.no_grad():
        logits = model(signals)  # a NumPy array, flattened (N, 40)
        assert logits.shape == (len(signals), 10)
        assert torch.equal(model(torch.from_numpy(signals).unsqueeze(1)), logits)  # a tensor (N, 1, 40)
    accuracy = (logits.argmax(dim=1).numpy() == labels).mean()
    assert accuracy == pytest.approx(read_metrics(mnist1d_run)["test/acc"], abs=1e-6)
    probabilities = model.probabilities(signals)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(len(signals)))
    assert torch.equal(probabilities.argmax(dim=1), logits.argmax(dim=1))
    # A checkpoint file works as well as its run directory.
    assert torch.equal(zoo.load(read_metrics(mnist1d_run)["best_checkpoint"])(signals[:8]), model(signals[:8]))


@pytest.mark.slow
def test_zoo_predict_reads_a_folder_of_images_at_the_data_sets_scale(digits_run, tmp_path):
    images = load_digits().images[:6]  # 8x8, stored as 0-16
    pixels = np.round(images * 255 / 16).astype(np.uint8)  # the same digits as 8-bit grey images
    folder = tmp_path / "digits"
    folder.mkdir()
    names = [f"digit_{i}.png" for i in range(len(pixels))]
    for name, image in zip(names, pixels, strict=False):
        Image.fromarray(image).save(folder / name)
    (folder / "notes.txt").write_text("not an image: skipped")
    output = tmp_path / "out" / "predictions.csv"
    result = zoo_predict(f"ckpt={digits_run}", f"input={folder}", f"output={output}")
    assert result.returncode == 0, result.stderr
    rows = read_csv(output)
    assert [row["file"] for row in rows] == names

    # The model on the same pixels, normalized by hand with the statistics of the training part.
    datamodule = Digits(name="digits", data_dir=str(tmp_path))
    datamodule.setup()
    [mean], [std] = datamodule.normalization["mean"], datamodule.normalization["std"]
    net = zoo.load(digits_run).net
    with torch.no_grad():
        expected = net((torch.tensor(pixels / 255 * 16, dtype=torch.float32).unsqueeze(1) - mean) / std)
        stored = net((torch.tensor(images, dtype=torch.float32).unsqueeze(1) - mean) / std)
    assert [int(row["predicted_index"]) for row in rows] == expected.argmax(dim=1).tolist()
    assert np.allclose(probabilities_of(rows), expected.softmax(dim=1).numpy(), atol=1e-5)
    # Within the rounding to 8 bits, the images give what the data set's own 0-16 values give.
    assert np.allclose(probabilities_of(rows), stored.softmax(dim=1).numpy(), atol=0.02)

    one = zoo_predict(f"ckpt={digits_run}", f"input={folder / names[0]}")
    assert one.returncode == 0, one.stderr
    [alone] = read_csv(folder / "digit_0_predictions.csv")  # beside the image
    assert alone["file"] == names[0] and alone["predicted"] == rows[0]["predicted"]
    assert np.allclose(probabilities_of([alone]), probabilities_of(rows[:1]), atol=1e-5)


def test_colour_images_keep_their_channels_apart(tmp_path):
    """cifar10's images (no download here): an RGB file becomes (3, height, width), red first."""
    rgb = np.random.default_rng(0).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    dataset = {
        "name": "cifar10",
        "input_shape": [3, 4, 5],
        "class_names": ["a", "b"],
        "pixel_max": 255.0,
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
    }
    model = Predictor(torch.nn.Flatten(), dataset)
    [image] = read_images([tmp_path / "colour.png"], model)
    assert np.array_equal(image, rgb.transpose(2, 0, 1))
    assert torch.equal(model(image[None]), torch.from_numpy(rgb.transpose(2, 0, 1)).float().flatten()[None])


def write_text(path):
    path.write_text("0 " * 40)
    return path


def save_png(path, size):
    Image.fromarray(np.zeros(size, dtype=np.uint8)).save(path)
    return path


def truncated_png(path):
    """A PNG of noise cut off halfway, as an interrupted copy leaves it."""
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    return path


def old_checkpoint(run_dir, tmp_path):
    """A checkpoint as zoo wrote them before it saved the input normalization."""
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    del checkpoint["hyper_parameters"]["dataset"]["mean"], checkpoint["hyper_parameters"]["dataset"]["std"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    return tmp_path / "old.ckpt"


def foreign_checkpoint(tmp_path):
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "hyper_parameters": {"lr": 0.1}}, tmp_path / "other.ckpt")
    return tmp_path / "other.ckpt"


def npy(tmp_path, array):
    np.save(tmp_path / "inputs.npy", array)
    return tmp_path / "inputs.npy"


# The case that runs `python -m zoo.inference.predict` in a process of its own: the exit status and the single line on
# stderr end to end (no warning or log line of torch's on the way); the others call its main() here.
IN_A_PROCESS = "wrong shape"
BAD_INPUTS = {  # case: (arguments, what the one line must say)
    "wrong shape": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"input={npy(tmp, np.zeros((3, 39)))}"],
        "inputs of shape (3, 39): a model for mnist1d takes (N, 1, 40) or (N, 40)",
    ),
    "not numbers": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"input={npy(tmp, np.array([['a'] * 40]))}"],
        "takes numbers",
    ),
    "NaN": (lambda runs, tmp: [f"ckpt={runs[0]}", f"input={npy(tmp, np.full((2, 40), np.nan))}"], "NaN"),
    "wrong file type": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"input={write_text(tmp / 'x.txt')}"],
        "reads a .npy array, an image (.png .jpg .jpeg .bmp .webp .gif) or a folder of images, not .txt",
    ),
    "folder without images": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"input={write_text(tmp / 'x.txt').parent}"],
        "holds no images (.png .jpg .jpeg .bmp .webp .gif)",
    ),
    "missing file": (lambda runs, tmp: [f"ckpt={runs[0]}", f"input={tmp / 'absent.npy'}"], "does not exist"),
    "image for signals": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"input={save_png(tmp / 'x.png', (1, 40))}"],
        "takes arrays of shape (N, 1, 40), not images",
    ),
    "unreadable image": (
        lambda runs, tmp: [f"ckpt={runs[1]}", f"input={truncated_png(tmp / 'x.png')}"],
        "x.png is not a readable image",
    ),
    "not a checkpoint": (
        lambda runs, tmp: [f"ckpt={npy(tmp, np.zeros((2, 40)))}", f"input={tmp / 'inputs.npy'}"],
        "is not a checkpoint zoo can open",
    ),
    "not a zoo checkpoint": (
        lambda runs, tmp: [f"ckpt={foreign_checkpoint(tmp)}", f"input={npy(tmp, np.zeros((2, 40)))}"],
        "was not written by zoo",
    ),
    "checkpoint without normalization": (
        lambda runs, tmp: [f"ckpt={old_checkpoint(runs[0], tmp)}", f"input={npy(tmp, np.zeros((2, 40)))}"],
        "train the model again",
    ),
    "no input": (lambda runs, tmp: [f"ckpt={runs[0]}"], "no input= given; usage: zoo-predict"),
    "unknown setting": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"inputs={npy(tmp, np.zeros((2, 40)))}"],
        "is not a zoo-predict setting; usage: zoo-predict",
    ),
    "output not a csv": (
        lambda runs, tmp: [f"ckpt={runs[0]}", f"input={npy(tmp, np.zeros((2, 40)))}", f"output={tmp / 'out.npy'}"],
        "must be a .csv file",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_with_one_line_and_writes_nothing(case, mnist1d_run, digits_run, tmp_path):
    arguments, message = BAD_INPUTS[case]
    run = zoo_predict_process if case == IN_A_PROCESS else zoo_predict
    result = run(*arguments((mnist1d_run, digits_run), tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert result.stdout == ""
    assert not [path for folder in (tmp_path, mnist1d_run, digits_run) for path in folder.rglob("*.csv")]
    assert not list(tmp_path.rglob(".*.partial"))
