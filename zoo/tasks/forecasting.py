"""Forecasting (data=series): from a window's look-back (and covariates) the network forecasts the next `horizon`
steps, a value for each of the data's quantiles (0.1, 0.5, 0.9 by default), in the target's units.

The loss is the pinball (quantile) loss of every quantile and step, each window's divided by its series' MASE scale
(zoo.data.series), so series of any scale weigh alike and the loss counts errors as MASE does. Measured on the
median (the point forecast), over every forecast point of the split, in the target's units:

- `mae`, `rmse`: mean absolute and root mean squared error;
- `smape`: the symmetric mean absolute percentage error, 200 |y - f| / (|y| + |f|), in percent (M4's; 0 where both
  are 0);
- `mase`: the absolute error divided by the series' in-sample seasonal-naive error (M4's convention; below 1
  beats the seasonal-naive forecast of the training stretch), averaged over the points;
- `coverage`: the share of true values between the outermost quantiles (the 80% interval by default).

The best checkpoint has the lowest validation MASE. On the test split each metric is also measured per step of the
horizon: metrics.json's `test/by_step`. The views (conf/task/forecasting.yaml): forecasts drawn for a few series,
and the naive, seasonal-naive, ETS and ARIMA forecasts of the same test windows (zoo/views/forecasts.py).
"""

from typing import ClassVar

import torch
from torchmetrics import Metric

from zoo.data.series_layout import error_sums, measures
from zoo.tasks.base import Task, WeightedMean

MEASURES = ("mae", "rmse", "smape", "mase", "coverage")  # zoo.data.series_layout.measures


class ForecastErrors(Metric):
    """Sums over every forecast point since the last reset, per step of the horizon: absolute and squared errors,
    sMAPE terms, scaled absolute errors, points inside the interval, and points; exact over any number of batches
    and processes."""

    full_state_update = False
    sums: torch.Tensor

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.add_state("sums", torch.zeros(6, horizon, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, median: torch.Tensor, low: torch.Tensor, high: torch.Tensor, truth, scale) -> None:
        """(batch, horizon) each: the point forecast, the interval's ends, the truth; (batch,) the MASE scales."""
        self.sums.add_(error_sums(median, low, high, truth, scale).to(self.sums.device))

    def compute(self) -> torch.Tensor:
        return self.sums


def pinball(forecast: torch.Tensor, truth: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Per window, the pinball loss of every quantile and step, averaged: (batch,)."""
    error = truth.unsqueeze(-1) - forecast
    return torch.maximum(quantiles * error, (quantiles - 1) * error).mean(dim=(1, 2))


class Forecasting(Task):
    name = "forecasting"
    metrics = ("loss", *MEASURES)
    smooths_labels: ClassVar[bool] = False  # a pinball loss: there are no classes to smooth
    monitor, mode = "val/mase", "min"
    headline = "test/mase"
    hp_metrics: ClassVar[tuple[str, ...]] = (
        "test/mase",
        "test/coverage",
        "val/mase_best",
        "test/mae",
        "test/rmse",
        "test/smape",
        "test/loss",
    )

    def __init__(
        self,
        net,
        optimizer=None,
        scheduler=None,
        label_smoothing: float = 0.0,
        hparams: dict | None = None,
        views: dict | None = None,
    ) -> None:
        series = (hparams or {})["dataset"]["series"]
        self.horizon = int(series["horizon"])
        super().__init__(net, optimizer, scheduler, label_smoothing, hparams, views)
        self.quantiles: torch.Tensor
        self.register_buffer("quantiles", torch.tensor(series["quantiles"], dtype=torch.float32), persistent=False)
        self.median = list(series["quantiles"]).index(0.5)

    def make_metrics(self) -> dict[str, Metric]:
        return {"loss": WeightedMean(), "errors": ForecastErrors(self.horizon)}

    def derived(self, values) -> dict[str, torch.Tensor]:
        return {name: value.float() for name, value in measures(values["errors"].sum(dim=1)).items()}

    @classmethod
    def example_input(cls, model_inputs) -> torch.Tensor:
        return torch.zeros(2, *model_inputs["input_shape"])

    def step(self, batch, stage) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        truth, scale = y[:, : self.horizon], y[:, self.horizon]
        forecast = self(x)
        loss = (pinball(forecast, truth, self.quantiles.to(forecast.dtype)) / scale).mean()
        metrics = self.metrics_of(stage)
        metrics["loss"].update(loss, weight=len(y))
        metrics["errors"].update(forecast[..., self.median], forecast[..., 0], forecast[..., -1], truth, scale)
        return loss, forecast

    def _log_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        values = super()._log_epoch(stage)
        if stage == "test":  # each step of the horizon, for metrics.json (not the logger: a chart a step is noise)
            for name, steps in measures(values["errors"]).items():
                for step, value in enumerate(steps.tolist(), start=1):
                    self.log(f"test/by_step/{name}/{step}", value, logger=False)
        return values

    @classmethod
    def details(cls, metrics: dict[str, float]) -> dict:
        """metrics.json's `test/by_step`: each measure per step of the horizon, from the test's logged values."""
        steps: dict[str, dict[int, float]] = {}
        for key, value in metrics.items():
            if key.startswith("test/by_step/"):
                name, step = key.removeprefix("test/by_step/").split("/")
                steps.setdefault(name, {})[int(step)] = value
        found = {name: [values[step] for step in sorted(values)] for name, values in steps.items()}
        return {"test/by_step": found} if found else {}
