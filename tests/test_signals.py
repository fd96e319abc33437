"""data=signals: series to classify from a user's wide CSV (one row per series, t0..tN and a label), trained by
every family as 1-D signals through train.py, then zoo-predict on new rows; each bad file one line; data=table
given such a file says where it belongs."""

import csv
import re

import pytest

import zoo.inference.predict
import zoo.training.command
from zoo.data.signals import Signals
from zoo.data.table import Table
from zoo.errors import ZooError

from conftest import TINY, command_here, read_metrics, run_dirs
from own_data import beats

FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]


@pytest.fixture(scope="module")
def beats_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("signals") / "beats.csv"
    beats().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory, data_dir, beats_file):
    log_dir = tmp_path_factory.mktemp("runs")
    result = command_here(
        zoo.training.command.main,
        "-m",
        f"model={','.join(FAMILIES)}",
        "data=signals",
        f"data.path={beats_file}",
        "data.drop=[id]",
        *TINY,
        "callbacks.compute_cost=null",
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = {read_metrics(run)["model"]: run for run in run_dirs(log_dir)}
    assert sorted(found) == sorted(FAMILIES)
    return found, result.stdout


@pytest.mark.slow
def test_every_family_classifies_series_from_a_wide_csv_as_signals(classifiers, beats_file, tmp_path):
    found, stdout = classifiers
    assert (
        f"zoo: data=signals: {beats_file}, label 'label': 3 classes (ramp, sine, square); signals of 32 steps "
        "(t0 ... t31); series: train and val 72, test 18" in stdout
    )
    for family, run in found.items():
        metrics = read_metrics(run)
        assert metrics["task"] == "classification" and 0 <= metrics["test/acc"] <= 1, family
    # zoo-predict: new rows in the same layout, the id carried through, a class and its probabilities.
    beats(rows=6, seed=1).to_csv(tmp_path / "new.csv", index=False)
    result = command_here(
        zoo.inference.predict.main,
        f"ckpt={found['cnn']}",
        f"input={tmp_path / 'new.csv'}",
        f"output={tmp_path / 'out.csv'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "out.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6 and [row["id"] for row in rows] == [f"b{i:03d}" for i in range(6)]
    assert all(row["predicted_label"] in ("ramp", "sine", "square") for row in rows)
    assert all(abs(sum(float(row[f"p_{name}"]) for name in ("ramp", "sine", "square")) - 1) < 1e-4 for row in rows)
    beats(rows=2).drop(columns=["t5"]).to_csv(tmp_path / "short.csv", index=False)
    short = command_here(zoo.inference.predict.main, f"ckpt={found['cnn']}", f"input={tmp_path / 'short.csv'}")
    assert short.returncode == 2 and short.stderr.strip() == (
        "error: the rows lack 1 of the model's 32 time columns (t5); it reads t0 ... t31, one row per series"
    )


def signals_of(path, **settings) -> Signals:
    return Signals(path=str(path), name="signals", data_dir=str(path.parent), **settings)


def test_the_signals_are_one_channel_in_the_files_order(beats_file):
    data = signals_of(beats_file, drop=["id"])
    assert data.input_shape == (1, 32) and data.class_names == ("ramp", "sine", "square")
    x, _, x_test, _ = data.load()
    assert x.shape[1:] == (1, 32) and len(x) + len(x_test) == 90
    first = int(data.train_rows[0])  # the first training series, its sixth step
    assert float(x[0, 0, 5]) == pytest.approx(beats().t5[first])


BAD_SIGNALS = {
    "a step that is not a number": (
        lambda frame: frame.assign(t3=frame.t3.astype(object).where(frame.index != 4, "x")),
        {"drop": ["id"]},
        "column 't3' holds 'x' in row 5 of {path}, which is not a number; every column but data.label and data.drop "
        "is a step of the signal",
    ),
    "an id left in": (
        lambda frame: frame,
        {},
        "column 'id' holds 'b000' in row 1 of {path}, which is not a number",
    ),
    "a missing step": (
        lambda frame: frame.assign(t7=frame.t7.where(frame.index != 2)),
        {"drop": ["id"]},
        "column 't7' has no value in row 3 of {path}; give every step of every signal",
    ),
    "one class": (
        lambda frame: frame.assign(label="sine"),
        {"drop": ["id"]},
        "data.label='label' has 1 class in {path}; there is nothing to tell apart",
    ),
    "no such label": (
        lambda frame: frame,
        {"label": "kind", "drop": ["id"]},
        "data.label='kind' is not a column of {path}; its columns are id, t0, t1,",
    ),
}


@pytest.mark.parametrize("case", BAD_SIGNALS)
def test_a_bad_signals_file_is_one_line(case, tmp_path):
    change, settings, message = BAD_SIGNALS[case]
    path = tmp_path / "bad.csv"
    change(beats(rows=12)).to_csv(path, index=False)
    with pytest.raises(ZooError, match="^" + re.escape(message.format(path=path))) as raised:
        signals_of(path, **settings).prepare_data()
    assert "\n" not in str(raised.value)


def test_data_table_given_a_series_a_row_points_to_data_signals(beats_file, capsys):
    table = Table(path=str(beats_file), target="label", drop=["id"], name="table", data_dir=str(beats_file.parent))
    table.write_run_files(beats_file.parent)
    assert (
        "zoo: data=table: the columns t0 ... t31 look like the steps of one series a row; to classify series as 1-D "
        f"signals, the families reading them in order, use data=signals data.path={beats_file} data.label=label; "
        "to forecast, data=series (docs/time-series.md)"
    ) in capsys.readouterr().out
