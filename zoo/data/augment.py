"""Random transformations of training batches (`data.augment`), made on the device the batch lives on.

A whole batch is transformed at once, with per-sample settings drawn from a generator that the loader seeds
by (seed, epoch, batch): a resumed run sees the batches it would have seen, and the same seed gives the
same batches on a CPU and a GPU (the settings are drawn on the CPU, a few numbers per sample). On several
processes the settings are drawn for the whole batch and each process takes those of its own samples, so
the run sees what one process would have seen.

Signals (MNIST-1D): the kinds of changes its signals are made with (mnist1d's `transform`): a circular
shift, a stretch about the centre, a change of amplitude, a shear (a linear ramp added) and Gaussian noise.
Images: a random crop of the image padded by reflection, and a horizontal flip, as the fast CIFAR-10
training scripts do.
Inputs are already normalized, so the ramp and the noise are in standard deviations of the data.
"""

from abc import ABC, abstractmethod

import torch

from zoo.data.loaders import own_share
from zoo.errors import ZooError


def _check(name: str, value, allowed: str, valid) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not valid(value):
        raise ZooError(f"data.augment.{name}={value!r} is not allowed: it must be {allowed}")


class Augmentation(ABC):
    """Draws per-sample settings for a batch of `total` samples of all processes (`draw`), keeps this process's
    share of them and applies them to its part of the batch (`apply`)."""

    def __call__(
        self, x: torch.Tensor, generator: torch.Generator, total: int, share: tuple[int, int] = (0, 1)
    ) -> torch.Tensor:
        settings = {
            name: own_share(value, share).to(x.device, non_blocking=True)
            for name, value in self.draw(total, x.shape[1:], generator).items()
        }
        return self.apply(x, settings)

    @abstractmethod
    def draw(self, count: int, sample_shape: torch.Size, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Settings for `count` samples, by name, each a tensor whose first dimension is the sample."""

    @abstractmethod
    def apply(self, x: torch.Tensor, settings: dict[str, torch.Tensor]) -> torch.Tensor:
        """The batch `x` transformed, each sample by its settings."""


def _uniform(count: int, bound: float, generator: torch.Generator) -> torch.Tensor:
    """`count` numbers uniform in [-bound, bound]."""
    return (torch.rand(count, generator=generator) * 2 - 1) * bound


class SignalAugmentation(Augmentation):
    """For inputs (N, channels, length): each sample shifted by up to `shift` points either way (circularly, as
    mnist1d shifts), stretched in time by a factor in [1 - stretch, 1 + stretch] about its centre (linear
    interpolation), multiplied by a factor in [1 - amplitude, 1 + amplitude], given a ramp from -a to a with
    |a| <= `shear` and Gaussian noise of standard deviation `noise`."""

    def __init__(
        self, shift: float = 0.0, stretch: float = 0.0, amplitude: float = 0.0, shear: float = 0.0, noise: float = 0.0
    ) -> None:
        _check("shift", shift, "a number of points >= 0", lambda v: v >= 0)
        _check("stretch", stretch, "a number in [0, 1)", lambda v: 0 <= v < 1)
        _check("amplitude", amplitude, "a number in [0, 1)", lambda v: 0 <= v < 1)
        _check("shear", shear, "a number >= 0 (standard deviations)", lambda v: v >= 0)
        _check("noise", noise, "a number >= 0 (standard deviations)", lambda v: v >= 0)
        self.shift, self.stretch, self.amplitude = float(shift), float(stretch), float(amplitude)
        self.shear, self.noise = float(shear), float(noise)

    def draw(self, count, sample_shape, generator) -> dict[str, torch.Tensor]:
        return {
            "shift": _uniform(count, self.shift, generator),
            "stretch": 1 + _uniform(count, self.stretch, generator),
            "amplitude": 1 + _uniform(count, self.amplitude, generator),
            "shear": _uniform(count, self.shear, generator),
            "noise": torch.randn(count, *sample_shape, generator=generator) * self.noise,
        }

    def apply(self, x, settings) -> torch.Tensor:
        length = x.shape[-1]
        points = torch.arange(length, device=x.device, dtype=x.dtype)
        centre = (length - 1) / 2
        # Where each output point reads the input: stretched about the centre, then shifted.
        stretch, shift = settings["stretch"].to(x.dtype)[:, None], settings["shift"].to(x.dtype)[:, None]
        source = centre + (points - centre) / stretch - shift
        below = source.floor()
        weight = (source - below)[:, None, :]
        below = below.long() % length
        above = (below + 1) % length

        def index(positions: torch.Tensor) -> torch.Tensor:  # the same time index for every channel
            return positions[:, None, :].expand(-1, x.shape[1], -1)

        resampled = x.gather(2, index(below)) * (1 - weight) + x.gather(2, index(above)) * weight
        ramp = torch.linspace(-1, 1, length, device=x.device, dtype=x.dtype)
        resampled = resampled * settings["amplitude"].to(x.dtype)[:, None, None]
        return resampled + settings["shear"].to(x.dtype)[:, None, None] * ramp + settings["noise"].to(x.dtype)


class ImageAugmentation(Augmentation):
    """For inputs (N, channels, height, width): a random crop of the image padded by `crop_padding` pixels on
    each side (by reflection), the size of the image, and a mirror image half the time when `flip`."""

    def __init__(self, crop_padding: int = 0, flip: bool = False, flip_allowed: bool = True, data: str = "") -> None:
        _check("crop_padding", crop_padding, "a whole number of pixels >= 0", lambda v: v == int(v) and v >= 0)
        if not isinstance(flip, bool):
            raise ZooError(f"data.augment.flip={flip!r} is not allowed: it must be true or false")
        if flip and not flip_allowed:
            raise ZooError(
                f"data.augment.flip=true is not allowed for data={data}: a mirrored digit is not the same "
                f"digit; use data.augment.flip=false (crops only)"
            )
        self.padding, self.flip = int(crop_padding), flip

    def draw(self, count, sample_shape, generator) -> dict[str, torch.Tensor]:
        offsets = torch.randint(0, 2 * self.padding + 1, (count, 2), generator=generator)
        flips = torch.rand(count, generator=generator) < 0.5 if self.flip else torch.zeros(count, dtype=torch.bool)
        return {"rows": offsets[:, 0], "columns": offsets[:, 1], "flip": flips}

    def apply(self, x, settings) -> torch.Tensor:
        if self.padding:
            height, width = x.shape[-2:]
            padded = torch.nn.functional.pad(x, [self.padding] * 4, mode="reflect")
            rows = settings["rows"][:, None] + torch.arange(height, device=x.device)
            columns = settings["columns"][:, None] + torch.arange(width, device=x.device)
            samples = torch.arange(len(x), device=x.device)[:, None, None]
            # (N, height, width, channels) by advanced indexing, back to channels first.
            x = padded.permute(0, 2, 3, 1)[samples, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2)
        if self.flip:
            x = torch.where(settings["flip"][:, None, None, None], x.flip(-1), x)
        return x.contiguous()
