"""A user's own images: `data=images data.path=<folder>`, one subfolder per class (torchvision's ImageFolder layout).

    pets/cat/001.jpg, pets/cat/002.png, pets/dog/...            splits drawn from the files, stratified by class
    pets/train/cat/..., pets/val/cat/..., pets/test/cat/...      the folder's own splits (val/ and test/ optional)

Drawn splits take `test_fraction` and `val_fraction` of every class by `split_seed` (fixed, so runs with different
seeds are measured on the same images); with a train/ folder, a missing val/ or test/ is carved out of train/ the
same way. The split of every file goes into the run folder's `splits.csv`.

Every image is read as zoo.data.image_files says (its channels: `data.channels`, or 3 where any image is stored in
colour, else 1; its size: `data.size`, shorter side resized then the centre cut out) once, into a cache of decoded
pixels in the data folder (`<data_dir>/images/`), one uint8 record per image. A run then holds the pixels in memory
when they fit `data.memory_budget_mb` (`data.in_memory=auto`), or streams them from the cache in DataLoader workers
(zoo.data.streaming); both serve the same batches. Class names are the folder names, sorted.
"""

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from zoo.data.augment import ImageAugmentation
from zoo.data.base import InMemoryDataModule
from zoo.data.image_cache import DecodedImages
from zoo.data.image_folder import SPLIT_FOLDERS, check_settings, list_folder
from zoo.data.loaders import evaluation_loader, process_share
from zoo.data.splits import split_off, stratified_subset
from zoo.data.streaming import RecordFile, StreamedLoader
from zoo.errors import ZooError

# In streamed mode the views (zoo/views/), which read whole splits in memory, see at most this many samples of each.
VIEW_SAMPLES = 10_000


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
        **kwargs,
    ):
        super().__init__(**kwargs)
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
        self.root = Path(path).expanduser().resolve()
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
        self.num_workers = max(0, min(4, (os.cpu_count() or 1) - 2)) if num_workers == "auto" else num_workers
        self.split_of: dict[str, str] = {}  # file -> split, after setup
        self.skipped: list[tuple[str, str]] = []  # (file, why), after prepare_data

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

    def assign_splits(self, labels: torch.Tensor, given: list[str | None]) -> dict[str, torch.Tensor]:
        """Record positions of each split: the folder's own, and the others drawn from train, stratified."""
        positions = {
            split: torch.tensor([i for i, g in enumerate(given) if g == split], dtype=torch.long)
            for split in SPLIT_FOLDERS
        }
        if given[0] is None:
            positions["train"] = torch.arange(len(given))
        generator = torch.Generator().manual_seed(self.split_seed)
        for split, fraction in (("test", self.test_fraction), ("val", self.val_fraction)):
            if not len(positions[split]) and fraction:
                train = positions["train"]
                positions["train"], positions[split] = split_off(train, labels[train], fraction, generator)
        if not len(positions["test"]):
            raise ZooError(
                f"data.path={self.root}: too few images for a test split with data.test_fraction="
                f"{self.test_fraction}; add images or a test/ folder"
            )
        return positions

    def plan(self) -> None:
        """Which records each split holds (`indices`), each file's split and the training part's statistics:
        everything setup() needs but the pixels, known before any trainer exists (write_run_files)."""
        if self.normalization is not None:
            return
        self.prepare_data()
        files, labels, given = self.records()
        positions = self.assign_splits(labels, given)
        self.samples_per_epoch = len(positions["train"])
        trained = positions["train"]
        if self.train_fraction != 1:
            trained = trained[stratified_subset(labels[trained], self.train_fraction, self.seed)]
        self.split_of = {files[i]: split for split, kept in positions.items() for i in kept.tolist()}
        self.split_of |= {
            files[i]: "train_unused" for i in sorted(set(positions["train"].tolist()) - set(trained.tolist()))
        }
        self.indices = {"train": trained, "val": positions["val"], "test": positions["test"]}
        sums = torch.from_numpy(self.cache.sums())[trained].sum(0)
        count = len(trained) * self.size * self.size
        mean = sums[:, 0] / count
        std = ((sums[:, 1] - count * mean**2) / max(count - 1, 1)).clamp_min(0).sqrt().clamp_min(1e-8)
        self.normalization = {"mean": mean.float().tolist(), "std": std.float().tolist()}
        self.labels = labels

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.plan()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if self.in_memory:
            pixels = self.cache.read()
            view = (1, -1, 1, 1)
            mean_, std_ = (
                torch.tensor(self.normalization["mean"]).view(view),
                torch.tensor(self.normalization["std"]).view(view),
            )
            for split, kept in self.indices.items():
                self.splits[split] = (((pixels[kept].float() - mean_) / std_).to(device), self.labels[kept].to(device))
        else:
            self.splits = FirstSamples(self, device)

    def load(self):
        """The raw pixels (uint8) and classes of the train and test splits (zoo-export checks on the test split)."""
        self.plan()
        pixels = self.cache.read()
        train, test = self.indices["train"], self.indices["test"]
        return pixels[train], self.labels[train], pixels[test], self.labels[test]

    def split_sizes(self) -> dict[str, int]:
        return {split: len(kept) for split, kept in self.indices.items()}

    # --- loaders ----------------------------------------------------------------------------------------------
    def make_augmentation(self, settings: dict):
        return ImageAugmentation(**settings, data=self.name)

    def record_file(self, augment=None, share=(0, 1)) -> RecordFile:
        return RecordFile(
            self.cache.records,
            self.input_shape,
            self.labels,
            self.normalization["mean"],
            self.normalization["std"],
            augment=augment,
            share=share,
        )

    def streamed(
        self,
        split: str,
        shuffle: bool,
        share,
        samples_per_epoch=None,
        split_batches=False,
        augment=None,
        batch_size=None,
    ):
        records = self.record_file(augment, share)
        pin = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        # Workers for the training batches only: evaluation reads its batches here, in order, between epochs.
        return StreamedLoader(
            records,
            self.indices[split],
            batch_size or self.eval_batch_size,
            shuffle=shuffle,
            seed=self.seed,
            samples_per_epoch=samples_per_epoch,
            share=share,
            split_batches=split_batches,
            workers=self.num_workers if shuffle else 0,
            pin_memory=pin,
        )

    def train_dataloader(self):
        if self.in_memory:
            return super().train_dataloader()
        overfitting = self.trainer is not None and self.trainer.overfit_batches > 0
        return self.streamed(
            "train",
            not overfitting,
            process_share(self.trainer, self.batch_size),
            samples_per_epoch=self.samples_per_epoch,
            split_batches=True,
            augment=None if overfitting else self.augmentation,
            batch_size=self.batch_size,
        )

    def val_dataloader(self):
        return (
            evaluation_loader(self, "val")
            if self.in_memory
            else self.streamed("val", False, process_share(self.trainer))
        )

    def test_dataloader(self):
        return (
            evaluation_loader(self, "test")
            if self.in_memory
            else self.streamed("test", False, process_share(self.trainer))
        )

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
        why = dict(self.skipped)
        with open(folder / "splits.csv", "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["file", "class", "split", "reason"])
            for relative, name, _ in self.images:
                writer.writerow(
                    [
                        relative,
                        name,
                        "skipped" if relative in why else self.split_of.get(relative, ""),
                        why.get(relative, ""),
                    ]
                )
        sizes = ", ".join(f"{split} {len(kept):,}" for split, kept in self.indices.items())
        ignored = (
            f"; ignored {len(self.ignored)} files that are not images "
            f"({', '.join(Path(name).name for name in self.ignored[:3])}{' ...' * (len(self.ignored) > 3)})"
            if self.ignored
            else ""
        )
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


class FirstSamples(Mapping):
    """`splits` of a streamed run: each split's first VIEW_SAMPLES samples, normalized, read on first use (the
    views read whole splits in memory)."""

    def __init__(self, data: ImageFolder, device: torch.device):
        self.data, self.device, self.loaded = data, device, {}

    def __getitem__(self, split):
        if split not in self.loaded:
            with torch.inference_mode(False):  # first read inside Lightning's test loop; FGSM needs gradients
                self.loaded[split] = self.read(split)
        return self.loaded[split]

    def read(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.data.record_file()[(None, 0, tuple(self.data.indices[split][:VIEW_SAMPLES].tolist()))]
        return x.to(self.device), y.to(self.device)

    def __iter__(self):
        return iter(SPLIT_FOLDERS)

    def __len__(self):
        return len(SPLIT_FOLDERS)
