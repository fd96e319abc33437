"""The model registry: each family registers a builder under a short name and the task it serves (timm's and
torchvision's registries are leaf modules too: the families import this module, never the package). A name registered
twice for one task is an error, not a silent replacement."""

import inspect
from collections.abc import Callable

from torch import nn

_BUILDERS: dict[tuple[str, str], Callable[..., nn.Module]] = {}
# Families that cannot serve a task, by (task, name), with the reason: what `build_function` says instead.
_REFUSED: dict[tuple[str, str], str] = {}
# Tasks whose networks are another task's: (that task, what the data declares renamed to that task's names).
BORROWED = {"regression": ("classification", {"num_outputs": "num_classes"})}


def register(name: str, task: str = "classification") -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make `name` buildable for `task` through `zoo.models.build(name, ...)`."""

    def add(builder):
        if (task, name) in _BUILDERS and _BUILDERS[(task, name)] is not builder:
            raise ValueError(
                f"model {name!r} is registered for {task} twice: by {_BUILDERS[(task, name)].__qualname__} and "
                f"{builder.__qualname__}; give one of them another name"
            )
        _BUILDERS[(task, name)] = builder
        return builder

    return add


def refuse(name: str, task: str, why: str) -> None:
    """Say once, in the family's own module, why `name` has no builder for `task`: `zoo.models.build` then refuses it
    in one line with that reason."""
    _REFUSED[(task, name)] = why


def builders() -> dict[tuple[str, str], Callable[..., nn.Module]]:
    """Every registered builder, by (task, name)."""
    return dict(_BUILDERS)


def served_task(task: str) -> str:
    """The task whose builders `task` uses (its own, or the one it borrows from)."""
    return BORROWED.get(task, (task, {}))[0]


def list_models(task: str = "classification") -> list[str]:
    """The families that build networks for `task`."""
    task = served_task(task)
    return sorted(name for served, name in _BUILDERS if served == task)


def build_function(name: str, task: str = "classification") -> Callable[..., nn.Module]:
    """The builder registered as `name` for `task`; its keyword defaults are the model's defaults
    everywhere (`conf/model/<name>.yaml`, with `conf/model/for_task/<task>/<name>.yaml` on top, repeats
    them for the command line, and a test keeps the two equal)."""
    task = served_task(task)
    if (task, name) not in _BUILDERS:
        if (task, name) in _REFUSED:
            raise ValueError(
                f"model={name} cannot do {task.replace('_', ' ')}: {_REFUSED[(task, name)]}; choose one of "
                f"{', '.join(list_models(task))}"
            )
        if name in {known for _, known in _BUILDERS}:
            raise ValueError(
                f"model={name} has no {task.replace('_', ' ')} version; choose one of {', '.join(list_models(task))}"
            )
        raise ValueError(f"model={name} is not a zoo model; choose one of {', '.join(list_models(task))}")
    return _BUILDERS[(task, name)]


def settings_of(name: str, task: str = "classification") -> set[str]:
    """The builder's settings: its keyword arguments with defaults (what the data declares has none)."""
    return {
        p.name for p in inspect.signature(build_function(name, task)).parameters.values() if p.default is not p.empty
    }
