"""The training step: the task steps its own optimizer and schedule (Lightning's manual optimization), and
hands the step to Lightning's automatic optimization where the Trainer clips or accumulates gradients; a
checkpoint of either mode resumes at its step; `trainer.compile=true` compiles the network."""

import pytest
import torch

import zoo.inference.evaluate
import zoo.training.command
from zoo.runs.checkpoint import load_checkpoint

from conftest import TINY, command_here, read_metrics, run_dirs, train_cli, train_here, train_py

pytestmark = pytest.mark.slow  # every test here trains or starts a process (pytest -m "not slow" leaves them out)

# Two epochs of four batches of 32: eight optimizer steps. Without the views of the test split (task.views), which
# these tests do not look at: half of a tiny run's time.
STEPS = 8
QUICK = [*TINY, "task.views=null"]
COMPARED = ["train/loss", "val/loss", "test/loss", "test/acc"]


def finished(log_dir) -> tuple[dict, dict]:
    """The metrics of the one run under `log_dir` and its last checkpoint."""
    [run_dir] = run_dirs(log_dir)
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "finished"
    return metrics, load_checkpoint(run_dir / "checkpoints" / "last.ckpt")


@pytest.fixture(scope="module")
def plain(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("plain")
    train_here("model=cnn", *QUICK, log_dir=log_dir, data_dir=data_dir)
    return finished(log_dir)


def test_gradient_clipping_is_lightnings_and_changes_the_run_only_where_it_clips(plain, tmp_path, data_dir):
    metrics, checkpoint = plain
    assert checkpoint["global_step"] == STEPS
    # A bound no gradient reaches: Lightning's automatic optimization, the same run to the last digit.
    train_here("model=cnn", *QUICK, "+trainer.gradient_clip_val=1e9", log_dir=tmp_path / "loose", data_dir=data_dir)
    loose_metrics, loose_checkpoint = finished(tmp_path / "loose")
    assert loose_checkpoint["global_step"] == STEPS
    assert all(loose_metrics[key] == metrics[key] for key in COMPARED)
    # A bound every gradient reaches: clipped, another run.
    train_here("model=cnn", *QUICK, "+trainer.gradient_clip_val=1e-4", log_dir=tmp_path / "tight", data_dir=data_dir)
    assert finished(tmp_path / "tight")[0]["train/loss"] != metrics["train/loss"]


def test_accumulated_gradients_step_once_every_few_batches(tmp_path, data_dir):
    train_here("model=cnn", *QUICK, "+trainer.accumulate_grad_batches=2", log_dir=tmp_path, data_dir=data_dir)
    assert finished(tmp_path)[1]["global_step"] == STEPS // 2


def test_a_checkpoint_of_lightnings_automatic_optimization_resumes_at_its_step(tmp_path, data_dir):
    """Lightning counts the steps of its automatic and manual optimization apart; zoo before it stepped its own
    optimizer wrote the first. Resumed from such a checkpoint a run goes on from its step, not from zero."""
    one_epoch = [setting for setting in QUICK if not setting.startswith("trainer.max_epochs=")] + [
        "trainer.max_epochs=1"
    ]
    train_here("model=cnn", *one_epoch, log_dir=tmp_path, data_dir=data_dir)
    [run_dir] = run_dirs(tmp_path)
    path = run_dir / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    loops = checkpoint["loops"]["fit_loop"]
    manual = loops["epoch_loop.manual_optimization.optim_step_progress"]
    automatic = loops["epoch_loop.automatic_optimization.optim_progress"]["optimizer"]
    # As Lightning's automatic optimization writes it: its own counts, none in the manual ones.
    for part in ("total", "current"):
        automatic["step"][part].update(manual[part])
        automatic["zero_grad"][part].update({**manual[part], "started": manual[part]["completed"]})
        manual[part].update(ready=0, completed=0)
    torch.save(checkpoint, path)

    resumed = train_cli("model=cnn", *QUICK, f"resume={run_dir}", log_dir=tmp_path, data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step {STEPS // 2}" in resumed.stdout
    assert load_checkpoint(path)["global_step"] == STEPS


def test_a_compiled_run_reports_its_compilation_apart_and_its_checkpoint_opens_anywhere(tmp_path, data_dir):
    result = train_cli(
        "experiment=paper_mlp",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=4",
        "trainer.compile=true",
        "task.views=null",
        "callbacks.compute_cost=null",
        log_dir=tmp_path,
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics, checkpoint = finished(tmp_path)
    assert metrics["compile_s"] > 0 and metrics["samples_per_s"] > 0
    assert f"{metrics['compile_s']:.1f} s (the first training step)" in result.stdout
    # The plain network's keys: zoo-eval and zoo-predict build the network uncompiled and load them.
    assert not any("_orig_mod" in key for key in checkpoint["state_dict"])
    [run_dir] = run_dirs(tmp_path)
    evaluated = command_here(zoo.inference.evaluate.main, f"ckpt={run_dir}", f"data_dir={data_dir}")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert f"test/acc {metrics['test/acc']:.4f}" in evaluated.stdout


def test_an_uncompiled_run_reports_no_compilation(plain):
    assert plain[0]["compile_s"] is None


def test_compiling_without_a_cpp_compiler_fails_in_one_line(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    result = train_cli("model=mlp", *TINY, "trainer.compile=true", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: trainer.compile=true needs a C++ compiler, which torch.compile builds "
        "its kernels with, and none was found (g++, c++, clang++ or $CXX): install one, "
        "or leave trainer.compile=false"
    )


def test_a_compile_setting_that_is_not_a_boolean_fails_in_one_line(tmp_path, data_dir):
    """train.py itself, end to end: its exit status and its one line on stderr (it fails before torch loads)."""
    result = train_py("model=mlp", "trainer.compile=yes", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2 and result.stderr.strip() == "error: trainer.compile='yes' must be true or false"
