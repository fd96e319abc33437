"""A user's own images: `data=images data.path=<folder>`, one subfolder per class (torchvision's ImageFolder layout).

    pets/cat/001.jpg, pets/cat/002.png, pets/dog/...            splits drawn from the files, stratified by class
    pets/train/cat/..., pets/val/cat/..., pets/test/cat/...      the folder's own splits (val/ and test/ optional)

Drawn splits take `test_fraction` and `val_fraction` of every class by `split_seed` (zoo.data.image_folder); or with
`data.folds=K data.fold=i`, the test images are the i-th of K stratified folds (zoo.data.splits.Folds) and validation
is drawn from the rest. Every file's split goes into the run's `splits.csv`; test images whose pixels also appear in
training (a photo copied into two folders) are counted in the run's first lines. Each image is decoded once into a
cache (zoo.data.image_folder); a run holds the pixels in memory when they fit `data.memory_budget_mb`
(`data.in_memory=auto`), or streams them from the cache (zoo.data.streaming); both serve the same batches. Class
names are the folder names, sorted.
"""

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from zoo.data.augment import Augmentation, ImageAugmentation
from zoo.data.base import InMemoryDataModule
from zoo.data.contract import DataNote
from zoo.data.image_folder import (
    RUN_SPLITS,
    DecodedImages,
    assign_splits,
    check_settings,
    list_folder,
    write_splits,
)
from zoo.data.loaders import evaluation_loader, overfitting, process_share
from zoo.data.splits import Folds, rare_classes, stratified_subset
from zoo.data.streaming import FirstSamples, RecordFile, StreamedLoader
from zoo.errors import ZooError


class ImageFolder(InMemoryDataModule):
    """Images from `path` (see the module docstring). `in_memory`: auto, true or false; `num_workers`: the
    processes that read a streamed run's batches."""

    pixel_max = 255.0

    def __init__(
        self,
        path: str | None = None,
        channels: int | None = None,
        size: int = 32,
        test_fraction: float = 0.1,
        skip_bad_files: bool = False,
        in_memory="auto",
        memory_budget_mb: float = 2048,
        num_workers: int | str = "auto",
        folds: int | None = None,
        fold: int = 0,
        repeats: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.folds = Folds(folds, fold, repeats)
        check_settings(
            path,
            channels,
            size,
            self.val_fraction,
            test_fraction,
            in_memory,
            memory_budget_mb,
            num_workers,
            skip_bad_files,
        )
        self.root = Path(str(path)).expanduser().resolve()
        if not self.root.is_dir():
            raise ZooError(
                f"data.path={path} "
                + ("is not a folder" if self.root.exists() else "does not exist")
                + "; give a folder with one subfolder of images per class"
            )
        self.size, self.test_fraction, self.skip_bad_files = int(size), test_fraction, skip_bad_files
        self.images, self.class_names, self.ignored = list_folder(self.root)
        self.num_classes = len(self.class_names)
        self.cache = DecodedImages(self.root, self.images, Path(self.data_dir), channels, self.size)
        self.channels = self.cache.channels
        self.input_shape = (self.channels, self.size, self.size)
        budget = memory_budget_mb * 2**20
        self.in_memory = (
            len(self.images) * math.prod(self.input_shape) * 4 <= budget if in_memory == "auto" else bool(in_memory)
        )
        # auto: leave two cores to the training process (on 2 cores, workers only compete with it: BENCHMARKS.md)
        self.num_workers = max(0, min(4, (os.cpu_count() or 1) - 2)) if num_workers == "auto" else int(num_workers)
        self.split_codes = np.zeros(0, dtype=np.uint8)  # each record's split (RUN_SPLITS), after plan()
        self.skipped: list[tuple[str, str]] = []  # (file, why), after prepare_data
        self.notes: list[DataNote] = []  # what could make the scores lie, after plan

    def prepare_data(self) -> None:
        """Decode every image into the cache (once per folder content, channels and size); unreadable files stop
        the run here, naming them, unless `skip_bad_files`."""
        self.skipped = self.cache.build()
        if self.skipped and not self.skip_bad_files:
            shown = ", ".join(f"{name} ({why})" for name, why in self.skipped[:3])
            more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            raise ZooError(
                f"data.path={self.root}: {len(self.skipped)} image file{'s' * (len(self.skipped) > 1)} "
                f"cannot be read: {shown}{more}; fix or remove them, or train without them with "
                f"data.skip_bad_files=true"
            )

    # --- splits -----------------------------------------------------------------------------------------------
    def records(self) -> tuple[list[str], torch.Tensor, list[str | None]]:
        """The cached images in record order: (file names, class indices, the split each one's folder names)."""
        files = self.cache.files()
        listed = {relative: (name, split) for relative, name, split in self.images}
        labels = torch.tensor([self.class_names.index(listed[name][0]) for name in files], dtype=torch.long)
        if len(set(labels.tolist())) < 2:
            raise ZooError(
                f"data.path={self.root}: only class {self.class_names[int(labels[0])]} has readable "
                f"images; a classifier needs two"
            )
        return files, labels, [listed[name][1] for name in files]

    def plan(self) -> None:
        """Which records each split holds (`indices`), each file's split and the training part's statistics:
        everything setup() needs but the pixels, known before any trainer exists (write_run_files)."""
        if self.normalization is not None:
            return
        self.prepare_data()
        files, labels, given = self.records()
        if self.folds:
            if any(given):
                raise ZooError(
                    f"data.folds={self.folds.folds}: data.path={self.root} has its own split folders (train/, test/); "
                    f"folds are drawn from class folders: put every class folder at the top, or leave data.folds out"
                )
            positions = self.folds.split(len(labels), labels, self.val_fraction, self.split_seed)
            if rare := rare_classes(labels, self.folds.folds or 0, list(self.class_names)):
                self.notes.append(DataNote("classes", rare))
        else:
            positions = assign_splits(labels, given, self.test_fraction, self.val_fraction, self.split_seed, self.root)
        if copies := self.copies_across_splits(positions):
            self.notes.append(copies)
        self.samples_per_epoch = len(positions["train"])
        trained = positions["train"]
        if self.train_fraction != 1:
            trained = trained[stratified_subset(labels[trained], self.train_fraction, self.seed)]
        # A code a record, not a string a file: a million images' names would hold about 100 MB more (BENCHMARKS.md)
        codes = np.zeros(len(files), dtype=np.uint8)
        for split, kept in positions.items():
            codes[kept.numpy()] = RUN_SPLITS.index(split)
        unused = positions["train"][~torch.isin(positions["train"], trained)]
        codes[unused.numpy()] = RUN_SPLITS.index("train_unused")
        self.split_codes = codes
        self.indices = {"train": trained, "val": positions["val"], "test": positions["test"]}
        sums = torch.from_numpy(self.cache.sums())[trained].sum(0)
        count = len(trained) * self.size * self.size
        mean = sums[:, 0] / count
        std = ((sums[:, 1] - count * mean**2) / max(count - 1, 1)).clamp_min(0).sqrt().clamp_min(1e-8)
        self.normalization = {"mean": mean.float().tolist(), "std": std.float().tolist()}
        self.labels = labels

    def copies_across_splits(self, positions: dict[str, torch.Tensor]) -> DataNote | None:
        """How many test images have the same decoded pixels as a training or validation image."""
        hashes = self.cache.hashes()
        seen = set(hashes[torch.cat([positions["train"], positions["val"]]).numpy()].tolist())
        copies = sum(value in seen for value in hashes[positions["test"].numpy()].tolist())
        if not copies:
            return None
        return DataNote(
            "duplicates",
            f"{copies:,} of the {len(positions['test']):,} test images have the same pixels ({self.channels}x"
            f"{self.size}x{self.size}) as a training image: the test score counts images the model has seen; "
            f"remove the copies from {self.root}",
        )

    def data_notes(self) -> list[DataNote]:
        self.plan()
        return list(self.notes)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.plan()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if self.in_memory:
            pixels = self.cache.read()
            view = (1, -1, 1, 1)
            mean_, std_ = (torch.tensor(values).view(view) for values in self.statistics())
            self.splits = {
                split: (((pixels[kept].float() - mean_) / std_).to(device), self.labels[kept].to(device))
                for split, kept in self.indices.items()
            }
        else:
            self.splits = FirstSamples(self.record_file(), self.indices, device)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The raw pixels (uint8) and classes of the train and test splits (zoo-export checks on the test split)."""
        self.plan()
        pixels = self.cache.read()
        train, test = self.indices["train"], self.indices["test"]
        return pixels[train], self.labels[train], pixels[test], self.labels[test]

    def split_sizes(self) -> dict[str, int]:
        return {split: len(kept) for split, kept in self.indices.items()}

    # --- loaders ----------------------------------------------------------------------------------------------
    def make_augmentation(self, settings: dict) -> Augmentation:
        return ImageAugmentation(**settings, data=self.name)

    def statistics(self) -> tuple[list[float], list[float]]:
        """The training part's per-channel mean and std (after plan())."""
        assert self.normalization is not None, "plan() first"
        return self.normalization["mean"], self.normalization["std"]

    def record_file(self, augment=None, share=(0, 1)) -> RecordFile:
        return RecordFile(
            self.cache.records,
            self.input_shape,
            self.labels,
            *self.statistics(),
            augment=augment,
            share=share,
        )

    def streamed(
        self, split: str, batch_size: int, training: bool = False, shuffle: bool = False, augment=None
    ) -> StreamedLoader:
        """A StreamedLoader of `split`: as TensorLoader would serve it from memory. Workers read the training batches
        only; evaluation reads its batches here, in order, between epochs."""
        share = process_share(self.trainer, batch_size if training else None)
        pin = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return StreamedLoader(
            self.record_file(augment, share),
            self.indices[split],
            batch_size,
            shuffle=shuffle,
            seed=self.seed,
            samples_per_epoch=self.samples_per_epoch if training else None,
            share=share,
            split_batches=training,
            workers=self.num_workers if training else 0,
            pin_memory=pin,
        )

    def train_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        if self.in_memory:
            return super().train_dataloader()
        overfit = overfitting(self.trainer)
        augment = None if overfit else self.augmentation
        return self.streamed("train", self.batch_size, training=True, shuffle=not overfit, augment=augment)

    def val_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return evaluation_loader(self, "val") if self.in_memory else self.streamed("val", self.eval_batch_size)

    def test_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return evaluation_loader(self, "test") if self.in_memory else self.streamed("test", self.eval_batch_size)

    # --- what the run keeps -----------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {**super().describe(), "path": str(self.root), "size": self.size, "channels": self.channels}

    def check_matches(self, saved: dict) -> None:
        if list(saved.get("class_names", self.class_names)) != self.class_names:
            raise ZooError(
                f"data.path={self.root} has the classes {', '.join(self.class_names)}, not those the model "
                f"was trained on ({', '.join(saved['class_names'])})"
            )

    def write_run_files(self, folder: Path) -> None:
        """splits.csv: every file of the folder with its class and split (train, val, test; train_unused where
        data.train_fraction left it out; skipped, with the reason, where it could not be read)."""
        self.plan()
        write_splits(folder / "splits.csv", self.images, self.split_codes, self.skipped)
        sizes = ", ".join(f"{split} {len(kept):,}" for split, kept in self.indices.items())
        ignored = (
            f"; ignored {len(self.ignored)} files that are not images "
            f"({', '.join(Path(name).name for name in self.ignored[:3])}{' ...' * (len(self.ignored) > 3)})"
            if self.ignored
            else ""
        )
        sizes += f" ({self.folds.name})" if self.folds else ""
        workers = f"{self.num_workers} workers" if self.num_workers else "this process"
        how = "in memory" if self.in_memory else f"streamed from {self.cache.records} by {workers}"
        print(
            f"zoo: data=images: {len(self.labels):,} images of {self.num_classes} classes "
            f"({', '.join(self.class_names[:8])}{' ...' * (self.num_classes > 8)}) in {self.root}, "
            f"{self.channels}x{self.size}x{self.size}, {how}: {sizes}{ignored}; each file's split in "
            f"{folder / 'splits.csv'}",
            flush=True,
        )
        if self.skipped:
            print(
                f"zoo: data.skip_bad_files=true: skipped {len(self.skipped)} unreadable image files "
                f"({', '.join(name for name, _ in self.skipped[:5])}{' ...' * (len(self.skipped) > 5)}); "
                f"listed in {folder / 'splits.csv'}",
                flush=True,
            )
        self.write_notes(folder)
