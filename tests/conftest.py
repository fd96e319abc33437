"""Shared helpers: real `train.py` runs on tiny budgets, in a subprocess where the process is what a test is about
(its exit on Ctrl-C, a kill, several processes, an installed command) and in this process elsewhere; Hydra's compose
API."""

import json
import os

# One torch thread in every test process, the runs it starts and the notebook's kernel (they inherit the
# environment): the suite runs on two pytest workers (pyproject.toml's addopts), and torch's own threads on
# top of them would make the processes wait for each other's cores (a test took 3 times as long).
os.environ["OMP_NUM_THREADS"] = "1"
import io
import logging
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

import zoo
import zoo.training.command
from zoo import CONFIG_DIR
from zoo.registry import register_resolvers

torch.set_num_threads(1)
register_resolvers()  # as the command line does: conf/callbacks/ and conf/hparams_search/ resolve through them

REPO = Path(__file__).resolve().parent.parent
# A handful of batches an epoch: enough to see every stage run, checkpoint and log.
# For a child that the test stops with SIGINT (Ctrl-C): the default handling, even where pytest itself runs
# with SIGINT ignored, as a background job of a non-interactive shell does (and children inherit that).
CTRL_C_ABLE = {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}
TINY = ["trainer.max_epochs=2", "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2", "data.batch_size=32"]


@pytest.fixture(autouse=True)
def sigint_handler_restored():
    """Each test leaves the Ctrl-C handling as it found it: zoo ignores Ctrl-C while an interrupted run exits
    (zoo.training.command, zoo.training.train), which in a pytest worker would outlast the test and hide Ctrl-C from
    a later one."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One data folder for the whole session, so MNIST-1D is generated once."""
    return tmp_path_factory.mktemp("data")


def train_py(*overrides: str, log_dir: Path, data_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python train.py` as a user would, writing only under `log_dir`."""
    command = [sys.executable, "train.py", *overrides, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def train_here(*overrides: str, log_dir: Path, data_dir: Path) -> dict:
    """`python train.py <overrides>` as zoo.train runs it in this process: the same config, checks, run folder and
    metrics (returned, with "run_dir"), without starting Python, torch and Lightning again (about 6 of a tiny run's
    7 seconds). A bad setting raises the one-line ZooError that train.py prints."""
    with mock.patch.dict(os.environ):  # Lightning's seed_everything sets PL_GLOBAL_SEED in it
        return zoo.train(*overrides, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}")


def trained_once(tmp_path_factory, data_dir: Path, *overrides: str) -> Path:
    """The folder of a finished run of `overrides` (budget included), trained in this process in a log folder of its
    own: what a module's shared fixtures train once for its tests to read."""
    log_dir = tmp_path_factory.mktemp("runs")
    result = train_here(*overrides, log_dir=log_dir, data_dir=data_dir)
    assert result["status"] == "finished"
    [run_dir] = run_dirs(log_dir)
    return run_dir


def train_cli(*arguments: str, log_dir: Path, data_dir: Path) -> subprocess.CompletedProcess:
    """`python train.py <arguments>` as train.py's own main() runs it in this process (command_here)."""
    return command_here(zoo.training.command.main, *arguments, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}")


def command_here(main: Callable, *arguments: str) -> subprocess.CompletedProcess:
    """A command's own `main()` (train.py's zoo.training.command.main, zoo-predict's zoo.inference.predict.main...)
    called in this process with `arguments` as its command line: its exit status and what it printed, as from a
    subprocess of it."""
    out, err = io.StringIO(), io.StringIO()
    status = 0
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with (
        mock.patch.object(sys, "argv", [main.__module__, *arguments]),
        mock.patch.dict(os.environ),
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        os.environ.pop("HYDRA_FULL_ERROR", None)  # as train_py: Hydra's own errors in one line
        try:
            returned = main()
            status = returned if isinstance(returned, int) else 0
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        finally:
            # What a Hydra job leaves in the process, which a process of its own would take with it: the job's
            # config (a later run would think itself inside a multirun), its logging (pointed at `err` and at
            # the job's train.log) and its environment (PL_GLOBAL_SEED...).
            HydraConfig.instance().cfg = None
            root.handlers[:] = handlers
            root.setLevel(level)
    return subprocess.CompletedProcess([main.__module__, *arguments], status, out.getvalue(), err.getvalue())


def free_port() -> int:
    """A TCP port of this machine that nothing listens on, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(port: int, path: str, body: dict | None = None):
    """GET `path` (POST `body` as JSON) from a local server; its JSON answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_dirs(log_dir: Path) -> list[Path]:
    """Every Hydra run directory under `log_dir` (single runs and multirun jobs) that wrote metrics."""
    return sorted(path.parent for path in log_dir.rglob("metrics.json"))


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def compose_config():
    """compose(overrides) -> the config `train.py` would get, with Hydra's global state cleared after."""

    def _compose(*overrides: str, output_dir: Path | None = None):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            extra = [f"paths.output_dir={output_dir}"] if output_dir else ["paths.output_dir=unused"]
            return compose(config_name="train", overrides=[*overrides, *extra])

    yield _compose
    GlobalHydra.instance().clear()
