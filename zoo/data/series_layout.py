"""What a network reads of a time series (zoo.data.series_files reads the files): the columns a user names, a series on
its regular grid, the calendar features, the season of a frequency, the MASE scale, and the window cut at a forecast
origin. Light: NumPy, and pandas where dates are handled.

A window is `(channels, lookback + horizon)` float32, channels in this order: the target (the look-back's values,
zeros over the horizon), the past covariates (zeros over the horizon), the future covariates and calendar features
(both stretches), the static values (constant). `SeriesEncoding` keeps what turns a file into windows, in plain
values, in every checkpoint.

How a forecast is scored is here too (`error_sums`, `measures`), shared by the forecasting task, its baselines and
zoo-export's check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

CALENDAR = {  # name -> (the time stamp's value, counted from 0, and its period)
    "minute": (lambda t: t.minute, 60),
    "hour": (lambda t: t.hour, 24),
    "dayofweek": (lambda t: t.dayofweek, 7),
    "day": (lambda t: t.day - 1, 31),
    "dayofyear": (lambda t: t.dayofyear - 1, 366),
    "weekofyear": (lambda t: t.isocalendar().week.to_numpy() - 1, 53),
    "month": (lambda t: t.month - 1, 12),
    "quarter": (lambda t: t.quarter - 1, 4),
}
# Steps in a season by a frequency's base: a day of hours or minutes, a week of days, a year of weeks, months, quarters.
SEASONS = {"min": 1440, "h": 24, "s": 60, "D": 7, "B": 5, "W": 52, "M": 12, "SM": 24, "Q": 4, "Y": 1}
ALIASES = {"MS": "M", "ME": "M", "BMS": "M", "BME": "M", "BM": "M", "QS": "Q", "QE": "Q", "BQS": "Q", "BQE": "Q"}
ALIASES |= {"YS": "Y", "YE": "Y", "A": "Y", "AS": "Y", "BYS": "Y", "BYE": "Y", "T": "min", "H": "h", "S": "s"}


def season_of(freq: str | int) -> int:
    """Steps in a season for a frequency: 24 for hourly data, 7 for daily, 52 for weekly, 12 for monthly, 4 for
    quarterly; 1 for yearly data, whole-number steps and any other frequency (then `data.season` says)."""
    if isinstance(freq, int):
        return 1
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    base = offset.rule_code.split("-")[0]
    steps = SEASONS.get(ALIASES.get(base, base), 1)
    return steps // offset.n if offset.n > 0 and steps % offset.n == 0 and steps // offset.n > 1 else 1


def mase_scale(values: np.ndarray, season: int) -> float:
    """Mean absolute error of the seasonal-naive forecast (the value a season before) over `values`; the naive
    forecast's where the season does not fit or gives 0; 1 for a constant stretch (its errors count in units)."""
    for lag in (season, 1):
        if 0 < lag < len(values):
            scale = float(np.mean(np.abs(values[lag:] - values[:-lag])))
            if scale > 0:
                return scale
    return 1.0


def calendar_features(times: np.ndarray, names: list[str]) -> np.ndarray:
    """(len(times), 2 x names): the sine and cosine of each calendar feature's place in its period."""
    if not names:
        return np.zeros((len(times), 0))
    import pandas as pd

    stamps = pd.DatetimeIndex(times)
    columns = []
    for name in names:
        value, period = CALENDAR[name]
        angle = 2 * math.pi * np.asarray(value(stamps), dtype=np.float64) / period
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1)


@dataclass
class Columns:
    """The columns a user named: the time stamp, the target, the series id (None: one series) and covariates."""

    time: str
    target: str
    id: str | None = None
    future: list[str] = field(default_factory=list)
    past: list[str] = field(default_factory=list)
    static: list[str] = field(default_factory=list)
    calendar: list[str] = field(default_factory=list)


@dataclass
class Series:
    """One series on its regular grid: its id, time stamps and target values, the past covariates' and the future
    ones' (with the calendar features) as (steps, columns), and its static values."""

    id: str
    times: np.ndarray
    target: np.ndarray
    past: np.ndarray
    future: np.ndarray
    static: list[float]


class SeriesEncoding:
    """What turns a file's rows into windows, as plain values: the columns, the grid (`freq`; `dates`, or whole-number
    steps), how gaps are filled, and each static text column's categories (one-hot: a value never seen is all zeros)."""

    def __init__(
        self, columns: Columns, freq: str | int, dates: bool, fill: str | None, categories: dict[str, list[str]]
    ) -> None:
        self.columns, self.freq, self.dates, self.fill, self.categories = columns, freq, dates, fill, categories

    def channel_names(self) -> list[str]:
        """A name for each channel of a window, in order."""
        calendar = [f"{name}_{part}" for name in self.columns.calendar for part in ("sin", "cos")]
        statics = [
            f"{column}={value}" if column in self.categories else column
            for column in self.columns.static
            for value in self.categories.get(column, [None])
        ]
        return [self.columns.target, *self.columns.past, *self.columns.future, *calendar, *statics]

    def counts(self) -> dict[str, int]:
        """Channels of each kind after the target: past, future (with the calendar's) and static."""
        past, future = len(self.columns.past), len(self.columns.future) + 2 * len(self.columns.calendar)
        return {"past": past, "future": future, "static": len(self.channel_names()) - 1 - past - future}

    def to_dict(self) -> dict:
        return {
            "columns": dict(vars(self.columns)),
            "freq": self.freq,
            "dates": self.dates,
            "fill": self.fill,
            "categories": self.categories,
        }

    @classmethod
    def from_dict(cls, saved: dict) -> SeriesEncoding:
        columns: dict = {
            key: list(value) if isinstance(value, list) else value for key, value in saved["columns"].items()
        }
        categories = {key: list(values) for key, values in saved["categories"].items()}
        return cls(Columns(**columns), saved["freq"], bool(saved["dates"]), saved["fill"], categories)


def window(series: Series, origin: int, lookback: int, horizon: int, future: np.ndarray | None = None) -> np.ndarray:
    """The network's input at `origin` (the index of the first step forecast): `(channels, lookback + horizon)`
    float32 (the module docstring). `future`, (steps, future channels): the future covariates after the series' end,
    for the steps of the horizon it lacks (zoo-predict)."""
    start, steps = origin - lookback, lookback + horizon
    known = series.future[start : origin + horizon]
    if future is not None:
        known = np.concatenate([known, future], axis=0)
    parts = [
        np.concatenate([series.target[start:origin], np.zeros(horizon)])[None],
        np.concatenate([series.past[start:origin], np.zeros((horizon, series.past.shape[1]))]).T,
        known.T,
        np.repeat(np.asarray(series.static, dtype=np.float64)[:, None], steps, axis=1),
    ]
    return np.concatenate(parts, axis=0).astype(np.float32)


def error_sums(median, low, high, truth, scale) -> torch.Tensor:
    """(6, horizon) sums over the windows, per step: absolute and squared errors of the point forecast, sMAPE terms
    (200 |y - f| / (|y| + |f|), 0 where both are 0), absolute errors divided by the series' MASE scale, true values
    inside [low, high], and points. `median`, `low`, `high`, `truth`: (windows, horizon); `scale`: (windows,)."""
    median, low, high, truth = (torch.as_tensor(t).detach().double() for t in (median, low, high, truth))
    error = (median - truth).abs()
    total = median.abs() + truth.abs()
    smape = torch.where(total > 0, 200 * error / total.clamp_min(1e-300), torch.zeros_like(error))
    inside = ((truth >= low) & (truth <= high)).double()
    scaled = error / torch.as_tensor(scale).double()[:, None]
    return torch.stack([term.sum(0) for term in (error, error**2, smape, scaled, inside, torch.ones_like(error))])


def measures(sums: torch.Tensor) -> dict[str, torch.Tensor]:
    """MAE, RMSE, sMAPE (percent), MASE and the interval's coverage of `error_sums`: per step of (6, steps) sums,
    overall of (6,) sums."""
    absolute, squared, smape, scaled, inside, count = sums
    return {
        "mae": absolute / count,
        "rmse": (squared / count).sqrt(),
        "smape": smape / count,
        "mase": scaled / count,
        "coverage": inside / count,
    }
