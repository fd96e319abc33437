"""task=forecasting (data=series): every family forecasts a panel with covariates from a CSV file through train.py,
beside the naive, seasonal-naive, ETS and ARIMA forecasts of the same test windows; then zoo-compare, zoo-predict,
zoo-export and zoo.load on the runs, and a single series from a Parquet file trained, resumed and evaluated. The
forecasters' shapes and settings are checked without training."""

import csv
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
import zoo.compare.command
import zoo.inference.evaluate
import zoo.inference.predict
import zoo.training.command
from zoo import CONFIG_DIR, models
from zoo.export.command import export

from conftest import TINY, command_here, read_metrics, run_dirs, train_cli
from own_data import sales

FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]
HORIZON = 6
PANEL = ["data.time=date", "data.target=sales", "data.id=store", f"data.horizon={HORIZON}", "data.windows=2"]
COVARIATES = ["data.future=[price]", "data.past=[visitors]", "data.static=[region]", "data.calendar=[month]"]
QUICK = [*TINY, "callbacks.compute_cost=null"]


# --- the forecasters, without training -------------------------------------------------------------------------------
INPUTS = {
    "input_shape": (7, 30),
    "lookback": 24,
    "horizon": HORIZON,
    "quantiles": [0.1, 0.5, 0.9],
    "covariates": {"past": 1, "future": 3, "static": 2},
}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_forecaster_gives_non_crossing_quantiles_in_the_targets_units(name):
    assert models.list_models("forecasting") == sorted(FAMILIES)
    torch.manual_seed(0)
    net = models.build(name, INPUTS, "forecasting")
    x = torch.randn(5, 7, 30)
    x[:, 0, :24] = x[:, 0, :24] * 1000 + 5000  # a target at its own scale: RevIN takes the network there and back
    forecast = net(x)
    assert forecast.shape == (5, HORIZON, 3)
    assert (forecast.diff(dim=-1) >= 0).all()  # 0.1 <= 0.5 <= 0.9
    assert 3000 < float(forecast[..., 1].mean().detach()) < 7000
    forecast.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    # The future covariates reach the forecast; the target's values over the horizon (zeros) are never read.
    changed = x.clone()
    changed[:, 2, 24:] += 1
    assert not torch.allclose(net.eval()(changed), net(x))
    changed = x.clone()
    changed[:, 0, 24:] = 99
    assert torch.allclose(net(changed), net(x))


def model_node(path: Path):
    cfg = OmegaConf.load(path)
    return cfg.model if path.read_text().startswith("# @package _global_") else cfg


@pytest.mark.parametrize("name", FAMILIES)
def test_the_forecasting_config_repeats_the_builders_defaults(name):
    merged = OmegaConf.to_container(
        OmegaConf.merge(
            model_node(Path(CONFIG_DIR, "model", f"{name}.yaml")),
            model_node(Path(CONFIG_DIR, "model", "for_task", "forecasting", f"{name}.yaml")),
        )
    )
    assert merged.pop("name") == name
    parameters = inspect.signature(models.build_function(name, "forecasting")).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    assert {k: v for k, v in merged.items() if v is not None} == {k: v for k, v in defaults.items() if v is not None}


@pytest.mark.parametrize(
    "name, settings, message",
    [
        (
            "cnn",
            {"depth": 2},
            "model.depth=2 and model.kernel=3 see 7 steps (the receptive field), fewer than data.lookback=24",
        ),
        ("transformer", {"patch": 30}, "model.patch=30 is longer than data.lookback=24"),
        ("rnn", {"cell": "tcn"}, "model.cell='tcn' must be one of rnn, lstm, gru"),
        ("mlp", {"pool": "mean"}, "model.pool is not a setting of model=mlp for forecasting"),
    ],
)
def test_forecaster_settings_that_cannot_work_are_one_line(name, settings, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        models.build(name, INPUTS, "forecasting", **settings)


# --- every family through train.py -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    sales().to_csv(folder / "sales.csv", index=False)
    days = np.arange(150)
    visitors = 100 + 30 * np.sin(2 * np.pi * days / 7) + np.random.default_rng(1).normal(0, 5, 150)
    pd.DataFrame({"day": pd.date_range("2024-01-01", periods=150, freq="D"), "visitors": visitors}).to_parquet(
        folder / "visitors.parquet"
    )
    return folder


@pytest.fixture(scope="module")
def panel_runs(tmp_path_factory, data_dir, files):
    """One tiny run of every family on the panel with every kind of covariate, as one multirun."""
    log_dir = tmp_path_factory.mktemp("runs")
    result = command_here(
        zoo.training.command.main,
        "-m",
        f"model={','.join(FAMILIES)}",
        "data=series",
        f"data.path={files / 'sales.csv'}",
        *PANEL,
        *COVARIATES,
        *QUICK,
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = {read_metrics(run)["model"]: run for run in run_dirs(log_dir)}
    assert sorted(found) == sorted(FAMILIES)
    return found, result.stdout, log_dir


BASELINES = ("naive", "seasonal_naive", "ets", "arima")


@pytest.mark.slow
def test_every_family_forecasts_a_panel_beside_the_classical_forecasts(panel_runs):
    found, stdout, log_dir = panel_runs
    assert (
        "target 'sales': 3 series, frequency MS (season 12); look-back 24, horizon 6, 2 test origins a series; "
        "windows: train 21, val 6, test 6; covariates: 1 past, 3 future, 2 static" in stdout
    )
    first = read_metrics(found["linear"])["measured"]
    for family, run in found.items():
        metrics = read_metrics(run)
        assert metrics["task"] == "forecasting" and metrics["samples"] == {"train": 21, "val": 6, "test": 6}, family
        assert {"test/mase", "test/smape", "test/coverage", "val/mase_best"} <= set(metrics)
        assert 0 <= metrics["test/coverage"] <= 1 and metrics["test/mase"] > 0
        assert sorted(metrics["test/by_step"]) == ["coverage", "mae", "mase", "rmse", "smape"]
        assert all(len(values) == HORIZON for values in metrics["test/by_step"].values())
        assert np.mean(metrics["test/by_step"]["mae"]) == pytest.approx(metrics["test/mae"], rel=1e-4)
        # The same classical forecasts of the same windows beside every family (fitted once in the process).
        measured = metrics["measured"]
        assert all(measured[f"{name}_test_mase"] == first[f"{name}_test_mase"] for name in BASELINES)
    # The panel's trend and season: ETS and ARIMA beat the naive forecast, none of their fits failed.
    assert first["ets_test_mase"] < first["naive_test_mase"] and first["arima_test_mase"] < first["naive_test_mase"]
    assert first["ets_fallbacks"] == first["arima_fallbacks"] == 0
    events = EventAccumulator(
        str(next((log_dir / "tensorboard").rglob("events.out.tfevents.*")).parent), size_guidance={"images": 0}
    ).Reload()
    assert {"test/forecasts", "test/error_by_step"} <= set(events.Tags()["images"])
    assert {"zoo/test_mase", "zoo/test_coverage", "zoo/ets_test_mase", "zoo/arima_test_coverage"} <= set(
        events.Tags()["scalars"]
    )


@pytest.mark.slow
def test_zoo_compare_lists_the_classical_forecasts_as_rows(panel_runs, tmp_path):
    result = command_here(zoo.compare.command.main, "--logdir", str(panel_runs[2]), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "comparison.md").read_text()
    assert "test mase (lower is better)" in table
    for name in ("naive", "seasonal naive", "ETS (statsmodels)", "ARIMA (statsmodels)", *FAMILIES):
        assert f"| {name} |" in table, name
    assert "5 finished forecasting runs" in result.stdout


def history_with_prices(horizon: int = HORIZON) -> pd.DataFrame:
    """The panel's history, and the prices of the months to forecast (no sales yet)."""
    ahead = sales().groupby("store").tail(horizon).copy()
    ahead["date"] = pd.to_datetime(ahead.date) + pd.DateOffset(months=horizon)
    ahead["date"] = ahead.date.dt.strftime("%Y-%m-%d")
    ahead[["sales", "visitors"]] = np.nan
    return pd.concat([sales(), ahead], ignore_index=True)


@pytest.mark.slow
def test_zoo_predict_forecasts_the_steps_after_each_series_with_quantiles(panel_runs, tmp_path):
    history_with_prices().to_csv(tmp_path / "history.csv", index=False)
    target = tmp_path / "forecast.csv"
    result = command_here(
        zoo.inference.predict.main,
        f"ckpt={panel_runs[0]['cnn']}",
        f"input={tmp_path / 'history.csv'}",
        f"output={target}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"zoo: forecast {HORIZON} steps of 3 series of {tmp_path / 'history.csv'}" in result.stdout
    with open(target, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["store", "date", "predicted_sales", "sales_q0.1", "sales_q0.5", "sales_q0.9"]
    assert [row["store"] for row in rows] == ["s0"] * 6 + ["s1"] * 6 + ["s2"] * 6
    assert [row["date"] for row in rows[:6]] == [f"2020-0{month}-01" for month in range(1, 7)]
    for row in rows:
        low, median, high = (float(row[f"sales_q{q}"]) for q in ("0.1", "0.5", "0.9"))
        assert low <= median <= high and float(row["predicted_sales"]) == median
    # Each series at its own scale (50, 200 and 800 a month, growing): one model, instance-normalized windows.
    medians = [
        np.mean([float(row["predicted_sales"]) for row in rows if row["store"] == s]) for s in ("s0", "s1", "s2")
    ]
    assert medians[0] < medians[1] < medians[2]


@pytest.mark.slow
def test_zoo_predict_without_the_future_covariates_is_one_line(panel_runs, tmp_path):
    history = history_with_prices()
    history = history.drop(index=history.index[-2])  # s2's fifth month ahead has no price
    history.to_csv(tmp_path / "history.csv", index=False)
    result = command_here(
        zoo.inference.predict.main, f"ckpt={panel_runs[0]['linear']}", f"input={tmp_path / 'history.csv'}"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: input {tmp_path / 'history.csv'}: series 's2' lacks 'price' at 2020-05-01, step 5 of the 6 to "
        "forecast; give the future covariates (data.future: price) in rows for the 6 steps after its last value"
    )


@pytest.mark.slow
def test_zoo_export_and_zoo_load_forecast_as_the_checkpoint(panel_runs, tmp_path, capsys):
    run = panel_runs[0]["rnn"]
    folder = export(str(run), ["onnx", "safetensors"], str(tmp_path / "export"))
    printed = capsys.readouterr().out
    assert "zoo: checked model.onnx on the test split: largest |logit difference|" in printed and "mae" in printed
    config = json.loads((folder / "config.json").read_text())
    assert config["outputs"]["shape"] == ["batch", HORIZON, 3] and config["task"] == "forecasting"
    history = history_with_prices()
    from_checkpoint = zoo.load(run).forecast(history)
    from_export = zoo.load(folder).forecast(history)
    assert np.allclose(from_checkpoint["sales_q0.9"], from_export["sales_q0.9"], rtol=1e-5)
    import onnxruntime

    window = torch.from_numpy(np.zeros((1, 7, 30), dtype=np.float32))
    window[0, 0, :24] = torch.linspace(100, 200, 24)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {"inputs": window.numpy()})[0], zoo.load(run)(window).detach(), atol=1e-3)


# --- one series from Parquet: resumed and evaluated ------------------------------------------------------------------
ONE_SERIES = ["model=mlp", "data=series", "data.time=day", "data.target=visitors", "data.horizon=7", *QUICK]
# A constant learning rate: a cosine schedule of one epoch is not the first half of one of two (tests/test_images.py)
RESUMABLE = [*ONE_SERIES, "scheduler=constant", "task.views=null"]


@pytest.mark.slow
def test_one_series_from_parquet_resumes_to_the_same_forecasts(files, tmp_path, data_dir):
    path = f"data.path={files / 'visitors.parquet'}"
    straight = train_cli(*RESUMABLE, path, log_dir=tmp_path / "straight", data_dir=data_dir)
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert "1 series, frequency D (season 7); look-back 14, horizon 7" in straight.stdout
    first = train_cli(*RESUMABLE, path, "trainer.max_epochs=1", log_dir=tmp_path / "parts", data_dir=data_dir)
    assert first.returncode == 0, first.stderr[-2000:]
    [run] = run_dirs(tmp_path / "parts")
    resumed = train_cli(*RESUMABLE, path, f"resume={run}", log_dir=tmp_path / "parts", data_dir=data_dir)
    assert resumed.returncode == 0 and "resuming from step" in resumed.stdout, resumed.stderr[-2000:]
    [alone] = run_dirs(tmp_path / "straight")
    for key in ("test/mase", "test/coverage", "val/mase_best"):
        assert read_metrics(run)[key] == pytest.approx(read_metrics(alone)[key], abs=1e-6), key
    evaluated = command_here(zoo.inference.evaluate.main, f"ckpt={run}")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"test/mase {read_metrics(run)['test/mase']:.4f}" in evaluated.stdout


@pytest.mark.slow
def test_train_py_stops_on_a_bad_series_in_one_line_before_training(tmp_path, data_dir):
    frame = sales()
    frame.loc[70, "date"] = frame.date[69]
    frame.to_csv(tmp_path / "twice.csv", index=False)
    result = train_cli(
        "data=series", f"data.path={tmp_path / 'twice.csv'}", *PANEL, log_dir=tmp_path / "logs", data_dir=data_dir
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: series 's1' has two rows at 2015-10-01 (row 70 of {tmp_path / 'twice.csv'} and 71); give one row "
        "per series and time stamp"
    )
    assert not list((tmp_path / "logs").rglob("checkpoints"))
