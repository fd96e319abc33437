"""A run's row of TensorBoard's HPARAMS tab, and the columns of every run in one log folder.

A run's row holds the settings that apply to it, read like the command line's overrides (`model.dim`,
`optimizer.lr`, `data.path`), and its final values (`zoo/test_acc`, `zoo/params`, what its views measured). A
setting that does not apply to a run (an MLP's `model.heads`, a table's `data.augment`, a regression's
`label_smoothing`) or that is unset (null) is absent from its row, never a neutral 0 or "-". Every value keeps the type
it has in the config: a whole number stays an int, a flag a bool, a list its command-line text (`[5,3,3]`).

Each finished run writes its row beside its event files (`hparams.json`, the same content as its HPARAMS session) and
refreshes the description of the whole log folder: the union of the rows' settings with their values, marked
`differs` where they tell runs apart, and the union of their final values, each task's headline first
(`experiment`). TensorBoard shows its columns (zoo.callbacks.tensorboard writes both).
"""

import functools
import inspect
import json
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from zoo.configs import is_number, plain
from zoo.files import write_text_atomically
from zoo.registry import load_class

# A run's row beside its event files, and where the description of the whole log folder lies in its TensorBoard root.
ROW_FILE = "hparams.json"
EXPERIMENT_FOLDER = ".hparams"
# The prefix of a run's final values among its scalars: after train/ and val/, so that TensorBoard's SCALARS, which
# orders its sections by name, opens on the training curves.
FINAL = "zoo/"
# What every finished run reports besides its task's metrics (the costs), by their names in metrics.json.
COST_VALUES = ("params", "train_time_s", "samples_per_s")

Setting = int | float | str | bool


@functools.cache
def model_keys() -> dict[str, type]:
    """Every model setting any family has (the model registry's builders, for every task), with its type: int, float
    or bool where every builder declares it so (int and float: float), else str (a list, `kernel=[5,3,3]`, or a
    choice of names)."""
    from zoo import models

    declared: dict[str, set[type]] = {}
    for (_, _), builder in models.builders().items():
        for parameter in inspect.signature(builder).parameters.values():
            if parameter.default is parameter.empty:
                continue  # what the data declares, not a setting
            kinds = set(typing.get_args(parameter.annotation) or [parameter.annotation]) - {type(None)}
            declared.setdefault(parameter.name, set()).update(kinds)
    keys: dict[str, type] = {}
    for name, kinds in sorted(declared.items()):
        if kinds <= {bool}:
            keys[name] = bool
        elif kinds <= {int}:
            keys[name] = int
        elif kinds <= {int, float}:
            keys[name] = float
        else:
            keys[name] = str
    return keys


def as_setting(value: Any, kind: type | None = None) -> Setting | None:
    """A config value as a row holds it: None stays None (the row leaves it out); `kind` (int, float, bool, str) where
    the setting declares one, else the value's own type; a list or a mapping as the command line writes it."""
    if value is None:
        return None
    if kind is int and is_number(value) and float(value).is_integer():
        return int(value)
    if kind is float and is_number(value):
        return float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(as_setting(item, str)) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{as_setting(item, str)}" for key, item in value.items()) + "}"
    if kind is str or not isinstance(value, (bool, int, float, str)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def _class_name(target: str | None) -> str | None:
    return target.rsplit(".", 1)[-1] if target else None


# The data settings a row shows where the data set has them: the claims' (docs/claims/), a user's file or folder and a
# table's target column, and how training batches are transformed. Each with its type.
DATA_KEYS: dict[str, type] = {
    "batch_size": int,
    "context": int,
    "horizon": int,  # a forecast's (data=series): steps ahead
    "lookback": int,  # and of history
    "train_fraction": float,
    "shape": str,
    "noise": float,
    "features": str,
    "path": str,
    "target": str,
}


def flat_hparams(cfg: DictConfig, device: str, precision: str, processes: int = 1) -> dict[str, Setting]:
    """The run's settings that apply to it, resolved and flat (a run's HPARAMS row, its MLflow and W&B parameters).
    `processes`: how many trained together (docs/devices.md)."""
    task = load_class(cfg.task._target_)
    model, data = plain(cfg.model), plain(cfg.data)
    optimizer = plain(cfg.optimizer)
    scheduler = plain(cfg.scheduler) if cfg.get("scheduler") else {}
    kinds = model_keys()
    settings: dict[str, Any] = {"task": task.name, "model": str(model["name"]), "data": str(data["name"])}
    settings |= {
        f"model.{key}": as_setting(value, kinds.get(key)) for key, value in sorted(model.items()) if key != "name"
    }
    settings |= {
        "optimizer": _class_name(optimizer.get("_target_")),
        "optimizer.lr": as_setting(optimizer.get("lr"), float),
        "optimizer.weight_decay": as_setting(optimizer.get("weight_decay"), float),
        "scheduler": _class_name(scheduler.get("_target_")),
    }
    settings |= {f"data.{key}": as_setting(data.get(key), kind) for key, kind in DATA_KEYS.items()}
    if data.get("folds"):  # cross-validation: runs that differ by fold alone are one configuration (REPEAT_KEYS)
        settings |= {
            "data.folds": as_setting(data["folds"], int),
            "data.fold": as_setting(data.get("fold") or 0, int),
            "data.repeats": as_setting(data.get("repeats") or 1, int),
        }
    if "dedupe" in data:  # a table's: repeated rows left out before splitting
        settings["data.dedupe"] = as_setting(data["dedupe"], bool)
    if "augment" in data:  # the random transformations of training batches, "none" without (data.augment=null)
        settings["data.augment"] = ",".join(f"{k}={v}" for k, v in (data["augment"] or {}).items()) or "none"
    max_steps = cfg.trainer.get("max_steps")
    settings |= {
        "trainer.max_epochs": as_setting(cfg.trainer.get("max_epochs"), int),
        "trainer.max_steps": as_setting(max_steps, int) if max_steps not in (None, -1) else None,
        "label_smoothing": as_setting(cfg.get("label_smoothing"), float) if task.smooths_labels else None,
        "seed": as_setting(cfg.seed, int),
        "precision": str(precision),
        "device": str(device),
        "processes": int(processes),
    }
    return {key: value for key, value in settings.items() if value is not None}


def final_tag(name: str) -> str:
    """The scalar a final value goes by: test/acc -> zoo/test_acc, params -> zoo/params."""
    return FINAL + name.replace("/", "_")


def hp_metrics(result: dict, task_metrics: Iterable[str]) -> dict[str, float]:
    """The final values of a finished run (its `result`, as metrics.json holds it) under their scalars' names, in the
    order HPARAMS lists them: the task's (`task_metrics`: its headline first), the costs, the training samples it saw
    and what its views measured."""
    keys = [*task_metrics, *COST_VALUES]
    values = {final_tag(key): float(result[key]) for key in keys if result.get(key) is not None}
    if "train" in (result.get("samples") or {}):
        values[final_tag("train_samples")] = float(result["samples"]["train"])
    return values | {final_tag(name): float(value) for name, value in (result.get("measured") or {}).items()}


# --- a run's row, and every row of a log folder -----------------------------------------------------------------------
def write_row(folder: Path, run: str, settings: dict[str, Setting], metrics: Iterable[str]) -> None:
    """The run's row beside its event files: its name, its settings and the names of its final values."""
    row = {"run": run, "hparams": settings, "metrics": list(metrics)}
    write_text_atomically(Path(folder) / ROW_FILE, json.dumps(row, indent=1) + "\n")


def read_row(folder: Path) -> dict | None:
    """The row a run wrote into `folder`, or None (a run that has not finished, or one from before zoo wrote rows)."""
    try:
        row = json.loads((Path(folder) / ROW_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(row, dict) and isinstance(row.get("hparams"), dict) and isinstance(row.get("metrics"), list):
        return row
    return None


def rows_under(root: Path) -> dict[str, dict]:
    """Every run's row under a TensorBoard root, by the folder it lies in (relative to the root)."""
    rows = {}
    for path in sorted(Path(root).rglob(ROW_FILE)):
        if EXPERIMENT_FOLDER not in path.relative_to(root).parts and (row := read_row(path.parent)) is not None:
            rows[str(path.parent.relative_to(root))] = row
    return rows


# --- the columns of every run in a log folder ------------------------------------------------------------------------
def kind_of(values: list[Setting]) -> type:
    """The one type of a setting's values across runs: bool, int or float where all are (int and float: float),
    else str."""
    kinds = {type(value) for value in values}
    for kind in (bool, int):
        if kinds == {kind}:
            return kind
    return float if kinds <= {int, float} else str


def differing_keys(runs: list[dict[str, Setting]]) -> list[str]:
    """The settings that tell `runs` (each a run's settings) apart, among the runs that have each. A family's own
    setting (`model.*`) counts only where it varies within one family on one data set: that an MLP's `model.dim`
    differs from a CNN's, or a table's CNN has its own kernel, the `model` and `data` columns say already."""

    def varies(key: str, members: list[dict]) -> bool:
        return len({json.dumps(settings[key]) for settings in members if key in settings}) > 1

    keys = []
    for key in sorted({key for settings in runs for key in settings}):
        if key.startswith("model."):
            kinds: dict[tuple, list[dict]] = {}
            for settings in runs:
                kinds.setdefault((settings.get("model"), settings.get("data"), settings.get("data.path")), []).append(
                    settings
                )
            if any(varies(key, members) for members in kinds.values()):
                keys.append(key)
        elif varies(key, runs):
            keys.append(key)
    return keys


def numeric_order(value: Setting) -> tuple:
    return (0, value, "") if is_number(value) else (1, 0, str(value))


def experiment(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """The columns of HPARAMS for `rows`: every setting any run has, with its type, its values (`domain`: sorted,
    numbers by size; a float setting the interval they span) and whether it `differs`; and every final value any
    run has, ordered by where each run lists it, so that each task's headline comes first."""
    settings: list[dict] = []
    differing = set(differing_keys([row["hparams"] for row in rows]))
    for key in sorted({key for row in rows for key in row["hparams"]}):
        values = [row["hparams"][key] for row in rows if key in row["hparams"]]
        kind = kind_of(values)
        distinct = sorted({json.dumps(value): value for value in values}.values(), key=numeric_order)
        domain = [min(values), max(values)] if kind is float else distinct
        settings.append({"name": key, "type": kind.__name__, "domain": domain, "differs": key in differing})
    first: dict[str, int] = {}  # where a final value stands in the rows that list it: its best place, then its first
    seen: dict[str, int] = {}
    for row in rows:
        for position, name in enumerate(row["metrics"]):
            first[name] = min(first.get(name, position), position)
            seen.setdefault(name, len(seen))
    return settings, sorted(first, key=lambda name: (first[name], seen[name]))
