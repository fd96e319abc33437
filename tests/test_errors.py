"""Bad input: one line that names the key and the rule, a non-zero exit, no traceback, no training."""

import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from zoo.errors import ZooError
from zoo.training.build import build_named

from conftest import TINY, read_metrics, run_dirs, train_cli, train_py

BAD_OVERRIDES = [
    (
        ["model=transformer", "model.dim=30"],
        "error: model=transformer on data=mnist1d: model.dim=30 must be divisible by model.heads=4",
    ),
    (["model=transformer", "model.patch=16", "data=digits"], "model.patch=16 must divide the input size 8x8"),
    (["optimizer.lr=-0.1"], "error: optimizer.lr=-0.1 must be a positive number"),
    (["optimizer.lr=fast"], "error: optimizer.lr='fast' must be a positive number"),
    (["model=mlp", "model.depth=0"], "error: model=mlp on data=mnist1d: model.depth=0 must be a positive integer"),
    (["model.dim=-8"], "model.dim=-8 must be a positive integer"),
    (["trainer.max_epochs=0"], "error: trainer.max_epochs=0 must be a positive integer"),
    (["data.batch_size=0"], "error: data.batch_size=0 must be a positive integer"),
    (["seed=abc"], "error: seed='abc' must be an integer"),
    (["model=rnn", "model.cell=tcn"], "model.cell='tcn' must be one of rnn, lstm, gru"),
    (["model.dropout=1.5"], "model.dropout=1.5 must be a number in [0, 1)"),
    (
        ["trainer.max_epoch=3"],
        "error: trainer.max_epoch is not a setting; did you mean trainer.max_epochs? "
        "(to add a new key on purpose: +trainer.max_epoch=...)",
    ),
    (
        ["+trainer.max_epoch=3"],
        "error: trainer.max_epoch is not a setting of Lightning's Trainer; did you mean trainer.max_epochs?",
    ),
    (["model=mlp", "model.dimm=64"], "error: model.dimm is not a setting; did you mean model.dim?"),
    (
        ["model=mlp", "+model.kernel=3"],
        "error: model=mlp on data=mnist1d: model.kernel is not a setting of "
        "model=mlp; its settings are activation, depth, dim, dropout, norm",
    ),
    (
        ["-m", "model=mlp,cnnn"],
        "error: model=cnnn is not a config in conf/model; choose one of cnn, linear, mlp, rnn, transformer",
    ),
    (
        ["model=cnn", "data=digits", "model.kernel=[5,5,5]", "model.depth=4"],
        "model.kernel has 3 entries but there are 4 conv layers",
    ),
    (["task.views.robustness.noise=0.5"], "error: task.views.robustness.noise=0.5 must be a list of numbers >= 0"),
    # What Lightning's Trainer itself refuses, in its words (docs/devices.md)
    (
        ["trainer.strategy=dpp"],
        "error: Lightning's Trainer refuses these trainer settings: You selected an invalid "
        "strategy name: `strategy='dpp'`.",
    ),
    (
        ["trainer=cpu", "trainer.devices=0"],
        "error: Lightning's Trainer refuses these trainer settings: "
        "`Trainer(devices=0)` value is not a valid input using cpu accelerator.",
    ),
]
# The views' settings (zoo/views/), checked as the run builds them; a view switched off is not checked.
BAD_VIEW_SETTINGS = [
    ("task.views.saliency.examples=0", "task.views.saliency.examples=0 must be a positive integer"),
    ("task.views.saliency.steps=0", "task.views.saliency.steps=0 must be a positive integer"),
    ("task.views.robustness.fgsm=[0,a]", "task.views.robustness.fgsm=[0, 'a'] must be a list of numbers >= 0"),
    ("task.views.robustness.examples=-1", "task.views.robustness.examples=-1 must be an integer >= 0"),
    (
        "task.views.decision_boundary.every_n_epochs=0",
        "task.views.decision_boundary.every_n_epochs=0 must be a positive integer",
    ),
    (
        "task.views.decision_boundary.every_n_epochs=null",
        "task.views.decision_boundary.every_n_epochs=null must be a positive integer",
    ),
    (
        "task.views.feature_maps.every_n_epochs=-2",
        "task.views.feature_maps.every_n_epochs=-2 must be a positive integer",
    ),
    ("callbacks.compute_cost.latency_calls=0", "callbacks.compute_cost.latency_calls=0 must be a positive integer"),
]


@pytest.mark.parametrize("override, message", BAD_VIEW_SETTINGS, ids=[o for o, _ in BAD_VIEW_SETTINGS])
def test_a_views_bad_setting_is_refused_in_one_line(override, message, compose_config):
    """Each view checks its own settings (zoo/views/) as train() builds it, and the error names its whole key."""
    group = "callbacks" if override.startswith("callbacks.") else "task.views"

    def built(*overrides):
        cfg = compose_config(*overrides)
        return build_named(group, OmegaConf.select(cfg, group))

    with pytest.raises(ZooError, match=f"^{re.escape(message)}") as error:
        built(override)
    assert "\n" not in str(error.value)
    view = override.split("=")[0].rsplit(".", 1)[0].rsplit(".", 1)[1]
    assert view not in built(f"{override.rsplit('.', 1)[0]}=null")  # a view switched off has nothing to check


# These two stay `python train.py` in a subprocess, the command's exit status and single stderr line end to end: an
# override refused before torch is imported, and a setting refused once the config is composed and training starts.
# The others call train.py's main() in this process (train_cli), with the same assertions.
END_TO_END = {"trainer.max_epoch=3", "model=transformer model.dim=30"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param(o, m, marks=[pytest.mark.slow] if " ".join(o) in END_TO_END else [], id=" ".join(o))
        for o, m in BAD_OVERRIDES
    ],
)
def test_bad_settings_fail_in_one_line_before_training(tmp_path, data_dir, overrides, message):
    run = train_py if " ".join(overrides) in END_TO_END else train_cli
    result = run(*overrides, log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "zoo: training" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("group, choice", [("model", "resnet"), ("data", "imagenet")])
def test_an_unknown_model_or_data_set_lists_the_choices(tmp_path, data_dir, group, choice):
    result = train_cli(f"{group}={choice}", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {group}={choice} is not a config in conf/{group}; choose one of ")
    expected = ["cnn", "linear", "mlp", "rnn", "transformer"] if group == "model" else ["mnist1d", "digits", "cifar10"]
    assert all(option in line.split("choose one of ")[1].split(", ") for option in expected)


@pytest.mark.slow
@pytest.mark.parametrize("log_dir", ["file", "proc"])
def test_an_unwritable_log_dir_fails_in_one_line(tmp_path, data_dir, log_dir):
    (tmp_path / "file").write_text("a file where a folder should be\n")
    target = {"file": tmp_path / "file" / "logs", "proc": Path("/proc/zoo-logs")}[log_dir]
    result = train_cli("model=mlp", log_dir=target, data_dir=data_dir)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: paths.log_dir={target} cannot be written (")
    assert line.endswith("choose another folder with paths.log_dir=...")


@pytest.mark.slow
def test_a_multirun_runs_every_job_and_lists_the_failures(tmp_path, data_dir):
    # model.dim=30 cannot be split into the transformer's 4 heads; the MLP job must still run.
    result = train_cli("-m", "model=transformer,mlp", "model.dim=30", *TINY, log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [read_metrics(run)["model"] for run in run_dirs(tmp_path) if read_metrics(run)["status"] == "finished"] == [
        "mlp"
    ]
    summary = result.stderr[result.stderr.index("1 of 2 jobs failed:") :].strip().splitlines()
    assert summary == [
        "1 of 2 jobs failed:",
        "  model=transformer: model=transformer on data=mnist1d: model.dim=30 must be divisible by model.heads=4",
    ]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_a_gpu(tmp_path, data_dir):
    result = train_cli("trainer=gpu", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: trainer=gpu and trainer=ddp need a CUDA device and none is available; use trainer=cpu or "
        "trainer=auto (several processes on the CPU: trainer=cpu trainer.devices=2 trainer.strategy=ddp)"
    )


@pytest.mark.slow
def test_a_torchvision_data_set_offline_without_files(tmp_path):
    empty = tmp_path / "empty"
    result = train_cli("data=mnist", "data.download=false", log_dir=tmp_path, data_dir=empty)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: data=mnist: no train-images-idx3-ubyte") and str(empty / "MNIST" / "raw") in line
