"""zoo-predict with a forecaster (data=series): the next `horizon` steps after the end of each series of a file.

The input is the long format the model trained on (zoo.data.series_files): each series' history, its target
values up to the forecast origin, at least `lookback` steps of it; where the model reads future covariates
(`data.future`), rows for the `horizon` steps after the history too, with the covariates and no target. The output,
in the long format, one row per series and step forecast: the series' id, the time stamp, `predicted_<target>` (the
0.5 quantile, the point forecast) and `<target>_q<quantile>` for each quantile of the model.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from zoo.data.series_files import describe_series, future_covariates, next_stamps, read_panel, stamp_text
from zoo.data.series_layout import SeriesEncoding, window
from zoo.errors import ZooError

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    import pandas as pd


def forecast_rows(predictor, frame, source) -> "pd.DataFrame":
    """The forecasts of every series in `frame` (a pandas DataFrame in the training file's layout) as a DataFrame,
    one row per series and step ahead."""
    import pandas as pd

    described = predictor.series
    encoding = SeriesEncoding.from_dict(described["encoding"])
    lookback, horizon, quantiles = described["lookback"], described["horizon"], described["quantiles"]
    panel, futures = read_panel(frame, encoding, source, history=True)
    windows, stamps = [], []
    for series in panel:
        if len(series.target) < lookback:
            raise ZooError(
                f"input {source}: {describe_series(series.id)} has {len(series.target)} steps of history; the model "
                f"reads the last {lookback} (its data.lookback) before the origin"
            )
        future = future_covariates(series, futures[series.id], encoding, horizon, source)
        windows.append(window(series, len(series.target), lookback, horizon, future))
        stamps.append(next_stamps(series.times[-1], horizon, encoding.freq, encoding.dates))
    with torch.no_grad():
        forecasts = predictor(np.stack(windows)).numpy()  # (series, horizon, quantiles)
    columns = encoding.columns
    output = pd.DataFrame(
        {
            **({columns.id: np.repeat([series.id for series in panel], horizon)} if columns.id else {}),
            columns.time: [stamp_text(stamp) for series_stamps in stamps for stamp in series_stamps],
            f"predicted_{columns.target}": forecasts[:, :, quantiles.index(0.5)].reshape(-1),
        }
    )
    for index, quantile in enumerate(quantiles):
        output[f"{columns.target}_q{quantile:g}"] = forecasts[:, :, index].reshape(-1)
    return output


def predict_series(predictor, source: Path, target: Path, write_output) -> int:
    """zoo-predict's forecasts of the series in `source` into the CSV `target`; how many series."""
    from zoo.data.table_files import read_table

    rows = read_table(source, key="input")
    if not len(rows):
        raise ZooError(f"input {source} holds no rows")
    output = forecast_rows(predictor, rows, source)
    write_output(target, lambda partial: output.to_csv(partial, index=False, float_format="%.6g"))
    return len(output) // predictor.series["horizon"]
