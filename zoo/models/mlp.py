"""Multilayer perceptrons: `depth` hidden layers of `dim` units, over the flattened input (classifier)
or over the embeddings of the last `context` symbols (Bengio et al. 2003's neural language model)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.forecasting import Forecaster
from zoo.models.layers import make_activation, require_causal_norm, require_choice, require_dropout, require_positive
from zoo.models.registry import refuse, register

NORMS = {"none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def hidden_layers(width, dim, depth, dropout, norm, activation) -> list[nn.Module]:
    """`depth` times linear -> norm -> activation -> dropout, from `width` inputs to `dim` units."""
    require_positive(dim=dim, depth=depth)
    require_dropout(dropout)
    require_choice("norm", norm, NORMS)
    layers: list[nn.Module] = []
    norm_layer = NORMS[norm]
    for _ in range(depth):
        layers.append(nn.Linear(width, dim))
        if norm_layer is not None:
            layers.append(norm_layer(dim))
        layers += [make_activation(activation), nn.Dropout(dropout)]
        width = dim
    return layers


@register("mlp")
class MLP(nn.Module):
    table_input = "vector"  # what it reads of a table's rows (zoo.models.table)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        dim: int = 256,
        depth: int = 2,
        dropout: float = 0.1,
        norm: str = "batch",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        layers = hidden_layers(math.prod(input_shape), dim, depth, dropout, norm, activation)
        self.layers = nn.Sequential(nn.Flatten(), *layers, nn.Linear(dim, num_classes))

    def forward(self, x) -> torch.Tensor:
        return self.layers(x)


@register("mlp", task="language_model")
class MLPLM(nn.Module):
    """Bengio et al. 2003: the symbol after position t is predicted from the embeddings of the `context`
    symbols ending at t, concatenated. Before the start of the text the window holds a pad symbol with
    its own learned embedding (id `vocab_size`, one row past the vocabulary), so no real symbol stands in
    for "nothing yet". All positions are computed at once by unfolding the padded sequence into windows."""

    def __init__(
        self,
        vocab_size: int,
        context: int,
        embed: int = 16,
        dim: int = 256,
        depth: int = 2,
        dropout: float = 0.2,
        norm: str = "layer",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        require_positive(embed=embed)
        require_causal_norm(norm)
        self.context = context
        self.pad = vocab_size
        self.embed = nn.Embedding(vocab_size + 1, embed)
        layers = hidden_layers(context * embed, dim, depth, dropout, norm, activation)
        self.layers = nn.Sequential(*layers, nn.Linear(dim, vocab_size))

    def forward(self, x) -> torch.Tensor:
        padded = F.pad(x, (self.context - 1, 0), value=self.pad)
        windows = padded.unfold(1, self.context, 1)  # (batch, T, context): the symbols ending at each t
        return self.layers(self.embed(windows).flatten(2))


refuse(
    "mlp",
    task="translation",
    why=(
        "an MLP reads a fixed number of inputs and gives a fixed number of outputs, while a translation reads"
        " a sentence of any length and writes another, one symbol at a time, each depending on those before "
        "it"
    ),
)


@register("mlp", task="forecasting")
def mlp_forecaster(
    input_shape: tuple[int, ...],
    lookback: int,
    horizon: int,
    quantiles: list[float],
    covariates: dict,
    dim: int = 256,
    depth: int = 2,
    dropout: float = 0.1,
    norm: str = "layer",
    activation: str = "relu",
) -> nn.Module:
    """A plain MLP over the flattened look-back of every channel (the fully connected stack N-BEATS and N-HiTS build
    on, without their residual blocks), then the quantile head (zoo.models.forecasting)."""
    encoder = nn.Sequential(
        nn.Flatten(), *hidden_layers(input_shape[0] * lookback, dim, depth, dropout, norm, activation)
    )
    return Forecaster(encoder, dim, lookback, horizon, quantiles, covariates)
