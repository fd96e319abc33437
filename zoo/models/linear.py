"""Logistic regression (the baseline row of the MNIST-1D paper) and its language-model counterpart,
the bigram table."""

import math

import torch
from torch import nn

from zoo.models.forecasting import Forecaster
from zoo.models.registry import refuse, register


@register("linear")
class Linear(nn.Module):
    table_input = "vector"  # what it reads of a table's rows (zoo.models.table)

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))

    def forward(self, x) -> torch.Tensor:
        return self.classifier(x)


@register("linear", task="language_model")
class Bigram(nn.Module):
    """The next symbol's logits read from a table row chosen by the current symbol alone: the
    baseline every other language model must beat. `context` is accepted and unused."""

    def __init__(self, vocab_size: int, context: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)
        nn.init.zeros_(self.table.weight)  # start from the uniform guess, log2(vocab_size) bits, not from noise

    def forward(self, x) -> torch.Tensor:
        return self.table(x)


refuse(
    "linear",
    task="translation",
    why=(
        "one linear map from a fixed-size input to a fixed-size output cannot read a sentence of any length "
        "or write one symbol at a time, each depending on those before it"
    ),
)


@register("linear", task="forecasting")
def linear_forecaster(
    input_shape: tuple[int, ...], lookback: int, horizon: int, quantiles: list[float], covariates: dict
) -> nn.Module:
    """NLinear (Zeng et al., 2023, "Are transformers effective for time series forecasting?") with quantiles: each
    step of the horizon a linear map of the look-back, normalized by its own mean and spread (RevIN, which subtracts
    what NLinear's last value does), and of the covariates (zoo.models.forecasting)."""
    return Forecaster(nn.Flatten(), input_shape[0] * lookback, lookback, horizon, quantiles, covariates)
