"""A user's time series as a file, in the long format forecasting libraries share (neuralforecast's `unique_id, ds,
y`): one row per series and time stamp, a target column, optional covariates. Read with pandas (zoo.data.table_files:
CSV or Parquet), checked, and brought onto a regular grid of time stamps. Each problem is one line that names what
and where, before anything trains. Light (pandas and NumPy, imported where used): zoo-predict reads its input here.

- The time column holds dates (parsed by pandas) or whole numbers (steps). The frequency is inferred from the time
  stamps (pandas' infer_freq, else the most common step), or `data.freq`; the season length follows from it
  (zoo.data.series_layout.season_of), or `data.season`.
- A series is the rows of one `data.id` value (the whole file without `data.id`). Its time stamps must be unique
  and on the grid; a missing time stamp or target value stops the read, naming it, unless `data.fill` says how to
  fill it (zero, forward, linear).
- Covariates: `future` columns are known ahead (a price, a promotion, a holiday), `past` columns are observed only
  (known up to the forecast origin), `static` columns hold one value per series (numbers, or text: one-hot), and
  `calendar` features (hour, dayofweek, month...) are computed from the time stamps as sine and cosine, known ahead.

What a network reads of the series (its windows) is zoo.data.series_layout.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from zoo.data.series_layout import CALENDAR, Columns, Series, SeriesEncoding, calendar_features
from zoo.data.table_files import category_text
from zoo.errors import ZooError

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    import pandas as pd

FILLS = ("zero", "forward", "linear")


def where(path, row: int) -> str:
    return f"row {row + 1} of {path}"


def parse_times(values, column: str, path) -> tuple[np.ndarray, bool]:
    """(time stamps, whether they are dates): dates parsed by pandas, or whole numbers as steps."""
    import pandas as pd
    from pandas.api import types

    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ZooError(f"data.time={column!r} is empty in {where(path, row)}; every row needs its time stamp")
    if types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64), False
    if types.is_float_dtype(values) and bool((values == values.round()).all()):
        return values.to_numpy(dtype=np.int64), False
    try:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    except (ValueError, TypeError):
        parsed = pd.Series(pd.NaT, index=values.index)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ZooError(
            f"data.time={column!r} holds {values.iloc[row]!r} in {where(path, row)}, which is not a time stamp; "
            f"give dates such as 2024-01-31 or 2024-01-31 13:00, or whole numbers (steps)"
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed.to_numpy(dtype="datetime64[ns]"), True


def numbers_of(values, key: str, column: str, path) -> np.ndarray:
    """A column as float64 (missing values NaN), or one line naming its first value that is not a number."""
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(values):
        return values.astype("float64").to_numpy()
    converted = pd.to_numeric(values, errors="coerce")
    bad = (converted.isna() & values.notna()).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise ZooError(
            f"{key}={column!r} holds {values.iloc[row]!r} in {where(path, row)}, which is not a number; "
            f"{'the target of a forecast' if key == 'data.target' else 'a covariate'} must be numeric"
        )
    return converted.to_numpy(dtype="float64")


def infer_freq(times: list[np.ndarray], dates: bool, freq: str | int | None, path) -> str | int:
    """The panel's frequency: `freq` where given, else pandas' guess from the series (the most common), else the most
    common step between time stamps."""
    import pandas as pd

    if freq is not None:
        if not dates:
            if not (isinstance(freq, int) and freq > 0):
                raise ZooError(f"data.freq={freq!r}: the time stamps are whole numbers, so it is a whole step, e.g. 1")
            return freq
        from pandas.tseries.frequencies import to_offset

        try:
            to_offset(str(freq))
        except ValueError:
            raise ZooError(
                f"data.freq={freq!r} is not a pandas frequency; give one such as h, D, W, MS (month starts), "
                f"ME (month ends), QS or YS"
            ) from None
        return str(freq)
    if dates:
        guesses: dict[str, int] = {}
        for stamps in times:
            if len(stamps) >= 3:
                with warnings.catch_warnings():  # pandas 3 warns that a later pandas returns an offset: either works
                    warnings.simplefilter("ignore")
                    guess = pd.infer_freq(pd.DatetimeIndex(stamps))
                guess = getattr(guess, "freqstr", guess)
                if guess:
                    guesses[guess] = guesses.get(guess, 0) + 1
        if guesses:
            return max(guesses, key=lambda guess: guesses[guess])
    steps = np.concatenate([np.diff(stamps) for stamps in times if len(stamps) > 1] or [np.array([], dtype=int)])
    if not len(steps):
        raise ZooError(f"{path}: no series has two time stamps, so the frequency is unknown; give data.freq")
    values, counts = np.unique(steps, return_counts=True)
    step = values[np.argmax(counts)]
    if not dates:
        return int(step)
    from pandas.tseries.frequencies import to_offset

    return to_offset(pd.Timedelta(step)).freqstr


def grid(first, last, freq: str | int, dates: bool) -> np.ndarray:
    """Every time stamp from `first` to `last` at `freq`."""
    if not dates:
        return np.arange(int(first), int(last) + 1, int(freq), dtype=np.int64)
    import pandas as pd

    return pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq=freq).to_numpy(dtype="datetime64[ns]")


def next_stamps(last, count: int, freq: str | int, dates: bool) -> np.ndarray:
    """The `count` time stamps after `last` at `freq`: a forecast's."""
    if not dates:
        return int(last) + int(freq) * np.arange(1, count + 1, dtype=np.int64)
    import pandas as pd

    return pd.date_range(pd.Timestamp(last), periods=count + 1, freq=freq)[1:].to_numpy(dtype="datetime64[ns]")


def stamp_text(value) -> str:
    import pandas as pd

    if isinstance(value, (int, np.integer)):
        return str(int(value))
    stamp = pd.Timestamp(value)
    return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)


def filled(values: np.ndarray, how: str) -> np.ndarray:
    """`values` (steps x columns) with NaN filled: by zero, the last value before (the first after, at the start) or
    a straight line between the values around (flat beyond them)."""
    import pandas as pd

    frame = pd.DataFrame(values)
    if how == "zero":
        frame = frame.fillna(0.0)
    elif how == "forward":
        frame = frame.ffill().bfill()
    else:
        frame = frame.interpolate(limit_direction="both")
    return frame.to_numpy(dtype="float64")


def describe_series(series: str | None) -> str:
    return f"series {series!r}" if series else "the series"


def check_columns(frame, columns: Columns, path) -> None:
    named = [("data.time", columns.time), ("data.target", columns.target)]
    named += [("data.id", columns.id)] if columns.id else []
    named += [(f"data.{kind}", column) for kind in ("future", "past", "static") for column in getattr(columns, kind)]
    for key, column in named:
        if column not in frame.columns:
            raise ZooError(
                f"{key}={column!r} is not a column of {path}; its columns are {', '.join(map(str, frame.columns))}"
            )
    unknown = [name for name in columns.calendar if name not in CALENDAR]
    if unknown:
        raise ZooError(f"data.calendar names {unknown[0]!r}; the calendar features are {', '.join(CALENDAR)}")
    used = [column for _, column in named]
    twice = sorted({column for column in used if used.count(column) > 1})
    if twice:
        raise ZooError(f"column {twice[0]!r} is named twice among data.time, data.target, data.id and the covariates")


def fit_encoding(frame, columns: Columns, freq, fill: str | None, path) -> SeriesEncoding:
    """The encoding of a file: its frequency and the static text columns' categories."""
    from pandas.api import types

    check_columns(frame, columns, path)
    if fill is not None and fill not in FILLS:
        raise ZooError(f"data.fill={fill!r} must be null (gaps are errors) or one of {', '.join(FILLS)}")
    times, dates = parse_times(frame[columns.time], columns.time, path)
    if columns.calendar and not dates:
        raise ZooError(f"data.calendar needs dates in data.time={columns.time!r}, which holds whole numbers")
    ids = series_ids(frame, columns)
    order = np.lexsort((times, ids)) if columns.id else np.argsort(times, kind="stable")
    stamps = [times[order][ids[order] == name] for name in dict.fromkeys(ids[order])]
    categories = {
        column: sorted({text for text in map(category_text, frame[column].tolist()) if text is not None})
        for column in columns.static
        if not types.is_numeric_dtype(frame[column]) or types.is_bool_dtype(frame[column])
    }
    return SeriesEncoding(columns, infer_freq(stamps, dates, freq, path), dates, fill, categories)


def series_ids(frame, columns: Columns) -> np.ndarray:
    if not columns.id:
        return np.full(len(frame), "", dtype=object)
    return np.array([str(category_text(value)) for value in frame[columns.id].tolist()], dtype=object)


def read_panel(
    frame, encoding: SeriesEncoding, path, history: bool = False
) -> tuple[list[Series], dict[str, pd.DataFrame]]:
    """The file's series on their grids, checked. With `history` (zoo-predict's input), rows after a series' last
    target value are the future's (its future covariates, for the steps to forecast): returned apart, by series."""
    columns = encoding.columns
    check_columns(frame, columns, path)
    times, _ = parse_times(frame[columns.time], columns.time, path)
    target = numbers_of(frame[columns.target], "data.target", columns.target, path)
    covariates = {
        column: numbers_of(frame[column], f"data.{kind}", column, path)
        for kind in ("past", "future")
        for column in getattr(columns, kind)
    }
    ids = series_ids(frame, columns)
    panel, futures = [], {}
    for name in dict.fromkeys(ids):
        rows = np.flatnonzero(ids == name)
        rows = rows[np.argsort(times[rows], kind="stable")]
        stamps = times[rows]
        repeated = np.flatnonzero(stamps[1:] == stamps[:-1])
        if len(repeated):
            first, second = rows[repeated[0]], rows[repeated[0] + 1]
            raise ZooError(
                f"{describe_series(name)} has two rows at {stamp_text(stamps[repeated[0]])} ({where(path, first)} "
                f"and {second + 1}); give one row per series and time stamp"
            )
        if history:
            known = np.flatnonzero(np.isfinite(target[rows]))
            if not len(known):
                raise ZooError(
                    f"{describe_series(name)} has no value of {columns.target!r} in {path}; give its history"
                )
            futures[name] = frame.iloc[rows[known[-1] + 1 :]]
            rows, stamps = rows[: known[-1] + 1], stamps[: known[-1] + 1]
        panel.append(on_grid(name, rows, stamps, target, covariates, frame, encoding, path))
    return panel, futures


def on_grid(name, rows, stamps, target, covariates, frame, encoding: SeriesEncoding, path) -> Series:
    """One series' rows on the regular grid from its first to its last time stamp, gaps filled or refused."""
    columns = encoding.columns
    full = grid(stamps[0], stamps[-1], encoding.freq, encoding.dates)
    place = np.minimum(np.searchsorted(full, stamps), len(full) - 1)
    off = np.flatnonzero(full[place] != stamps)
    if len(off):
        raise ZooError(
            f"{describe_series(name)}: {stamp_text(stamps[off[0]])} ({where(path, rows[off[0]])}) is off the grid of "
            f"frequency {encoding.freq} that starts at {stamp_text(stamps[0])}; give data.freq, or fix the time stamp"
        )
    names = [columns.target, *columns.past, *columns.future]
    values = np.full((len(full), len(names)), np.nan)
    values[place] = np.stack([target[rows], *(covariates[column][rows] for column in names[1:])], axis=1)
    absent = np.flatnonzero(np.isnan(values).any(axis=1))
    if len(absent) and encoding.fill is None:
        first = absent[0]
        what = (
            f"a gap: no row at {stamp_text(full[first])}"
            if first not in place
            else f"no value of {names[int(np.argmax(np.isnan(values[first])))]!r} at {stamp_text(full[first])}"
        )
        raise ZooError(
            f"{describe_series(name)} has {what} ({len(absent)} of its {len(full)} time stamps at frequency "
            f"{encoding.freq} lack a row or a value); fill them with data.fill=zero, forward or linear, or give them"
        )
    if len(absent):
        values = filled(values, str(encoding.fill))
    past = 1 + len(columns.past)
    future = np.concatenate([values[:, past:], calendar_features(full, columns.calendar)], axis=1)
    statics = static_values(encoding, frame.iloc[rows], name, path)
    return Series(name, full, values[:, 0], values[:, 1:past], future, statics)


def static_values(encoding: SeriesEncoding, rows, series: str, path) -> list[float]:
    """A series' static values: a number for each numeric column, a one-hot vector for each text column."""
    values: list[float] = []
    for column in encoding.columns.static:
        seen = {category_text(value) for value in rows[column].tolist()} - {None}
        if len(seen) != 1:
            held = (
                f"{len(seen)} values ({', '.join(map(repr, sorted(v for v in seen if v is not None)[:2]))})"
                if seen
                else "no value"
            )
            raise ZooError(
                f"data.static={column!r}: {describe_series(series)} has {held} in {path}; a static covariate has "
                f"one value per series"
            )
        if column in encoding.categories:
            values += [float(next(iter(seen)) == category) for category in encoding.categories[column]]
        else:
            number = numbers_of(rows[column], "data.static", column, path)
            values.append(float(np.nanmean(number)))
    return values


def future_covariates(series: Series, rows, encoding: SeriesEncoding, horizon: int, path) -> np.ndarray:
    """(horizon, future channels): the future covariates of the `horizon` steps after a series' last value, from the
    input's rows after it (`rows`, zoo-predict's), and the calendar's; one line naming the first one missing."""
    columns = encoding.columns
    stamps = next_stamps(series.times[-1], horizon, encoding.freq, encoding.dates)
    values = np.full((horizon, len(columns.future)), np.nan)
    if columns.future and len(rows):
        times, _ = parse_times(rows[columns.time], columns.time, path)
        for position, stamp in enumerate(stamps):
            match = np.flatnonzero(times == stamp)
            if len(match):
                values[position] = [
                    numbers_of(rows[column].iloc[match[:1]], "data.future", column, path)[0]
                    for column in columns.future
                ]
    missing = np.argwhere(np.isnan(values))
    if len(missing):
        step, column = missing[0]
        raise ZooError(
            f"input {path}: {describe_series(series.id)} lacks {columns.future[column]!r} at "
            f"{stamp_text(stamps[step])}, step {step + 1} of the {horizon} to forecast; give the future covariates "
            f"(data.future: {', '.join(columns.future)}) in rows for the {horizon} steps after its last value"
        )
    return np.concatenate([values, calendar_features(stamps, columns.calendar)], axis=1)
