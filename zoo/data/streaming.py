"""Batches read from disk while the model trains, for data that does not fit in memory (`data.in_memory=false`).

The data lies in one file of fixed-size records (an image folder's decoded pixels, zoo.data.images), which
DataLoader workers read a batch at a time with `os.pread`: nothing is memory-mapped, so the pages read stay in the
operating system's file cache and out of the processes' resident memory, which stays flat however large the file.

The batches are those TensorLoader (zoo.data.base) serves from memory: the same order, seeded by (seed, epoch), the
same share of every batch for each of several processes, the same augmentation seeded by (seed, epoch, batch), and
the same arithmetic on the same pixels, so a run streams exactly what it would have sliced from memory.
"""

import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from zoo.data.loaders import EpochPermutation, own_share


class RecordFile(Dataset):
    """Batches of records of `shape` (uint8) from `path`, normalized by `mean` and `std` (per channel) to float32,
    with their `targets`. An item is (generator seed or None, number of samples in the whole batch, positions, a tuple
    of ints): the records of those positions, augmented when a seed is given."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, ...],
        targets: torch.Tensor,
        mean: list[float],
        std: list[float],
        augment=None,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        self.path, self.shape, self.targets = str(path), tuple(shape), targets
        self.record = math.prod(shape)
        view = (1, -1) + (1,) * (len(shape) - 1)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(view)
        self.std = torch.tensor(std, dtype=torch.float32).view(view)
        self.augment, self.share = augment, share
        self.descriptor: int | None = None  # opened in the process that reads (each worker its own)

    def __len__(self) -> int:
        return len(self.targets)

    def read(self, positions: tuple[int, ...]) -> torch.Tensor:
        if self.descriptor is None:
            self.descriptor = os.open(self.path, os.O_RDONLY)
        buffer = bytearray(len(positions) * self.record)
        for row, position in enumerate(positions):
            chunk = os.pread(self.descriptor, self.record, position * self.record)
            buffer[row * self.record : (row + 1) * self.record] = chunk
        return torch.frombuffer(buffer, dtype=torch.uint8).view(len(positions), *self.shape)

    def __getitem__(self, item) -> tuple[torch.Tensor, torch.Tensor]:
        seed, total, positions = item
        x = (self.read(positions).float() - self.mean) / self.std
        if self.augment is not None and seed is not None:
            x = self.augment(x, torch.Generator().manual_seed(seed), total, self.share)
        return x, self.targets[list(positions)]

    def __del__(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)


class Batches:
    """What a loader's DataLoader iterates: one item per batch of the current epoch (RecordFile's items)."""

    def __init__(self, loader: "StreamedLoader") -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        loader = self.loader
        order = loader.positions()
        for i in range(len(loader)):
            index = order[i * loader.batch_size : (i + 1) * loader.batch_size]
            own = own_share(index, loader.share) if loader.split_batches else index
            seed = loader.batch_seed(i) if loader.shuffle else None
            # A tuple of ints, sent by value: a slice of the epoch's order would send all of it to a worker.
            yield seed, len(index), tuple(own.tolist())


class StreamedLoader:
    """TensorLoader's batches, read from a RecordFile by `workers` DataLoader processes (none: in this process),
    kept between epochs. Lightning sets the epoch on its `sampler` before each epoch, as on TensorLoader's."""

    def __init__(
        self,
        records: RecordFile,
        positions: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        share: tuple[int, int] = (0, 1),
        split_batches: bool = False,
        workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        # `positions`: the records of this split, in the file
        self.records, self.split = records, positions
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.share, self.split_batches = share, split_batches
        self.samples_per_epoch = len(positions) if samples_per_epoch is None else samples_per_epoch
        self.drop_last = shuffle and self.samples_per_epoch > batch_size
        self.sampler = EpochPermutation(len(positions), seed, self.samples_per_epoch) if shuffle else None
        self.batch_sampler = None
        # Workers are started fresh ("spawn"), not forked: a forked worker copies, page by page as Python touches
        # them, every object of the process it came from (a large folder's file list among them), so its memory
        # would grow with the data set; a fresh one holds only the RecordFile it is sent.
        self.loader = DataLoader(
            records,
            batch_size=None,
            sampler=Batches(self),
            num_workers=workers,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            multiprocessing_context="spawn" if workers else None,
        )

    def __len__(self) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        served = self.samples_per_epoch if self.split_batches else len(self.positions())
        return rounding(served / self.batch_size)

    def positions(self) -> torch.Tensor:
        """The records of this epoch in the order served (as TensorLoader.positions, mapped into the file)."""
        if self.sampler is not None:  # shuffled
            order = self.sampler.order()
        else:
            order = torch.arange(self.samples_per_epoch) % len(self.split)
        return self.split[order if self.split_batches else own_share(order, self.share)]

    def batch_seed(self, batch: int) -> int:
        """The seed of TensorLoader.batch_generator for this batch: (seed, epoch, batch) alone."""
        return hash((self.seed, self.sampler.epoch if self.sampler is not None else 0, batch, 0xA06))

    def __iter__(self) -> Iterator:
        return iter(self.loader)


class RecordRows:
    """The normalized inputs of `positions` (records of a RecordFile) on `device`, read from disk when sliced, as a
    tensor of them would be sliced (`rows[a:b]`, `rows[[3, 7]]`, `rows[i]`): the views (zoo/views/) read a split a
    batch at a time, so a streamed run holds one batch of it, never the split (12 KB an RGB image of 32x32)."""

    def __init__(self, records: RecordFile, positions: torch.Tensor, device: torch.device) -> None:
        self.records, self.positions, self.device = records, positions, device

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.positions), *self.records.shape))

    def dim(self) -> int:
        return 1 + len(self.records.shape)

    def __getitem__(self, key) -> torch.Tensor:
        chosen = self.positions[key.cpu() if torch.is_tensor(key) else key]
        with torch.inference_mode(False):  # read inside Lightning's test loop; FGSM needs gradients
            x, _ = self.records[(None, 0, tuple(chosen.reshape(-1).tolist()))]
            x = x.to(self.device)
        return x[0] if chosen.dim() == 0 else x


class FirstSamples(Mapping):
    """`splits` of a streamed run: each split's first `limit` samples, where the views (zoo/views/) read whole
    splits in memory. The classes are held (8 bytes a sample), the inputs read from disk a slice at a time
    (RecordRows), so the process's memory does not grow with the splits."""

    def __init__(
        self, records: RecordFile, indices: dict[str, torch.Tensor], device: torch.device, limit: int = 10_000
    ) -> None:
        self.records, self.indices, self.device, self.limit = records, indices, device, limit

    def __getitem__(self, split: str) -> tuple[RecordRows, torch.Tensor]:
        positions = self.indices[split][: self.limit]
        with torch.inference_mode(False):  # as RecordRows: FGSM's loss keeps the classes for its backward pass
            targets = self.records.targets[positions].to(self.device)
        return RecordRows(self.records, positions, self.device), targets

    def __iter__(self) -> Iterator:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
