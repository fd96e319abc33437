"""Forecasting's sample of its output, after testing (data=series), in the IMAGES tab:

- `test/forecasts`: for the first few series, the end of the history, the test stretch's true values, the network's
  point forecast from each test origin and its interval (the outermost quantiles: 80% by default);
- `test/error_by_step`: MASE and the interval's coverage at each step of the horizon, over every test window: how
  fast the forecast degrades with the distance from its origin.
"""

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure

from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.data.series_layout import error_sums, measures
from zoo.views.base import POSITIVE_INT, measuring, require


def test_forecasts(net: torch.nn.Module, datamodule, batch: int = 1024) -> torch.Tensor:
    """The network's forecasts of the test windows, (windows, horizon, quantiles), on the CPU."""
    inputs, _ = datamodule.splits["test"]
    with measuring(net), torch.no_grad():
        return torch.cat([net(inputs[i : i + batch]).float().cpu() for i in range(0, len(inputs), batch)])


def forecast_figure(datamodule, forecasts: torch.Tensor, series_count: int = 4, history: int = 3) -> Figure:
    """The first `series_count` series: `history` look-backs before the first test origin, the truth over the test
    stretch, the median forecast and the interval from each origin."""
    windows = datamodule.series_of("test")
    names = list(dict.fromkeys(series.id for series, _ in windows))[:series_count]
    quantiles = datamodule.quantiles
    median = quantiles.index(0.5)
    figure = Figure(figsize=(9, 2.6 * len(names)))
    for row, name in enumerate(names, start=1):
        axes = figure.add_subplot(len(names), 1, row)
        own = [(index, series, origin) for index, (series, origin) in enumerate(windows) if series.id == name]
        series, first = own[0][1], own[0][2]
        start = max(0, first - history * datamodule.lookback)
        end = own[-1][2] + datamodule.horizon
        steps = np.arange(start, end)
        axes.plot(steps, series.target[start:end], color="black", linewidth=1, label="truth")
        for number, (index, _, origin) in enumerate(own):
            ahead = np.arange(origin, origin + datamodule.horizon)
            band = forecasts[index].numpy()
            axes.fill_between(
                ahead,
                band[:, 0],
                band[:, -1],
                color="tab:blue",
                alpha=0.25,
                label=f"{round(100 * (quantiles[-1] - quantiles[0]))}% interval" if number == 0 else None,
            )
            axes.plot(
                ahead, band[:, median], color="tab:blue", linewidth=1.5, label="forecast" if number == 0 else None
            )
            axes.axvline(origin, color="gray", linewidth=0.5, linestyle=":")
        axes.set_title(f"{name or datamodule.columns.target}: test origins from step {first}", fontsize=9)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="upper left")
    figure.tight_layout()
    return figure


def error_by_step_figure(datamodule, forecasts: torch.Tensor) -> Figure:
    """MASE and coverage at each step of the horizon, over the test windows."""
    _, y = datamodule.splits["test"]
    y = y.cpu()
    horizon = datamodule.horizon
    sums = error_sums(
        forecasts[..., datamodule.quantiles.index(0.5)],
        forecasts[..., 0],
        forecasts[..., -1],
        y[:, :horizon],
        y[:, horizon],
    )
    values = measures(sums)
    steps = np.arange(1, horizon + 1)
    figure = Figure(figsize=(9, 3))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    left.plot(steps, values["mase"].numpy(), marker="o")
    left.set_title("MASE by step ahead", fontsize=9)
    right.plot(steps, values["coverage"].numpy(), marker="o")
    nominal = datamodule.quantiles[-1] - datamodule.quantiles[0]
    right.axhline(nominal, color="gray", linestyle="--", label=f"nominal {nominal:.0%}")
    right.set_ylim(0, 1.05)
    right.set_title("interval coverage by step ahead", fontsize=9)
    right.legend(fontsize="small")
    for axes in (left, right):
        axes.set_xlabel("step ahead")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


class Forecasts(L.Callback):
    """After testing (forecasting): `test/forecasts` and `test/error_by_step` in IMAGES (the module docstring)."""

    def __init__(self, series: int = 4, history: int = 3) -> None:
        require(series=(series, POSITIVE_INT), history=(history, POSITIVE_INT))
        self.series, self.history = series, history

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        if not takes_figures(trainer):
            return
        datamodule = trainer.datamodule
        forecasts = test_forecasts(pl_module.net, datamodule, datamodule.eval_batch_size)
        step = trainer.global_step
        log_figure(trainer, "test/forecasts", forecast_figure(datamodule, forecasts, self.series, self.history), step)
        log_figure(trainer, "test/error_by_step", error_by_step_figure(datamodule, forecasts), step)
