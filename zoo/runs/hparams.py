"""The one flat set of hyperparameters every run logs to TensorBoard's HPARAMS tab.

TensorBoard drops a column, or a whole run, when runs disagree on a hyperparameter's keys or types.
So every run logs the same keys with the same types, whatever its family: a key the family lacks gets
a neutral value of the key's type (0 for numbers, "-" for text). Keys read like the command line's
overrides (`model.dim`, `optimizer.lr`), so a column names the override that changes it.
"""

import functools
import inspect
import typing
from typing import Any

from omegaconf import DictConfig

from zoo.configs import plain
from zoo.registry import load_class


@functools.cache
def model_keys() -> dict[str, type]:
    """Every model setting any family has (the model registry's builders, for every task), with its column type: a
    number (int or float, or None) is a float column; text, a flag or a list (`kernel=[5,3,3]`) a text column."""
    from zoo import models

    keys: dict[str, type] = {}
    for (_, _), builder in models.builders().items():
        for parameter in inspect.signature(builder).parameters.values():
            if parameter.default is parameter.empty:
                continue  # what the data declares, not a setting
            kinds = set(typing.get_args(parameter.annotation) or [parameter.annotation]) - {type(None)}
            numeric = bool(kinds) and kinds <= {int, float}
            keys[parameter.name] = float if numeric and keys.get(parameter.name, float) is float else str
    return dict(sorted(keys.items()))


NEUTRAL: dict[type, float | str] = {float: 0.0, str: "-"}

# What the HPARAMS tab shows for every run, from the run's final metrics; each task adds its own (its
# `hp_metrics`, zoo/tasks/).
COST_METRICS = {"hp/params": "params", "hp/train_time_s": "train_time_s", "hp/samples_per_s": "samples_per_s"}


def as_type(value, kind: type) -> float | str:
    if value is None:
        return NEUTRAL[kind]
    if kind is float:
        return float(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _class_name(target: str | None) -> str:
    return target.rsplit(".", 1)[-1] if target else "-"


def flat_hparams(cfg: DictConfig, device: str, precision: str, processes: int = 1) -> dict:
    """The run's hyperparameters, resolved, flat, with fixed keys and types. `processes`: how many trained
    together (docs/devices.md)."""
    model, data = plain(cfg.model), plain(cfg.data)
    optimizer = cfg.optimizer
    scheduler = cfg.get("scheduler") or {}
    flat: dict[str, Any] = {
        "task": load_class(cfg.task._target_).name,
        "model": str(model["name"]),
        "data": str(cfg.data.name),
    }
    flat |= {f"model.{key}": as_type(model.get(key), kind) for key, kind in model_keys().items()}
    flat |= {
        "optimizer": _class_name(optimizer.get("_target_")),
        "optimizer.lr": float(optimizer.lr),
        "optimizer.weight_decay": float(optimizer.get("weight_decay", 0.0)),
        "scheduler": _class_name(scheduler.get("_target_")),
        "data.batch_size": float(cfg.data.batch_size),
        "data.context": float(cfg.data.get("context") or 0),
        # the data settings of the claims (docs/claims/); neutral where a data set lacks one
        "data.train_fraction": float(data.get("train_fraction", 1.0)),
        "data.shape": as_type(data.get("shape"), str),
        "data.noise": as_type(data.get("noise"), float),
        "data.features": as_type(",".join(data["features"]) if data.get("features") else None, str),
        # a user's own data: the folder or file, and a table's target column
        "data.path": as_type(data.get("path"), str),
        "data.target": as_type(data.get("target"), str),
        # cross-validation (data.folds=K data.fold=i): 0 folds is one test split; runs that differ by fold alone are
        # one configuration in zoo-compare (zoo.runs.grouping.REPEAT_KEYS)
        "data.folds": float(data.get("folds") or 0),
        "data.fold": float(data.get("fold") or 0),
        "data.repeats": float(data.get("repeats") or 1),
        "data.dedupe": as_type(data.get("dedupe", False), str),
        # the random transformations of training batches (data.augment), "none" without
        "data.augment": ",".join(f"{key}={value}" for key, value in (data.get("augment") or {}).items()) or "none",
        "trainer.max_epochs": float(cfg.trainer.max_epochs),
        "trainer.max_steps": float(cfg.trainer.get("max_steps") or -1),
        "label_smoothing": float(cfg.label_smoothing),
        "seed": float(cfg.seed),
        "precision": str(precision),
        "device": str(device),
        "processes": float(processes),
    }
    return flat


def hp_metrics(result: dict, task_metrics: dict[str, str]) -> dict:
    """The final metrics of a finished run, under the names the HPARAMS tab lists: the task's, the costs,
    the training samples it saw and what its views measured (`hp/<name>`)."""
    metrics = {
        name: float(result[key]) for name, key in (task_metrics | COST_METRICS).items() if result.get(key) is not None
    }
    if "train" in (result.get("samples") or {}):
        metrics["hp/train_samples"] = float(result["samples"]["train"])
    return metrics | {f"hp/{name}": float(value) for name, value in (result.get("measured") or {}).items()}
