"""Hierarchies of CNN features: what the first layer's filters look like and what each conv block makes
of one input.

The textbook claim: a CNN's first layer learns simple local detectors (edges, bumps, slopes), and each
block combines the one before into coarser, more abstract maps, fewer positions and more channels. The
filters of the first conv layer show the first half; the feature maps of one fixed test example after
every block (after its activation and pooling) show the second.

Only for networks with conv blocks in `net.features` (zoo's CNN classifier); other networks get nothing.
"""

import matplotlib
import torch
from matplotlib.figure import Figure
from torch import nn

from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.models.cnn import CNN, ResidualBlock
from zoo.views.base import EveryFewEpochs, measuring, show_input

CONVS = (nn.Conv1d, nn.Conv2d)
BLOCKS = (*CONVS, ResidualBlock)  # what starts a block of `net.features`
MAX_CHANNELS = 16  # per block shown: enough to see the variety, small enough to read
MAX_INPUT_CHANNELS = 3  # of the first layer's filters: one panel per input channel (RGB at most)
SIGNED = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.6")  # white is 0: the gaps between filters grey


def conv_features(net: nn.Module) -> nn.Sequential | None:
    """The conv blocks of a CNN classifier (`features`: conv -> norm -> activation -> pool, or residual blocks ->
    pool, ...); None for others."""
    return net.features if isinstance(net, CNN) else None


def blocks_of(net: nn.Module) -> nn.Sequential:
    features = conv_features(net)
    if features is None:
        raise ValueError(f"{type(net).__name__} has no convolutional blocks (model=cnn has)")
    return features


def mosaic(tiles: torch.Tensor, columns: int) -> torch.Tensor:
    """Tiles (n, height, width) side by side in rows of `columns`, one NaN pixel (blank) between them: one
    image to draw instead of n small axes, which would cost a second per figure."""
    n, height, width = tiles.shape
    rows = -(-n // columns)
    grid = torch.full((rows * (height + 1) - 1, min(n, columns) * (width + 1) - 1), float("nan"))
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (height + 1), (i % columns) * (width + 1)
        grid[top : top + height, left : left + width] = tile
    return grid


def filters_figure(net: nn.Module) -> Figure:
    """The first conv layer's filters (at most 16), one panel per input channel (at most 3): 1-D kernels as
    line plots side by side, 2-D kernels as small images 8 to a row, all on one scale (2-D: red positive,
    blue negative), so that strong and weak filters can be told apart."""
    first = next(layer for layer in blocks_of(net).modules() if isinstance(layer, CONVS))
    weights = first.weight.detach().float().cpu()
    outs, ins = min(weights.shape[0], MAX_CHANNELS), min(weights.shape[1], MAX_INPUT_CHANNELS)
    shown = weights[:outs, :ins]
    limit = shown.abs().max().item() or 1.0
    figure = Figure(figsize=(8, 0.3 + (1.3 if weights.dim() == 3 else 2.2) * ins), dpi=80)
    for row in range(ins):
        axes = figure.add_subplot(ins, 1, row + 1)
        if shown.dim() == 3:  # (out, in, k): each filter's line, a gap between filters
            k = shown.shape[2]
            for column in range(outs):
                axes.plot(
                    range(column * (k + 2), column * (k + 2) + k),
                    shown[column, row].numpy(),
                    color=f"C{column % 10}",
                    marker=".",
                    markersize=3,
                    linewidth=1,
                )
            axes.axhline(0, color="0.7", linewidth=0.5)
            axes.set_ylim(-1.1 * limit, 1.1 * limit)
            axes.set_xticks(
                [column * (k + 2) + (k - 1) / 2 for column in range(outs)], map(str, range(outs)), fontsize=7
            )
        else:
            axes.imshow(mosaic(shown[:, row], 8).numpy(), cmap=SIGNED, vmin=-limit, vmax=limit)
            axes.set_xticks([])
            axes.set_yticks([])
        if ins > 1:
            axes.set_ylabel(f"input {row}", fontsize=8)
    size = "x".join(str(k) for k in first.kernel_size)
    figure.suptitle(f"first conv layer: {outs} of its {weights.shape[0]} filters, kernel {size}", fontsize=9)
    figure.tight_layout()
    return figure


def feature_maps(net: nn.Module, example: torch.Tensor) -> list[torch.Tensor]:
    """The output of every conv block for one example (shape (1, ...)): after the last layer before the
    next conv (its activation, or its pooling), on the CPU, without the batch dimension."""
    layers = list(blocks_of(net))
    ends = [i - 1 for i, layer in enumerate(layers) if isinstance(layer, BLOCKS) and i > 0] + [len(layers) - 1]
    maps = []
    # Through the network's own forward pass, so that `measuring` prepares its input as for any call.
    hooks = [
        layers[i].register_forward_hook(lambda module, inputs, output: maps.append(output[0].float().cpu()))
        for i in ends
    ]
    try:
        with measuring(net):
            net(example)
    finally:
        for hook in hooks:
            hook.remove()
    return maps


def feature_maps_figure(net: nn.Module, datamodule, index: int = 0) -> Figure:
    """The test example `index` and the feature maps of every conv block (at most 16 channels each, one
    colour scale per block). A 1-D block is one image, a row per channel, stretched to the input's length
    so that positions line up; a 2-D block is its channels' images side by side, 8 to a row."""
    inputs, targets = datamodule.splits["test"]
    example = inputs[index : index + 1]
    maps = feature_maps(net, example)
    shown_input = example[0].float().cpu()
    one_d = shown_input.dim() == 2  # (channels, length)
    figure = Figure(figsize=(7, 1.2 + (1.1 if one_d else 1.5) * len(maps)), dpi=80)
    axes = figure.add_subplot(len(maps) + 1, 1, 1)
    show_input(
        axes,
        shown_input,
        datamodule,
        f"test example {index}, class "
        f"{datamodule.class_names[int(targets[index])]}; at most {MAX_CHANNELS} channels a block",
    )
    if one_d:  # on the feature maps' axis below, which stretch each block to the input's length
        length = shown_input.shape[1]
        axes.set_xlim(-0.5, length - 0.5)
        axes.set_xticks([])
        axes.set_xlabel("")
    axes.set_ylabel("input", fontsize=8)
    for block, fmap in enumerate(maps, start=1):
        axes = figure.add_subplot(len(maps) + 1, 1, block + 1)
        shown = fmap[:MAX_CHANNELS]
        if one_d:
            axes.imshow(
                shown.numpy(),
                aspect="auto",
                cmap="viridis",
                interpolation="nearest",
                extent=(-0.5, length - 0.5, len(shown) - 0.5, -0.5),
            )
            if block < len(maps):
                axes.set_xticks([])
        else:
            axes.imshow(mosaic(shown, 8).numpy(), cmap="viridis", interpolation="nearest")
            axes.set_xticks([])
        axes.set_yticks([])
        axes.set_ylabel(f"block {block}\n" + " x ".join(map(str, fmap.shape)), fontsize=8)
    figure.tight_layout()
    return figure


class FeatureMaps(EveryFewEpochs):
    """In IMAGES, every `every_n_epochs` epochs and at the end of training: the first layer's filters
    (`hierarchy/filters`) and the feature maps of the first test example after every conv block
    (`hierarchy/feature_maps`). Nothing for networks without conv blocks."""

    def draw(self, trainer, pl_module) -> None:
        if not takes_figures(trainer) or conv_features(pl_module.net) is None:
            return
        log_figure(trainer, "hierarchy/filters", filters_figure(pl_module.net), trainer.global_step)
        log_figure(
            trainer,
            "hierarchy/feature_maps",
            feature_maps_figure(pl_module.net, trainer.datamodule),
            trainer.global_step,
        )
