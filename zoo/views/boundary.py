"""Decision boundaries (TensorFlow Playground's picture): what a network computes over the whole plane of
2-D data (data=toy), with the training and test points on it, so that the boundary can be watched forming
step by step and compared between models and input features. A linear model on x and y can only cut the
plane with a straight line; given x² and y² it draws a circle; hidden units bend the boundary themselves.

The view acts only on data that has a plane (a `plane` extent and `points` per split, as zoo.data.toy
declares); on other data it does nothing.
"""

import io
import math
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.image import imread

from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.data.toy import Toy
from zoo.files import write_atomically
from zoo.models.layers import ACTIVATIONS
from zoo.views.base import COUNT, EveryFewEpochs, measuring, require
from zoo.views.hierarchy import mosaic

OUTPUT_TAG, FIRST_LAYER_TAG, TESTED_TAG = "boundary/output", "boundary/first_layer", "boundary/tested"
# Playground's colours: orange for the first class, blue for the second, grey in between.
PLAYGROUND = LinearSegmentedColormap.from_list("playground", ["#f59322", "#e8eaeb", "#0877bd"])
CLASS_COLOURS = ["#f59322", "#0877bd"]


def has_plane(datamodule) -> bool:
    """Whether the data are points in a plane that the model's output can be drawn over (data=toy, after setup)."""
    return isinstance(datamodule, Toy) and bool(datamodule.points)


def plane_grid(datamodule, resolution: int) -> torch.Tensor:
    """The centres of a resolution x resolution grid over the data's plane, (resolution², 2), row by row
    from the bottom (y low) to the top."""
    low, high = datamodule.plane
    step = (high - low) / resolution
    ticks = torch.linspace(low + step / 2, high - step / 2, resolution)
    ys, xs = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def plane_output(net: torch.nn.Module, datamodule, resolution: int = 100) -> torch.Tensor:
    """The network's probability of the second class at each cell of the plane's grid: (resolution,
    resolution), row 0 at the bottom. What the boundary image shows."""
    device = next(net.parameters()).device
    with measuring(net):
        logits = net(datamodule.inputs(plane_grid(datamodule, resolution)).to(device))
    return logits.softmax(dim=1)[:, 1].reshape(resolution, resolution).cpu()


def first_layer_outputs(net: torch.nn.Module, datamodule, units: int = 16, resolution: int = 40) -> torch.Tensor | None:
    """The output of each of the first `units` units of the network's first hidden layer (after its
    activation) over the plane's grid: (units, resolution, resolution); None for a network without a
    hidden layer (model=linear)."""
    activation = next((m for m in net.modules() if isinstance(m, tuple(ACTIVATIONS.values()))), None)
    if activation is None:
        return None
    captured = []
    hook = activation.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        device = next(net.parameters()).device
        with measuring(net):
            net(datamodule.inputs(plane_grid(datamodule, resolution)).to(device))
    finally:
        hook.remove()
    outputs = captured[0][:, :units].T.cpu()
    return outputs.reshape(len(outputs), resolution, resolution)


def draw_points(axes, datamodule) -> None:
    """Training points with a white edge, test points with a black one, coloured by class."""
    for split, edge in (("train", "white"), ("test", "black")):
        points = datamodule.points[split]
        labels = datamodule.splits[split][1].cpu()
        colours = [CLASS_COLOURS[label] for label in labels.tolist()]
        axes.scatter(
            points[:, 0], points[:, 1], c=colours, s=12, edgecolors=edge, linewidths=0.6, label=f"{split} ({edge} edge)"
        )


def boundary_figure(net: torch.nn.Module, datamodule, resolution: int = 100) -> Figure:
    """The probability of the second class over the plane as a heat map (orange: first class, blue:
    second), the 0.5 contour (the decision boundary) and the training and test points."""
    output = plane_output(net, datamodule, resolution)
    low, high = datamodule.plane
    figure = Figure(figsize=(4.2, 4), dpi=80)
    axes = figure.add_subplot()
    image = axes.imshow(
        output.numpy(),
        extent=(low, high, low, high),
        origin="lower",
        cmap=PLAYGROUND,
        vmin=0,
        vmax=1,
        interpolation="bilinear",
    )
    if output.min() < 0.5 < output.max():
        axes.contour(output.numpy(), levels=[0.5], extent=(low, high, low, high), colors="black", linewidths=1)
    draw_points(axes, datamodule)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    names = datamodule.class_names
    axes.set_title(
        f"P({names[1]}): blue {names[1]}, orange {names[0]}\nwhite edge: train, black edge: test", fontsize=8
    )
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.subplots_adjust(left=0.13, right=0.92, bottom=0.12, top=0.92)  # fixed: tight_layout costs half the time
    return figure


def first_layer_figure(net: torch.nn.Module, datamodule, units: int = 16) -> Figure | None:
    """Playground's neuron thumbnails: each of the first hidden layer's first `units` units over the plane,
    row by row in one picture (blue where it is positive, orange where negative, each on its own scale);
    None without a hidden layer. One picture, not a panel per unit: it draws in a fraction of the time."""
    outputs = first_layer_outputs(net, datamodule, units)
    if outputs is None:
        return None
    outputs = outputs / outputs.flatten(1).abs().amax(dim=1).clamp_min(1e-6)[:, None, None]
    columns = min(4, len(outputs))
    rows = math.ceil(len(outputs) / columns)
    # flipped: row 0 of a thumbnail is the bottom of the plane, row 0 of the picture its top
    picture = mosaic(outputs.flip(1), columns)
    figure = Figure(figsize=(0.8 * columns + 0.2, 0.8 * rows + 0.4), dpi=80)
    axes = figure.add_subplot()
    axes.imshow(picture.numpy(), cmap=PLAYGROUND, vmin=-1, vmax=1, interpolation="nearest")
    axes.set_axis_off()
    axes.set_title(f"first layer, units 0-{len(outputs) - 1}", fontsize=8)
    figure.tight_layout(pad=0.2)
    return figure


class DecisionBoundary(EveryFewEpochs):
    """Every `every_n_epochs` epochs and when training ends, the boundary image (`boundary/output`) and,
    for a network with hidden units, the first layer's thumbnails (`boundary/first_layer`) in IMAGES, at
    the global step, so that TensorBoard's step slider replays the boundary forming. After testing, the
    boundary of the tested weights (`boundary/tested`: the best checkpoint, which can be an earlier epoch
    than the last image), the picture that goes with test/acc and that zoo-compare shows."""

    def __init__(self, every_n_epochs: int = 10, units: int = 16) -> None:
        super().__init__(every_n_epochs)
        require(units=(units, COUNT))
        self.units = units

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        if takes_figures(trainer) and has_plane(trainer.datamodule):
            log_figure(trainer, TESTED_TAG, boundary_figure(pl_module.net, trainer.datamodule), trainer.global_step)

    def draw(self, trainer, pl_module) -> None:
        if not takes_figures(trainer) or not has_plane(trainer.datamodule):
            return
        log_figure(trainer, OUTPUT_TAG, boundary_figure(pl_module.net, trainer.datamodule), trainer.global_step)
        layer = first_layer_figure(pl_module.net, trainer.datamodule, self.units)
        if layer is not None:
            log_figure(trainer, FIRST_LAYER_TAG, layer, trainer.global_step)


def compare_figure(runs: list[dict], out: Path) -> Path | None:
    """zoo-compare: the boundary of each run's tested weights (those its test accuracy scored), for every
    run that has one, in one grid (boundaries.png)."""
    shown = [run for run in runs if TESTED_TAG in run["events"].Tags().get("images", [])]
    if not shown:
        return None
    shown.sort(
        key=lambda run: (
            [str(run["hparams"].get(key)) for key in ("data.shape", "data.features", "model")]
            + [run["hparams"].get("data.noise", 0), run["hparams"].get("seed", 0)]
        )
    )
    from zoo.runs.grouping import labels

    names = labels([run["hparams"] for run in shown])  # what tells each run apart: the family, shape, features, seed
    columns = min(4, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure = Figure(figsize=(3.4 * columns, 3.6 * rows))
    for index, run in enumerate(shown):
        image = imread(io.BytesIO(run["events"].Images(TESTED_TAG)[-1].encoded_image_string), format="png")
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image)
        axes.axis("off")
        accuracy = f"\ntest acc {run['test_acc']:.3f}" if run.get("test_acc") is not None else ""
        axes.set_title(names[index] + accuracy, fontsize=9)
    figure.tight_layout()
    path = out / "boundaries.png"
    write_atomically(path, lambda partial: figure.savefig(partial, format="png", dpi=100))
    return path
