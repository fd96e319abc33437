"""Runs that stop early: killed, interrupted or diverging. Each failure is made to happen for real."""

import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import CTRL_C_ABLE, REPO, read_metrics, run_dirs, train_py
from zoo.checkpoints import load_checkpoint

# Small batches make an epoch long enough (a few hundred steps) to be killed in the middle of it.
RESUMABLE = ["model=mlp", "trainer.max_epochs=3", "data.batch_size=16"]


def start_train_py(*overrides, log_dir, data_dir):
    command = [sys.executable, "train.py", *overrides, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **CTRL_C_ABLE)


def wait_for_first_checkpoint(run: subprocess.Popen, log_dir) -> "Path":
    deadline = time.monotonic() + 180
    while not (found := list(log_dir.rglob("checkpoints/last.ckpt"))):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return found[0]


def lr_steps(log_dir) -> list[int]:
    """The steps of the learning-rate curve as TensorBoard shows it, across all of the run's event files."""
    [events_dir] = {path.parent for path in log_dir.rglob("events.out.tfevents.*")}
    accumulator = EventAccumulator(str(events_dir), size_guidance={"scalars": 0}).Reload()
    [tag] = [tag for tag in accumulator.Tags()["scalars"] if tag.startswith("lr")]
    return [event.step for event in accumulator.Scalars(tag)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("uninterrupted")
    result = train_py(*RESUMABLE, log_dir=log_dir, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    [run_dir] = run_dirs(log_dir)
    return run_dir


def test_a_run_killed_mid_epoch_resumes_to_the_same_result(uninterrupted, tmp_path, data_dir):
    alone = read_metrics(uninterrupted)
    seconds_per_epoch = alone["train_time_s"] / 3

    run = start_train_py(*RESUMABLE, log_dir=tmp_path, data_dir=data_dir)
    checkpoint = wait_for_first_checkpoint(run, tmp_path)
    time.sleep(seconds_per_epoch / 4)  # into the second epoch, well before its end
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    saved = load_checkpoint(checkpoint)
    # Killed in the middle of a later epoch than the checkpoint's (a slow machine may be an epoch further).
    assert run.returncode == -signal.SIGKILL and saved["epoch"] < 2
    run_dir = checkpoint.parent.parent
    assert not (run_dir / "metrics.json").exists()

    resumed = train_py(f"resume={run_dir}", log_dir=tmp_path, data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {saved['global_step']}" in resumed.stdout
    assert list((tmp_path / "runs").iterdir()) == [run_dir]  # continued in place, no second run directory
    after = read_metrics(run_dir)
    for key in ["val/acc_best", "test/acc", "test/loss", "train/loss", "val/loss"]:
        assert after[key] == pytest.approx(alone[key], abs=1e-6), key
    # One learning-rate curve, every step once, the same steps as the run left alone.
    assert lr_steps(tmp_path) == lr_steps(uninterrupted.parent.parent)

    # Time and throughput add up over both parts: the first part's until its checkpoint (what it did
    # after it is done again), and all of the second's.
    first = saved["callbacks"]["Throughput"]
    total = load_checkpoint(checkpoint)["callbacks"]["Throughput"]
    assert total["samples"] == 3 * after["samples"]["train"]
    assert after["train_time_s"] >= first["wall_seconds"] + (total["seconds"] - first["seconds"])
    assert after["samples_per_s"] == pytest.approx(total["samples"] / total["seconds"])


def test_resume_refuses_changed_settings_and_missing_checkpoints(uninterrupted, tmp_path, data_dir):
    changed = train_py(f"resume={uninterrupted}", "optimizer.lr=0.5", log_dir=tmp_path, data_dir=data_dir)
    assert changed.returncode == 2 and changed.stderr.strip() == (
        "error: resume continues a run with its saved settings; drop optimizer.lr=0.5 "
        "(start a new run to change them)")
    missing = train_py(f"resume={tmp_path / 'nowhere'}", log_dir=tmp_path, data_dir=data_dir)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: checkpoint {tmp_path / 'nowhere'} does not exist"


def test_ctrl_c_saves_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, data_dir):
    # A learning rate too small to move the weights: val/acc never improves after the first epoch, and
    # last.ckpt must follow every epoch all the same.
    run = start_train_py("model=linear", "optimizer.lr=1e-12", "trainer.max_epochs=100000",
                         "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2", log_dir=tmp_path,
                         data_dir=data_dir)
    checkpoint = wait_for_first_checkpoint(run, tmp_path)
    deadline = time.monotonic() + 120
    while load_checkpoint(checkpoint)["epoch"] < 2:
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    run_dir = checkpoint.parent.parent
    assert run.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: stopped at epoch ")
    assert f"continue with: python train.py resume={run_dir}" in stderr
    status = read_metrics(run_dir)
    assert status["status"] == "interrupted" and status["step"] > 0
    assert load_checkpoint(checkpoint)["global_step"] >= 4 * status["epoch"]  # only the epoch it was in is lost


def test_a_diverging_run_stops_with_the_step_and_keeps_its_last_good_checkpoint(tmp_path, data_dir):
    # One-cycle up to an SGD learning rate of 20: stable for the first epochs, infinite loss at the peak.
    result = train_py("model=mlp", "model.norm=none", "optimizer=sgd", "scheduler=one_cycle", "optimizer.lr=20",
                      "trainer.max_epochs=10", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "warn" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: train/loss became ") and " at step " in line
    assert "learning rate too high" in line and "lower optimizer.lr" in line
    [status_file] = tmp_path.rglob("metrics.json")
    status = read_metrics(status_file.parent)
    assert status["status"] == "failed" and 0 < status["epoch"] < 9
    last = status_file.parent / "checkpoints" / "last.ckpt"
    assert line.endswith(f"The last good checkpoint is kept: {last}")
    weights = load_checkpoint(last)["state_dict"].values()
    assert all(torch.isfinite(w).all() for w in weights if w.is_floating_point())
