"""MNIST-1D (Greydanus & Kobak, 2024): ten 1-D digit templates, shifted, scaled, sheared and noised.

Generated on the spot with the `mnist1d` package's `make_dataset` and cached, so it works offline.
Its `get_dataset` is never called: it reaches for the network and writes into the current directory.
"""

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from mnist1d.data import get_dataset_args, make_dataset
from mnist1d.utils import ObjectView

from zoo.data.augment import Augmentation, SignalAugmentation
from zoo.data.base import InMemoryDataModule


class MNIST1D(InMemoryDataModule):
    """`generator` overrides `make_dataset`'s arguments; the defaults give 4000 train and
    1000 test signals of 40 points, the split of the paper."""

    num_classes = 10
    class_names = tuple(str(digit) for digit in range(10))

    def __init__(self, generator: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.generator_args = {**get_dataset_args(as_dict=True), **(generator or {})}
        self.generator_args.pop("url")
        self.input_shape = (1, int(self.generator_args["final_seq_length"]))

    @property
    def cache_path(self) -> Path:
        key = hashlib.sha1(json.dumps(self.generator_args, sort_keys=True).encode()).hexdigest()[:12]
        return Path(self.data_dir) / "mnist1d" / f"mnist1d_{key}.npz"

    def prepare_data(self) -> None:
        if self.cache_path.exists():
            return
        # make_dataset reseeds Python's and NumPy's global generators; put them back afterwards so a
        # run's randomness is the same whether the cache existed or not.
        states = random.getstate(), np.random.get_state()
        try:
            data = make_dataset(ObjectView(dict(self.generator_args)))
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache_path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(partial, x=data["x"], y=data["y"], x_test=data["x_test"], y_test=data["y_test"])
        partial.replace(self.cache_path)  # atomic: a crash never leaves a half-written cache

    def make_augmentation(self, settings: dict) -> Augmentation:
        return SignalAugmentation(**settings)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        self.prepare_data()
        with np.load(self.cache_path, allow_pickle=False) as data:
            x, y, x_test, y_test = (torch.from_numpy(data[key]) for key in ("x", "y", "x_test", "y_test"))
        return x.unsqueeze(1), y, x_test.unsqueeze(1), y_test
