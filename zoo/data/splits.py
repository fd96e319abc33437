"""Which samples validate, test and train: seeded draws that depend on a seed alone, stratified by class where
the labels are given, so every run of a data set is measured on the same samples."""

import math

import torch

from zoo.errors import ZooError


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


class Folds:
    """`data.folds=K data.fold=i` (`data.repeats=R`): the i-th of K x R test folds of scikit-learn's repeated K-fold
    splitters, stratified by class where labels are given (RepeatedStratifiedKFold, else RepeatedKFold, shuffled by
    `seed`), so every sample is tested exactly once per repeat and every run of one fold number, whatever its family,
    is tested on the same samples. Validation (early stopping, the best checkpoint) is drawn from the fold's training
    part alone, `val_fraction` of it (of each class); the test fold is never seen before testing.

    Time series need the same hook with other folds: rolling origins, each fold testing the steps after its training
    window (scikit-learn's TimeSeriesSplit), never a random draw."""

    def __init__(self, folds: int | None, fold: int = 0, repeats: int = 1) -> None:
        def whole(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if folds is not None and not (whole(folds) and folds >= 2):
            raise ZooError(f"data.folds={folds!r} must be an integer of at least 2 (or null: one test split)")
        if not (whole(repeats) and repeats >= 1):
            raise ZooError(f"data.repeats={repeats!r} must be an integer of at least 1")
        count = (folds or 1) * repeats
        if folds is not None and not (whole(fold) and 0 <= fold < count):
            raise ZooError(
                f"data.fold={fold!r} must be one of 0 to {count - 1}: data.folds={folds}"
                + (f" x data.repeats={repeats}" if repeats > 1 else "")
                + f" test folds, e.g. 'data.fold=range({count})' in a multirun"
            )
        self.folds, self.fold, self.repeats = folds, fold, repeats

    def __bool__(self) -> bool:
        return self.folds is not None

    @property
    def name(self) -> str:
        """The fold as the run's lines name it."""
        repeat = f", repeat {self.fold // self.folds + 1} of {self.repeats}" if self.repeats > 1 and self.folds else ""
        return f"fold {self.fold % (self.folds or 1) + 1} of {self.folds}{repeat}"

    def split(self, size: int, labels: torch.Tensor | None, val_fraction: float, seed: int) -> dict[str, torch.Tensor]:
        """Positions (sorted) of this fold's train, val and test samples among `size` (labels: their classes)."""
        from itertools import islice

        import numpy as np
        from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

        assert self.folds is not None
        if size < self.folds:
            raise ZooError(f"data.folds={self.folds} needs at least {self.folds} samples; there are {size}")
        if labels is None:
            splitter = RepeatedKFold(n_splits=self.folds, n_repeats=self.repeats, random_state=seed)
        else:
            splitter = RepeatedStratifiedKFold(n_splits=self.folds, n_repeats=self.repeats, random_state=seed)
        import warnings

        with warnings.catch_warnings():  # a class rarer than the folds: said in the run's lines (rare_classes)
            warnings.simplefilter("ignore", UserWarning)
            folds = splitter.split(np.zeros(size), None if labels is None else labels.numpy())
            train, test = next(islice(folds, self.fold, None))
        train = torch.from_numpy(train).long()
        generator = torch.Generator().manual_seed(seed)
        train, val = split_off(train, None if labels is None else labels[train], val_fraction, generator)
        return {"train": train, "val": val, "test": torch.from_numpy(np.sort(test)).long()}


def rare_classes(labels: torch.Tensor, folds: int, names: list[str]) -> str | None:
    """The line that says which classes have fewer samples than there are folds (some folds test none of them)."""
    counts = torch.bincount(labels, minlength=len(names)).tolist()
    rare = [f"{names[i]} ({count})" for i, count in enumerate(counts) if count < folds]
    if not rare:
        return None
    return (
        f"class{'es' * (len(rare) > 1)} {', '.join(rare[:5])} ha{'ve' if len(rare) > 1 else 's'} fewer samples than "
        f"data.folds={folds}: some test folds hold none of {'them' if len(rare) > 1 else 'it'}"
    )
