"""data=table: a user's own CSV and Parquet files, numeric and categorical columns with missing values, a class
target (classification) and a numeric one (regression), trained by every family through train.py beside the
classical baselines, then zoo-predict on new rows and zoo-compare over the runs."""

import csv
import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo.compare.command
import zoo.inference.predict
import zoo.training.command
from zoo.data.table import Table
from zoo.errors import ZooError
from zoo.views.saliency import show_attribution

from conftest import TINY, command_here, read_metrics, run_dirs, train_py
from own_data import customers

FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    frame = customers()
    frame.drop(columns=["spend"]).to_csv(folder / "churn.csv", index=False)
    frame.drop(columns=["churn"]).to_parquet(folder / "spend.parquet")
    return folder


def every_family(tmp_path_factory, data_dir, *overrides):
    log_dir = tmp_path_factory.mktemp("runs")
    result = command_here(
        zoo.training.command.main,
        "-m",
        f"model={','.join(FAMILIES)}",
        "data=table",
        *overrides,
        *TINY,
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = {read_metrics(run)["model"]: run for run in run_dirs(log_dir)}
    assert sorted(found) == sorted(FAMILIES)
    return found, result.stdout, log_dir


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory, data_dir, files):
    return every_family(
        tmp_path_factory,
        data_dir,
        f"data.path={files / 'churn.csv'}",
        "data.target=churn",
        "data.drop=[id]",
        "data.categorical=[zip]",
    )


@pytest.fixture(scope="module")
def regressors(tmp_path_factory, data_dir, files):
    return every_family(
        tmp_path_factory, data_dir, f"data.path={files / 'spend.parquet'}", "data.target=spend", "data.drop=[id]"
    )


@pytest.mark.slow
def test_every_family_classifies_a_csv_beside_the_classical_baselines(classifiers):
    found, stdout, _ = classifiers
    assert (
        "zoo: data=table: " in stdout
        and "target 'churn': classification into 2 classes (no, yes); 2 numeric "
        "and 3 categorical feature columns; rows: train 216, val 24, test 60"
        in stdout
    )
    for family, run in found.items():
        metrics = read_metrics(run)
        assert metrics["task"] == "classification" and 0 <= metrics["test/acc"] <= 1, family
        # Gradient boosting and logistic regression on the same rows, the same for every family.
        assert metrics["measured"]["hgb_test_acc"] == read_metrics(found["mlp"])["measured"]["hgb_test_acc"]
        assert metrics["measured"]["logistic_test_acc"] > 0.7


@pytest.mark.slow
def test_every_family_regresses_a_parquet_file_in_the_targets_units(regressors):
    found, stdout, log_dir = regressors
    assert "target 'spend': regression" in stdout
    for family, run in found.items():
        metrics = read_metrics(run)
        assert metrics["task"] == "regression", family
        assert {"test/rmse", "test/mae", "test/r2", "val/rmse_best"} <= set(metrics)
        # spend = 3 age + 40 oslo + income + noise of sd 5 (the target's sd: 60): ridge finds the line, boosting near it
        assert metrics["measured"]["ridge_test_rmse"] < 7 and metrics["measured"]["hgb_test_rmse"] < 15
    # The best checkpoint is the lowest val/rmse; TensorBoard holds the scatter and the HPARAMS columns.
    events = EventAccumulator(
        str(next((log_dir / "tensorboard").rglob("events.out.tfevents.*")).parent), size_guidance={"images": 0}
    ).Reload()
    assert "test/predicted_vs_true" in events.Tags()["images"]
    assert {"zoo/test_rmse", "zoo/test_r2", "zoo/hgb_test_rmse"} <= set(events.Tags()["scalars"])


@pytest.mark.slow
def test_zoo_predict_takes_new_rows_with_missing_values_and_unseen_categories(classifiers, regressors, tmp_path):
    rows = customers(rows=6, seed=5).drop(columns=["churn", "spend"])
    rows.loc[0, "city"] = "tokyo"  # never seen in training
    rows.loc[1, ["income", "city"]] = [np.nan, None]
    rows["note"] = "carried"
    rows.to_csv(tmp_path / "new.csv", index=False)
    for name, run, column in (
        ("churn", classifiers[0]["transformer"], "predicted_churn"),
        ("spend", regressors[0]["mlp"], "predicted_spend"),
    ):
        target = tmp_path / f"{name}.csv"
        result = command_here(
            zoo.inference.predict.main, f"ckpt={run}", f"input={tmp_path / 'new.csv'}", f"output={target}"
        )
        assert result.returncode == 0, result.stderr[-2000:]
        with open(target, newline="") as file:
            written = list(csv.DictReader(file))
        assert [row["id"] for row in written] == list(rows["id"]) and written[0]["note"] == "carried"
        assert list(written[0])[: len(rows.columns)] == list(rows.columns) and column in written[0]
    with open(tmp_path / "churn.csv", newline="") as file:
        churn = list(csv.DictReader(file))
    assert all(row["predicted_churn"] in ("no", "yes") for row in churn)
    assert all(abs(float(row["p_no"]) + float(row["p_yes"]) - 1) < 1e-4 for row in churn)
    with open(tmp_path / "spend.csv", newline="") as file:
        assert all(0 < float(row["predicted_spend"]) < 1000 for row in csv.DictReader(file))


@pytest.mark.slow
def test_zoo_compare_lists_the_classical_models_beside_the_families(regressors, tmp_path):
    result = command_here(zoo.compare.command.main, "--logdir", str(regressors[2]), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "comparison.md").read_text()
    for name in ("gradient boosting (sklearn)", "ridge regression (sklearn)", *FAMILIES):
        assert f"| {name} |" in table, name
    assert "5 finished regression runs" in result.stdout


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


BAD_TABLES = {
    "missing file": (lambda tmp: (str(tmp / "absent.csv"), "y"), "does not exist; give a .csv or .parquet file"),
    "not UTF-8": (
        lambda tmp: (write(tmp, "latin.csv", "name,y\ncaf\xe9,1\n".encode("latin-1")), "y"),
        "is not UTF-8 text: byte 0xe9 cannot be decoded",
    ),
    "ragged rows": (
        lambda tmp: (write(tmp, "ragged.csv", "a,b,y\n1,2,3\n4,5\n"), "y"),
        "line 3 has 2 fields, the header 3",
    ),
    "target absent": (
        lambda tmp: (write(tmp, "t.csv", "a,b,y\n1,2,3\n"), "price"),
        "data.target='price' is not a column of",
    ),
    "one target value": (
        lambda tmp: (write(tmp, "one.csv", "a,y\n" + "1,same\n" * 20), "y"),
        "data.target='y' has one value",
    ),
    "feature all missing": (
        lambda tmp: (write(tmp, "empty.csv", "a,b,y\n" + "1,,2\n3,,4\n" * 10), "y"),
        "column 'b' is missing in every row; drop it with data.drop=[b]",
    ),
    "too few rows": (lambda tmp: (write(tmp, "few.csv", "a,y\n1,x\n2,z\n3,x\n"), "y"), "too few for the splits"),
    "not a table": (lambda tmp: (write(tmp, "t.xlsx", "x"), "y"), "zoo reads tables from .csv (.tsv) and .parquet"),
    "damaged parquet": (lambda tmp: (write(tmp, "d.parquet", b"PAR1 not really"), "y"), "is not a readable Parquet"),
}


@pytest.mark.parametrize("case", BAD_TABLES)
def test_a_bad_table_is_one_line_naming_what_is_wrong(case, tmp_path):
    make, message = BAD_TABLES[case]
    path, target = make(tmp_path)
    table = Table(name="table", data_dir=str(tmp_path), path=path, target=target)  # the file is read when needed
    with pytest.raises(ZooError, match=re.escape(message)) as raised:
        table.prepare_data()
    assert "\n" not in str(raised.value)


@pytest.mark.slow
def test_a_bad_table_stops_train_py_in_one_line(tmp_path, data_dir, files):
    """In a process of its own: train.py's exit status and its single line on stderr, end to end."""
    result = train_py(
        "data=table", f"data.path={files / 'churn.csv'}", "data.target=chrun", log_dir=tmp_path, data_dir=data_dir
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: data.target='chrun' is not a column of") and "churn" in line


def test_the_guess_of_the_task_and_its_override(tmp_path):
    frame = customers(rows=80)
    frame["stars"] = np.arange(80) % 5 + 1  # whole numbers, five values: classes
    frame.to_csv(tmp_path / "t.csv", index=False)
    guessed = {
        target: Table(name="table", data_dir=".", path=str(tmp_path / "t.csv"), target=target, drop=["id"]).task
        for target in ("churn", "spend", "stars", "member")
    }
    assert guessed == {
        "churn": "classification",
        "spend": "regression",
        "stars": "classification",
        "member": "classification",
    }
    assert (
        Table(name="table", data_dir=".", path=str(tmp_path / "t.csv"), target="stars", task="regression").task
        == "regression"
    )
    with pytest.raises(ZooError, match=r"data\.task=regression needs a numeric target; 'churn'"):
        Table(
            name="table", data_dir=".", path=str(tmp_path / "t.csv"), target="churn", task="regression"
        ).prepare_data()
    # What the command line asks before Hydra composes: the same guess, from the target column alone.
    assert {target: Table.choose_task(str(tmp_path / "t.csv"), target) for target in guessed} == guessed


def test_a_tables_views_name_its_columns(tmp_path):
    """The bars of a table's saliency and FGSM figures are its columns, in the order the model takes them (a
    numeric column's missing-indicator beside it), not "feature 0..n"."""
    frame = customers()[["age", "income", "spend"]]
    frame.to_csv(tmp_path / "t.csv", index=False)
    table = Table(name="table", data_dir=".", path=str(tmp_path / "t.csv"), target="spend", task="regression")
    table.prepare_data()
    assert table.feature_names == ["age", "income", "income missing"] and table.input_shape == (3,)
    figure = Figure()
    show_attribution(figure, figure.add_gridspec(1, 1)[0, 0], torch.zeros(3), torch.ones(3), "", table.feature_names)
    [axes] = figure.axes
    assert [label.get_text() for label in axes.get_xticklabels()] == table.feature_names
