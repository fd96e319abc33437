"""What zoo can build, and where each kind is listed once; everything that needs such a list derives it from here.

- tasks, data sets (and optimizers, schedules, loggers...): a config each in `conf/<group>/`, whose `_target_` names
  the class (Hydra's config groups are zoo's registry of them: `options`, `targets`, `task_class`);
- model families: the builders registered with `zoo.models.register` (`zoo.models.list_models`; their registry is
  zoo.models.registry);
- views: a module each in zoo/views/, named by the task configs' `views` (zoo.views lists them).

A checkpoint, a run folder or an export that arrives from elsewhere is data. Its config is rebuilt with Hydra's
`instantiate`, which imports and calls whatever a `_target_` names, so every `_target_` it holds is checked against
the targets of zoo's own configs (conf/**.yaml, which ship inside the package) before anything is imported or built,
and anything else is refused in one line that names the key and the value (`check_stored_config`).
"""

import functools
import importlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.configs import CONFIG_DIR
from zoo.errors import ZooError

TARGET_LINE = re.compile(r"^\s*_target_:\s*([\w.]+)\s*(#.*)?$")


@functools.cache
def known_targets() -> frozenset[str]:
    """Every `_target_` in zoo's configs: the tasks, data sets, optimizers, schedules, callbacks, loggers and
    the Trainer a zoo run is built from."""
    targets = set()
    for path in Path(CONFIG_DIR).rglob("*.yaml"):
        for line in path.read_text().splitlines():
            if match := TARGET_LINE.match(line):
                targets.add(match.group(1))
    return frozenset(targets)


def check_stored_config(config, source) -> None:
    """Raise ZooError, naming the key and its value, for the first `_target_` in `config` (nested dicts and
    lists of plain values, as a checkpoint stores them) that is not one of zoo's own classes."""
    for key, value in targets_in(config):
        if not isinstance(value, str) or value not in known_targets():
            raise ZooError(
                f"{source} names {key}={value!r}, which is not one of zoo's own classes; zoo builds "
                f"nothing a file names but its own, so it will not open this file"
            )


def targets_in(node, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) for every `_target_` below `node`, keys written as on the command line (task._target_)."""
    if isinstance(node, dict):
        for name, child in node.items():
            key = f"{prefix}{name}"
            if name == "_target_":
                yield key, child
            else:
                yield from targets_in(child, f"{key}.")
    elif isinstance(node, (list, tuple)):
        for index, child in enumerate(node):
            yield from targets_in(child, f"{prefix}{index}.")


def options(group: str) -> list[str]:
    """The options of a config group (`options("data")`: cifar10, digits, ...)."""
    return sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def task_names() -> list[str]:
    """The tasks zoo trains: one config each in conf/task/."""
    return options("task")


def targets(group: str) -> dict[str, str]:
    """Each option of a config group with the class its top-level `_target_` names."""
    found = {}
    for name in options(group):
        for line in (Path(CONFIG_DIR) / group / f"{name}.yaml").read_text().splitlines():
            if not line.startswith((" ", "\t")) and (match := TARGET_LINE.match(line)):
                found[name] = match.group(1)
    return found


def load_class(target: str) -> Any:
    """The class `target` names, imported only where it is one of zoo's own (known_targets)."""
    if target not in known_targets():
        raise ZooError(f"{target!r} is not one of zoo's own classes")
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def task_class(name: str) -> Any:
    """The task class of a task's name (`conf/task/<name>.yaml`)."""
    known = targets("task")
    if name not in known:
        raise ZooError(f"task {name!r} is not one of zoo's tasks ({', '.join(known)})")
    return load_class(known[name])


def task_declares(key: str, _root_) -> Any:
    """`${task_declares:monitor}` in a config: what the run's task class declares (conf/callbacks/ asks it which metric
    chooses the best checkpoint, and in which direction)."""
    return getattr(load_class(_root_.task._target_), key)


def optimization_direction(task_target: str) -> str:
    """`${zoo.direction:${task._target_}}` (conf/hparams_search/): Optuna's direction for what a job returns, the task's
    best validation value: "maximize" for a task whose best checkpoint has the highest value (accuracy), "minimize"
    for the lowest (loss)."""
    return {"max": "maximize", "min": "minimize"}[load_class(task_target).mode]


def absolute_path(path: str) -> str:
    """`${zoo.path:${paths.log_dir}}`: a folder as an absolute path, a relative one read from the folder the run is
    started in, so that what a run stores of it still points there when the run is resumed or opened elsewhere."""
    return os.path.abspath(os.path.expanduser(str(path)))


def register_resolvers() -> None:
    """The resolvers zoo's configs use (above), for the processes that resolve them."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("task_declares", task_declares, replace=True)
    OmegaConf.register_new_resolver("zoo.direction", optimization_direction, replace=True)
    OmegaConf.register_new_resolver("zoo.path", absolute_path, replace=True)
