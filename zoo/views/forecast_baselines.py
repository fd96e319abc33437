"""The bar a forecasting network must clear: classical forecasts of the same test windows (data=series).

Networks often lose to them (on the univariate ETTh1 benchmark ARIMA is within 0.005 MSE of DLinear and ahead of
every transformer of the LTSF-Linear table; on M4's monthly series AutoETS has MASE 0.96 against seasonal naive's
1.26), so every forecasting run measures them beside itself. At each test origin each model is fitted on the
series' history before it (refitted at every origin, as statsforecast's cross_validation does; the last 20 seasons,
at least 200 steps, to bound the time) and forecasts the horizon, with a value for each of the data's quantiles:

- `naive`: the last value; its quantiles from the normal spread of the one-step changes, growing with sqrt(step);
- `seasonal_naive`: the value a season before; the spread of the seasonal changes, growing with the seasons ahead;
- `ets`: exponential smoothing with additive errors (statsmodels' ETSModel), the trend none, additive or damped and
  the season none or additive, the lowest AICc of these (statsforecast's AutoETS searches more);
- `arima`: ARIMA (statsmodels), the seasonal difference taken where the season fits twice in the history, the first
  difference where the KPSS test (5%) finds the rest not stationary, and (p, q) of (0, 1), (1, 0), (1, 1), (2, 2)
  with a seasonal MA term by the lowest AICc: a short auto-ARIMA (Hyndman and Khandakar's searches stepwise).

The quantiles of ETS and ARIMA come from their forecast variances (normal errors). Each is scored as the networks
are (zoo.tasks.forecasting), in metrics.json, the summary and HPARAMS as `<model>_test_mase` and
`<model>_test_coverage` (mae, rmse and smape too); zoo-compare lists them as rows beside the families. A fit that
fails falls back to the seasonal-naive forecast for that window, counted as `<model>_fallbacks`. Within a process
the results are kept for the same data and windows: a multirun's families share one fit. statsmodels is the
`series` extra.
"""

import hashlib
import json
import math
import os
import warnings
from statistics import NormalDist

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only

from zoo.errors import ZooError
from zoo.views.base import require

# zoo-compare's rows of them: the name in `results` -> the row's name.
FORECASTERS = {
    "naive": "naive",
    "seasonal_naive": "seasonal naive",
    "ets": "ETS (statsmodels)",
    "arima": "ARIMA (statsmodels)",
}
FITTED = ("ets", "arima")  # those statsmodels fits
_computed: dict[str, dict[str, float]] = {}  # this process's results, by data and windows


def require_series_extra() -> None:
    import importlib.util

    if importlib.util.find_spec("statsmodels") is None:
        raise ZooError(
            "the ETS and ARIMA baselines need statsmodels, which is not installed: install zoo's series extra, "
            'pip install "zoo[series]" (in a checkout: pip install -e ".[series]"), or leave them out with '
            "task.views.baselines.models=[naive,seasonal_naive]"
        )


def spread(changes: np.ndarray) -> float:
    return float(np.std(changes)) if len(changes) > 1 else 0.0


def naive(history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    """(forecast, standard deviation of each step) of the naive forecast."""
    steps = np.arange(1, horizon + 1)
    return np.full(horizon, history[-1]), spread(np.diff(history)) * np.sqrt(steps)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    if season < 2 or len(history) <= season:
        return naive(history, horizon, season)
    steps = np.arange(horizon)
    forecast = history[len(history) - season + steps % season]
    return forecast, spread(history[season:] - history[:-season]) * np.sqrt(steps // season + 1)


def aicc(result) -> float:
    value = float(result.aicc)
    return value if math.isfinite(value) else math.inf


def ets(history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = pd.Series(history, index=pd.RangeIndex(len(history)))  # statsmodels 0.15 predicts from pandas input only
    seasonal = season > 1 and len(history) >= 2 * season + 2
    best = None
    for trend, damped in ((None, False), ("add", False), ("add", True)):
        for kind in ("add", None) if seasonal else (None,):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    model = ETSModel(
                        y,
                        error="add",
                        trend=trend,
                        damped_trend=damped,
                        seasonal=kind,
                        seasonal_periods=season if kind else None,
                    )
                    result = model.fit(disp=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if best is None or aicc(result) < aicc(best):
                best = result
    if best is None:
        raise ValueError("no ETS model could be fitted")
    predicted = best.get_prediction(start=len(history), end=len(history) + horizon - 1)
    return np.asarray(predicted.predicted_mean), np.sqrt(np.asarray(predicted.forecast_variance))


def arima(history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.stattools import kpss

    seasonal = season > 1 and len(history) >= 2 * season + 2
    rest = history[season:] - history[:-season] if seasonal else history
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        differences = int(len(rest) > 8 and np.ptp(rest) > 0 and kpss(rest, nlags="auto")[1] < 0.05)
    best = None
    for p, q in ((0, 1), (1, 0), (1, 1), (2, 2)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = ARIMA(
                    history,
                    order=(p, differences, q),
                    seasonal_order=(0, 1, 1, season) if seasonal else (0, 0, 0, 0),
                    trend="c" if differences + seasonal == 0 else "n",
                ).fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
        if best is None or aicc(result) < aicc(best):
            best = result
    if best is None:
        raise ValueError("no ARIMA model could be fitted")
    predicted = best.get_forecast(horizon)
    return np.asarray(predicted.predicted_mean), np.sqrt(np.maximum(np.asarray(predicted.var_pred_mean), 0))


MODELS = {"naive": naive, "seasonal_naive": seasonal_naive, "ets": ets, "arima": arima}


def forecast_windows(datamodule, model: str) -> tuple[np.ndarray, int]:
    """(windows, horizon, quantiles): `model`'s forecasts of the test windows, and the fits that fell back."""
    from threadpoolctl import threadpool_limits

    quantiles = np.array(datamodule.quantiles)
    z = np.array([NormalDist().inv_cdf(q) for q in quantiles])
    keep = max(20 * datamodule.season, 200)
    forecasts, fallbacks = [], 0
    # One BLAS thread: statsmodels' small matrices gain nothing from more, and on a busy machine lose twentyfold.
    with threadpool_limits(1):
        for series, origin in datamodule.series_of("test"):
            history = series.target[max(0, origin - keep) : origin]
            try:
                mean, std = MODELS[model](history, datamodule.horizon, datamodule.season)
                if not (np.isfinite(mean).all() and np.isfinite(std).all()):
                    raise ValueError("not finite")
            except ValueError:
                fallbacks += 1
                mean, std = seasonal_naive(history, datamodule.horizon, datamodule.season)
            forecasts.append(mean[:, None] + std[:, None] * z[None, :])
    return np.stack(forecasts), fallbacks


def scores(datamodule, forecasts: np.ndarray) -> dict[str, float]:
    """The task's measures (zoo.tasks.forecasting) of forecasts of the test windows."""
    from zoo.data.series_layout import error_sums, measures

    _, y = datamodule.splits["test"]
    y = y.cpu().double()
    truth, scale = y[:, : datamodule.horizon], y[:, datamodule.horizon]
    forecast = torch.from_numpy(forecasts)
    median = forecast[..., datamodule.quantiles.index(0.5)]
    sums = error_sums(median, forecast[..., 0], forecast[..., -1], truth, scale)
    return {name: float(value) for name, value in measures(sums.sum(dim=1)).items()}


def baseline_scores(datamodule, models: list[str]) -> dict[str, float]:
    """Each model's test measures, `<model>_test_<measure>`, computed once a process for the same data."""
    described = datamodule.describe()
    stat = os.stat(datamodule.path)
    key = json.dumps([described["series"], datamodule.path, stat.st_size, stat.st_mtime_ns, models], sort_keys=True)
    key = hashlib.sha256(key.encode()).hexdigest()
    if key not in _computed:
        results: dict[str, float] = {}
        for model in models:
            forecasts, fallbacks = forecast_windows(datamodule, model)
            results |= {f"{model}_test_{name}": value for name, value in scores(datamodule, forecasts).items()}
            if model in FITTED:
                results[f"{model}_fallbacks"] = float(fallbacks)
        _computed[key] = results
    return dict(_computed[key])


class ForecastBaselines(L.Callback):
    """After testing, on series: the classical forecasts' measures in `results` (the module docstring)."""

    def __init__(self, models: list[str] | None = None) -> None:
        chosen = list(models if models is not None else MODELS)
        require(models=(chosen, (f"must be a list of {', '.join(MODELS)}", lambda v: set(v) <= set(MODELS))))
        if set(chosen) & set(FITTED):
            require_series_extra()
        self.models = chosen
        self.results: dict[str, float] = {}

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        from zoo.data.series import TimeSeries

        if isinstance(trainer.datamodule, TimeSeries):
            self.results = baseline_scores(trainer.datamodule, self.models)
