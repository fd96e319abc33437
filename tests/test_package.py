"""zoo as a user gets it from `pip install .`: a wheel built offline, installed into a folder of its own
(its dependencies are the test environment's), and every console script run from another folder."""

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, TINY

pytestmark = pytest.mark.slow  # every test here trains or starts a process (pytest -m "not slow" leaves them out)

# What the build reads; anything else in the checkout (logs, data, a stale build/) stays out of the wheel.
SOURCES = ["pyproject.toml", "README.md", "zoo", "conf", "hydra_plugins"]
SCRIPTS = {"zoo-train", "zoo-board", "zoo-compare", "zoo-eval"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, the folder it is installed into) for a wheel built from a copy of the checkout's sources."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    [wheel] = (root / "dist").glob("zoo-*.whl")
    # --no-compile: the only .pyc files are those of the runs below, which shows where their code came from.
    install = subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", root / "site", wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return wheel, root / "site"


def console_scripts(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(name).decode())
    return dict(entry_points["console_scripts"])


def test_the_wheel_carries_every_module_config_and_command(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
    # zoo's own Hydra sweeper ships beside it, in Hydra's namespace package for plugins (no __init__.py of its own).
    modules = {
        path.relative_to(REPO).as_posix() for top in ("zoo", "hydra_plugins") for path in (REPO / top).rglob("*.py")
    }
    assert "hydra_plugins/zoo_optuna_sweeper/sweeper.py" in modules and "hydra_plugins/__init__.py" not in files
    configs = {"zoo/conf/" + path.relative_to(REPO / "conf").as_posix() for path in (REPO / "conf").rglob("*.yaml")}
    assert "zoo/conf/train.yaml" in configs and "zoo/conf/model/cnn.yaml" in configs
    assert modules - files == set(), "modules missing from the wheel: list their package in pyproject.toml"
    assert configs - files == set()
    assert "zoo/data/elnino.csv" in files  # data=series's bundled series
    assert set(console_scripts(wheel)) >= SCRIPTS


def run_installed(command: list, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    """A console script as pip installed it, run from `cwd` with the installed package first on the path."""
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1"}
    for name in ("PYTHONDONTWRITEBYTECODE", "HYDRA_FULL_ERROR", "ZOO_DATA_DIR"):
        env.pop(name, None)  # bytecode is written: it shows which files ran
    result = subprocess.run(
        [site / "bin" / command[0], *command[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, f"{command[0]}: {result.stderr[-3000:]}"
    return result


def test_every_installed_command_works_from_another_folder(installed, tmp_path, data_dir):
    wheel, site = installed
    cwd, log_dir = tmp_path / "elsewhere", tmp_path / "logs"
    cwd.mkdir()
    run_installed(
        ["zoo-train", "model=cnn", *TINY, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}"], site, cwd
    )
    [run_dir] = (log_dir / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["model"] == "cnn"

    uses = {
        "zoo-eval": [f"ckpt={run_dir}", f"data_dir={data_dir}", "accelerator=cpu"],
        "zoo-compare": ["--logdir", str(log_dir / "tensorboard"), "--out", str(tmp_path / "compare")],
    }
    for script in set(console_scripts(wheel)) - {"zoo-train"}:
        run_installed([script, *uses.get(script, ["--help"])], site, cwd)  # --help: a command without a use here
    evaluated = json.loads((run_dir / "eval_metrics.json").read_text())
    assert evaluated["test/acc"] == pytest.approx(metrics["test/acc"])
    assert (tmp_path / "compare" / "comparison.md").read_text().count("| cnn ") == 1
    assert list(cwd.iterdir()) == []  # nothing written into the folder it was started from

    # The configs came from the wheel, and so did the code: installed without bytecode, it now has some.
    assert f"path: {site / 'zoo' / 'conf'}\n" in (run_dir / ".hydra" / "hydra.yaml").read_text()
    compiled = {path.name.split(".")[0] for path in (site / "zoo").rglob("*.pyc")}
    assert {"command", "train", "classification", "evaluate", "board", "cnn", "mnist1d"} <= compiled
