"""A checkpoint that arrives from elsewhere is data: a stored config naming a callable that is not one of zoo's own
classes is refused in one line at every door that opens checkpoints, and nothing it names runs.

Each crafted checkpoint is a valid weights_only checkpoint of a real run whose stored config names `torch.save`,
which would write a marker file if Hydra's instantiate ever called it (it did, before zoo checked: issue 21).

The doors are the commands' own main() in this process (conftest.command_here), but for `python train.py resume=`,
run as a process: the refusal's exit status and its one line end to end."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import zoo
import zoo.export.command
import zoo.inference.evaluate
import zoo.inference.generate
import zoo.inference.predict
from zoo.registry import known_targets, targets_in

from conftest import REPO, TINY, command_here, trained_once

TINY_ONE_EPOCH = ["trainer.max_epochs=1", *TINY[1:]]


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory, data_dir):
    return trained_once(tmp_path_factory, data_dir, "model=mlp", *TINY_ONE_EPOCH)


@pytest.fixture(scope="module")
def language_model_run(tmp_path_factory, data_dir):
    return trained_once(tmp_path_factory, data_dir, "data=text", "model=linear", *TINY_ONE_EPOCH)


def crafted(run_dir, tmp_path, key="task"):
    """A copy of the run folder whose checkpoints' stored `key` names torch.save, writing `marker` if called."""
    marker = tmp_path / "MARKER"
    folder = tmp_path / "received_run"
    shutil.copytree(run_dir, folder)
    for path in (folder / "checkpoints").glob("*.ckpt"):
        checkpoint = torch.load(path, weights_only=True)
        node = checkpoint["hyper_parameters"]
        *parents, last = key.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = {"_target_": "torch.save", "_args_": [[1], str(marker)]}
        torch.save(checkpoint, path)
    return folder, marker


COMMANDS = {
    "zoo.inference.evaluate": zoo.inference.evaluate.main,
    "zoo.inference.predict": zoo.inference.predict.main,
    "zoo.export.command": zoo.export.command.main,
    "zoo.inference.generate": zoo.inference.generate.main,
}


def command(*arguments):
    """`python -m zoo.<command> ...` by the command's own main() in this process; `python train.py ...` as a process."""
    if arguments[0] == "-m":
        return command_here(COMMANDS[arguments[1]], *arguments[2:])
    return subprocess.run([sys.executable, *arguments], cwd=REPO, capture_output=True, text=True, timeout=300)


def assert_refused(result, marker, key="task"):
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"names {key}._target_='torch.save', which is not one of zoo's own" in line
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("door", ["zoo-eval", "zoo-predict", "zoo-export", "resume"])
def test_no_door_runs_what_a_received_classifier_names(door, classifier_run, data_dir, tmp_path):
    folder, marker = crafted(classifier_run, tmp_path)
    signals = tmp_path / "signals.npy"
    np.save(signals, np.zeros((3, 40), dtype=np.float32))
    arguments = {
        "zoo-eval": ["-m", "zoo.inference.evaluate", f"ckpt={folder}", f"data_dir={data_dir}"],
        "zoo-predict": ["-m", "zoo.inference.predict", f"ckpt={folder}", f"input={signals}"],
        "zoo-export": ["-m", "zoo.export.command", f"ckpt={folder}", "format=onnx", f"output={tmp_path / 'out'}"],
        "resume": ["train.py", f"resume={folder}", "trainer.max_epochs=2", f"paths.data_dir={data_dir}"],
    }[door]
    assert_refused(command(*arguments), marker)
    assert not (tmp_path / "signals_predictions.csv").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_zoo_generate_runs_nothing_a_received_language_model_names(language_model_run, tmp_path):
    folder, marker = crafted(language_model_run, tmp_path)
    assert_refused(
        command("-m", "zoo.inference.generate", f"ckpt={folder / 'checkpoints' / 'last.ckpt'}", "length=5"), marker
    )


@pytest.mark.parametrize(
    "key",
    [
        "task",
        "data",
        "optimizer",
        "scheduler",
        "trainer",
        "callbacks.model_checkpoint",
        "logger.tensorboard",
        "task.views.robustness",
        "model.stem",
    ],
)
@pytest.mark.slow
def test_zoo_load_and_open_run_refuse_a_foreign_target_anywhere(key, classifier_run, tmp_path):
    folder, marker = crafted(classifier_run, tmp_path, key)
    for door in (zoo.load, zoo.open_run):
        with pytest.raises(zoo.ZooError, match=rf"names {key}\._target_='torch\.save', which is not one of zoo's"):
            door(folder)
    assert not marker.exists()


@pytest.mark.slow
def test_a_received_run_folder_opens_its_own_checkpoint(classifier_run, tmp_path):
    """metrics.json names the best checkpoint where the run wrote it, on the sender's machine: the folder's own
    file of that name is what opens, never the path the file names."""
    folder = tmp_path / "copy"
    shutil.copytree(classifier_run, folder)
    assert zoo.load(folder).checkpoint == str(folder / "checkpoints" / "best.ckpt")


def test_every_class_of_zoos_configs_is_known():
    """The known classes are read off conf/: every option of every config group composes to targets on the list,
    so every run zoo trains can be restored."""
    groups = ["model", "data", "optimizer", "scheduler", "trainer", "callbacks", "logger", "experiment"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=zoo.CONFIG_DIR, version_base="1.3"):
        for group in groups:
            for option in sorted((REPO / "conf" / group).glob("*.yaml")):
                cfg = compose(config_name="train", overrides=[f"{group}={option.stem}", "paths.output_dir=x"])
                for key, value in targets_in(OmegaConf.to_container(cfg)):
                    assert value in known_targets(), (group, option.stem, key, value)
    GlobalHydra.instance().clear()
    assert "torch.save" not in known_targets() and "zoo.tasks.classification.Classification" in known_targets()


@pytest.mark.parametrize("logged", ["base", "os", "language_model.torch"])
def test_zoo_compare_imports_only_zoos_own_tasks(logged):
    """zoo-compare knows a run's task by the name its event file logged: a name that is not one of conf/task/ is
    refused, never imported (zoo.tasks.base is a module, but not a task)."""
    from zoo.runs.grouping import task_of

    with pytest.raises(zoo.ZooError, match=f"a run logged task '{logged}', which this zoo does not know"):
        task_of({"task": logged})
    assert task_of({"task": "language_model"}).name == "language_model"
