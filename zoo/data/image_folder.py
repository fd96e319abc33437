"""A user's image folder as files: which images it holds, in which class and split folders, what was left alone, the
signature that names its caches, the checks of data=images' settings (all of it before any image is decoded), and the
folder's images decoded once (`DecodedImages`), at <data_dir>/images/<the folder's signature>/, made again when a
file changes:


    colour.json                 whether any image is stored in colour (read from the headers, for data.channels=auto)
    pixels_<c>x<size>.u8        one uint8 record of c x size x size per readable image, in the folder's listing order
    pixels_<c>x<size>.sums.npy  each record's per-channel sums of values and of squares (the training statistics)
    pixels_<c>x<size>.json      the readable files in record order, and the skipped ones with the reason
    pixels_<c>x<size>.hashes.npy  a hash of each record's pixels (copies across the splits), made when first needed

The decoding pass writes each record as it is decoded, so its memory stays flat however many images there are;
every file is written beside its place and renamed into it, so a killed pass leaves no half cache.
"""

import csv
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from zoo.data.image_files import UnreadableImage, is_image_name, read_image, stored_in_colour
from zoo.data.splits import split_off
from zoo.errors import ZooError
from zoo.files import write_atomically

SPLIT_FOLDERS = ("train", "val", "test")
# What splits.csv says of a record, by its code (ImageFolder.split_codes): one byte a record, not a string.
RUN_SPLITS = ("", "train", "val", "test", "train_unused")


def list_folder(root: Path) -> tuple[list[tuple[str, str, str | None]], list[str], list[str]]:
    """(images as (relative path, class, the split its folder names or None), classes, ignored files). The
    layout is train/ (val/, test/) of class folders where a train/ folder exists, else class folders."""
    layout = (root / "train").is_dir()
    tops = sorted(entry for entry in root.iterdir() if not entry.name.startswith("."))
    if layout:
        others = [entry.name for entry in tops if entry.is_dir() and entry.name not in SPLIT_FOLDERS]
        if others:
            raise ZooError(
                f"data.path={root} holds train/ and also {', '.join(others[:3])}/: with a train/ folder, "
                f"every class folder goes inside train/ (and val/, test/)"
            )
        folders: list[tuple[Path, str | None]] = [(root / s, s) for s in SPLIT_FOLDERS if (root / s).is_dir()]
    else:
        folders = [(root, None)]
    images: list[tuple[str, str, str | None]] = []
    ignored: list[str] = []
    classes: dict[str | None, set[str]] = {}
    for folder, split in folders:
        for entry in sorted(folder.iterdir()):
            if entry.is_file():
                ignored.append(str(entry.relative_to(root)))  # a file beside the class folders
                continue
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            classes.setdefault(split, set()).add(entry.name)
            # os.walk's strings, not a Path per file: a folder of 100,000 images is listed in a few MiB.
            for where, folders_within, names in os.walk(entry):
                folders_within[:] = sorted(name for name in folders_within if not name.startswith("."))
                prefix = os.path.relpath(where, root)
                for name in sorted(names):
                    relative = os.path.join(prefix, name)
                    (images.append((relative, entry.name, split)) if is_image_name(name) else ignored.append(relative))
    names = sorted(classes.get("train" if layout else None, set()))
    check_classes(root, layout, names, classes, images)
    return images, names, ignored


def check_classes(root: Path, layout: bool, names: list[str], classes: dict, images: list) -> None:
    where = f"data.path={root}" + ("/train" if layout else "")
    if not names:
        raise ZooError(
            f"{where} holds no class folders: put each class's images in a folder named after the class "
            f"({root}/cat/1.jpg, {root}/dog/2.png, ...)"
        )
    counts = Counter((split, name) for _, name, split in images)
    empty = [name for split in classes for name in sorted(classes[split]) if not counts[(split, name)]]
    if not any(counts.values()):
        raise ZooError(f"{where} holds no images (.png .jpg .jpeg .bmp .webp .gif) in its class folders")
    if empty:
        folder = next(
            f"{split}/{name}" if split else name
            for split in classes
            for name in sorted(classes[split])
            if not counts[(split, name)]
        )
        raise ZooError(f"data.path={root}: the class folder {folder} holds no images; add some or remove the folder")
    if len(names) < 2:
        raise ZooError(f"{where} holds one class ({names[0]}); a classifier needs at least two class folders")
    for split in ("val", "test"):
        unknown = sorted(classes.get(split, set()) - set(names))
        if unknown:
            raise ZooError(
                f"data.path={root}/{split} holds class {unknown[0]}, which train/ lacks; every class "
                f"must have training images"
            )


def folder_signature(root: Path, images: list) -> str:
    """What identifies the folder's content for the caches: its path and every image's name, size and time."""
    digest = hashlib.sha1(str(root.resolve()).encode())
    for relative, _, _ in images:
        stat = os.stat(os.path.join(root, relative))
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def check_settings(
    path, channels, size, val_fraction, test_fraction, in_memory, memory_budget_mb, num_workers, skip_bad_files
) -> None:
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if not path:
        raise ZooError(
            "data=images needs data.path=<folder>: one subfolder of images per class, e.g. "
            "data.path=~/pets with pets/cat/*.jpg and pets/dog/*.png"
        )
    if channels not in (None, 1, 3):
        raise ZooError(f"data.channels={channels!r} must be 1 (gray), 3 (RGB) or null (3 if any image has colour)")
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 4):
        raise ZooError(f"data.size={size!r} must be an integer of at least 4 (pixels of the square images)")
    if not (number(test_fraction) and 0 <= test_fraction < 1) or val_fraction + test_fraction >= 1:
        raise ZooError(
            f"data.test_fraction={test_fraction!r} must be a number in [0, 1), with data.val_fraction "
            f"leaving images to train on"
        )
    if in_memory not in ("auto", True, False):
        raise ZooError(f"data.in_memory={in_memory!r} must be auto, true or false")
    if not (number(memory_budget_mb) and memory_budget_mb > 0):
        raise ZooError(f"data.memory_budget_mb={memory_budget_mb!r} must be a positive number")
    if num_workers != "auto" and not (
        isinstance(num_workers, int) and not isinstance(num_workers, bool) and num_workers >= 0
    ):
        raise ZooError(f"data.num_workers={num_workers!r} must be auto or an integer >= 0")
    if not isinstance(skip_bad_files, bool):
        raise ZooError(f"data.skip_bad_files={skip_bad_files!r} must be true or false")


def write_splits(path: Path, images: list, split_codes: np.ndarray, skipped: list[tuple[str, str]]) -> None:
    """splits.csv: every file of the folder with its class and split (train, val, test; train_unused where
    data.train_fraction left it out; skipped, with the reason, where it could not be read). `split_codes`: each
    record's split (an index into RUN_SPLITS), the records being the listed images that could be read, in order."""
    why = dict(skipped)

    def write(partial: Path) -> None:
        with open(partial, "w", newline="") as file:
            write_rows(csv.writer(file))

    def write_rows(writer) -> None:
        writer.writerow(["file", "class", "split", "reason"])
        codes = iter(split_codes.tolist())
        for relative, name, _ in images:
            split = "skipped" if relative in why else RUN_SPLITS[next(codes)]
            writer.writerow([relative, name, split, why.get(relative, "")])

    write_atomically(path, write)


def assign_splits(
    labels: torch.Tensor,
    given: list[str | None],
    test_fraction: float,
    val_fraction: float,
    split_seed: int,
    root: Path,
) -> dict[str, torch.Tensor]:
    """Record positions of each split: the folder's own, and the others drawn from train, stratified."""
    positions = {
        split: torch.tensor([i for i, g in enumerate(given) if g == split], dtype=torch.long) for split in SPLIT_FOLDERS
    }
    if given[0] is None:
        positions["train"] = torch.arange(len(given))
    generator = torch.Generator().manual_seed(split_seed)
    for split, fraction in (("test", test_fraction), ("val", val_fraction)):
        if not len(positions[split]) and fraction:
            train = positions["train"]
            positions["train"], positions[split] = split_off(train, labels[train], fraction, generator)
    if not len(positions["test"]):
        raise ZooError(
            f"data.path={root}: too few images for a test split with data.test_fraction="
            f"{test_fraction}; add images or a test/ folder"
        )
    return positions


def save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as file:  # a file, not a name: np.save would add .npy to a name
        np.save(file, array)


class DecodedImages:
    """The cache of the images `images` (relative paths, with their class and given split) under `root`, at
    `channels` (None: 3 where any image is stored in colour, else 1) and `size`."""

    def __init__(
        self, root: Path, images: list[tuple[str, str, str | None]], data_dir: Path, channels: int | None, size: int
    ) -> None:
        self.root, self.images, self.size = root, images, size
        self.folder = data_dir / "images" / folder_signature(root, images)
        self.channels = int(channels) if channels else (3 if self.colour() else 1)
        self.records = self.folder / f"pixels_{self.channels}x{size}.u8"

    def colour(self) -> bool:
        """Whether any image is stored in colour, from the files' headers, read once and cached."""
        cached = self.folder / "colour.json"
        if cached.is_file():
            return bool(json.loads(cached.read_text())["colour"])
        colour = False
        for relative, _, _ in self.images:
            try:
                colour = stored_in_colour(self.root / relative)
            except UnreadableImage:
                continue  # the decoding pass names it (or skips it)
            if colour:
                break
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, lambda partial: partial.write_text(json.dumps({"colour": colour})))
        return colour

    def build(self) -> list[tuple[str, str]]:
        """Decode every image unless that was done; the files that could not be read, with the reason."""
        meta = self.records.with_suffix(".json")
        if not meta.is_file():
            self.decode_all(meta)
        return [tuple(item) for item in json.loads(meta.read_text())["skipped"]]

    def decode_all(self, meta: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        kept: list[str] = []
        skipped: list[tuple[str, str]] = []
        sums = np.zeros((len(self.images), self.channels, 2))  # one row per image kept, in record order

        def write(partial: Path) -> None:
            with open(partial, "wb") as file:
                for relative, _, _ in self.images:
                    try:
                        pixels = read_image(self.root / relative, self.channels, self.size)
                    except UnreadableImage as error:
                        skipped.append((relative, str(error)))
                        continue
                    file.write(pixels.numpy().tobytes())
                    values = pixels.numpy().reshape(self.channels, -1).astype(np.float64)
                    sums[len(kept)] = np.stack([values.sum(1), (values**2).sum(1)], axis=1)
                    kept.append(relative)

        write_atomically(self.records, write)
        write_atomically(self.records.with_suffix(".sums.npy"), lambda partial: save_array(partial, sums[: len(kept)]))
        write_atomically(meta, lambda partial: partial.write_text(json.dumps({"files": kept, "skipped": skipped})))

    def files(self) -> list[str]:
        """The readable images, in record order."""
        return json.loads(self.records.with_suffix(".json").read_text())["files"]

    def sums(self) -> np.ndarray:
        return np.load(self.records.with_suffix(".sums.npy"))

    def hashes(self) -> np.ndarray:
        """A 64-bit hash of each record's pixels, in record order (equal pixels, equal hashes), computed once and kept
        beside the records."""
        kept = self.records.with_suffix(".hashes.npy")
        if kept.is_file():
            return np.load(kept)
        record = self.channels * self.size * self.size
        empty = not self.records.stat().st_size  # np.memmap cannot map an empty file
        flat = np.zeros(0, np.uint8) if empty else np.memmap(self.records, dtype=np.uint8, mode="r")
        pixels = flat.reshape(-1, record)
        hashes = np.array(
            [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") for row in pixels],
            dtype=np.uint64,
        )
        write_atomically(kept, lambda partial: save_array(partial, hashes))
        return hashes

    def read(self) -> torch.Tensor:
        """Every record, (images, channels, size, size) uint8."""
        pixels = np.fromfile(self.records, dtype=np.uint8)
        return torch.from_numpy(pixels).view(-1, self.channels, self.size, self.size)
