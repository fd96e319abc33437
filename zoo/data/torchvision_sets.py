"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision: downloaded when online, read from files after.

Offline with no files, the run stops with one line that names the folder and the files to put there.
"""

import pickle
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from zoo.data.augment import Augmentation, ImageAugmentation
from zoo.data.base import InMemoryDataModule
from zoo.errors import ZooError


class TorchvisionDataModule(InMemoryDataModule):
    """`download=false` never touches the network; with it on, files are fetched only when missing."""

    dataset_class: type
    mirror_is_same_class = True  # whether data.augment.flip may mirror the images (not digits)
    files: tuple[str, ...]  # what must lie in `folder` for the data set to load
    pixel_max = 255.0

    def __init__(self, download: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.download = download

    def make_augmentation(self, settings: dict) -> Augmentation:
        return ImageAugmentation(**settings, flip_allowed=self.mirror_is_same_class, data=self.name)

    @property
    @abstractmethod
    def folder(self) -> Path:
        """The folder that holds `files`."""

    def missing_files(self) -> list[str]:
        return [name for name in self.files if not (self.folder / name).exists()]

    def prepare_data(self) -> None:
        if not self.missing_files():
            return
        reason = "downloading is off (data.download=false)"
        if self.download:
            try:
                self.dataset_class(self.data_dir, train=True, download=True)
                self.dataset_class(self.data_dir, train=False, download=True)
                return
            except Exception as error:  # torchvision raises RuntimeError, URLError or OSError offline
                reason = "the download failed: " + " ".join(str(error).split())[:160]
        raise ZooError(
            f"data={self.name}: no {', '.join(self.missing_files())} in {self.folder.resolve()}; "
            f"{reason}. Run `python scripts/download_data.py {self.name}` on a machine that is "
            f"online and copy that folder here, or point paths.data_dir at a copy"
        )


class _MNISTLike(TorchvisionDataModule):
    input_shape = (1, 28, 28)
    num_classes = 10
    files: tuple[str, ...] = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )

    @property
    def folder(self) -> Path:
        return Path(self.data_dir) / self.dataset_class.__name__ / "raw"

    def load(self):
        self.prepare_data()
        train = self.dataset_class(self.data_dir, train=True, download=False)
        test = self.dataset_class(self.data_dir, train=False, download=False)
        return train.data.unsqueeze(1), train.targets, test.data.unsqueeze(1), test.targets


class MNIST(_MNISTLike):
    dataset_class = datasets.MNIST
    mirror_is_same_class = False
    class_names = tuple(str(digit) for digit in range(10))


class FashionMNIST(_MNISTLike):
    dataset_class = datasets.FashionMNIST
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


class CIFAR10(TorchvisionDataModule):
    """Downloaded through torchvision (which checks the archive), read here from the python batches."""

    dataset_class = datasets.CIFAR10
    input_shape = (3, 32, 32)
    num_classes = 10
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    train_batches = tuple(f"data_batch_{i}" for i in range(1, 6))
    files = (*train_batches, "test_batch")

    @property
    def folder(self) -> Path:
        return Path(self.data_dir) / "cifar-10-batches-py"

    def read(self, names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in names:
            with open(self.folder / name, "rb") as file:
                batch = pickle.load(file, encoding="latin1")
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch["labels"])
        return torch.from_numpy(np.concatenate(images)), torch.tensor(labels)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        self.prepare_data()
        return *self.read(self.train_batches), *self.read(["test_batch"])
