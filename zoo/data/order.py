"""The order in which a data set's samples are served, and which of them each process takes: plain torch, so that
DataLoader workers (zoo.data.streaming) import nothing heavier."""

import math

import torch


class EpochPermutation:
    """The shuffled order of one epoch. Lightning calls `set_epoch` on a loader's `sampler` before each epoch.

    An epoch serves `length` indices (default `size`): as many passes over the `size` samples as that takes,
    each a fresh permutation drawn from the epoch's generator, the last pass cut short. The order depends
    on (seed, epoch) alone, so a resumed run sees what it would have seen."""

    def __init__(self, size: int, seed: int, length: int | None = None):
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
        return torch.cat(passes)[:self.length]


def own_share(positions: torch.Tensor, share: tuple[int, int]) -> torch.Tensor:
    """This process's contiguous part of `positions` (parts differ in length by one at most)."""
    rank, processes = share
    return positions.tensor_split(processes)[rank] if processes > 1 else positions
