"""Reading one image file as a model takes it: decoded by Pillow, converted to the data's channels and brought to
its size by torchvision's transforms. Training on an image folder (zoo.data.images) and predicting on new images
(zoo-predict) read every file through `read_image`, so both see the same pixels.

Pillow decodes, not torchvision.io: torchvision 0.29 deprecates its decoders (TorchCodec supersedes them, a further
dependency), and torchvision never decoded BMP; Pillow reads every format here and raises on a truncated file.

The size rule: the shorter side is resized to `size` (antialiased), then the centre `size` x `size` square is cut
out, as torchvision's classification presets do; nothing is stretched, and what is cut off is the longer side's ends.
"""

from pathlib import Path

import torch

# The files an image folder is read from (case does not matter); any other file, and any hidden one, is ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
# Pillow's modes that hold colour; a palette image counts as colour unless its palette is all grays.
COLOUR_MODES = {"RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "PA"}


class UnreadableImage(Exception):
    """A file with an image's suffix that Pillow cannot decode (damaged, truncated, or not an
    image at all); its message says why, briefly."""


def is_image_name(name: str) -> bool:
    """Whether a file of this name is read as an image: one of IMAGE_SUFFIXES, and not hidden."""
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def stored_in_colour(path: Path) -> bool:
    """Whether the file stores colour, read from its header alone (Pillow does not decode the pixels for this)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode == "P":
                palette = image.getpalette() or []
                return any(len(set(palette[i : i + 3])) > 1 for i in range(0, len(palette) - 2, 3))
            return image.mode in COLOUR_MODES
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise UnreadableImage(brief(error)) from None


def read_image(path: Path, channels: int, size: int | tuple[int, int]) -> torch.Tensor:
    """The image at `path` as a uint8 tensor (channels, height, width): 8-bit pixels (16-bit ones scaled down),
    the first frame of an animation, transparency dropped (as torchvision's ImageFolder does), gray or RGB as
    `channels` says; then resized and cut by the rule above to `size` (one number: a square)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as F

    height, width = (size, size) if isinstance(size, int) else size
    try:
        with Image.open(path) as opened:
            opened.load()  # decodes now: a truncated or damaged file raises here
            image: Image.Image = opened
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit (or wider) gray: to 8 bits
                image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        raise UnreadableImage(brief(error)) from None
    tensor = torch.from_numpy(pixels.copy()).reshape(pixels.shape[0], pixels.shape[1], channels).permute(2, 0, 1)
    scale = max(height / tensor.shape[1], width / tensor.shape[2])
    resized = [max(height, round(tensor.shape[1] * scale)), max(width, round(tensor.shape[2] * scale))]
    if resized != list(tensor.shape[1:]):
        tensor = F.resize(tensor, resized, antialias=True)
    return F.center_crop(tensor, [height, width]).contiguous()


def brief(error: Exception) -> str:
    return " ".join(str(error).split())[:120] or type(error).__name__
