"""Runs of three kinds side by side in one log folder, as a user has them: an image folder, a classification table
and a regression table. What TensorBoard serves of them (its HPARAMS and SCALARS data, from a real server started by
zoo-board) and what zoo-compare makes of them; the HPARAMS columns of a log folder written by runs that finish at
the same time; the labels every figure names runs by."""

import csv
import json
import multiprocessing
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from zoo.compare import command as compare
from zoo.compare.board import port_is_free
from zoo.compare.tables import classical_rows
from zoo.registry import task_class, task_names
from zoo.runs.grouping import group_runs, labels
from zoo.runs.hparams import EXPERIMENT_FOLDER, experiment, write_row
from zoo.runs.hparams_tab import update_experiment
from zoo.training.report import print_summary

from conftest import CTRL_C_ABLE, REPO, TINY, command_here, free_port, http, read_metrics, run_dirs, train_here
from own_data import customers, write_folder

# The views that take a tiny run's time and that nothing here reads: the brittleness and saliency of classifiers, the
# feature maps of CNNs, the latency.
QUICK = ["callbacks.compute_cost=null"]
CLASSIFIER_VIEWS_OFF = ["task.views.robustness=null", "task.views.saliency=null", "task.views.feature_maps=null"]
STEPS = 2 * 4  # TINY: two epochs of four batches


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, data_dir):
    """A folder of pictures (a CNN), a CSV of customers and their churn (an MLP and a linear model) and another of
    their spend (an MLP), trained into one log folder: (log folder, the files' folder, each run folder by its name)."""
    files = tmp_path_factory.mktemp("files")
    write_folder(files / "digit_images", per_class=8)
    frame = customers()
    frame.drop(columns=["spend"]).to_csv(files / "churn.csv", index=False)
    frame.drop(columns=["churn"]).to_csv(files / "spend.csv", index=False)
    log_dir = tmp_path_factory.mktemp("mixed")
    churn = ["data=table", f"data.path={files / 'churn.csv'}", "data.target=churn", "data.drop=[id]"]
    for overrides in (
        ["data=images", f"data.path={files / 'digit_images'}", "model=cnn", *CLASSIFIER_VIEWS_OFF],
        [*churn, "model=mlp", *CLASSIFIER_VIEWS_OFF],
        [*churn, "model=linear", *CLASSIFIER_VIEWS_OFF],
        ["data=table", f"data.path={files / 'spend.csv'}", "data.target=spend", "data.drop=[id]", "model=mlp"],
    ):
        assert train_here(*overrides, *TINY, *QUICK, log_dir=log_dir, data_dir=data_dir)["status"] == "finished"
    folders = {json.loads((run / "run.json").read_text())["name"]: run for run in run_dirs(log_dir)}
    return log_dir, files, folders


@pytest.fixture(scope="module")
def board(mixed):
    """`zoo-board` on the log folder's TensorBoard root, on a free local port: (port, the zoo-board process)."""
    log_dir, _, folders = mixed
    port = free_port()
    command = [sys.executable, "-m", "zoo.compare.board", "--logdir", str(log_dir / "tensorboard"), "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, **CTRL_C_ABLE
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if len(http(port, "/data/runs")) == len(folders) + 1:  # and the description of the HPARAMS columns
                break
        except OSError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "TensorBoard did not come up"
        time.sleep(0.5)
    yield port, server
    if server.poll() is None:
        server.kill()
        server.wait()


def session_groups(port: int, metrics: list[str]) -> list[dict]:
    request = {
        "experimentName": "",
        "startIndex": 0,
        "sliceSize": 100,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"metric": {"group": "", "tag": tag}} for tag in metrics],
    }
    return http(port, "/data/plugin/hparams/session_groups", request)["sessionGroups"]


@pytest.mark.slow
def test_hparams_shows_every_tasks_metrics_and_opens_on_what_differs(mixed, board):
    port, _ = board
    _, _, folders = mixed
    described = http(port, "/data/plugin/hparams/experiment", {"experimentName": ""})
    settings = {info["name"]: info for info in described["hparamInfos"]}
    assert {"model", "data", "data.path", "data.target", "task"} <= {k for k, v in settings.items() if v["differs"]}
    assert not settings["data.batch_size"]["differs"]
    assert settings["optimizer.lr"]["differs"]  # model=cnn's own 1e-2 beside the tables' 3e-3
    differing = [info["differs"] for info in described["hparamInfos"]]
    assert differing == sorted(differing, reverse=True)  # those TensorBoard shows from the start: what differs
    metrics = [info["name"]["tag"] for info in described["metricInfos"]]
    assert {"zoo/test_acc", "zoo/test_rmse", "zoo/test_r2"} <= set(metrics[:5])  # the five shown from the start

    groups = session_groups(port, metrics)
    assert len(groups) == len(folders)
    for group in groups:
        run = folders[group["name"]]
        result, config = read_metrics(run), yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        values = {value["name"]["tag"]: value["value"] for value in group["metricValues"]}
        if result["task"] == "regression":
            assert values["zoo/test_rmse"] == pytest.approx(result["test/rmse"], rel=1e-6)
            assert values["zoo/test_r2"] == pytest.approx(result["test/r2"], rel=1e-6)
            assert "zoo/test_acc" not in values
        else:
            assert values["zoo/test_acc"] == pytest.approx(result["test/acc"], rel=1e-6)
        # A setting appears where it applies to the run, with the run's value; never a stand-in for one it lacks.
        hparams = group["hparams"]
        family = {key for key, value in config["model"].items() if key != "name" and value is not None}
        assert {key.removeprefix("model.") for key in hparams if key.startswith("model.")} == family
        assert all(key.removeprefix("data.") in config["data"] for key in hparams if key.startswith("data."))
        assert ("label_smoothing" in hparams) == (result["task"] == "classification")
        assert ("data.augment" in hparams) == (config["data"]["name"] == "images")
        assert "-" not in hparams.values() and hparams["data.batch_size"] == "32"  # a whole number as it reads


@pytest.mark.slow
def test_run_names_hold_the_files_stems_and_no_path(mixed, board):
    port, _ = board
    _, files, folders = mixed
    runs = [run for run in http(port, "/data/runs") if not run.startswith(EXPERIMENT_FOLDER)]
    assert sorted(runs) == sorted(folders)
    assert sorted(run.split("/")[:2] for run in runs) == [
        ["churn", "linear"],
        ["churn", "mlp"],
        ["digit_images", "cnn"],
        ["spend", "mlp"],
    ]
    assert not any(str(files) in run or run.startswith("/") for run in runs)


@pytest.mark.slow
def test_scalars_open_on_the_training_curves_with_the_learning_rate_of_every_step(mixed, board):
    port, _ = board
    tags = http(port, "/data/plugin/scalars/tags")
    for run, scalars in tags.items():
        if run.startswith(EXPERIMENT_FOLDER):
            continue
        sections = sorted({tag.split("/")[0] for tag in scalars})
        assert sections == ["train", "val", "zoo"], run  # no `epoch`, no hp/ or test/ one-point charts before them
        assert {"train/loss", "val/loss", "train/lr"} <= set(scalars)
        query = urllib.parse.urlencode({"run": run, "tag": "train/lr"})
        steps = [point[1] for point in http(port, f"/data/plugin/scalars/scalars?{query}")]
        assert steps == list(range(len(steps))), run  # every step once
        assert len(steps) == STEPS or run.startswith("digit_images")  # the pictures fill one batch an epoch


def read_csv(path: Path) -> list[dict]:
    with open(path) as file:
        return list(csv.DictReader(file))


@pytest.mark.slow
def test_zoo_compare_gives_each_task_its_table_and_panel(mixed, tmp_path):
    log_dir, files, _ = mixed
    result = command_here(compare.main, "--logdir", str(log_dir), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(tmp_path / "comparison.csv")
    assert {row["data"] for row in rows} == {"digit_images", "churn", "spend"}  # a user's files by their stems
    for row in rows:  # every row holds its file, whichever task's table it is in
        expected = files / ("digit_images" if row["data"] == "digit_images" else f"{row['data']}.csv")
        assert row["data.path"] == str(expected) and row["task"] in ("classification", "regression")
    classical = [row for row in rows if "sklearn" in row["model"]]
    # Two networks trained on the churn table's one split: its classical models were fitted once.
    assert sorted((row["data"], row["runs"]) for row in classical) == [("churn", "1")] * 2 + [("spend", "1")] * 2
    regression = [row for row in rows if row["task"] == "regression"]
    assert all(row["test_rmse_mean"] and not row["test_acc_mean"] for row in regression)
    assert "± std" not in result.stdout and "1 finished regression runs" in result.stdout  # single runs: no spread
    markdown = (tmp_path / "comparison.md").read_text()
    assert "**classification**" in markdown and "**regression**" in markdown and "| churn | linear |" in markdown
    assert (tmp_path / "comparison.png").stat().st_size > 10_000


@pytest.mark.slow
def test_zoo_board_stops_its_tensorboard_when_it_is_stopped(board):
    """`kill <pid>` of zoo-board (SIGTERM), as a process manager stops it: its TensorBoard ends with it, the port is
    free again. Last in this module: it stops the server the tests above read."""
    port, server = board
    [child] = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child}").exists() or not port_is_free("127.0.0.1", port):
        assert time.monotonic() < deadline, "TensorBoard outlived zoo-board"
        time.sleep(0.2)


# --- the columns of a log folder --------------------------------------------------------------------------------------
CLASSIFIER = {"task": "classification", "model": "cnn", "data": "images", "data.path": "pets", "model.kernel": 5}
REGRESSOR = {"task": "regression", "model": "mlp", "data": "table", "data.path": "houses.csv", "model.dim": 256}


def test_the_columns_hold_every_rows_settings_and_each_tasks_headline_first():
    rows = [
        {"hparams": CLASSIFIER | {"seed": 0}, "metrics": ["zoo/test_acc", "zoo/val_acc_best", "zoo/params"]},
        {"hparams": CLASSIFIER | {"seed": 1}, "metrics": ["zoo/test_acc", "zoo/val_acc_best", "zoo/params"]},
        {"hparams": REGRESSOR | {"seed": 10}, "metrics": ["zoo/test_rmse", "zoo/test_r2", "zoo/params"]},
    ]
    settings, metrics = experiment(rows)
    columns = {setting["name"]: setting for setting in settings}
    assert metrics == ["zoo/test_acc", "zoo/test_rmse", "zoo/val_acc_best", "zoo/test_r2", "zoo/params"]
    assert columns["seed"] == {"name": "seed", "type": "int", "domain": [0, 1, 10], "differs": True}
    assert columns["model.dim"]["domain"] == [256] and not columns["model.dim"]["differs"]  # one family's own
    differing = [name for name, column in columns.items() if column["differs"]]
    assert differing == ["data", "data.path", "model", "seed", "task"]


@pytest.mark.parametrize("name", task_names())
def test_each_tasks_hparams_values_are_its_final_metrics_headline_first(name):
    """What a task puts into its HPARAMS row: metrics.json's keys, its headline first, which TensorBoard then shows
    from the start beside every other task's."""
    task = task_class(name)
    assert isinstance(task.hp_metrics, tuple) and task.hp_metrics[0] == task.headline
    assert set(task.hp_metrics) <= set(task.final_metrics())


def test_a_classical_model_counts_once_per_set_of_rows_it_was_fitted_on():
    """A file's split does not change with the seed: networks of two seeds share one fit of each classical model;
    a part of the training rows (data.train_fraction) is drawn per seed, so there each seed has its own."""
    table = {"task": "classification", "data": "table", "data.path": "churn.csv", "model": "mlp"}

    def run(seed: int, fraction: float) -> dict:
        return {"hparams": table | {"seed": seed, "data.train_fraction": fraction}, "classical": {"hgb": 0.8 + seed}}

    task = task_class("classification")
    for fraction, fits in ((1.0, 1), (0.5, 2)):
        groups = group_runs([run(0, fraction), run(1, fraction)])
        [row] = classical_rows(groups, ["data.path"], task)
        assert row["model"] == "gradient boosting (sklearn)" and row["runs"] == fits


def test_labels_name_what_tells_runs_apart_in_the_order_of_run_names():
    cnn = CLASSIFIER | {"optimizer.lr": 0.001}
    assert labels([cnn, cnn | {"optimizer.lr": 0.01}]) == ["cnn optimizer.lr=0.001", "cnn optimizer.lr=0.01"]
    assert labels([cnn, REGRESSOR]) == ["pets cnn", "houses mlp"]  # files by their stems, each family's own aside
    assert labels([cnn]) == ["cnn"]


def finish_a_run(root: Path, number: int) -> None:
    """What a finishing run does for HPARAMS: its row, then the log folder's columns."""
    folder = root / f"run{number}"
    folder.mkdir(parents=True)
    write_row(folder, f"run{number}", {"seed": number}, [f"zoo/value_{number}"])
    update_experiment(root)


@pytest.mark.slow
def test_runs_finishing_at_once_leave_one_description_holding_every_row(tmp_path):
    """The jobs of a multirun finish in processes of their own (joblib): whatever the order of their reads and writes,
    one description remains, with the columns of every run."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=finish_a_run, args=(tmp_path, number)) for number in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    [version] = (tmp_path / EXPERIMENT_FOLDER).iterdir()
    events = EventAccumulator(str(version)).Reload()
    content = events.PluginTagToContent("hparams")[metadata.EXPERIMENT_TAG]
    described = metadata.parse_experiment_plugin_data(content)
    assert sorted(info.name.tag for info in described.metric_infos) == sorted(f"zoo/value_{n}" for n in range(8))
    [seed] = described.hparam_infos
    assert seed.differs and len(seed.domain_discrete.values) == 8


def test_the_summary_prints_a_whole_path_into_a_log(capsys, tmp_path):
    folder = tmp_path / ("a_long_folder_name_" * 8) / "2026-12-07_14-05-38_table_mlp"
    result = {"model": "mlp", "data": "table", "params": 10, "train_time_s": 1.0, "samples_per_s": 5.0}
    print_summary(result | {"device": "cpu", "precision": "32-true", "compile_s": None, "measured": {}}, [], folder)
    printed = capsys.readouterr().out
    assert str(folder) in printed and "…" not in printed
