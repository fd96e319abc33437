"""Batches served from tensors that already lie on the training device, by slicing instead of a DataLoader: the
order of an epoch, drawn from (seed, epoch) alone, so the same seed sees the same batches and a resumed run those it
would have seen; each process's share of them where several train together. Plain torch, no Lightning, so that the
DataLoader workers of a streamed data set (zoo.data.streaming) import nothing heavier.

On several processes (DDP, docs/devices.md) every process draws the same permutation and takes its own
share of each training batch: `data.batch_size` is the batch of all processes together, so step i trains on the
samples a single process would train on at step i, with the same number of steps. Evaluation gives each process its
own contiguous part of the samples, each sample once; the metrics are summed over the processes when they are
computed (torchmetrics).
"""

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import SequentialSampler

from zoo.errors import ZooError


class EpochPermutation:
    """The shuffled order of one epoch. Lightning calls `set_epoch` on a loader's `sampler` before each epoch.

    An epoch serves `length` indices (default `size`): as many passes over the `size` samples as that takes,
    each a fresh permutation drawn from the epoch's generator, the last pass cut short. The order depends
    on (seed, epoch) alone, so a resumed run sees what it would have seen."""

    def __init__(self, size: int, seed: int, length: int | None = None) -> None:
        self.size, self.seed, self.epoch = size, seed, 0
        self.length = size if length is None else length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        """A generator seeded by (seed, epoch) alone, for whatever else an epoch draws (zoo.data.text)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def order(self) -> torch.Tensor:
        generator = self.generator()
        passes = [torch.randperm(self.size, generator=generator) for _ in range(math.ceil(self.length / self.size))]
        return torch.cat(passes)[: self.length]


def own_share(positions: torch.Tensor, share: tuple[int, int]) -> torch.Tensor:
    """This process's contiguous part of `positions` (parts differ in length by one at most)."""
    rank, processes = share
    return positions.tensor_split(processes)[rank] if processes > 1 else positions


def overfitting(trainer: Any) -> bool:
    """Whether Lightning's overfit_batches is on: the same batches every epoch, in order and untransformed (Lightning
    can only unshuffle a DataLoader, so zoo's loaders ask)."""
    return trainer is not None and trainer.overfit_batches > 0


def process_share(trainer, batch_size: int | None = None) -> tuple[int, int]:
    """(rank, processes) of this process among those that train together: (0, 1) on one process. A training
    batch of `batch_size` samples is split evenly among the processes, so it must divide among them."""
    settings = trainer.distributed_sampler_kwargs if trainer is not None else None
    if not settings or settings["num_replicas"] == 1:
        return 0, 1
    processes = settings["num_replicas"]
    if batch_size is not None and batch_size % processes:
        smaller = batch_size - batch_size % processes
        raise ZooError(
            f"data.batch_size={batch_size} is the batch of all {processes} processes together and must "
            f"divide evenly among them: use data.batch_size={smaller or processes} or {smaller + processes}"
        )
    return settings["rank"], processes


class TensorLoader:
    """An iterable of (inputs, targets) batches sliced from two tensors. An epoch serves `samples_per_epoch`
    samples (default: each sample once), cycling through the tensors as often as that takes.

    `share` is (rank, processes) where several processes train together (`process_share`): a training loader
    (`split_batches`) gives this process its part of every batch of the common order, an evaluation loader its
    part of the samples, in batches of `batch_size`."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        share: tuple[int, int] = (0, 1),
        split_batches: bool = False,
        augment=None,
    ) -> None:
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        # A zoo.data.augment.Augmentation for a training loader, or None; seeded by (seed, epoch, batch).
        self.seed, self.augment = seed, augment
        self.share, self.split_batches = share, split_batches
        self.samples_per_epoch = len(x) if samples_per_epoch is None else samples_per_epoch
        # Dropping a ragged last batch keeps batch norm away from a batch of one sample.
        self.drop_last = shuffle and self.samples_per_epoch > batch_size
        # Lightning looks for a sampler and a batch sampler, as on a DataLoader; a SequentialSampler tells it
        # the order is fixed (under overfit_batches it would otherwise warn that it turns shuffling off).
        self.sampler = (
            EpochPermutation(len(x), seed, self.samples_per_epoch) if shuffle else SequentialSampler(range(len(x)))
        )
        self.batch_sampler = None

    def __len__(self) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        served = self.samples_per_epoch if self.split_batches else len(self.positions())
        return rounding(served / self.batch_size)

    def positions(self) -> torch.Tensor:
        """The samples of this epoch in the order served: of all processes for a training loader, of
        this process for an evaluation loader."""
        if isinstance(self.sampler, EpochPermutation):  # shuffled
            order = self.sampler.order()
        else:
            order = torch.arange(self.samples_per_epoch) % len(self.x)
        return order if self.split_batches else own_share(order, self.share)

    def __iter__(self) -> Iterator:
        order = self.positions().to(self.x.device)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            own = own_share(index, self.share) if self.split_batches else index
            x = self.x[own]
            if self.augment is not None:
                x = self.augment(x, self.batch_generator(i), len(index), self.share)
            yield x, self.y[own]

    def batch_generator(self, batch: int) -> torch.Generator:
        """A generator for the random transformations of one batch, seeded by (seed, epoch, batch) alone."""
        epoch = self.sampler.epoch if isinstance(self.sampler, EpochPermutation) else 0
        # hash() of a tuple of ints is the same in every process and run (unlike that of a string); 0xA06 keeps
        # this stream apart from any other seeded by the same numbers.
        return torch.Generator().manual_seed(hash((self.seed, epoch, batch, 0xA06)))


def evaluation_loader(datamodule, split: str) -> TensorLoader:
    """Every sample of the data module's `split` once, in order, in batches of its `eval_batch_size`;
    each process evaluates its own part."""
    x, y = datamodule.splits[split]
    return TensorLoader(x, y, datamodule.eval_batch_size, shuffle=False, share=process_share(datamodule.trainer))
