"""Convolutional networks: a classifier (Conv1d for 1-D signals, Conv2d for images, chosen from the input
shape) and a causal WaveNet-style language model.

Each classifier block is conv -> norm -> activation -> pool, or with `residual=true` He et al.'s basic block
(two convs and a shortcut) -> pool; channels double from block to block, up to `max_channels`, unless a list
is given. `stem` puts a convolution before the blocks (zoo.models.layers.conv_stem). The head is a global
average pool (`head=gap`) or a flatten (`head=flatten`) into a linear layer.
"""

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.forecasting import Forecaster
from zoo.models.layers import (
    conv_stem,
    make_activation,
    require_causal_norm,
    require_choice,
    require_dropout,
    require_positive,
)
from zoo.models.registry import refuse, register


def per_layer_kernels(kernel, channels) -> list:
    """`model.kernel` is one size for every layer or a list with one size per layer."""
    kernels = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel] * len(channels)
    if len(kernels) != len(channels):
        raise ValueError(f"model.kernel has {len(kernels)} entries but there are {len(channels)} conv layers")
    return kernels


LAYERS = {  # spatial dims -> (conv, batch norm, max pool, avg pool, adaptive avg pool)
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d),
}


class ResidualBlock(nn.Module):
    """He et al.'s basic block: conv -> norm -> activation -> conv -> norm, added to the block's input (through
    a 1x1 conv and norm where the width or the stride changes), then the activation. The shortcut lets a
    deeper network train as easily as a shallow one (ResNet1D reaches 98.6% on MNIST-1D with 26k weights)."""

    def __init__(
        self, spatial: int, width: int, out: int, kernel: int, stride: int, norm: str, activation: str
    ) -> None:
        super().__init__()
        conv, batch_norm = LAYERS[spatial][:2]
        bias = norm == "none"

        def normalized(channels: int) -> nn.Module:
            return batch_norm(channels) if norm == "batch" else nn.Identity()

        self.body = nn.Sequential(
            conv(width, out, kernel, stride=stride, padding=kernel // 2, bias=bias),
            normalized(out),
            make_activation(activation),
            conv(out, out, kernel, padding=kernel // 2, bias=bias),
            normalized(out),
        )
        self.shortcut = (
            nn.Identity()
            if width == out and stride == 1
            else nn.Sequential(conv(width, out, 1, stride=stride, bias=bias), normalized(out))
        )
        self.activation = make_activation(activation)

    def forward(self, x) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))


@register("cnn")
class CNN(nn.Module):
    table_input = "tokens"  # what it reads of a table's rows (zoo.models.table)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        dim: int = 32,
        depth: int = 4,
        channels: list[int] | None = None,
        kernel: int | list[int] = 3,
        stride: int = 1,
        norm: str = "batch",
        pool: str = "max",
        head: str = "gap",
        dropout: float = 0.0,
        activation: str = "relu",
        residual: bool = True,
        stem: int = 32,
        stem_stride: int = 1,
        max_channels: int = 64,
    ) -> None:
        super().__init__()
        if len(input_shape) - 1 not in LAYERS:
            raise ValueError(
                f"model=cnn takes (channels, length) or (channels, height, width) inputs, "
                f"not shape {tuple(input_shape)}"
            )
        if not isinstance(max_channels, int) or isinstance(max_channels, bool) or max_channels < 0:
            raise ValueError(f"model.max_channels={max_channels!r} must be a whole number of channels (0: no limit)")
        widest = max_channels or dim * 2 ** (depth - 1)
        channels = list(channels) if channels else [min(dim * 2**i, widest) for i in range(depth)]
        kernels = per_layer_kernels(kernel, channels)
        require_positive(
            dim=dim,
            depth=depth,
            stride=stride,
            **({"stem": stem} if stem else {}),
            **{f"kernel[{i}]": k for i, k in enumerate(kernels)},
            **{f"channels[{i}]": c for i, c in enumerate(channels)},
        )
        require_dropout(dropout)
        require_choice("norm", norm, ["batch", "none"])
        require_choice("pool", pool, ["max", "avg", "none"])
        require_choice("head", head, ["gap", "flatten"])
        if residual and any(k % 2 == 0 for k in kernels):
            raise ValueError(
                f"model.kernel={kernel} has an even size; model.residual=true needs odd kernels, so that a "
                f"block's output keeps the size of the input it is added to"
            )
        spatial = len(input_shape) - 1
        conv, batch_norm, max_pool, avg_pool, global_pool = LAYERS[spatial]

        layers: list[nn.Module] = []
        size, width = min(input_shape[1:]), input_shape[0]
        if stem:  # full resolution, unpooled: the blocks start from local features rather than raw points
            front, (width, *sizes) = conv_stem(input_shape, stem, stem_stride)
            layers += list(front.children())
            size = min(sizes)
        for out, k in zip(channels, kernels, strict=False):
            if residual:
                layers.append(ResidualBlock(spatial, width, out, k, stride, norm, activation))
            else:
                layers.append(conv(width, out, k, stride=stride, padding=k // 2, bias=norm == "none"))
                if norm == "batch":
                    layers.append(batch_norm(out))
                layers.append(make_activation(activation))
            size = (size + 2 * (k // 2) - k) // stride + 1  # never below 1, thanks to the padding
            if pool != "none" and size >= 2:  # stop pooling once the feature map is a single point
                layers.append((max_pool if pool == "max" else avg_pool)(2))
                size //= 2
            width = out
        self.features = nn.Sequential(*layers)
        if head == "gap":
            self.head = nn.Sequential(global_pool(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, num_classes))
        else:
            with torch.no_grad():
                flat = self.features(torch.zeros(1, *input_shape)).numel()
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, num_classes))

    def forward(self, x) -> torch.Tensor:
        return self.head(self.features(x))


class CausalConv(nn.Module):
    """One residual layer of the language model: a dilated conv that sees only the past (all its padding
    is on the left), then norm -> activation -> dropout, added to its input (through a 1x1 conv where
    the width changes)."""

    def __init__(self, width, out, kernel, dilation, norm, activation, dropout) -> None:
        super().__init__()
        self.left = (kernel - 1) * dilation
        self.conv = nn.Conv1d(width, out, kernel, dilation=dilation)
        self.norm = nn.LayerNorm(out) if norm == "layer" else nn.Identity()
        self.activation = make_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Identity() if width == out else nn.Conv1d(width, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, channels, T)
        h = self.conv(F.pad(x, (self.left, 0)))
        h = self.norm(h.transpose(1, 2)).transpose(1, 2)  # LayerNorm over the channels at each position
        return self.skip(x) + self.dropout(self.activation(h))


@register("cnn", task="language_model")
class CNNLM(nn.Module):
    """WaveNet-style: an embedding of width `dim`, then `depth` causal conv layers with dilations 1, 2, 4...
    (or one layer per entry of `channels`), so the receptive field grows exponentially with depth; a
    normalized linear readout at every position. The field, 1 + sum((kernel - 1) * dilation), must cover
    the context: a model that cannot see the whole context wastes what the data offers, so it is refused."""

    def __init__(
        self,
        vocab_size: int,
        context: int,
        dim: int = 128,
        depth: int = 6,
        channels: list[int] | None = None,
        kernel: int | list[int] = 2,
        norm: str = "layer",
        dropout: float = 0.0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        explicit = bool(channels)
        channels = list(channels) if channels else [dim] * depth
        kernels = per_layer_kernels(kernel, channels)
        require_positive(
            dim=dim,
            depth=depth,
            **{f"kernel[{i}]": k for i, k in enumerate(kernels)},
            **{f"channels[{i}]": c for i, c in enumerate(channels)},
        )
        require_dropout(dropout)
        require_causal_norm(norm)
        field = 1 + sum((k - 1) * 2**i for i, k in enumerate(kernels))
        if field < context:
            layers = f"model.channels={channels}" if explicit else f"model.depth={depth}"
            raise ValueError(
                f"{layers} and model.kernel={kernel} see {field} symbols (the receptive field), "
                f"fewer than data.context={context}; add layers or widen model.kernel"
            )
        self.embed = nn.Embedding(vocab_size, dim)
        causal: list[nn.Module] = []
        width = dim
        for i, (out, k) in enumerate(zip(channels, kernels, strict=True)):
            causal.append(CausalConv(width, out, k, 2**i, norm, activation, dropout))
            width = out
        self.layers = nn.Sequential(*causal)
        # The residual sum grows with depth; normalizing it before the readout keeps the first logits small.
        self.norm = nn.LayerNorm(width) if norm == "layer" else nn.Identity()
        self.head = nn.Linear(width, vocab_size)

    def forward(self, x) -> torch.Tensor:
        h = self.layers(self.embed(x).transpose(1, 2))  # (batch, channels, T)
        return self.head(self.norm(h.transpose(1, 2)))


refuse(
    "cnn",
    task="translation",
    why=(
        "zoo's CNNs classify a fixed-size input or predict each position of one text from the symbols before it, "
        "and zoo has no convolutional encoder-decoder (ConvS2S, Gehring et al. 2017) that reads a source while "
        "it writes"
    ),
)


class TCN(nn.Module):
    """A temporal convolutional network (Bai et al., 2018): causal conv layers with dilations 1, 2, 4...; the last
    position's features, which see the whole look-back, are the window's."""

    def __init__(self, channels: int, dim: int, depth: int, kernel: int, norm: str, dropout: float, activation) -> None:
        super().__init__()
        layers, width = [], channels
        for i in range(depth):
            layers.append(CausalConv(width, dim, kernel, 2**i, norm, activation, dropout))
            width = dim
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)[:, :, -1]


@register("cnn", task="forecasting")
def cnn_forecaster(
    input_shape: tuple[int, ...],
    lookback: int,
    horizon: int,
    quantiles: list[float],
    covariates: dict,
    dim: int = 64,
    depth: int | None = None,
    kernel: int = 3,
    norm: str = "layer",
    dropout: float = 0.1,
    activation: str = "relu",
) -> nn.Module:
    """A TCN encoder of the look-back, then the quantile head (zoo.models.forecasting). `depth` None: the fewest
    layers whose receptive field, 1 + (kernel - 1)(2^depth - 1), covers the look-back; a given depth must cover it."""
    require_positive(dim=dim, kernel=kernel)
    if kernel < 2:
        raise ValueError(f"model.kernel={kernel} must be at least 2: a kernel of 1 sees one step, however deep")
    require_dropout(dropout)
    require_choice("norm", norm, ["layer", "none"])
    if depth is None:
        depth = 1
        while 1 + (kernel - 1) * (2**depth - 1) < lookback:
            depth += 1
    require_positive(depth=depth)
    field = 1 + (kernel - 1) * (2**depth - 1)
    if field < lookback:
        raise ValueError(
            f"model.depth={depth} and model.kernel={kernel} see {field} steps (the receptive field), fewer than "
            f"data.lookback={lookback}; add layers, widen model.kernel, or leave model.depth=null"
        )
    encoder = TCN(input_shape[0], dim, depth, kernel, norm, dropout, activation)
    return Forecaster(encoder, dim, lookback, horizon, quantiles, covariates)
