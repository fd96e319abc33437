"""One way to start a job, and a config that stays what the user asked: both doors (train.py, zoo.train) go through
Hydra's own entry; every bad override is one line; what a run derives lives in its record, beside the config; a
table's task is chosen where Hydra composes it, so the user's task.* overrides apply; Lightning's lines once; a killed
write of metrics.json leaves the previous file whole."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from zoo.configs import plain
from zoo.errors import ZooError
from zoo.runs.checkpoint import stored_config
from zoo.training import command

from conftest import REPO, TINY, command_here, train_here
from own_data import customers

# Each bad override, its one line (start or whole), for both doors. Misspelt keys at any depth, a group option that
# does not exist (Hydra's groups too), two unknown keys at once, a value a check refuses, a setting Lightning would
# refuse after printing its device lines.
BAD_OVERRIDES = [
    (["model.foo.bar=1"], "model.foo is not a setting; known keys: name, dim, depth"),
    (
        ["callbacks.early_stopping.patience=x"],
        "callbacks.early_stopping is not a setting; known keys: model_checkpoint",
    ),
    (["model=mlp", "model.dimm=3", "optimizer.lrr=1"], "model.dimm is not a setting; did you mean model.dim?"),
    (["optimizer.lrr=1", "model.dimm=3"], "optimizer.lrr is not a setting; did you mean optimizer.lr?"),
    (["modell=cnn"], "modell is not a setting; did you mean model?"),
    (
        ["data.augment=null", "data.augment.shift=3"],
        "data.augment is null here, so data.augment.shift is not a setting",
    ),
    (["model=cnnn"], "model=cnnn is not a config in conf/model; choose one of cnn, linear, mlp, rnn, transformer"),
    (["-m", "model=mlp,cnnn"], "model=cnnn is not a config in conf/model; choose one of cnn, linear, mlp"),
    (["hydra/launcher=foo"], "hydra/launcher=foo is not a config in conf/hydra/launcher; choose one of basic,"),
    (["optimizer.lr=1e-3)"], "cannot read the overrides: Error parsing override 'optimizer.lr=1e-3)'"),
    (["trainer.devices=99"], "data.batch_size=128 is the batch of all 99 processes together and must divide"),
    (["seed=abc"], "seed='abc' must be an integer"),
]


@pytest.mark.parametrize("overrides, message", BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES])
def test_every_bad_override_is_one_line_and_exit_2(overrides, message, tmp_path, data_dir):
    result = command_here(command.main, *overrides, f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}")
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}"), line
    assert "zoo: training" not in result.stdout and "GPU available" not in result.stdout + result.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("overrides, message", BAD_OVERRIDES[:3] + BAD_OVERRIDES[6:7], ids=str)
def test_zoo_train_raises_the_same_line(overrides, message, tmp_path, data_dir):
    with pytest.raises(ZooError) as error:
        train_here(*overrides, log_dir=tmp_path, data_dir=data_dir)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.slow
def test_the_stored_config_is_what_was_composed(tmp_path, data_dir, compose_config):
    """Nothing in zoo writes into the config: every checkpoint holds the config Hydra composed for the command, and
    what the run derived (its name, group, absolute paths, task) beside it, as run.json does."""
    overrides = ["model=mlp", "data=digits", "optimizer.lr=0.002", *TINY]
    result = train_here(*overrides, log_dir=tmp_path, data_dir=data_dir)
    run_dir = Path(result["run_dir"])
    composed = compose_config(*overrides, f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}", output_dir=run_dir)
    record = json.loads((run_dir / "run.json").read_text())
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert stored_config(checkpoint) == plain(composed)
        assert checkpoint["hyper_parameters"]["run"] == record
    assert plain(composed)["run_name"] is None and plain(composed)["group"] is None  # left to the record
    assert record["name"].startswith("digits/mlp/optimizer.lr=0.002_trainer.max_epochs=2")
    assert record["group"] == "zoo" and record["output_dir"] == str(run_dir) and record["task"] == "classification"
    assert record["log_dir"] == str(tmp_path) and record["started_in"] == os.getcwd()


@pytest.mark.slow
def test_a_tables_task_keeps_the_users_task_overrides(tmp_path, data_dir):
    """data=table with a numeric target trains regression: the command line asks the file before Hydra composes, so
    Hydra composes the regression task's config and `task.views.predicted_vs_true=null` switches its view off."""
    table = tmp_path / "customers.csv"
    customers().to_csv(table, index=False)
    data = ["data=table", f"data.path={table}", "data.target=spend", "data.drop=[id]", "model=linear", *TINY]
    runs = {}
    for name, extra in (("view on", []), ("view off", ["task.views.predicted_vs_true=null"])):
        result = train_here(*data, *extra, log_dir=tmp_path / name, data_dir=data_dir)
        assert result["task"] == "regression"
        [run] = {events.parent for events in (tmp_path / name / "tensorboard").rglob("events.out.tfevents.*")}
        runs[name] = EventAccumulator(str(run)).Reload().Tags()["images"]
        overrides = (Path(result["run_dir"]) / ".hydra" / "overrides.yaml").read_text()
        assert "- task=regression" in overrides  # the task the data chose, as Hydra composed it
    assert "test/predicted_vs_true" in runs["view on"]
    assert "test/predicted_vs_true" not in runs["view off"]


def test_a_sweep_over_files_of_different_tasks_is_refused(tmp_path, data_dir):
    frame = customers()
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.assign(spend=frame.churn).to_csv(tmp_path / "b.csv", index=False)
    paths = f"data.path={tmp_path / 'a.csv'},{tmp_path / 'b.csv'}"
    result = command_here(command.main, "-m", "data=table", paths, "data.target=spend", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: data.path sweeps over files of different tasks (")


@pytest.mark.slow
def test_lightnings_lines_appear_once_on_the_console_and_in_the_log(tmp_path, data_dir):
    command_line = [sys.executable, "train.py", "model=linear", *TINY, f"paths.log_dir={tmp_path}"]
    result = subprocess.run(
        [*command_line, f"paths.data_dir={data_dir}"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    shown = result.stdout + result.stderr
    assert shown.count("GPU available:") == 1 and shown.count("`Trainer.fit` stopped") == 1
    [log] = tmp_path.rglob("train.log")
    assert log.read_text().count("GPU available:") == 1 and log.read_text().count("`Trainer.fit` stopped") == 1


@pytest.mark.slow
def test_a_kill_while_metrics_json_is_written_leaves_the_previous_file_whole(tmp_path):
    """metrics.json is written beside its place and renamed into it (zoo.files): a process killed half-way through
    the write leaves the file as it was, not truncated."""
    from zoo.runs.folder import Run

    Run(tmp_path).write_metrics("finished", test_acc=0.9)
    before = (tmp_path / "metrics.json").read_text()
    # A write that stops half-way (as a kill would find it), then waits to be killed.
    script = f"""
import pathlib, sys, time
from zoo.runs.folder import Run
original = pathlib.Path.write_text
def half_then_wait(self, text, *args, **kwargs):
    original(self, text[: len(text) // 2], *args, **kwargs)
    print("writing", flush=True)
    time.sleep(60)
pathlib.Path.write_text = half_then_wait
Run({str(tmp_path)!r}).write_metrics("finished", test_acc=0.1, padding="x" * 10000)
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (tmp_path / "metrics.json").read_text() == before
    assert json.loads(before)["test_acc"] == 0.9
    assert len(list(tmp_path.glob(".metrics.json.*.partial"))) == 1  # what the killed write left, hidden
    Run(tmp_path).write_metrics("finished", test_acc=0.95)  # the next write removes it
    assert json.loads((tmp_path / "metrics.json").read_text())["test_acc"] == 0.95
    assert not list(tmp_path.glob(".metrics.json.*.partial"))
