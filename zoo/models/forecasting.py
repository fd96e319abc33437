"""What every family's forecaster shares (each family registers its own, `task="forecasting"`, with its encoder).

A forecaster reads a window, `(batch, channels, lookback + horizon)` as zoo.data.series_files lays it out (the
target, past covariates, future covariates, static values), and gives `(batch, horizon, quantiles)` in the target's
own units:

1. **Instance normalization** (RevIN, Kim et al., 2022; PatchTST's): the target's look-back is normalized by its own
   mean and standard deviation, and the forecast taken back by them, so one network serves series of any scale and
   level, and a level the training stretch never reached is no extrapolation.
2. **The family's encoder** reads the look-back of every channel, `(batch, channels, lookback)`, into a vector.
3. **The head**, a linear map from that vector, the future covariates over the horizon and the static values, gives
   each step's median and, for the other quantiles, positive distances from it, added up outwards (a softplus
   each): the quantiles cannot cross, and 0.5 is the point forecast.

Direct multi-step: every step of the horizon comes out at once, none fed back (the MQ-CNN, N-BEATS and PatchTST
way), so errors do not compound over the horizon.
"""

import torch
import torch.nn.functional as F
from torch import nn


class QuantileHead(nn.Module):
    """A vector -> (horizon, quantiles), non-crossing: the median, and softplus distances added outwards from it."""

    def __init__(self, width: int, horizon: int, quantiles: list[float]) -> None:
        super().__init__()
        self.horizon, self.quantiles = horizon, list(quantiles)
        self.median = self.quantiles.index(0.5)
        self.linear = nn.Linear(width, horizon * len(self.quantiles))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.linear(features).view(-1, self.horizon, len(self.quantiles))
        median = out[..., self.median : self.median + 1]
        gaps = F.softplus(out)
        below = gaps[..., : self.median].flip(-1).cumsum(-1).flip(-1)  # the farthest quantile the largest distance
        above = gaps[..., self.median + 1 :].cumsum(-1)
        return torch.cat([median - below, median, median + above], dim=-1)


class Forecaster(nn.Module):
    """RevIN, the family's `encoder` ((batch, channels, lookback) -> (batch, width)) and the quantile head (the module
    docstring). `covariates`: how many channels of each kind follow the target (past, future, static)."""

    def __init__(
        self,
        encoder: nn.Module,
        width: int,
        lookback: int,
        horizon: int,
        quantiles: list[float],
        covariates: dict[str, int],
    ) -> None:
        super().__init__()
        self.encoder, self.lookback, self.horizon = encoder, lookback, horizon
        self.past, self.future, self.static = (int(covariates.get(kind, 0)) for kind in ("past", "future", "static"))
        self.head = QuantileHead(width + self.future * horizon + self.static, horizon, quantiles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        history = x[:, :, : self.lookback]
        target = history[:, :1]
        mean = target.mean(dim=-1, keepdim=True)
        std = (target.var(dim=-1, keepdim=True, unbiased=False) + 1e-5).sqrt()
        history = torch.cat([(target - mean) / std, history[:, 1:]], dim=1)
        parts = [self.encoder(history)]
        if self.future:
            start = 1 + self.past
            parts.append(x[:, start : start + self.future, self.lookback :].flatten(1))
        if self.static:
            parts.append(x[:, x.shape[1] - self.static :, 0])
        out = self.head(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        return out * std + mean  # (batch, horizon, quantiles), back in the target's units
