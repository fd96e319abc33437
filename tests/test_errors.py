"""Bad input: one line that names the key and the rule, a non-zero exit, no traceback, no training."""

import pytest
import torch

from conftest import train_py

BAD_OVERRIDES = [
    (["model=transformer", "model.dim=30"], "error: model=transformer on data=mnist1d: model.dim=30 must be "
                                            "divisible by model.heads=4"),
    (["model=transformer", "model.patch=16", "data=digits"], "model.patch=16 must divide the input size 8x8"),
    (["optimizer.lr=-0.1"], "error: optimizer.lr=-0.1 must be a positive number"),
    (["optimizer.lr=fast"], "error: optimizer.lr='fast' must be a positive number"),
    (["model=mlp", "model.depth=0"], "error: model=mlp on data=mnist1d: model.depth=0 must be a positive integer"),
    (["model.dim=-8"], "model.dim=-8 must be a positive integer"),
    (["trainer.max_epochs=0"], "error: trainer.max_epochs=0 must be a positive integer"),
    (["data.batch_size=0"], "error: data.batch_size=0 must be a positive integer"),
    (["seed=abc"], "error: seed='abc' must be an integer"),
    (["model=rnn", "model.cell=tcn"], "model.cell='tcn' must be one of rnn, lstm, gru"),
]


@pytest.mark.parametrize("overrides, message", BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES])
def test_bad_settings_fail_in_one_line_before_training(tmp_path, data_dir, overrides, message):
    result = train_py(*overrides, log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "zoo: training" not in result.stdout


@pytest.mark.parametrize("group, choice", [("model", "resnet"), ("data", "imagenet")])
def test_an_unknown_model_or_data_set_lists_the_choices(tmp_path, data_dir, group, choice):
    result = train_py(f"{group}={choice}", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"Could not find '{group}/{choice}'" in result.stderr
    expected = ["cnn", "linear", "mlp", "rnn", "transformer"] if group == "model" else ["mnist1d", "digits", "cifar10"]
    assert all(f"\t{option}\n" in result.stderr for option in expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_a_gpu(tmp_path, data_dir):
    result = train_py("trainer=gpu", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: trainer=gpu needs a CUDA device and none is available; use trainer=cpu or trainer=auto")


def test_a_torchvision_data_set_offline_without_files(tmp_path):
    empty = tmp_path / "empty"
    result = train_py("data=mnist", "data.download=false", log_dir=tmp_path, data_dir=empty)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: data=mnist: no train-images-idx3-ubyte") and str(empty / "MNIST" / "raw") in line
