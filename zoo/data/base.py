"""Data sets small enough to live in memory, served by slicing tensors instead of a DataLoader (zoo.data.loaders).

A per-sample DataLoader with workers costs more than the models here; slicing a tensor that already sits on the
training device does not. `data.augment` transforms each training batch, seeded by (seed, epoch, batch)
(zoo/data/augment.py). `train_fraction` trains on a part of the training split (the data-hunger experiment,
docs/claims/data-hunger.md): see `InMemoryDataModule.setup` for how the part is drawn and why an epoch keeps its
number of steps.
"""

from abc import abstractmethod
from collections.abc import Iterable, Mapping

import torch

from zoo.data.augment import Augmentation
from zoo.data.contract import ZooDataModule
from zoo.data.loaders import TensorLoader, evaluation_loader, overfitting, process_share
from zoo.data.splits import seeded_split, stratified_subset
from zoo.errors import ZooError


class InMemoryDataModule(ZooDataModule):
    """Base of every zoo data set. A subclass sets `input_shape`, `num_classes` and `class_names`
    (known before any file is read, so a model can be built and checked first) and implements
    `load()`, which returns train and test arrays; validation is carved from train here."""

    input_shape: tuple[int, ...]
    num_classes: int

    def __init__(
        self,
        name: str,
        data_dir: str,
        batch_size: int = 128,
        val_fraction: float = 0.1,
        seed: int = 0,
        split_seed: int = 0,
        eval_batch_size: int = 1024,
        train_fraction: float = 1.0,
        augment: dict | None = None,
    ) -> None:
        super().__init__()
        self.name, self.data_dir, self.batch_size = name, str(data_dir), batch_size
        # `seed` orders the batches and draws the `train_fraction` part; `split_seed` fixes which samples
        # validate and test, so runs with different seeds are still measured on the same samples.
        self.val_fraction, self.seed, self.split_seed = val_fraction, seed, split_seed
        self.train_fraction = train_fraction
        self.eval_batch_size = eval_batch_size
        self.splits: Mapping[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # Which samples of load()'s training arrays the train and val splits hold (after setup()).
        self.indices: dict[str, torch.Tensor] = {}
        # Samples per training epoch: those of the whole training part, whatever `train_fraction` keeps.
        self.samples_per_epoch: int | None = None
        self.normalization = None  # the training part's, known after setup()
        # Random transformations of each training batch (`data.augment`: None for none, zoo/data/augment.py).
        self.augmentation = self.make_augmentation(dict(augment)) if augment else None

    @property
    def model_inputs(self) -> dict:
        """What a model builder needs to know of this data (see zoo.models)."""
        return {"input_shape": tuple(self.input_shape), "num_classes": self.num_classes}

    def describe(self) -> dict:
        """What a checkpoint stores of the data (plain containers): enough to rebuild the model and to feed
        it raw inputs. The input normalization is known once the data is set up."""
        return {
            "name": self.name,
            "task": self.task,
            "model_inputs": {"input_shape": list(self.input_shape), "num_classes": self.num_classes},
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
            "pixel_max": self.pixel_max,
            **(self.normalization or {}),
        }

    def make_augmentation(self, settings: dict) -> Augmentation:
        """The zoo.data.augment.Augmentation that `data.augment`'s settings ask for; a data set that can be
        augmented overrides this."""
        raise ZooError(f"data={self.name} has no random transformations: remove data.augment")

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
        dims = [0, *list(range(2, x.dim()))]
        mean = x[keep].mean(dim=dims, keepdim=True)
        std = x[keep].std(dim=dims, keepdim=True).clamp_min(1e-8)
        self.normalization = {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()}
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        raw = {"train": (x[keep], y[keep]), "val": (x[held_out], y[held_out]), "test": (x_test, y_test)}
        self.splits = {
            split: (((inputs - mean) / std).to(device), targets.long().to(device))
            for split, (inputs, targets) in raw.items()
        }

    def train_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        overfit = overfitting(self.trainer)
        return TensorLoader(
            *self.splits["train"],
            self.batch_size,
            shuffle=not overfit,
            seed=self.seed,
            samples_per_epoch=self.samples_per_epoch,
            share=process_share(self.trainer, self.batch_size),
            split_batches=True,
            # overfit_batches means the same batches every epoch: untransformed.
            augment=None if overfit else self.augmentation,
        )

    def val_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return evaluation_loader(self, "val")

    def test_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return evaluation_loader(self, "test")
