"""Time series to forecast: `data=series data.path=<file.csv|file.parquet> data.time=<column> data.target=<column>`
(optionally `data.id=<column>` for a panel of several series, and covariates). Without `data.path`, the bundled
series: the monthly sea surface temperature off Peru (El Nino, NOAA's ERSST, 1950-2010, public domain), which
statsmodels ships among its data sets, in zoo/data/elnino.csv.

The file is read and checked by zoo.data.series_files. Each series is split by time, never shuffled:

    | training stretch ... | validation: horizon x windows | test: horizon x windows |

The test stretch holds `data.windows` forecast origins, one every `data.horizon` steps, each forecasting the
`horizon` steps after it (a rolling-origin backtest, statsforecast's and neuralforecast's cross_validation with
step_size = h); the validation stretch before it holds as many, and chooses the best checkpoint. The network trains
on every window of the training stretch (look-back and horizon inside it, one origin a step). A window's look-back
may reach back into the stretch before its own: what was known at the origin.

`data.lookback` defaults to max(2 x horizon, 2 x season): two seasons and two horizons of history. A series shorter
than lookback + horizon + 2 x windows x horizon cannot give a training window and its validation and test
origins: it is left out and counted (an error where none is long enough).

Statistics come from the training stretch alone: each covariate's mean and standard deviation (the channels'
normalization), and each series' MASE scale, the mean absolute error of the seasonal-naive forecast over its
training stretch (the M4 convention's in-sample scale; the naive one's where the season is 1 or longer than the
stretch). The target is not normalized here: the networks normalize each window by its own look-back (RevIN,
zoo.models.forecasting), so series of any scale share one model.

Targets are `(horizon + 1)` values per window: the horizon's true values, then the series' MASE scale.
"""

from importlib import resources
from pathlib import Path

import numpy as np
import torch

from zoo.data.base import InMemoryDataModule
from zoo.data.series_files import fit_encoding, read_panel
from zoo.data.series_layout import Columns, Series, mase_scale, season_of, window
from zoo.data.table_files import read_table
from zoo.errors import ZooError

BUNDLED = Columns(time="month", target="temperature")


def bundled_path() -> str:
    """zoo/data/elnino.csv, wherever zoo is installed."""
    return str(resources.files("zoo.data") / "elnino.csv")


def positive_int(key: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ZooError(f"data.{key}={value!r} must be a positive integer")
    return value


class TimeSeries(InMemoryDataModule):
    """Windows of the series in `path` for forecasting `target` `horizon` steps ahead (the module docstring)."""

    task = "forecasting"
    class_names: tuple = ()
    num_classes = 0

    def __init__(
        self,
        path: str | None = None,
        time: str | None = None,
        target: str | None = None,
        id: str | None = None,
        future: list[str] | None = None,
        past: list[str] | None = None,
        static: list[str] | None = None,
        calendar: list[str] | None = None,
        freq: str | int | None = None,
        season: int | None = None,
        fill: str | None = None,
        horizon: int = 12,
        lookback: int | None = None,
        windows: int = 1,
        quantiles: list[float] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if path and (not time or not target):
            raise ZooError(
                "data=series with data.path needs data.time=<the time stamp column> and data.target=<the column to "
                "forecast>, e.g. data.path=sales.csv data.time=date data.target=sales"
            )
        self.bundled = not path
        self.path = str(Path(path).expanduser()) if path else bundled_path()
        self.columns = Columns(
            time=time or BUNDLED.time,
            target=target or BUNDLED.target,
            id=id,
            future=list(future or []),
            past=list(past or []),
            static=list(static or []),
            calendar=list(calendar or []),
        )
        self.freq, self.fill = freq, fill
        self.season_setting = None if season is None else positive_int("season", season)
        self.horizon = positive_int("horizon", horizon)
        self.lookback_setting = None if lookback is None else positive_int("lookback", lookback)
        self.windows = positive_int("windows", windows)
        self.quantiles = sorted(float(q) for q in (quantiles if quantiles is not None else [0.1, 0.5, 0.9]))
        if (
            0.5 not in self.quantiles
            or not all(0 < q < 1 for q in self.quantiles)
            or len(set(self.quantiles)) < len(self.quantiles)
        ):
            raise ZooError(
                f"data.quantiles={list(quantiles or [])} must be distinct numbers in (0, 1) that include 0.5, the "
                f"point forecast, e.g. [0.1,0.5,0.9] for an 80% interval"
            )
        self.was_read = False

    # --- reading ---------------------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.read()

    def read(self) -> None:
        """Read and check the file, cut each series' windows and compute the training stretch's statistics: once,
        when the data is first needed (the network is built from what it declares)."""
        if self.was_read:
            return
        frame = read_table(self.path)
        self.encoding = fit_encoding(frame, self.columns, self.freq, self.fill, self.path)
        panel, _ = read_panel(frame, self.encoding, self.path)
        self.season = self.season_setting or season_of(self.encoding.freq)
        self.lookback = self.lookback_setting or max(2 * self.horizon, 2 * self.season)
        needed = self.lookback + self.horizon + 2 * self.windows * self.horizon
        self.series = [series for series in panel if len(series.target) >= needed]
        self.skipped = [series.id for series in panel if len(series.target) < needed]
        if not self.series:
            longest = max(len(series.target) for series in panel)
            raise ZooError(
                f"no series of {self.path} is long enough: the longest has {longest} time stamps, and "
                f"data.lookback={self.lookback} + data.horizon={self.horizon} + validation and test (2 x "
                f"data.windows={self.windows} x {self.horizon}) need {needed}; shorten data.lookback or "
                f"data.horizon, or lower data.windows"
            )
        self.origins: dict[str, list[tuple[int, int]]] = {"train": [], "val": [], "test": []}
        self.scales = []
        for index, series in enumerate(self.series):
            length, stretch = len(series.target), self.windows * self.horizon
            train_end = length - 2 * stretch
            self.origins["train"] += [(index, t) for t in range(self.lookback, train_end - self.horizon + 1)]
            for split, start in (("val", train_end), ("test", train_end + stretch)):
                self.origins[split] += [(index, start + k * self.horizon) for k in range(self.windows)]
            self.scales.append(mase_scale(series.target[:train_end], self.season))
        self.statistics = self.channel_statistics()
        self.normalization = self.statistics
        self.rows_trained = torch.arange(len(self.origins["train"]))
        if self.train_fraction != 1:
            generator = torch.Generator().manual_seed(self.seed)
            count = max(1, round(len(self.rows_trained) * self.train_fraction))
            self.rows_trained = torch.randperm(len(self.rows_trained), generator=generator)[:count].sort().values
        self.was_read = True

    def channel_statistics(self) -> dict[str, list[float]]:
        """Each channel's mean and standard deviation over the training stretches: 0 and 1 for the target (the
        networks normalize each window by its own look-back), those of the values for each covariate."""
        ends = [len(series.target) - 2 * self.windows * self.horizon for series in self.series]
        covariates = np.concatenate(
            [np.concatenate([s.past[:end], s.future[:end]], axis=1) for s, end in zip(self.series, ends, strict=True)]
        )
        statics = np.array([series.static for series in self.series], dtype=np.float64).reshape(len(self.series), -1)
        values = [covariates[:, i] for i in range(covariates.shape[1])] + [
            statics[:, i] for i in range(statics.shape[1])
        ]
        means = [float(np.mean(v)) for v in values]
        stds = [float(np.std(v)) if float(np.std(v)) > 1e-12 else 1.0 for v in values]
        return {"mean": [0.0, *means], "std": [1.0, *stds]}

    def window_shape(self) -> tuple[int, ...]:
        """(channels, lookback + horizon): a window as the network reads it."""
        self.read()
        return (len(self.statistics["mean"]), self.lookback + self.horizon)

    input_shape = property(window_shape)  # known once the file has been read: asking for it reads the file

    def windows_of(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A split's windows as the network reads them before normalization, and their targets (the horizon's
        values, then the series' MASE scale)."""
        self.read()
        origins = self.origins[split]
        if split == "train":
            origins = [origins[i] for i in self.rows_trained.tolist()]
        x = np.stack([window(self.series[s], t, self.lookback, self.horizon) for s, t in origins])
        y = np.stack(
            [np.append(self.series[s].target[t : t + self.horizon], self.scales[s]) for s, t in origins]
        ).astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(y)

    # --- the data contract --------------------------------------------------------------------------------------
    @property
    def model_inputs(self) -> dict:
        self.read()
        return {
            "input_shape": self.input_shape,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "quantiles": list(self.quantiles),
            "covariates": self.encoding.counts(),
        }

    def describe(self) -> dict:
        """What a checkpoint keeps: the encoding and the windows' sizes, with which zoo-predict reads a history."""
        self.read()
        return {
            "name": self.name,
            "task": self.task,
            "model_inputs": {**self.model_inputs, "input_shape": list(self.input_shape)},
            "input_shape": list(self.input_shape),
            "class_names": [],
            "pixel_max": None,
            **self.statistics,
            "path": self.path,
            "series": {
                "encoding": self.encoding.to_dict(),
                "channels": self.encoding.channel_names(),
                "lookback": self.lookback,
                "horizon": self.horizon,
                "season": self.season,
                "windows": self.windows,
                "quantiles": list(self.quantiles),
            },
        }

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training and test windows, before normalization, and their targets."""
        return (*self.windows_of("train"), *self.windows_of("test"))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.read()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        shape = (1, -1, 1)
        mean = torch.tensor(self.statistics["mean"]).view(shape)
        std = torch.tensor(self.statistics["std"]).view(shape)
        self.samples_per_epoch = len(self.origins["train"])
        self.indices = {"train": self.rows_trained, "val": torch.arange(len(self.origins["val"]))}
        splits = {}
        for split in ("train", "val", "test"):
            x, y = self.windows_of(split)
            splits[split] = (((x - mean) / std).to(device), y.to(device))
        self.splits = splits

    def check_matches(self, saved: dict) -> None:
        self.read()
        series = saved.get("series") or {}
        if series and series.get("encoding") != self.encoding.to_dict():
            raise ZooError(
                f"{self.path} no longer gives the series the model was trained on (its columns, frequency or static "
                f"categories changed); evaluate on the file it was trained on"
            )

    def series_of(self, split: str) -> list[tuple[Series, int]]:
        """Each window of `split` as (its series, its origin), in the split's order (the views draw from them)."""
        self.read()
        return [(self.series[s], t) for s, t in self.origins[split]]

    def write_run_files(self, folder) -> None:
        self.read()
        counts = self.encoding.counts()
        needed = self.lookback + self.horizon + 2 * self.windows * self.horizon
        skipped = (
            f" ({len(self.skipped)} left out, shorter than {needed} steps: {', '.join(map(repr, self.skipped[:5]))}"
            f"{' ...' * (len(self.skipped) > 5)})"
            if self.skipped
            else ""
        )
        source = "the bundled El Nino series" if self.bundled else self.path
        print(
            f"zoo: data=series: {source}, target {self.columns.target!r}: {len(self.series)} series{skipped}, "
            f"frequency {self.encoding.freq} (season {self.season}); look-back {self.lookback}, horizon "
            f"{self.horizon}, {self.windows} test origin{'s' * (self.windows > 1)} a series; windows: train "
            f"{len(self.rows_trained):,}, val {len(self.origins['val']):,}, test {len(self.origins['test']):,}; "
            f"covariates: {counts['past']} past, {counts['future']} future, {counts['static']} static",
            flush=True,
        )
