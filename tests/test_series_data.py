"""data=series without training: a user's CSV and Parquet files read into series on their grids, split by time, the
covariates laid out in the windows; and every bad input stopped before training, in one line naming what and where."""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from zoo.data.series import TimeSeries
from zoo.data.series_layout import season_of
from zoo.errors import ZooError

from own_data import sales

SALES = {"time": "date", "target": "sales", "id": "store"}


def series_data(path, **settings) -> TimeSeries:
    return TimeSeries(name="series", data_dir="unused", path=str(path), **{**SALES, **settings})


def test_a_panel_splits_by_time_and_lays_out_its_covariates(tmp_path, capsys):
    sales().to_parquet(tmp_path / "sales.parquet")
    data = series_data(
        tmp_path / "sales.parquet",
        future=["price"],
        past=["visitors"],
        static=["region"],
        calendar=["month"],
        horizon=6,
        windows=2,
    )
    data.setup()
    data.write_run_files(tmp_path)
    assert capsys.readouterr().out.startswith(
        f"zoo: data=series: {tmp_path / 'sales.parquet'}, target 'sales': 3 series, frequency MS (season 12); "
        "look-back 24, horizon 6, 2 test origins a series; windows: train 21, val 6, test 6; covariates: 1 past, "
        "3 future, 2 static"
    )
    assert data.describe()["series"]["channels"] == [
        "sales",
        "visitors",
        "price",
        "month_sin",
        "month_cos",
        "region=north",
        "region=south",
    ]
    # Each series' last 2 x 6 months test, the 12 before them validate, from origins 6 months apart.
    assert [origin for _, origin in data.series_of("test")[:2]] == [48, 54]
    assert [origin for _, origin in data.series_of("val")[:2]] == [36, 42]
    x, y = data.windows_of("test")
    frame = sales()
    store = frame[frame.store == "s0"].reset_index(drop=True)
    assert x.shape == (6, 7, 30) and y.shape == (6, 7)
    assert torch.allclose(x[0, 0, :24], torch.tensor(store.sales[24:48].to_numpy(), dtype=torch.float32))
    assert (x[0, 0, 24:] == 0).all() and (x[0, 1, 24:] == 0).all()  # the future of the target and past covariate
    assert torch.allclose(x[0, 2], torch.tensor(store.price[24:54].to_numpy(), dtype=torch.float32))  # price ahead
    assert torch.allclose(y[0, :6], torch.tensor(store.sales[48:54].to_numpy(), dtype=torch.float32))
    # The MASE scale: the seasonal-naive error of the training stretch (the first 36 months) alone.
    train = store.sales[:36].to_numpy()
    assert y[0, 6].item() == pytest.approx(np.mean(np.abs(train[12:] - train[:-12])), rel=1e-5)
    # Covariates are standardized by the training stretches; the target is left to the networks' RevIN.
    assert data.normalization["mean"][0] == 0 and data.normalization["std"][0] == 1
    assert data.normalization["mean"][2] == pytest.approx(frame.groupby("store").price.head(36).mean())


def test_gaps_filled_on_request_and_short_series_left_out(tmp_path, capsys):
    frame = sales(stores=3)
    frame = frame.drop(index=[5, 6]).reset_index(drop=True)  # store s0 lacks two months
    frame = frame[(frame.store != "s2") | (frame.date < "2017-01-01")]  # s2: 24 months, too short
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    data = series_data(tmp_path / "gaps.csv", fill="linear", horizon=6)
    data.setup()
    data.write_run_files(tmp_path)
    assert "2 series (1 left out, shorter than 42 steps: 's2')" in capsys.readouterr().out
    s0 = data.series[0]
    assert len(s0.target) == 60 and s0.target[5] == pytest.approx((2 * frame.sales[4] + frame.sales[5]) / 3)


def test_whole_number_steps_one_series_and_the_seasons_of_frequencies(tmp_path):
    t = np.arange(80)
    pd.DataFrame({"t": t, "y": np.sin(t / 3)}).to_csv(tmp_path / "steps.csv", index=False)
    data = TimeSeries(
        name="series", data_dir="unused", path=str(tmp_path / "steps.csv"), time="t", target="y", horizon=5
    )
    data.prepare_data()
    assert (data.encoding.freq, data.season, data.lookback, len(data.series)) == (1, 1, 10, 1)
    assert [season_of(freq) for freq in ("h", "30min", "D", "W-SUN", "MS", "ME", "QS-JAN", "YS", "2h")] == [
        24,
        48,
        7,
        52,
        12,
        12,
        4,
        1,
        12,
    ]


def test_the_bundled_series_trains_without_a_file(tmp_path):
    data = TimeSeries(name="series", data_dir="unused")
    data.prepare_data()
    assert (data.columns.target, data.encoding.freq, data.season, len(data.series[0].target)) == (
        "temperature",
        "MS",
        12,
        732,
    )


def write(tmp_path, name: str, frame: pd.DataFrame) -> str:
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return str(path)


def edited(change) -> pd.DataFrame:
    frame = sales()
    change(frame)
    return frame


# name -> (the file, the settings, the one line's text)
BAD_SERIES = {
    "time not parseable": (
        lambda tmp: write(tmp, "t.csv", edited(lambda f: f.__setitem__("date", f.date.where(f.index != 7, "soon")))),
        {},
        "data.time='date' holds 'soon' in row 8 of {path}, which is not a time stamp; give dates such as 2024-01-31",
    ),
    "duplicate time stamps": (
        lambda tmp: write(
            tmp, "d.parquet", edited(lambda f: f.__setitem__("date", f.date.where(f.index != 70, f.date[69])))
        ),
        {},
        "series 's1' has two rows at 2015-10-01 (row 70 of {path} and 71); give one row per series and time stamp",
    ),
    "a gap": (
        lambda tmp: write(tmp, "g.csv", sales().drop(index=[65, 66])),
        {},
        "series 's1' has a gap: no row at 2015-06-01 (2 of its 60 time stamps at frequency MS lack a row or a value); "
        "fill them with data.fill=zero, forward or linear, or give them",
    ),
    "a missing target value": (
        lambda tmp: write(tmp, "m.csv", edited(lambda f: f.__setitem__("sales", f.sales.where(f.index != 130)))),
        {},
        "series 's2' has no value of 'sales' at 2015-11-01 (1 of its 60 time stamps",
    ),
    "off the grid": (
        lambda tmp: write(
            tmp, "o.csv", edited(lambda f: f.__setitem__("date", f.date.where(f.index != 3, "2015-04-15")))
        ),
        {},
        "series 's0': 2015-04-15 (row 4 of {path}) is off the grid of frequency MS that starts at 2015-01-01",
    ),
    "too short": (
        lambda tmp: write(tmp, "s.csv", sales(months=40)),
        {"horizon": 6},
        "no series of {path} is long enough: the longest has 40 time stamps, and data.lookback=24 + data.horizon=6 + "
        "validation and test (2 x data.windows=1 x 6) need 42",
    ),
    "a target that is not a number": (
        lambda tmp: write(
            tmp,
            "n.csv",
            edited(lambda f: f.__setitem__("sales", f.sales.astype(object).where(f.index != 12, "tw"))),
        ),
        {},
        "data.target='sales' holds 'tw' in row 13 of {path}, which is not a number; the target of a forecast must be",
    ),
    "a covariate that is not a number": (
        lambda tmp: write(tmp, "c.csv", sales()),
        {"future": ["region"]},
        "data.future='region' holds 'north' in row 1 of {path}, which is not a number; a covariate must be numeric",
    ),
    "a static that varies": (
        lambda tmp: write(
            tmp, "v.csv", edited(lambda f: f.__setitem__("region", f.region.where(f.index != 9, "east")))
        ),
        {"static": ["region"]},
        "data.static='region': series 's0' has 2 values ('east', 'north') in {path}; a static covariate has one value",
    ),
    "a column that is not there": (
        lambda tmp: write(tmp, "a.csv", sales()),
        {"future": ["promo"]},
        "data.future='promo' is not a column of {path}; its columns are store, date, sales, price, visitors, region",
    ),
    "a frequency pandas does not know": (
        lambda tmp: write(tmp, "f.csv", sales()),
        {"freq": "monthly"},
        "data.freq='monthly' is not a pandas frequency; give one such as h, D, W, MS",
    ),
    "calendar features of steps": (
        lambda tmp: write(tmp, "k.csv", pd.DataFrame({"t": range(60), "y": range(60)})),
        {"time": "t", "target": "y", "id": None, "calendar": ["month"]},
        "data.calendar needs dates in data.time='t', which holds whole numbers",
    ),
}


@pytest.mark.parametrize("case", BAD_SERIES)
def test_a_bad_series_file_is_one_line_naming_what_and_where(case, tmp_path):
    make, settings, message = BAD_SERIES[case]
    path = make(tmp_path)
    data = series_data(path, **settings)  # the file is read when needed
    with pytest.raises(ZooError, match=re.escape(message.format(path=path))) as raised:
        data.prepare_data()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"quantiles": [0.1, 0.9]}, "data.quantiles=[0.1, 0.9] must be distinct numbers in (0, 1) that include 0.5"),
        ({"horizon": 0}, "data.horizon=0 must be a positive integer"),
        ({"time": None}, "data=series with data.path needs data.time=<the time stamp column>"),
        ({"fill": "mean"}, "data.fill='mean' must be null (gaps are errors) or one of zero, forward, linear"),
    ],
)
def test_settings_that_cannot_work_are_one_line(tmp_path, settings, message):
    sales().to_csv(tmp_path / "sales.csv", index=False)
    with pytest.raises(ZooError, match=re.escape(message)):
        series_data(tmp_path / "sales.csv", **settings).prepare_data()
