"""docs/extending.md, followed to the letter in a copy of the repository: a new family, a new data set and a new view,
each one module and one config (and the family's import line), then `python train.py` with all three. Nothing else
in zoo lists them: the registries find them."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, TINY

pytestmark = pytest.mark.slow

FAMILY = """
    import math

    import torch
    from torch import nn

    from zoo.models.registry import register


    @register("tiny")
    class Tiny(nn.Module):
        table_input = "vector"  # what it reads of a table's rows ("vector" or "tokens")

        def __init__(self, input_shape, num_classes, dim: int = 16) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Flatten(), nn.Linear(math.prod(input_shape), dim), nn.ReLU(), nn.Linear(dim, num_classes)
            )

        def forward(self, x) -> torch.Tensor:
            return self.layers(x)
"""
DATA_SET = '''
    import torch

    from zoo.data.base import InMemoryDataModule


    class Ramps(InMemoryDataModule):
        """Noisy ramps of 16 points that rise or fall."""

        input_shape = (1, 16)
        num_classes = 2
        class_names = ("rising", "falling")

        def load(self):
            generator = torch.Generator().manual_seed(self.split_seed)
            labels = torch.randint(0, 2, (600,), generator=generator)
            ramp = torch.linspace(-1, 1, 16)
            noise = 0.5 * torch.randn(600, 16, generator=generator)
            signals = torch.where(labels[:, None] == 0, ramp, -ramp) + noise
            x = signals[:, None, :]
            return x[:500], labels[:500], x[500:], labels[500:]
'''
DATA_CONFIG = """
    _target_: zoo.data.ramps.Ramps
    name: ramps
    data_dir: ${zoo.path:${paths.data_dir}}
    batch_size: 32
    eval_batch_size: 1024
    val_fraction: 0.1
    train_fraction: 1.0
    seed: ${seed}
"""
VIEW = '''
    import lightning as L
    from lightning.pytorch.utilities import rank_zero_only

    from zoo.views.base import POSITIVE_INT, measuring, require


    class Confidence(L.Callback):
        """After testing: the mean probability the tested network gives its own answer, over the test split."""

        def __init__(self, batch: int = 256) -> None:
            require(batch=(batch, POSITIVE_INT))
            self.batch, self.results = batch, {}

        @rank_zero_only
        def on_test_end(self, trainer, pl_module) -> None:
            inputs, _ = trainer.datamodule.splits["test"]
            total = 0.0
            with measuring(pl_module.net) as net:
                for start in range(0, len(inputs), self.batch):
                    probabilities = net(inputs[start : start + self.batch]).softmax(dim=1)
                    total += float(probabilities.max(dim=1).values.sum())
            self.results = {"mean_confidence": total / len(inputs)}
'''


def write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    """A copy of the repository with the three additions, made by docs/extending.md's steps."""
    copy = tmp_path_factory.mktemp("extended")
    ignored = shutil.ignore_patterns("__pycache__")
    for folder in ("zoo", "conf"):
        shutil.copytree(REPO / folder, copy / folder, ignore=ignored)
    shutil.copy(REPO / "train.py", copy / "train.py")
    # A family: the module, the import that registers it, the config.
    write(copy / "zoo" / "models" / "tiny.py", FAMILY)
    package = copy / "zoo" / "models" / "__init__.py"
    imports = "from zoo.models import cnn, linear, mlp, rnn, transformer"
    assert imports in package.read_text()
    package.write_text(package.read_text().replace(imports, f"{imports}, tiny"))
    write(copy / "conf" / "model" / "tiny.yaml", "name: tiny\ndim: 16\n")
    # A data set: the module and the config.
    write(copy / "zoo" / "data" / "ramps.py", DATA_SET)
    write(copy / "conf" / "data" / "ramps.yaml", DATA_CONFIG)
    # A view: the module and its entry under the task's views.
    write(copy / "zoo" / "views" / "confidence.py", VIEW)
    task = copy / "conf" / "task" / "classification.yaml"
    task.write_text(task.read_text() + "  confidence:\n    _target_: zoo.views.confidence.Confidence\n    batch: 128\n")
    return copy


def test_a_new_family_data_set_and_view_train_together(extended, tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "model=tiny", "data=ramps", *TINY, f"paths.log_dir={tmp_path}"],
        cwd=extended,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [metrics_file] = tmp_path.rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["status"] == "finished" and metrics["model"] == "tiny" and metrics["data"] == "ramps"
    assert metrics["params"] == 16 * 16 + 16 + 16 * 2 + 2
    assert 0.5 <= metrics["measured"]["mean_confidence"] <= 1


def test_the_registries_list_what_was_added(extended):
    """What zoo derives from its registries (the tests over every family, the HPARAMS columns, the views) sees them."""
    script = (
        "from zoo import models, registry, views; "
        "print(models.list_models(), registry.options('data'), [m.__name__ for m in views.view_modules()])"
    )
    listed = subprocess.run([sys.executable, "-c", script], cwd=extended, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "'tiny'" in listed.stdout and "'ramps'" in listed.stdout and "zoo.views.confidence" in listed.stdout


def test_a_family_registered_twice_is_refused(extended):
    """A second family of an existing name would silently replace it: the registry refuses it, naming both."""
    clash = "from zoo.models.registry import register\n@register('tiny')\nclass Other: pass\n"
    script = f"import zoo.models; exec({clash!r})"
    result = subprocess.run([sys.executable, "-c", script], cwd=extended, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "model 'tiny' is registered for classification twice" in result.stderr
