"""A checkpoint file as zoo reads it: opened with `torch.load(weights_only=True)` only, its stored config checked
against zoo's own classes, and brought to the current layout by `migrate`. Nothing of training is imported here, so
the commands that only run a trained network (zoo-predict, zoo-generate, zoo.load) read checkpoints with torch alone;
zoo.callbacks.checkpointing writes them, from inside Lightning's loop.

Every checkpoint holds plain containers and tensors only; each carries the version of its layout (`zoo_format`), and
`migrate` turns a checkpoint of any earlier zoo into the current form as it is read, by zoo's readers and by
Lightning's resume alike.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo.errors import ZooError
from zoo.registry import check_stored_config
from zoo.runs.folder import RunRecord

if TYPE_CHECKING:  # only for annotations: imported where used, so that the inference commands stay light
    from omegaconf import DictConfig

# The layout zoo writes: `zoo_format` in every checkpoint. 3: the config as the user asked it, with the run's record
# beside it; 2: the config with what the run derived written into it; 1: every checkpoint written before the format.
FORMAT = 3
# What `hyper_parameters` holds beside the run's config: its record (zoo.runs.folder.RunRecord) and the data's
# description (a data module's `describe()`: its normalization, vocabulary, a table's encoding...).
BESIDE_THE_CONFIG = ("run", "dataset")
# A class that earlier configs named -> the one of conf/ that took its place (its settings still apply): zoo's own
# classes moved into the packages of zoo/ on 2026-12-07, and zoo's progress bar replaced Lightning's.
RENAMED_TARGETS = {
    "lightning.pytorch.callbacks.TQDMProgressBar": "zoo.callbacks.progress.progress_bar",
    "zoo.progress.progress_bar": "zoo.callbacks.progress.progress_bar",
    "zoo.checkpoints.BestCheckpoint": "zoo.callbacks.checkpointing.BestCheckpoint",
    "zoo.tensorboard_extras.TensorBoardExtras": "zoo.callbacks.tensorboard.TensorBoardExtras",
    "zoo.tensorboard_extras.ConfusionMatrix": "zoo.callbacks.tensorboard.ConfusionMatrix",
    "zoo.schedules.cosine": "zoo.training.schedules.cosine",
    "zoo.schedules.one_cycle": "zoo.training.schedules.one_cycle",
    "zoo.schedules.constant": "zoo.training.schedules.constant",
    # the SCALARS that open on the curves, and the learning rate of every step (2026-12-07)
    "lightning.pytorch.loggers.TensorBoardLogger": "zoo.callbacks.tensorboard.TensorBoardLogger",
    "lightning.pytorch.callbacks.LearningRateMonitor": "zoo.callbacks.trackers.LearningRate",
}


def load_checkpoint(path, map_location=None) -> dict:
    """Open a checkpoint safely, or fail with one line that says what is wrong with the file. Its stored
    config may name zoo's own classes only (zoo.registry): it is checked here, before anything is built."""
    checkpoint = open_safely(path, map_location)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ZooError(f"{path} is not a zoo checkpoint: it has no model weights (state_dict)")
    migrate(checkpoint, path)  # edits plain values only: renamed classes take their new names before the check
    check_stored_config(checkpoint.get("hyper_parameters"), path)
    return checkpoint


def migrate(checkpoint: dict, path) -> dict:
    """`checkpoint` in the current layout (changed in place, and returned). What format 1 may lack:
    - hyper_parameters.task: runs from before tasks were chosen by the data were all classifications;
    - dataset.model_inputs and dataset.task: a classifier's input shape and classes were stored flat;
    - callbacks.RandomState.ranks: one process's random state was stored alone;
    - callbacks.Throughput.first_step_seconds: none was timed apart.
    What format 2 lacks: the run's record (hyper_parameters.run), which its config held (the run's name, group and
    absolute paths): the record is read from there.
    Whatever the format, a class zoo's configs no longer name is renamed to the one that took its place
    (RENAMED_TARGETS)."""
    version = checkpoint.get("zoo_format", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise ZooError(
            f"{path} was written by a newer zoo (checkpoint format {version!r}; this zoo reads up to "
            f"{FORMAT}): update zoo to open it"
        )
    saved = checkpoint.get("hyper_parameters")
    rename_targets(saved)
    if isinstance(saved, dict):
        saved.setdefault(
            "task",
            {
                "_target_": "zoo.tasks.classification.Classification",
                "_partial_": True,
                "label_smoothing": saved.get("label_smoothing", 0.0),
            },
        )
        dataset = saved.get("dataset")
        if isinstance(dataset, dict) and "input_shape" in dataset and "num_classes" in dataset:
            dataset.setdefault(
                "model_inputs", {"input_shape": dataset["input_shape"], "num_classes": dataset["num_classes"]}
            )
        if isinstance(dataset, dict):
            dataset.setdefault("task", "classification")
        saved.setdefault("run", record_of_format_2(saved))
    callbacks = checkpoint.get("callbacks") or {}
    random_state = callbacks.get("RandomState")
    if isinstance(random_state, dict) and "ranks" not in random_state:
        callbacks["RandomState"] = {"ranks": [random_state]}
    if isinstance(callbacks.get("Throughput"), dict):
        callbacks["Throughput"].setdefault("first_step_seconds", 0.0)
    checkpoint["zoo_format"] = FORMAT
    return checkpoint


def rename_targets(node) -> None:
    """Every `_target_` below `node` (plain dicts and lists) that RENAMED_TARGETS names, renamed in place."""
    if isinstance(node, dict):
        if node.get("_target_") in RENAMED_TARGETS:
            node["_target_"] = RENAMED_TARGETS[node["_target_"]]
        for child in node.values():
            rename_targets(child)
    elif isinstance(node, list):
        for child in node:
            rename_targets(child)


def open_safely(path, map_location=None) -> Any:
    """What torch.save wrote to `path`, opened with weights_only=True, or one line saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... depending on the damage
        reason = " ".join(str(error).split())
        if "Weights only load failed" in reason:
            try:
                unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
            except Exception:  # not a file torch.save wrote (a NumPy array...): torch's reason would mislead
                raise ZooError(f"{path} is not a checkpoint zoo can open: not in torch.save's zip format") from None
            raise ZooError(
                f"{path} holds Python objects ({', '.join(unsafe[:3]) or 'code'}) that would run code "
                f"when loaded; zoo opens checkpoints with weights_only=True only, so it will not load "
                f"this file"
            ) from None
        raise ZooError(
            f"{path} is not a readable checkpoint (truncated, or not a checkpoint at all): {reason[:150]}"
        ) from None
    return checkpoint


def record_of_format_2(saved: dict) -> dict:
    """The record of a run written before records were kept: its config held what the run derived."""
    paths, data = saved.get("paths") or {}, saved.get("data") or {}
    log_dir = str(paths.get("log_dir") or "")
    return {
        "name": str(saved.get("run_name") or ""),
        "group": str(saved.get("group") or "zoo"),
        "output_dir": str(paths.get("output_dir") or ""),
        "log_dir": log_dir,
        "data_dir": str(paths.get("data_dir") or ""),
        "data_path": data.get("path"),
        "started_in": str(Path(log_dir).parent) if log_dir else "",
        "started": "",
        "task": str((saved.get("dataset") or {}).get("task", "classification")),
        "overrides": [],
        "resumed_from": saved.get("resume"),
    }


def stored_config(checkpoint: dict) -> dict:
    """The run's config as the user asked it (plain containers), as its checkpoint stores it."""
    return {key: value for key, value in checkpoint["hyper_parameters"].items() if key not in BESIDE_THE_CONFIG}


def run_record(checkpoint: dict) -> RunRecord:
    return RunRecord.from_dict(checkpoint["hyper_parameters"]["run"])


def saved_config(checkpoint: dict, data_dir: str | None = None, without_augmentation: bool = False) -> DictConfig:
    """The settings a run's objects are rebuilt from: its stored config with what its record decided (the run's name
    and group, absolute paths, so that it opens from any folder). Only where the data sets lie may be given anew
    (`data_dir`): that belongs to the machine, not the run. `without_augmentation`: for what only evaluates the
    model (data.augment changes training batches alone)."""
    from omegaconf import DictConfig, OmegaConf

    record = run_record(checkpoint)
    if data_dir:
        record = record.replace(data_dir=data_dir)
    config = OmegaConf.create(copy.deepcopy(stored_config(checkpoint)))
    settings = record.settings()
    if data_dir and "data_dir" in config.data:
        settings.setdefault("data", {})["data_dir"] = data_dir
    if "path" not in config.data:
        settings.pop("data", None)
    if without_augmentation and "augment" in config.data:
        settings.setdefault("data", {})["augment"] = None
    merged = OmegaConf.merge(config, settings)
    assert isinstance(merged, DictConfig)
    return merged
