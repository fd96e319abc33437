"""Finished runs grouped as zoo-compare shows them: runs with the same settings but the seed form a group (one
experiment repeated over seeds), named by the settings that tell the groups apart. Shared by zoo-compare's tables
and by the views' comparison figures (zoo/views/)."""

import statistics
from typing import Any

from zoo.errors import ZooError
from zoo.registry import task_class, task_names

# What changes between the repeats of one experiment (its seeds, and the test folds of a cross-validation:
# data.folds=K data.fold=i); every other logged hyperparameter is a setting.
REPEAT_KEYS = {"seed", "data.fold"}


def task_of(hparams: dict) -> Any:
    """The task class a run declares in its HPARAMS row (runs from before tasks were all classifications). An
    event file is data: only zoo's own tasks (conf/task/) are imported."""
    name = hparams.get("task", "classification")
    if name not in task_names():
        raise ZooError(
            f"a run logged task {name!r}, which this zoo does not know; compare it with the zoo that trained it"
        )
    return task_class(name)


def score_columns(task) -> tuple[str, str]:
    """The table's two result columns for a task: its headline test metric and its best validation value."""
    return task.headline.replace("/", "_"), task.best_metric().replace("/", "_")


def settings(run: dict) -> dict:
    return {key: value for key, value in run["hparams"].items() if key not in REPEAT_KEYS}


def group_runs(runs: list[dict]) -> list[tuple[dict, list[dict]]]:
    """Runs with equal settings, as (settings, runs) pairs."""
    groups: dict[tuple, tuple[dict, list[dict]]] = {}
    for run in runs:
        key = tuple(sorted(settings(run).items()))
        groups.setdefault(key, (settings(run), []))[1].append(run)
    return list(groups.values())


def distinguishing_keys(groups: list[tuple[dict, list[dict]]]) -> list[str]:
    """The settings, data and model aside, that tell the groups apart. A family's own settings count only
    where they vary within one model: that an MLP's `model.dim` differs from a CNN's says nothing new."""
    keys = sorted({key for config, _ in groups for key in config} - {"data", "model"})
    shown = []
    for key in keys:
        if key.startswith("model."):
            varies = any(
                len({config.get(key) for config, _ in groups if config.get("model") == model}) > 1
                for model in {config.get("model") for config, _ in groups}
            )
        else:
            varies = len({config.get(key) for config, _ in groups}) > 1
        if varies:
            shown.append(key)
    return shown


def keys_within_models(groups: list[tuple[dict, list[dict]]]) -> list[str]:
    """The settings that tell apart groups of one model: what a figure's legend names beside the model
    (a setting that differs only from model to model, such as each family's budget, goes without saying)."""
    models = {config.get("model") for config, _ in groups}
    return [
        key
        for key in distinguishing_keys(groups)
        if any(len({config.get(key) for config, _ in groups if config.get("model") == model}) > 1 for model in models)
    ]


def order(value) -> tuple:
    """Sort numbers by size, then text, then missing values."""
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value)) if value is not None else (2, 0, "")


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def spread(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) > 1 else 0.0 if values else None


def setting_text(value) -> str:
    """A setting as it would be typed on the command line: 128, 0.001, 3e-05, cnn."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def label(config: dict, keys: list[str], runs: int) -> str:
    return (
        " ".join([setting_text(config.get("model"))] + [f"{key}={setting_text(config.get(key))}" for key in keys])
        + f" ({runs})"
    )
