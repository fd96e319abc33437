"""Data modules: offline MNIST-1D with its cache, splits, normalization, batches, torchvision files."""

import gzip
import pickle
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data.digits import Digits
from zoo.data.loaders import TensorLoader
from zoo.data.mnist1d import MNIST1D
from zoo.data.torchvision_sets import CIFAR10, MNIST, FashionMNIST
from zoo.errors import ZooError


def test_mnist1d_has_the_papers_split_and_is_cached_by_its_arguments(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # mnist1d's get_dataset would write here; zoo must not
    datamodule = MNIST1D(name="mnist1d", data_dir=data_dir, val_fraction=0.1)
    datamodule.setup()
    (x, y), (x_val, _), (x_test, y_test) = (datamodule.splits[s] for s in ("train", "val", "test"))
    assert (len(x) + len(x_val), len(x_test)) == (4000, 1000)
    assert x.shape[1:] == datamodule.input_shape == (1, 40)
    assert set(y.tolist()) == set(range(10)) and y_test.dtype == torch.long
    assert datamodule.cache_path.exists() and not list(tmp_path.iterdir())

    longer = MNIST1D(name="mnist1d", data_dir=data_dir, generator={"final_seq_length": 60, "num_samples": 500})
    assert longer.input_shape == (1, 60) and longer.cache_path != datamodule.cache_path
    longer.setup()
    assert longer.splits["test"][0].shape == (100, 1, 60)


def test_generating_mnist1d_leaves_the_global_random_state_alone(tmp_path):
    random.seed(1)
    np.random.seed(1)
    expected = random.random(), np.random.rand()
    random.seed(1)
    np.random.seed(1)
    MNIST1D(name="mnist1d", data_dir=tmp_path, generator={"num_samples": 200}).prepare_data()
    assert (random.random(), np.random.rand()) == expected


def test_splits_are_seeded_and_normalized_with_training_statistics(data_dir):
    first, second = (MNIST1D(name="mnist1d", data_dir=data_dir, seed=seed) for seed in (0, 7))
    first.setup()
    second.setup()
    # The run's seed orders batches; validation and test samples stay the same.
    for split in ("train", "val", "test"):
        assert torch.equal(first.splits[split][0], second.splits[split][0])
    x_train = first.splits["train"][0]
    assert abs(x_train.mean().item()) < 1e-4 and abs(x_train.std().item() - 1) < 1e-3
    assert abs(first.splits["test"][0].mean().item()) > 1e-4  # test statistics were not used


def test_digits_split_is_stratified():
    datamodule = Digits(name="digits", data_dir="unused")
    datamodule.setup()
    _, y_test = datamodule.splits["test"]
    assert len(y_test) == 360 and torch.bincount(y_test).min() >= 35


def test_batches_follow_seed_and_epoch():
    x, y = torch.arange(100).float().unsqueeze(1), torch.arange(100)
    loader = TensorLoader(x, y, batch_size=32, shuffle=True, seed=3)
    epoch0 = [b for _, b in loader]
    assert len(epoch0) == len(loader) == 3  # the ragged last batch is dropped in training
    assert [b.tolist() for b in epoch0] == [b.tolist() for _, b in loader]
    loader.sampler.set_epoch(1)
    assert [b.tolist() for _, b in loader] != [b.tolist() for b in epoch0]
    evaluation = TensorLoader(x, y, batch_size=32, shuffle=False)
    assert torch.equal(torch.cat([b for _, b in evaluation]), y)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """The IDX format of the MNIST files: magic (type 0x08 = ubyte, number of dims), sizes, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def write_mnist_files(root: Path, folder: str, train: int = 64, test: int = 32) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 50, (count, 28, 28)) + labels[:, None, None] * 20
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def write_cifar_files(root: Path, per_batch: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "batch_label": name,
            "labels": [i % 10 for i in range(per_batch)],
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "filenames": [],
        }
        with open(folder / name, "wb") as file:
            pickle.dump(batch, file)


@pytest.mark.parametrize("cls, folder", [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
def test_mnist_files_in_the_real_format_load(tmp_path, cls, folder):
    write_mnist_files(tmp_path, folder)
    datamodule = cls(name=folder.lower(), data_dir=tmp_path, download=False, val_fraction=0.25)
    datamodule.setup()
    (x, _y), (x_val, _), (x_test, y_test) = (datamodule.splits[s] for s in ("train", "val", "test"))
    assert x.shape[1:] == datamodule.input_shape == (1, 28, 28)
    assert (len(x), len(x_val), len(x_test)) == (48, 16, 32)
    assert torch.equal(y_test, torch.arange(32) % 10)


def test_cifar10_files_in_the_real_format_load(tmp_path):
    write_cifar_files(tmp_path)
    datamodule = CIFAR10(name="cifar10", data_dir=tmp_path, download=False, val_fraction=0.1)
    datamodule.setup()
    x, _ = datamodule.splits["train"]
    assert x.shape == (90, 3, 32, 32) and datamodule.splits["test"][0].shape == (20, 3, 32, 32)
    per_channel = x.mean(dim=(0, 2, 3))
    assert per_channel.abs().max() < 1e-4


def test_missing_files_with_download_off_name_the_folder_and_the_fix(tmp_path):
    datamodule = MNIST(name="mnist", data_dir=tmp_path, download=False)
    with pytest.raises(ZooError) as error:
        datamodule.setup()
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "scripts/download_data.py mnist" in message


def test_a_failed_download_is_reported_in_one_line(tmp_path, monkeypatch):
    class Offline:
        def __init__(self, *args, **kwargs):
            raise RuntimeError(
                "Error downloading train-images-idx3-ubyte.gz:\nTried https://example/, got:\n"
                "<urlopen error [Errno -2] Name or service not known>"
            )

    monkeypatch.setattr(MNIST, "dataset_class", Offline)
    with pytest.raises(ZooError, match="the download failed: Error downloading") as error:
        MNIST(name="mnist", data_dir=tmp_path).prepare_data()
    assert "\n" not in str(error.value)
