"""A folder's images decoded once: <data_dir>/images/<the folder's signature>/, made again when a file changes.

    colour.json                 whether any image is stored in colour (read from the headers, for data.channels=auto)
    pixels_<c>x<size>.u8        one uint8 record of c x size x size per readable image, in the folder's listing order
    pixels_<c>x<size>.sums.npy  each record's per-channel sums of values and of squares (the training statistics)
    pixels_<c>x<size>.json      the readable files in record order, and the skipped ones with the reason

The decoding pass writes each record as it is decoded, so its memory stays flat however many images there are;
every file is written beside its place and renamed into it, so a killed pass leaves no half cache.
"""

import json
import os
from pathlib import Path

import numpy as np
import torch

from zoo.data.image_files import UnreadableImage, read_image, stored_in_colour
from zoo.data.image_folder import folder_signature


def write_atomically(path: Path, write) -> None:
    """`write(partial)` a file beside `path`, then rename it into place."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


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

    def read(self) -> torch.Tensor:
        """Every record, (images, channels, size, size) uint8."""
        pixels = np.fromfile(self.records, dtype=np.uint8)
        return torch.from_numpy(pixels).view(-1, self.channels, self.size, self.size)
