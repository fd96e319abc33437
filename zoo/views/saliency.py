"""Saliency: which parts of an input the network's answer rests on, by integrated gradients (Sundararajan
et al. 2017): the gradient of the predicted class's logit, averaged along the straight path from a
baseline input to the input, times the input's difference from the baseline.

The baseline is the training mean, which is zero in the model's (normalized) input units. Integrated
gradients are complete: a sample's attributions add up to logit(x) - logit(baseline), up to the error of
the `steps`-point average along the path; the figure prints both sums.

The view runs once, after testing, on the tested weights: IMAGES `saliency/examples`, the first test example
of each of up to `examples` classes, coloured by attribution (red: for the predicted class, blue: against).
"""

from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.views.base import POSITIVE_INT, measuring, name_features, require


def integrated_gradients(
    net: torch.nn.Module,
    inputs: torch.Tensor,
    classes: torch.Tensor,
    baseline: torch.Tensor | None = None,
    steps: int = 32,
) -> torch.Tensor:
    """Attributions of each input value to the logit of `classes` (one per sample), shaped like `inputs`:
    (x - baseline) times the mean gradient at `steps` points along the path (midpoints of equal pieces)."""
    baseline = torch.zeros_like(inputs) if baseline is None else baseline.expand_as(inputs)
    fractions = (torch.arange(steps, device=inputs.device, dtype=inputs.dtype) + 0.5) / steps
    shape = (steps,) + (1,) * inputs.dim()
    with measuring(net, grad=True):
        # Every point of every sample's path in one batch: (steps, N, ...) -> (steps * N, ...).
        path = (baseline + fractions.reshape(shape) * (inputs - baseline)).flatten(0, 1).requires_grad_(True)
        logits = net(path).float().gather(1, classes.repeat(steps)[:, None])
        (gradients,) = torch.autograd.grad(logits.sum(), path)
    return (inputs - baseline) * gradients.reshape(steps, *inputs.shape).mean(dim=0)


def example_indices(targets: torch.Tensor, count: int = 8) -> list[int]:
    """The first example of each of the first `count` classes present, in class order."""
    first: dict[int, int] = {}
    for index, target in enumerate(targets.tolist()):
        first.setdefault(target, index)
    return [first[target] for target in sorted(first)[:count]]


def show_attribution(
    figure: Figure, cell, values: torch.Tensor, attribution: torch.Tensor, title: str, names: Sequence[str] = ()
) -> None:
    """One input with its attributions: a vector as bars per feature (named by `names`, the data's feature names,
    where it has them), a signal as a line coloured by the attribution at each position (summed over channels), an
    image beside its heat map."""
    limit = attribution.abs().max().item() or 1.0
    if values.dim() == 1:
        axes = figure.add_subplot(cell)
        axes.bar(
            range(len(values)), attribution.numpy(), color=["tab:red" if a > 0 else "tab:blue" for a in attribution]
        )
        name_features(axes, names, len(values))
        axes.set_ylabel("attribution")
    elif values.dim() == 2:
        axes = figure.add_subplot(cell)
        signal, weight = values.mean(dim=0).numpy(), attribution.sum(dim=0).numpy()
        points = torch.stack([torch.arange(len(signal)), torch.from_numpy(signal)], dim=1).numpy()
        line = LineCollection([points[i : i + 2] for i in range(len(points) - 1)], linewidth=2.5, cmap="RdBu_r")
        line.set_array((weight[:-1] + weight[1:]) / 2)
        line.set_clim(-limit, limit)
        axes.plot(signal, color="lightgray", linewidth=1)  # where the attribution is near zero
        axes.add_collection(line)
        axes.autoscale()
        axes.set_xlabel("position")
    else:
        inner = cell.subgridspec(1, 2, wspace=0.05)
        picture = figure.add_subplot(inner[0])
        shown = values.permute(1, 2, 0) if values.shape[0] == 3 else values.mean(dim=0)
        picture.imshow(((shown - shown.min()) / (shown.max() - shown.min()).clamp_min(1e-8)).numpy(), cmap="gray")
        axes = figure.add_subplot(inner[1])
        axes.imshow(attribution.sum(dim=0).numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        for each in (picture, axes):
            each.set_xticks([])
            each.set_yticks([])
        picture.set_title(title, fontsize=8, loc="left")
        return
    axes.set_title(title, fontsize=8)


def saliency_figure(net: torch.nn.Module, datamodule, count: int = 8, steps: int = 32) -> Figure:
    """Integrated gradients for the predicted class of the first test example of each of up to `count`
    classes, against the training mean (zero in the model's input units)."""
    inputs, targets = datamodule.splits["test"]
    chosen = example_indices(targets, count)
    inputs, targets = inputs[chosen], targets[chosen]
    with measuring(net):
        logits = net(inputs).float()
        at_baseline = net(torch.zeros_like(inputs)).float()
    predicted = logits.argmax(dim=1)
    attributions = integrated_gradients(net, inputs, predicted, steps=steps).float().cpu()
    gain = (logits - at_baseline).gather(1, predicted[:, None]).flatten()
    names = datamodule.class_names
    columns = min(4, len(chosen))
    rows = -(-len(chosen) // columns)
    named = inputs.dim() == 2 and len(datamodule.feature_names) > 0  # room under each panel for its columns' names
    figure = Figure(figsize=(3.2 * columns, (2.6 + 1.2 * named) * rows + 0.5), dpi=80)
    grid = figure.add_gridspec(rows, columns)
    for index in range(len(chosen)):
        title = (
            f"true {names[targets[index]]}, predicted {names[predicted[index]]}\n"
            f"sum {attributions[index].sum().item():.2f}, logit gain {gain[index].item():.2f}"
        )
        cell = grid[index // columns, index % columns]
        show_attribution(
            figure, cell, inputs[index].float().cpu(), attributions[index], title, datamodule.feature_names
        )
    # on two lines: the figure of a table's two classes is two panels wide
    figure.suptitle(
        "integrated gradients of the predicted class's logit from the training mean\n(red: for it, blue: against)",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


class Saliency(L.Callback):
    """After testing: integrated gradients of a few test examples (`examples` classes, `steps` points
    along each path), in IMAGES as `saliency/examples`."""

    def __init__(self, examples: int = 8, steps: int = 32) -> None:
        require(examples=(examples, POSITIVE_INT), steps=(steps, POSITIVE_INT))
        self.examples, self.steps = examples, steps

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        if not takes_figures(trainer) or not trainer.datamodule.continuous_inputs:
            return
        with trainer.precision_plugin.forward_context():
            figure = saliency_figure(pl_module.net, trainer.datamodule, self.examples, self.steps)
        log_figure(trainer, "saliency/examples", figure, trainer.global_step)
