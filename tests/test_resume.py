"""Runs that stop early: killed, interrupted or diverging, and resumed as users resume them. Each failure
is made to happen for real."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo.training.command
from zoo.runs.checkpoint import load_checkpoint

from conftest import CTRL_C_ABLE, REPO, TINY, command_here, read_metrics, run_dirs, train_cli, train_here, train_py

# Small batches make an epoch long enough (a few hundred steps) to be killed in the middle of it. Without the
# views of the test split (task.views), which no test here looks at: they take a tiny run's time again.
RESUMABLE = ["model=mlp", "trainer.max_epochs=3", "data.batch_size=16", "task.views=null"]


def start_train_py(*overrides, log_dir, data_dir):
    command = [sys.executable, "train.py", *overrides, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **CTRL_C_ABLE)


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
    return [event.step for event in accumulator.Scalars("train/lr")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("uninterrupted")
    train_here(*RESUMABLE, log_dir=log_dir, data_dir=data_dir)
    [run_dir] = run_dirs(log_dir)
    return run_dir


@pytest.mark.slow
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

    # As a requeued cluster job resumes: the same command line again, with resume= added (in this process: the
    # kill above is what needs a process of its own).
    resumed = train_cli(*RESUMABLE, f"resume={run_dir}", log_dir=tmp_path, data_dir=data_dir)
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


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer.lr=0.5", "optimizer.lr is 0.003 in the run but 0.5 on the command line; drop optimizer.lr=0.5"),
        ("model=cnn", "model.name is mlp in the run but cnn with model=cnn; drop model=cnn"),
    ],
    ids=["a key", "a config group"],
)
@pytest.mark.slow
def test_resume_refuses_a_changed_setting_in_one_line(uninterrupted, data_dir, override, message):
    changed = train_cli(override, f"resume={uninterrupted}", log_dir=uninterrupted.parent.parent, data_dir=data_dir)
    assert changed.returncode == 2 and changed.stderr.strip() == (
        f"error: resume continues a run with its saved settings: {message}, or start a new run to change it"
    )


@pytest.mark.slow
def test_resume_refuses_fewer_epochs_than_done_and_missing_checkpoints(uninterrupted, tmp_path, data_dir):
    fewer = train_cli(
        "trainer.max_epochs=2", f"resume={uninterrupted}", log_dir=uninterrupted.parent.parent, data_dir=data_dir
    )
    assert fewer.returncode == 2 and fewer.stderr.strip() == (
        "error: the run has trained 3 epochs already; trainer.max_epochs=2 would end it before that: give 3 or more"
    )
    missing = train_cli(f"resume={tmp_path / 'nowhere'}", log_dir=tmp_path, data_dir=data_dir)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: checkpoint {tmp_path / 'nowhere'} does not exist"


@pytest.mark.slow
def test_raising_max_epochs_trains_a_finished_run_on(tmp_path, data_dir):
    train_here("model=linear", *TINY, "task.views=null", log_dir=tmp_path, data_dir=data_dir)  # 2 epochs of 4 steps
    [run_dir] = run_dirs(tmp_path)
    before = read_metrics(run_dir)

    longer = train_cli("trainer.max_epochs=4", f"resume={run_dir}", log_dir=tmp_path, data_dir=data_dir)
    assert longer.returncode == 0, longer.stderr
    assert "resuming from step 8: linear" in longer.stdout and "for 4 epochs" in longer.stdout
    last = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 16 and last["hyper_parameters"]["trainer"]["max_epochs"] == 4
    after = read_metrics(run_dir)
    assert after["status"] == "finished" and after["train_time_s"] > before["train_time_s"]
    assert after["train/loss"] != before["train/loss"]
    assert val_acc_steps(tmp_path) == [3, 7, 11, 15]  # every epoch once, in one TensorBoard run


def val_acc_steps(log_dir) -> list[int]:
    [events_dir] = {path.parent for path in log_dir.rglob("events.out.tfevents.*")}
    accumulator = EventAccumulator(str(events_dir), size_guidance={"scalars": 0}).Reload()
    return [event.step for event in accumulator.Scalars("val/acc")]


@pytest.mark.slow
def test_a_run_resumed_from_another_directory_keeps_its_own_folders(tmp_path, data_dir, monkeypatch):
    """Started with a relative paths.log_dir and a paths.data_dir of its own; resumed from elsewhere with
    neither (and with ZOO_DATA_DIR pointing elsewhere: the run's own data folder wins). train.py's main() in
    this process, its working directory and environment those of each command."""
    started_in, resumed_in = tmp_path / "started_in", tmp_path / "resumed_in"
    started_in.mkdir()
    resumed_in.mkdir()
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def train_py_in(cwd, *overrides, **more_env):
        with monkeypatch.context() as here:
            here.chdir(cwd)
            for key, value in more_env.items():
                here.setenv(key, value)
            return command_here(zoo.training.command.main, *overrides)

    started = train_py_in(
        started_in, "model=linear", *TINY, "task.views=null", "paths.log_dir=logs", f"paths.data_dir={data_dir}"
    )
    assert started.returncode == 0, started.stderr
    [run_dir] = run_dirs(started_in / "logs")
    [tensorboard_run] = (started_in / "logs" / "tensorboard" / "mnist1d" / "linear").iterdir()

    resumed = train_py_in(resumed_in, f"resume={run_dir}", ZOO_DATA_DIR=str(resumed_in / "zoo_data_dir"))
    assert resumed.returncode == 0, resumed.stderr
    assert list(resumed_in.iterdir()) == []  # no data generated here, no second log tree
    assert list(tensorboard_run.parent.iterdir()) == [tensorboard_run]
    assert len(list(tensorboard_run.glob("events.out.tfevents.*"))) > 1  # the resumed part wrote there too
    assert read_metrics(run_dir)["status"] == "finished"


@pytest.mark.slow
def test_ctrl_c_saves_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, data_dir):
    # A learning rate too small to move the weights: val/acc never improves after the first epoch, and
    # last.ckpt must follow every epoch all the same.
    run = start_train_py(
        "model=linear",
        "optimizer.lr=1e-12",
        "trainer.max_epochs=100000",
        "+trainer.limit_train_batches=4",
        "+trainer.limit_val_batches=2",
        log_dir=tmp_path,
        data_dir=data_dir,
    )
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


@pytest.mark.slow
def test_a_diverging_run_stops_with_the_step_and_keeps_its_last_good_checkpoint(tmp_path, data_dir):
    # One-cycle up to an SGD learning rate of 20: stable for the first epochs, infinite loss at the peak.
    result = train_py(
        "model=mlp",
        "model.norm=none",
        "optimizer=sgd",
        "scheduler=one_cycle",
        "optimizer.lr=20",
        "trainer.max_epochs=10",
        log_dir=tmp_path,
        data_dir=data_dir,
    )
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
    # One-cycle planned its cycle for 10 epochs: it cannot be stretched over more.
    longer = train_cli("trainer.max_epochs=20", f"resume={last}", log_dir=tmp_path, data_dir=data_dir)
    assert longer.returncode == 2 and longer.stderr.strip() == (
        "error: scheduler=one_cycle planned its cycle for the run's 10 epochs; it cannot change its length to "
        "trainer.max_epochs=20: start a new run with trainer.max_epochs=20"
    )


def test_ctrl_c_while_fitting_waits_for_the_next_batch_and_a_second_one_does_not(tmp_path):
    """In the process: during fitting Ctrl-C only asks (the next batch stops the run), a second Ctrl-C
    interrupts at once, and Python's own handling is back once fitting ends."""
    import lightning as L

    from zoo.callbacks.loop import CtrlCBetweenBatches

    seen = []

    class AskOnce(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(signal.getsignal(signal.SIGINT))
            if batch_idx == 1:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the step's end
                seen.append("asked")  # still here: the signal only asked

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    # Python's own Ctrl-C handling, as in a terminal: the pytest worker's may be another (it is put back after)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ctrl_c = CtrlCBetweenBatches()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(8, 2)), batch_size=1)
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[AskOnce(), ctrl_c],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(SystemExit):  # Lightning's answer to a KeyboardInterrupt in fit
        trainer.fit(Tiny(), data)
    assert seen[0] == ctrl_c.request and seen.count("asked") == 1
    assert trainer.global_step == 2  # stopped at the batch after the one that asked
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ctrl_c.requested = True
    with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C
        ctrl_c.request(signal.SIGINT, None)
