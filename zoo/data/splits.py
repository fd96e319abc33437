"""Which samples validate, test and train: seeded draws that depend on a seed alone, stratified by class where
the labels are given, so every run of a data set is measured on the same samples."""

import math

import torch


def seeded_split(size: int, holdout_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the kept and held-out parts of a random split that depends only on `seed`."""
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    holdout = round(size * holdout_fraction)
    return order[holdout:], order[:holdout]


def split_off(
    positions: torch.Tensor, labels: torch.Tensor | None, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, drawn) positions: `fraction` of `positions` drawn at random (round(n * fraction) of each class's n
    where `labels`, of the samples at `positions`, are given: stratified), both sorted."""
    groups = [positions] if labels is None else [positions[labels == label] for label in torch.unique(labels).tolist()]
    parts = [
        members[torch.randperm(len(members), generator=generator)[: math.floor(len(members) * fraction + 0.5)]]
        for members in groups
    ]
    drawn = torch.cat(parts).sort().values if parts else positions[:0]
    return positions[~torch.isin(positions, drawn)], drawn


def stratified_subset(targets: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Positions (sorted) of a seeded, stratified part of `targets`: round(n * fraction) of its n samples (at least
    one of each class), each class keeping its share of them to within a sample. Samples are taken in one order
    drawn from `seed` alone, so for one seed a smaller fraction's part lies inside a larger one's.

    The order: each class is shuffled (the classes draw in sorted order), and the k-th of a class of n comes at
    (k + 1/2) / n of the way through, so every class is taken at the same pace; each class's first sample comes
    before all others. (Rounding each class's count on its own gave 361 of 3,600 samples for 0.1.)"""
    generator = torch.Generator().manual_seed(seed)
    pace = torch.empty(len(targets), dtype=torch.float64)
    classes = torch.unique(targets).tolist()
    for label in classes:
        members = torch.nonzero(targets == label).flatten()
        shuffled = members[torch.randperm(len(members), generator=generator)]
        pace[shuffled] = (torch.arange(len(members), dtype=torch.float64) + 0.5) / len(members)
        pace[shuffled[0]] = -1.0
    count = max(len(classes), math.floor(len(targets) * fraction + 0.5))
    return torch.sort(pace, stable=True).indices[:count].sort().values
