"""Finished runs grouped as zoo-compare shows them: runs with the same settings but the seed form a group (one
experiment repeated over seeds), named by the settings that tell the groups apart. Shared by zoo-compare's tables
and by the views' comparison figures (zoo/views/)."""

import statistics
from pathlib import PurePath
from typing import Any

from zoo.errors import ZooError
from zoo.registry import task_class, task_names
from zoo.runs.hparams import differing_keys, final_tag

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
    """The settings, data and model aside, that tell the groups apart (zoo.runs.hparams.differing_keys: a family's
    own settings count only where they vary within one family on one data set)."""
    return [key for key in differing_keys([config for config, _ in groups]) if key not in ("data", "model")]


def data_text(config: dict) -> str:
    """A run's data as its name shows it: a user's file or folder by its stem (cancer.csv -> cancer), else the data
    set's name."""
    path = config.get("data.path")
    return (PurePath(str(path)).stem or str(config.get("data"))) if path else str(config.get("data"))


def panel_title(title: str, configs: list[dict]) -> str:
    """A panel's `title`, with the data set its runs share (their labels then leave it out)."""
    shared = {data_text(config) for config in configs}
    return f"{title} on {shared.pop()}" if len(shared) == 1 else title


# What a label leaves to others: the data (shown by its stem), the task (each panel and table is one task's), the
# model (shown as the family).
SAID_OTHERWISE = ("data", "data.path", "task", "model")


def labels(configs: list[dict]) -> list[str]:
    """A label for each of `configs` (the settings of a run or a group), made of what tells it apart from the others,
    in the order of a run's name (zoo.runs.folder.run_name): its data where the data differ, its family, then each
    other setting that differs, as key=value. Every figure's legend and every point's label is one of these."""
    keys = [key for key in differing_keys(configs) if key not in SAID_OTHERWISE]
    several_data = len({data_text(config) for config in configs}) > 1
    return [
        " ".join(
            [data_text(config)] * several_data
            + [setting_text(config.get("model"))]
            + [f"{key}={setting_text(config[key])}" for key in keys if key in config]
        )
        for config in configs
    ]


def logged_value(run: dict, name: str) -> float | None:
    """A run's final value `name` (train_samples, flops_forward...) from its event files (`run["events"]`): its
    scalar `zoo/<name>`, or `hp/<name>` in runs from before."""
    scalars = run["events"].Tags()["scalars"]
    tag = next((tag for tag in (final_tag(name), f"hp/{name}") if tag in scalars), None)
    return run["events"].Scalars(tag)[-1].value if tag else None


def order(value) -> tuple:
    """Sort numbers by size, then text, then missing values."""
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value)) if value is not None else (2, 0, "")


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def spread(values) -> float | None:
    """The standard deviation of several values; None for one (a single run has no spread to show)."""
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) > 1 else None


def setting_text(value) -> str:
    """A setting as it would be typed on the command line: 128, 0.001, 3e-05, cnn."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)
