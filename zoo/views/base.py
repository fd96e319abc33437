"""What every view shares: `measuring` (a network run for a measurement in the middle of a run, leaving the training
exactly as it would have been), `show_input` (an input drawn as its kind is best seen), `EveryFewEpochs` (the schedule
of a view drawn while the model trains) and `require` with the rules of the views' settings."""

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from zoo.configs import is_int, is_number
from zoo.errors import ZooError

# The rules of the views' settings: (what the value must be, the test).
POSITIVE_INT = ("must be a positive integer", lambda v: is_int(v) and v > 0)
COUNT = ("must be an integer >= 0", lambda v: is_int(v) and v >= 0)
NUMBER_AT_LEAST_0 = ("must be a number >= 0", lambda v: is_number(v) and v >= 0)
POSITIVE_NUMBER = ("must be a positive number", lambda v: is_number(v) and v > 0)
INTEGER = ("must be an integer", is_int)
SIZES = (
    "must be a list of numbers >= 0, e.g. [0,0.1,0.5]",
    lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(is_number(x) and x >= 0 for x in v),
)


def require(**settings: tuple) -> None:
    """Each setting's (value, rule): one line, `<setting>=<value> <what it must be>`, for the first that breaks
    its rule. Building the view (zoo.training.build) puts the setting's config key in front (task.views.saliency.)."""
    for setting, (value, (rule, ok)) in settings.items():
        if not ok(value):
            raise ZooError(f"{setting}={'null' if value is None else repr(value)} {rule}")


@contextlib.contextmanager
def measuring(net: torch.nn.Module, grad: bool = False) -> Iterator[torch.nn.Module]:
    """Run `net` for a measurement in the middle of a run: in eval mode, with gradients when `grad` (also
    inside Lightning's test loop, which runs under inference mode), with the random number generators put
    back afterwards, and `net` left in the mode it was in. Floating-point inputs are cast to the network's
    own type (a run in `trainer.precision=bf16-true` holds bf16 weights; the data stays float32). With
    `grad`, cuDNN is off: its RNN backward pass runs only in train mode, and batch norm and dropout must
    stay in eval mode."""
    was_training = net.training
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    cast = net.register_forward_pre_hook(
        lambda module, inputs: tuple(x.to(dtype) if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs)
    )
    with (
        torch.random.fork_rng(devices=devices),
        torch.inference_mode(False),
        torch.set_grad_enabled(grad),
        torch.backends.cudnn.flags(enabled=not grad),
    ):
        net.eval()
        try:
            yield net
        finally:
            net.train(was_training)
            cast.remove()


def name_features(axes, names, count: int) -> None:
    """The x axis of bars, one per value of a vector input: each named where the data names them (a table's columns),
    else numbered."""
    if len(names) == count:
        axes.set_xticks(range(count), list(names), rotation=90, fontsize=6 if count > 12 else 8)
    else:
        axes.set_xlabel("feature")


def show_input(axes, values: torch.Tensor, datamodule, label: str, reference: torch.Tensor | None = None) -> None:
    """One input as its kind is best seen: a vector as bars, a signal as lines (one per channel), an image
    as a picture; `reference`, the clean input, is drawn behind a changed signal in gray, and stretches an
    image without a pixel scale of its own as it stretches the clean one)."""
    values = values.detach().float().cpu()
    if values.dim() == 1:
        axes.bar(range(len(values)), values.numpy())
        name_features(axes, datamodule.feature_names, len(values))
    elif values.dim() == 2:
        if reference is not None:
            for channel in reference.detach().float().cpu():
                axes.plot(channel.numpy(), color="lightgray", linewidth=2)
        for channel in values:
            axes.plot(channel.numpy(), linewidth=1)
        axes.set_xlabel("position")
    else:
        normalization = datamodule.normalization or {}
        shape = (-1, 1, 1)
        mean = torch.tensor(normalization.get("mean", [0.0])).reshape(shape)
        std = torch.tensor(normalization.get("std", [1.0])).reshape(shape)
        raw = values * std + mean
        if datamodule.pixel_max:
            raw = raw / datamodule.pixel_max
        else:
            low, high = (
                (reference.detach().float().cpu() * std + mean).aminmax() if reference is not None else raw.aminmax()
            )
            raw = (raw - low) / (high - low).clamp_min(1e-8)
        raw = raw.clamp(0, 1)
        picture = raw.permute(1, 2, 0).numpy() if raw.shape[0] == 3 else raw.mean(dim=0).numpy()
        axes.imshow(picture, cmap="gray", vmin=0, vmax=1)
        axes.set_xticks([])
        axes.set_yticks([])
    axes.set_title(label, fontsize=9)


class EveryFewEpochs(L.Callback, ABC):
    """A view drawn while the model trains: after every `every_n_epochs`-th epoch and at the end of training,
    once per step (the last epoch's drawing and the end's are the same weights). Subclasses implement `draw`."""

    def __init__(self, every_n_epochs: int = 10) -> None:
        require(every_n_epochs=(every_n_epochs, POSITIVE_INT))
        self.every_n_epochs = every_n_epochs
        self.drawn_at_step: int | None = None

    @abstractmethod
    def draw(self, trainer, pl_module) -> None:
        """Log the view's images at the current step."""

    def _draw_once(self, trainer, pl_module) -> None:
        if self.drawn_at_step != trainer.global_step:
            self.drawn_at_step = trainer.global_step
            self.draw(trainer, pl_module)

    @rank_zero_only
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._draw_once(trainer, pl_module)

    @rank_zero_only
    def on_train_end(self, trainer, pl_module) -> None:
        self._draw_once(trainer, pl_module)
