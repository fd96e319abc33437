"""Data sets small enough to live in memory, served by slicing tensors instead of a DataLoader.

A per-sample DataLoader with workers costs more than the models here; slicing a tensor that already
sits on the training device does not. Batches follow a permutation seeded by the run's seed and the
epoch, so the same seed always sees the same batches, and a resumed run sees those it would have seen;
`data.augment` transforms each training batch, seeded by (seed, epoch, batch) (zoo/data/augment.py).

`train_fraction` trains on a part of the training split (the data-hunger experiment, README "Data hunger"):
see `InMemoryDataModule.setup` for how the part is drawn and why an epoch keeps its number of steps.

On several processes (DDP, README "More than one device") every process draws the same permutation and
takes its own share of each training batch: `data.batch_size` is the batch of all processes together, so
step i trains on the samples a single process would train on at step i, with the same number of steps.
Evaluation gives each process its own contiguous part of the samples, each sample once; the metrics are
summed over the processes when they are computed (torchmetrics).
"""

import math
from abc import ABC, abstractmethod

import lightning as L
import torch
from torch.utils.data import SequentialSampler

from zoo.data.order import EpochPermutation, own_share
from zoo.errors import ZooError


def process_share(trainer, batch_size: int | None = None) -> tuple[int, int]:
    """(rank, processes) of this process among those that train together: (0, 1) on one process. A training
    batch of `batch_size` samples is split evenly among the processes, so it must divide among them."""
    settings = trainer.distributed_sampler_kwargs if trainer is not None else None
    if not settings or settings["num_replicas"] == 1:
        return 0, 1
    processes = settings["num_replicas"]
    if batch_size is not None and batch_size % processes:
        smaller = batch_size - batch_size % processes
        raise ZooError(f"data.batch_size={batch_size} is the batch of all {processes} processes together and must "
                       f"divide evenly among them: use data.batch_size={smaller or processes} or {smaller + processes}")
    return settings["rank"], processes


class TensorLoader:
    """An iterable of (inputs, targets) batches sliced from two tensors. An epoch serves `samples_per_epoch`
    samples (default: each sample once), cycling through the tensors as often as that takes.

    `share` is (rank, processes) where several processes train together (`process_share`): a training loader
    (`split_batches`) gives this process its part of every batch of the common order, an evaluation loader its
    part of the samples, in batches of `batch_size`."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 samples_per_epoch: int | None = None, share: tuple[int, int] = (0, 1), split_batches: bool = False,
                 augment=None):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        # A zoo.data.augment.Augmentation for a training loader, or None; seeded by (seed, epoch, batch).
        self.seed, self.augment = seed, augment
        self.share, self.split_batches = share, split_batches
        self.samples_per_epoch = len(x) if samples_per_epoch is None else samples_per_epoch
        # Dropping a ragged last batch keeps batch norm away from a batch of one sample.
        self.drop_last = shuffle and self.samples_per_epoch > batch_size
        # Lightning looks for a sampler and a batch sampler, as on a DataLoader; a SequentialSampler tells it
        # the order is fixed (under overfit_batches it would otherwise warn that it turns shuffling off).
        self.sampler = (EpochPermutation(len(x), seed, self.samples_per_epoch) if shuffle
                        else SequentialSampler(range(len(x))))
        self.batch_sampler = None

    def __len__(self) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        served = self.samples_per_epoch if self.split_batches else len(self.positions())
        return rounding(served / self.batch_size)

    def positions(self) -> torch.Tensor:
        """The samples of this epoch in the order served: of all processes for a training loader, of
        this process for an evaluation loader."""
        if self.shuffle:
            order = self.sampler.order()
        else:
            order = torch.arange(self.samples_per_epoch) % len(self.x)
        return order if self.split_batches else own_share(order, self.share)

    def __iter__(self):
        order = self.positions().to(self.x.device)
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            own = own_share(index, self.share) if self.split_batches else index
            x = self.x[own]
            if self.augment is not None:
                x = self.augment(x, self.batch_generator(i), len(index), self.share)
            yield x, self.y[own]

    def batch_generator(self, batch: int) -> torch.Generator:
        """A generator for the random transformations of one batch, seeded by (seed, epoch, batch) alone."""
        epoch = getattr(self.sampler, "epoch", 0)
        # hash() of a tuple of ints is the same in every process and run (unlike that of a string); 0xA06 keeps
        # this stream apart from any other seeded by the same numbers.
        return torch.Generator().manual_seed(hash((self.seed, epoch, batch, 0xA06)))


def seeded_split(size: int, holdout_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the kept and held-out parts of a random split that depends only on `seed`."""
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    holdout = int(round(size * holdout_fraction))
    return order[holdout:], order[:holdout]


def split_off(positions: torch.Tensor, labels: torch.Tensor | None, fraction: float,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, drawn) positions: `fraction` of `positions` drawn at random (round(n * fraction) of each class's n
    where `labels`, of the samples at `positions`, are given: stratified), both sorted."""
    groups = [positions] if labels is None else [positions[labels == label] for label in torch.unique(labels).tolist()]
    drawn = [members[torch.randperm(len(members), generator=generator)[:math.floor(len(members) * fraction + 0.5)]]
             for members in groups]
    drawn = torch.cat(drawn).sort().values if drawn else positions[:0]
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


class InMemoryDataModule(L.LightningDataModule, ABC):
    """Base of every zoo data set. A subclass sets `input_shape`, `num_classes` and `class_names`
    (known before any file is read, so a model can be built and checked first) and implements
    `load()`, which returns train and test arrays; validation is carved from train here."""

    input_shape: tuple[int, ...]
    num_classes: int
    class_names: list[str]
    # The value of a white pixel in the stored images (None: not images), so that an image file's
    # 0-255 pixels can be brought to the scale the model was trained on (zoo-predict).
    pixel_max: float | None = None
    # The task this data set trains (zoo/tasks/): it decides the loss, the metrics and the best checkpoint.
    task = "classification"
    # Whether every input value is a quantity that noise, gradients and saliency can act on (a table's category
    # codes are not: the robustness and saliency views leave such data alone).
    continuous_inputs = True
    # The model families that can take these inputs, where only some can (None: any that builds): named
    # when another family cannot take the data (zoo.training.build_network).
    suited_models: tuple[str, ...] | None = None

    def __init__(self, name: str, data_dir: str, batch_size: int = 128, val_fraction: float = 0.1,
                 seed: int = 0, split_seed: int = 0, eval_batch_size: int = 1024, train_fraction: float = 1.0,
                 augment: dict | None = None):
        super().__init__()
        self.name, self.data_dir, self.batch_size = name, str(data_dir), batch_size
        # `seed` orders the batches and draws the `train_fraction` part; `split_seed` fixes which samples
        # validate and test, so runs with different seeds are still measured on the same samples.
        self.val_fraction, self.seed, self.split_seed = val_fraction, seed, split_seed
        self.train_fraction = train_fraction
        self.eval_batch_size = eval_batch_size
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # Which samples of load()'s training arrays the train and val splits hold (after setup()).
        self.indices: dict[str, torch.Tensor] = {}
        # Samples per training epoch: those of the whole training part, whatever `train_fraction` keeps.
        self.samples_per_epoch: int | None = None
        # Per-channel mean and std of the training part, known after setup(): what turns raw inputs
        # into the model's inputs, saved with every checkpoint so a saved model can take raw data.
        self.normalization: dict[str, list[float]] | None = None
        # Random transformations of each training batch (`data.augment`: None for none, zoo/data/augment.py).
        self.augmentation = self.make_augmentation(dict(augment)) if augment else None

    @property
    def model_inputs(self) -> dict:
        """What a model builder needs to know of this data (see zoo.models)."""
        return {"input_shape": tuple(self.input_shape), "num_classes": self.num_classes}

    def describe(self) -> dict:
        """What a checkpoint stores of the data (plain containers): enough to rebuild the model and to feed
        it raw inputs. The input normalization is known once the data is set up."""
        return {"name": self.name, "task": self.task, "model_inputs": {"input_shape": list(self.input_shape),
                                                                          "num_classes": self.num_classes},
                "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "class_names": list(self.class_names), "pixel_max": self.pixel_max,
                **(self.normalization or {})}

    def check_matches(self, saved: dict) -> None:
        """Raise ZooError when the data no longer fits a model trained on the data `saved` describes.
        Classification inputs keep their shape and classes, which building the model checks already."""

    def make_augmentation(self, settings: dict):
        """The zoo.data.augment.Augmentation that `data.augment`'s settings ask for; a data set that can be
        augmented overrides this."""
        raise ZooError(f"data={self.name} has no random transformations: remove data.augment")

    def write_run_files(self, folder) -> None:
        """Files about the data that the run folder keeps (an image folder's splits.csv); none by default."""

    def split_sizes(self) -> dict[str, int]:
        """Samples in each split (after setup)."""
        return {split: len(targets) for split, (_, targets) in self.splits.items()}

    @abstractmethod
    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return x_train, y_train, x_test, y_test, inputs shaped (N, *input_shape)."""

    def setup(self, stage: str | None = None) -> None:
        """Split, subsample and normalize. Validation is carved off the training arrays first (by `split_seed`);
        with `train_fraction` < 1 the model then trains on a stratified part of the rest (`stratified_subset`,
        drawn with the run's `seed`, so the spread over seeds includes which samples were drawn, and nested
        across fractions for one seed), normalized with that part's statistics alone. Validation and test
        are the same samples at every fraction. An epoch still serves as many samples as the whole training
        part holds (the loader cycles through the part), so every fraction trains for the same number of
        steps on the same schedule, and runs at different fractions differ in their data alone."""
        if self.splits:
            return
        x, y, x_test, y_test = self.load()
        x, x_test = x.float(), x_test.float()
        keep, held_out = seeded_split(len(x), self.val_fraction, self.split_seed)
        self.samples_per_epoch = len(keep)
        if self.train_fraction != 1:
            keep = keep[stratified_subset(y[keep], self.train_fraction, self.seed)]
        # Which of load()'s training samples each split holds (zoo.data.toy keeps each input's 2-D point by it).
        self.indices = {"train": keep, "val": held_out}
        # Normalize per channel with statistics of the samples trained on alone: no peeking at the rest.
        dims = [0] + list(range(2, x.dim()))
        mean = x[keep].mean(dim=dims, keepdim=True)
        std = x[keep].std(dim=dims, keepdim=True).clamp_min(1e-8)
        self.normalization = {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()}
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        for split, (inputs, targets) in {"train": (x[keep], y[keep]), "val": (x[held_out], y[held_out]),
                                         "test": (x_test, y_test)}.items():
            self.splits[split] = (((inputs - mean) / std).to(device), targets.long().to(device))

    def train_dataloader(self):
        # Lightning's overfit_batches means the same batches every epoch; it can only unshuffle a DataLoader.
        overfitting = self.trainer is not None and self.trainer.overfit_batches > 0
        return TensorLoader(*self.splits["train"], self.batch_size, shuffle=not overfitting, seed=self.seed,
                            samples_per_epoch=self.samples_per_epoch,
                            share=process_share(self.trainer, self.batch_size), split_batches=True,
                            # overfit_batches means the same batches every epoch: untransformed.
                            augment=None if overfitting else self.augmentation)

    def val_dataloader(self):
        return evaluation_loader(self, "val")

    def test_dataloader(self):
        return evaluation_loader(self, "test")


def evaluation_loader(datamodule: L.LightningDataModule, split: str) -> TensorLoader:
    """Every sample of the data module's `split` once, in order, in batches of its `eval_batch_size`;
    each process evaluates its own part."""
    return TensorLoader(*datamodule.splits[split], datamodule.eval_batch_size, shuffle=False,
                        share=process_share(datamodule.trainer))
