"""Checkpoints: written atomically, opened only with weights_only=True, evaluated with zoo-eval."""

import json
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import torch

import zoo.inference.evaluate
import zoo.training.command
from zoo.callbacks.checkpointing import AtomicCheckpointIO
from zoo.errors import ZooError
from zoo.runs.checkpoint import FORMAT, RENAMED_TARGETS, load_checkpoint

from conftest import REPO, TINY, command_here, read_metrics, run_dirs, train_cli, train_here


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("trained")
    train_here("model=cnn", *TINY, log_dir=log_dir, data_dir=data_dir)
    [run_dir] = run_dirs(log_dir)
    return run_dir


def zoo_eval(*arguments):
    """zoo-eval in this process (its main(), its exit status and output); test_zoo_eval_names_its_settings runs
    the command itself."""
    return command_here(zoo.inference.evaluate.main, *arguments)


@pytest.mark.slow
def test_every_checkpoint_holds_only_safe_types(trained_run):
    checkpoints = sorted((trained_run / "checkpoints").glob("*.ckpt"))
    assert [path.name for path in checkpoints] == ["best.ckpt", "last.ckpt"]
    for path in checkpoints:
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
        checkpoint = torch.load(path, weights_only=True)
        assert checkpoint["hyper_parameters"]["model"]["name"] == "cnn"
    assert not list(trained_run.rglob("*.partial"))


@pytest.mark.slow
def test_zoo_eval_reproduces_the_runs_test_metrics(trained_run, data_dir, tmp_path):
    trained = read_metrics(trained_run)
    output = tmp_path / "eval.json"
    result = zoo_eval(f"ckpt={trained['best_checkpoint']}", f"data_dir={data_dir}", f"output={output}")
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(output.read_text())
    assert evaluated["test/acc"] == pytest.approx(trained["test/acc"], abs=1e-6)
    assert evaluated["test/loss"] == pytest.approx(trained["test/loss"], abs=1e-5)
    assert evaluated["model"] == "cnn" and evaluated["params"] == trained["params"]
    assert f"test/acc {trained['test/acc']:.4f}" in result.stdout
    # A run directory stands for its best checkpoint; the metrics go beside the run's own.
    assert zoo_eval(f"ckpt={trained_run}", f"data_dir={data_dir}").returncode == 0
    assert json.loads((trained_run / "eval_metrics.json").read_text())["test/acc"] == evaluated["test/acc"]


@pytest.mark.slow
def test_a_checkpoint_naming_the_earlier_progress_bar_still_opens(trained_run, data_dir, tmp_path):
    """Checkpoints written before the progress bar became zoo's (zoo.callbacks.progress) name Lightning's
    TQDMProgressBar, which zoo's configs no longer do: migrate() renames it before the stored config is checked."""
    checkpoint = torch.load(trained_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["callbacks"]["progress_bar"] = {
        "_target_": "lightning.pytorch.callbacks.TQDMProgressBar",
        "refresh_rate": 20,
    }
    earlier = tmp_path / "earlier.ckpt"
    torch.save(checkpoint, earlier)
    opened = load_checkpoint(earlier)
    assert opened["hyper_parameters"]["callbacks"]["progress_bar"] == {
        "_target_": "zoo.callbacks.progress.progress_bar",
        "refresh_rate": 20,
    }
    evaluated = zoo_eval(f"ckpt={earlier}", f"data_dir={data_dir}")
    assert evaluated.returncode == 0, evaluated.stderr


def as_written_before_the_packages(checkpoint: dict) -> dict:
    """A checkpoint in the layout of the zoo before its modules moved into packages (format 2): no run record, what
    the run derived written into its config (its name, group, absolute paths), and the classes under their old
    names (zoo.checkpoints.BestCheckpoint, zoo.schedules.cosine...)."""
    old_names = {new: old for old, new in RENAMED_TARGETS.items() if old.startswith("zoo.")}
    saved = checkpoint["hyper_parameters"]
    record = saved.pop("run")
    saved["run_name"], saved["group"] = record["name"].rsplit("/", 1)[1], record["group"]
    saved["paths"] |= {"log_dir": record["log_dir"], "data_dir": record["data_dir"]}

    def old(node):
        if isinstance(node, dict):
            return {
                key: old_names.get(value, value) if key == "_target_" else old(value) for key, value in node.items()
            }
        return node

    checkpoint["hyper_parameters"] = old(saved)
    checkpoint["zoo_format"] = 2
    return checkpoint


@pytest.mark.slow
def test_a_run_written_before_the_packages_opens_and_resumes(trained_run, data_dir, tmp_path):
    """A run folder whose checkpoints name the classes' old modules: zoo-eval opens it, and resume= continues it in
    its folder (migrate() renames the classes and reads the record off the config)."""
    earlier = tmp_path / "runs" / "earlier_run"
    shutil.copytree(trained_run, earlier, ignore=shutil.ignore_patterns("run.json", "eval_metrics.json"))
    for path in (earlier / "checkpoints").glob("*.ckpt"):
        checkpoint = as_written_before_the_packages(torch.load(path, weights_only=True))
        assert "zoo.schedules.cosine" in json.dumps(checkpoint["hyper_parameters"])
        torch.save(checkpoint, path)
    opened = load_checkpoint(earlier / "checkpoints" / "last.ckpt")
    assert opened["zoo_format"] == FORMAT and opened["hyper_parameters"]["scheduler"]["_target_"] == (
        "zoo.training.schedules.cosine"
    )
    assert opened["hyper_parameters"]["run"]["group"] == "zoo"
    evaluated = zoo_eval(f"ckpt={earlier}", f"data_dir={data_dir}")
    assert evaluated.returncode == 0, evaluated.stderr
    resumed = train_here(f"resume={earlier}", "trainer.max_epochs=3", log_dir=tmp_path, data_dir=data_dir)
    assert resumed["run_dir"] == str(earlier) and resumed["status"] == "finished"
    assert torch.load(earlier / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3 * 4


def truncated(path, tmp_path):
    damaged = tmp_path / "truncated.ckpt"
    damaged.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return damaged


def not_a_checkpoint(path, tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("these are not weights\n")
    return text


def with_code_inside(path, tmp_path):
    """A checkpoint as other tools write them: a pickled object that only weights_only=False would rebuild."""
    unsafe = tmp_path / "unsafe.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"]["activation"] = partial(print, "this ran at load time")
    torch.save(checkpoint, unsafe)
    return unsafe


@pytest.mark.parametrize(
    "damage, message",
    [
        (truncated, "is not a readable checkpoint (truncated, or not a checkpoint at all)"),
        (not_a_checkpoint, "is not a readable checkpoint (truncated, or not a checkpoint at all)"),
        (with_code_inside, "holds Python objects (builtins.print, functools.partial) that would run code when loaded"),
    ],
)
@pytest.mark.slow
def test_a_bad_checkpoint_fails_in_one_line(trained_run, data_dir, tmp_path, damage, message):
    path = damage(trained_run / "checkpoints" / "last.ckpt", tmp_path)
    for result in (
        zoo_eval(f"ckpt={path}", f"data_dir={data_dir}"),
        train_cli(f"resume={path}", log_dir=tmp_path, data_dir=data_dir),
    ):
        assert result.returncode == 2 and "Traceback" not in result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path} ") and message in line
        assert "this ran at load time" not in result.stdout


@pytest.mark.slow
def test_zoo_eval_names_its_settings(tmp_path):
    """The command itself, end to end: its exit status and its one line on stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "zoo.inference.evaluate", "checkpoint=x.ckpt"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and result.stderr.strip().startswith(
        "error: 'checkpoint=x.ckpt' is not a zoo-eval setting; usage: zoo-eval ckpt="
    )


SAVE_FOREVER = """
import sys, torch
from zoo.callbacks.checkpointing import AtomicCheckpointIO
io = AtomicCheckpointIO()
io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, sys.argv[1])
print("saved", flush=True)
while True:  # large saves, one after another, until killed
    io.save_checkpoint({"state_dict": {"w": torch.ones(64 * 2**20)}}, sys.argv[1])
"""


@pytest.mark.slow
def test_a_kill_during_a_save_leaves_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVE_FOREVER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert saver.stdout.readline() == "saved\n"
    deadline = time.monotonic() + 60
    while not list(path.parent.glob(".last.ckpt.*.partial")):  # caught in the middle of writing
        assert time.monotonic() < deadline
        time.sleep(0.001)
    saver.send_signal(signal.SIGKILL)
    saver.wait(timeout=30)
    checkpoint = load_checkpoint(path)
    assert checkpoint["state_dict"]["w"].shape in {(3,), (64 * 2**20,)}  # the old file or the new, whole
    # The next save of that checkpoint (a resumed run's) clears what the killed one left half-written.
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


def test_a_checkpoint_written_in_the_background_holds_its_moment_and_its_errors_surface(tmp_path):
    """A run's Trainer leaves the flush to disk and the rename to a thread: the file holds the weights as they were
    when saved, is in place once fitting ends (teardown), and a save that failed raises there."""
    io = AtomicCheckpointIO(in_background=True)
    weights = torch.zeros(3)
    io.save_checkpoint({"state_dict": {"w": weights}}, tmp_path / "last.ckpt")
    weights += 1  # training goes on
    io.teardown()
    assert load_checkpoint(tmp_path / "last.ckpt")["state_dict"]["w"].tolist() == [0, 0, 0]
    (tmp_path / "taken.ckpt").mkdir()  # the rename into place fails
    io.save_checkpoint({"state_dict": {"w": weights}}, tmp_path / "taken.ckpt")
    with pytest.raises(OSError):
        io.teardown()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["last.ckpt", "taken.ckpt"]  # no partial file left


def test_load_checkpoint_errors_are_zoo_errors(tmp_path):
    with pytest.raises(ZooError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ZooError, match="has no model weights"):
        load_checkpoint(plain)
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, tmp_path / "ok.ckpt")
    assert load_checkpoint(tmp_path / "ok.ckpt") == {"state_dict": {}, "zoo_format": FORMAT}
    torch.save({"state_dict": {}, "zoo_format": FORMAT + 1}, tmp_path / "newer.ckpt")
    with pytest.raises(ZooError, match=f"written by a newer zoo \\(checkpoint format {FORMAT + 1}"):
        load_checkpoint(tmp_path / "newer.ckpt")


def test_a_checkpoint_of_the_first_format_is_migrated_as_it_is_read(tmp_path):
    """What zoo wrote before checkpoints carried a format: no task, a classifier's data declared flat, one
    process's random state alone, no first-step time."""
    old = {
        "state_dict": {},
        "hyper_parameters": {
            "label_smoothing": 0.1,
            "dataset": {"name": "mnist1d", "input_shape": [1, 40], "num_classes": 10},
        },
        "callbacks": {
            "RandomState": {"cpu": torch.get_rng_state()},
            "Throughput": {"samples": 1, "seconds": 1.0, "wall_seconds": 2.0},
        },
    }
    torch.save(old, tmp_path / "old.ckpt")
    checkpoint = load_checkpoint(tmp_path / "old.ckpt")
    assert checkpoint["zoo_format"] == FORMAT
    assert checkpoint["hyper_parameters"]["task"]["_target_"] == "zoo.tasks.classification.Classification"
    assert checkpoint["hyper_parameters"]["task"]["label_smoothing"] == 0.1
    dataset = checkpoint["hyper_parameters"]["dataset"]
    assert (
        dataset["model_inputs"] == {"input_shape": [1, 40], "num_classes": 10} and dataset["task"] == "classification"
    )
    assert len(checkpoint["callbacks"]["RandomState"]["ranks"]) == 1
    assert checkpoint["callbacks"]["Throughput"]["first_step_seconds"] == 0.0


@pytest.mark.slow
def test_a_later_epoch_that_ties_the_best_becomes_the_best_checkpoint(tmp_path, data_dir):
    """With a learning rate of 1e-12 every epoch scores the same validation accuracy: the best checkpoint is the last
    epoch's, where Lightning's own ModelCheckpoint would keep the first."""
    result = train_here(
        "model=linear", "optimizer.lr=1e-12", *TINY, "trainer.max_epochs=3", log_dir=tmp_path, data_dir=data_dir
    )
    best = torch.load(result["best_checkpoint"], weights_only=True)
    assert best["epoch"] == 2 and Path(result["best_checkpoint"]).name == "best.ckpt"
    [state] = [
        value for key, value in best["callbacks"].items() if key.startswith("ModelCheckpoint{'monitor': 'val/acc'")
    ]
    assert state["best_model_score"] == pytest.approx(result["val/acc_best"])
