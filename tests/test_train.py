"""Real `python train.py` runs in a subprocess, on budgets of seconds."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY, read_metrics, run_dirs, train_py
from zoo.models import list_models

FINAL_METRICS = ["train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc"]


def scalar_tags(run_dir) -> set[str]:
    return set(EventAccumulator(str(run_dir)).Reload().Tags()["scalars"])


@pytest.fixture(scope="module")
def every_family(tmp_path_factory, data_dir):
    """One multirun over all five families, the way a user compares them."""
    log_dir = tmp_path_factory.mktemp("families")
    result = train_py("-m", f"model={','.join(list_models())}", *TINY, log_dir=log_dir, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir, result


@pytest.mark.parametrize("model", list_models())
def test_each_family_trains_tests_checkpoints_and_logs(every_family, model):
    log_dir, _ = every_family
    [run_dir] = [d for d in run_dirs(log_dir) if read_metrics(d)["model"] == model]
    metrics = read_metrics(run_dir)
    assert metrics["data"] == "mnist1d" and metrics["params"] > 0
    assert metrics["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert all(0 <= metrics[key] <= 1 for key in FINAL_METRICS if key.endswith("acc") or key.endswith("best"))
    assert all(metrics[key] > 0 for key in ["train/loss", "val/loss", "test/loss", "train_time_s", "samples_per_s"])

    checkpoints = run_dir / "checkpoints"
    assert {p.name for p in checkpoints.iterdir()} == {"best.ckpt", "last.ckpt"}
    checkpoint = torch.load(checkpoints / "best.ckpt", weights_only=True)  # plain containers only
    assert checkpoint["hyper_parameters"]["model"]["name"] == model
    assert checkpoint["hyper_parameters"]["dataset"]["input_shape"] == [1, 40]

    [tb_run] = (log_dir / "tensorboard" / "mnist1d" / model).iterdir()
    assert set(FINAL_METRICS) <= scalar_tags(tb_run)


def test_a_multirun_gives_each_run_its_own_tensorboard_run(every_family):
    log_dir, result = every_family
    runs = sorted(p.parent.relative_to(log_dir / "tensorboard").parts[:2]
                  for p in (log_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert sorted(set(runs)) == [("mnist1d", model) for model in list_models()]
    assert "cnn on mnist1d" in result.stdout and "test/acc" in result.stdout  # the end-of-run summary


def test_runs_differing_only_in_an_override_are_named_apart(tmp_path, data_dir):
    result = train_py("-m", "model=linear", "seed=1,2", *TINY, log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted(p.name for p in (tmp_path / "tensorboard" / "mnist1d" / "linear").iterdir())
    assert len(names) == 2 and ",seed=1," in names[0] and ",seed=2," in names[1]


def test_the_same_seed_gives_the_same_metrics(tmp_path, data_dir):
    for attempt in ("first", "second"):
        result = train_py("model=cnn", "seed=3", *TINY, log_dir=tmp_path / attempt, data_dir=data_dir)
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = (read_metrics(run_dirs(tmp_path / attempt)[0]) for attempt in ("first", "second"))
    for key in FINAL_METRICS + ["params"]:
        assert first[key] == second[key], key


def test_digits_and_a_written_mnist_train_end_to_end(tmp_path, data_dir):
    from test_data import write_mnist_files

    write_mnist_files(tmp_path / "data", "MNIST")
    for data in ("digits", "mnist"):
        result = train_py(f"data={data}", "model=mlp", *TINY, log_dir=tmp_path / data,
                          data_dir=tmp_path / "data")
        assert result.returncode == 0, result.stderr[-3000:]
        [run_dir] = run_dirs(tmp_path / data)
        metrics = read_metrics(run_dir)
        assert metrics["data"] == data and 0 <= metrics["test/acc"] <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_trainer_trains_with_mixed_precision(tmp_path, data_dir):
    result = train_py("trainer=gpu", "model=transformer", *TINY, log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = run_dirs(tmp_path)
    metrics = read_metrics(run_dir)
    assert metrics["device"] == "cuda" and metrics["precision"] in ("bf16-mixed", "16-mixed")
