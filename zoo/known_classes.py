"""The classes a stored config may name: zoo's own list, never what a file says.

A checkpoint, a run folder or an export that arrives from elsewhere is data. Its config is rebuilt with
Hydra's `instantiate`, which imports and calls whatever a `_target_` names, so every `_target_` it holds is
checked against the targets of zoo's own configs (conf/**.yaml, which ship inside the package) before
anything is imported or built, and anything else is refused in one line that names the key and the value.
"""

import functools
import re
from pathlib import Path

from zoo import CONFIG_DIR
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
            raise ZooError(f"{source} names {key}={value!r}, which is not one of zoo's own classes; zoo builds "
                           f"nothing a file names but its own, so it will not open this file")


def targets_in(node, prefix: str = ""):
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


def known_task_names() -> list[str]:
    """The tasks zoo trains: one config each in conf/task/."""
    return sorted(path.stem for path in (Path(CONFIG_DIR) / "task").glob("*.yaml"))
