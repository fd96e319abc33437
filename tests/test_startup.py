"""What a default run pays for before its first training step: Lightning, torch and their own imports, plus only what
the run needs of its own (Hydra, the TensorBoard logger, MNIST-1D). A heavy library pulled into that path by a new
task or view (pandas, scikit-learn, statsforecast, sacreBLEU, MLflow...) adds seconds to every run of every user:
this test names it. scripts/benchmark.py's overhead section measures the time itself (BENCHMARKS.md: within 1.2x of
a plain Lightning script); the inference commands have their own test (tests/test_inference_imports.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.slow  # two processes, one of them a run

# What a default run may import beyond what `import torch, lightning` imports, by top-level package: zoo and its
# sweeper plugin, Hydra and OmegaConf (and Hydra's grammar, antlr4); the TensorBoard logger (tensorboard, protobuf
# as google, absl); MNIST-1D (mnist1d, which imports requests and its own dependencies); attrs (Hydra's); and the
# test's own observer.
NEEDED = {
    "zoo", "hydra", "hydra_plugins", "omegaconf", "antlr4", "tensorboard", "google", "absl", "mnist1d",
    "requests", "urllib3", "idna", "certifi", "charset_normalizer", "attr", "observers",
}  # fmt: skip


def top_level_modules(code: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout))


def test_a_default_run_imports_nothing_heavy_before_its_first_step(tmp_path, data_dir):
    plain = top_level_modules(
        "import json, sys, torch, lightning; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    seen = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [
            sys.executable, "train.py", "trainer.max_epochs=1", "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1", f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}",
            "+callbacks.first_step._target_=observers.ModulesAtFirstStep", f"+callbacks.first_step.path={seen}",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    at_first_step = set(json.loads(seen.read_text()))
    added = at_first_step - plain - set(sys.stdlib_module_names)
    assert "zoo" in added and "tensorboard" in added  # it saw a real run
    assert added <= NEEDED, f"imported before the first training step: {sorted(added - NEEDED)}"
