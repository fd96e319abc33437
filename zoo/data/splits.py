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
    """Positions (sorted) of a seeded, stratified part of `targets`: each class keeps round(n * fraction) of its
    n samples (halves round up), at least one. The part is the first samples of a per-class permutation
    drawn from `seed` alone, so for one seed a smaller fraction's part lies inside a larger one's."""
    generator = torch.Generator().manual_seed(seed)
    kept = []
    for label in torch.unique(targets).tolist():  # sorted: the classes draw their permutations in a fixed order
        members = torch.nonzero(targets == label).flatten()
        count = max(1, math.floor(len(members) * fraction + 0.5))
        kept.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.cat(kept).sort().values
