"""zoo-predict, zoo-generate and zoo.load run a trained network with torch alone: each command, started as a user
starts it on a real checkpoint, imports nothing of the training stack (Lightning, Hydra, torchmetrics, TensorBoard).
Python's own record of every import (PYTHONPROFILEIMPORTTIME) says what the process imported, start to end.
tests/test_layers.py checks the same from the source, for every path through the code."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, TINY, trained_once

pytestmark = pytest.mark.slow  # every test here trains or starts a process (pytest -m "not slow" leaves them out)

TRAINING_STACK = {"lightning", "pytorch_lightning", "lightning_fabric", "torchmetrics", "hydra", "tensorboard"}
FAST = [*TINY, "logger=none"]


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory, data_dir):
    return trained_once(tmp_path_factory, data_dir, "model=cnn", "task.views=null", *FAST)


@pytest.fixture(scope="module")
def language_model_run(tmp_path_factory, data_dir):
    return trained_once(tmp_path_factory, data_dir, "data=text", "model=linear", *FAST)


def imports_of(*command: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `command` (an installed console script, or python) as a process; what it printed, and every module it
    imported."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    modules = {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # the first line is the header
    assert "torch" in modules and len(modules) > 100
    return result, modules


def training_stack(modules: set[str]) -> list[str]:
    return sorted(module for module in modules if module.split(".")[0] in TRAINING_STACK)


def script(name: str) -> str:
    """The console script pip installed beside this Python (zoo-predict), as a user runs it."""
    return str(Path(sys.executable).parent / name)


def test_zoo_predict_imports_nothing_of_training(classifier_run, tmp_path):
    np.save(tmp_path / "signals.npy", np.random.default_rng(0).normal(size=(3, 40)).astype(np.float32))
    output = tmp_path / "predictions.csv"
    result, modules = imports_of(
        script("zoo-predict"), f"ckpt={classifier_run}", f"input={tmp_path / 'signals.npy'}", f"output={output}"
    )
    assert "predicted 3 inputs" in result.stdout and len(output.read_text().splitlines()) == 4
    assert "zoo.models.cnn" in modules and "zoo.inference.network" in modules
    assert not training_stack(modules)


def test_zoo_generate_imports_nothing_of_training(language_model_run):
    result, modules = imports_of(script("zoo-generate"), f"ckpt={language_model_run}", "length=20", "seed=1")
    assert result.stdout.startswith("The ") and len(result.stdout) >= 24
    assert not training_stack(modules)


def test_zoo_load_imports_nothing_of_training(classifier_run):
    code = (
        f"import numpy as np, zoo; model = zoo.load({str(classifier_run)!r}); "
        "print(model.probabilities(np.zeros((2, 40), dtype=np.float32)).shape)"
    )
    result, modules = imports_of(sys.executable, "-c", code)
    assert result.stdout.strip() == "torch.Size([2, 10])"
    assert not training_stack(modules)
