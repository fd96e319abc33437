"""What every section of scripts/benchmark.py shares: running zoo, composing its config, the machine's line."""

import contextlib
import io
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
# What the accuracy and overhead sections measured against a target: (now, target, met), by measure (targets.py).
MEASURED: dict = {}

# A few steps of everything: checks that the script runs, says nothing about zoo.
QUICK = [
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=3",
    "++trainer.limit_test_batches=1",
    "logger=none",
    "callbacks.tensorboard_extras=null",
]


# A run that only gives a section something to measure (a checkpoint to predict with, an export): seconds, not minutes.
TINY_RUN = [
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=3",
    "++trainer.limit_val_batches=1",
    "++trainer.limit_test_batches=1",
    "logger=none",
]


def compose(overrides: list[str], output_dir: Path):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from zoo import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=[*overrides, f"paths.output_dir={output_dir}"])
    GlobalHydra.instance().clear()
    return cfg


@contextlib.contextmanager
def quiet(enabled: bool = True):
    """Keep a run's progress bar and summary out of the benchmark's output."""
    if not enabled:
        yield
        return
    sink, lightning_log = io.StringIO(), logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        lightning_log.setLevel(level)


def run_zoo(overrides: list[str], work: Path, verbose: bool = False) -> tuple[dict, float]:
    """One run as `zoo.train(...)` starts it in this process (the command line's door: Hydra composes the config,
    zoo checks and trains it), everything written under `work`; its metrics and its wall time."""
    import zoo

    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with quiet(not verbose):
        result = zoo.train(*overrides, f"paths.log_dir={work}", f"paths.data_dir={work.parent / 'data'}")
    return result, time.perf_counter() - start


def command(overrides: list[str]) -> str:
    return "python train.py " + " ".join(overrides)


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * statistics.stdev(values):.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


def train_py_run(overrides: list[str], work: Path, verbose: bool, threads: int = 0) -> tuple[dict, float, int]:
    """`python train.py` in a subprocess, writing under `work`: its metrics, wall time and steps per epoch.
    `threads`: torch threads of the run (0: torch's default)."""
    work.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(REPO / "train.py"),
        *overrides,
        f"paths.log_dir={work}",
        f"paths.data_dir={work.parent / 'data'}",
    ]
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}  # 0: torch's default
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=not verbose, text=True, env=env)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{(result.stderr or '')[-2000:]}")
    [metrics_path] = work.rglob("metrics.json")
    metrics = json.loads(metrics_path.read_text())
    import torch

    last = torch.load(metrics_path.parent / "checkpoints" / "last.ckpt", weights_only=True)
    return metrics, wall, last["global_step"] // (last["epoch"] + 1)  # saved at the end of epoch `epoch` (from 0)


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {gpu}; {torch.get_num_threads()} torch threads; "
        f"Python {platform.python_version()}, torch {torch.__version__}; "
        f"{date.today().isoformat()}"
    )
