"""The model registry: every architecture registers a builder under a short name and the task it serves.

A family may serve several tasks (`model=rnn` classifies signals and models text); each task's builder
takes what the data declares for that task, never numbers copied into a config:

- classification: `input_shape` (without the batch dimension) and `num_classes`;
- language_model: `vocab_size` and `context` (the longest sequence it is trained on).
- regression: what classification takes, with `num_outputs` for `num_classes`: a regressor is a family's
  classifier with one output per target (BORROWED).

Rows of a table (`table` among what the data declares) reach a family through zoo.models.table.

The other keyword arguments are the model's settings (`model.dim`, `model.depth`...), with the same
names and meanings in every task.
"""

import difflib
import inspect
from collections.abc import Callable

from torch import nn

_BUILDERS: dict[tuple[str, str], Callable[..., nn.Module]] = {}
# Tasks whose networks are another task's: (that task, what the data declares renamed to that task's names).
BORROWED = {"regression": ("classification", {"num_outputs": "num_classes"})}


def register(name: str, task: str = "classification") -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make `name` buildable for `task` through `build(name, ...)`."""

    def add(builder):
        _BUILDERS[(task, name)] = builder
        return builder

    return add


def builders() -> dict[tuple[str, str], Callable[..., nn.Module]]:
    """Every registered builder, by (task, name)."""
    return dict(_BUILDERS)


def list_models(task: str = "classification") -> list[str]:
    task = BORROWED.get(task, (task, {}))[0]
    return sorted(name for served, name in _BUILDERS if served == task)


def build_function(name: str, task: str = "classification") -> Callable[..., nn.Module]:
    """The builder registered as `name` for `task`; its keyword defaults are the model's defaults
    everywhere (`conf/model/<name>.yaml`, with `conf/model/for_task/<task>/<name>.yaml` on top, repeats
    them for the command line, and a test keeps the two equal)."""
    task = BORROWED.get(task, (task, {}))[0]
    if (task, name) not in _BUILDERS:
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


def build(name: str, data_inputs: dict, task: str = "classification", **settings) -> nn.Module:
    """Build model `name` for `task` from what the data declares (`data_inputs`: the module docstring).

    A setting whose value is None is left to the builder's default: a task's config sets the settings
    that mean nothing for it to null (a language model has no `pool`). Raises ValueError with a
    one-line message naming the key and the rule when the settings or the input cannot work.
    """
    builder = build_function(name, task)
    known = settings_of(name, task)
    settings = {key: value for key, value in settings.items() if value is not None}
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = (
                f"did you mean model.{close[0]}?" if close else f"its settings are {', '.join(sorted(known)) or 'none'}"
            )
            for_task = "" if task == "classification" else f" for {task.replace('_', ' ')}"
            raise ValueError(f"model.{key} is not a setting of model={name}{for_task}; {hint}")
    _served, renamed = BORROWED.get(task, (task, {}))
    inputs = {renamed.get(key, key): value for key, value in data_inputs.items()}
    table = inputs.pop("table", None)
    if table is not None:
        outputs = {key: value for key, value in inputs.items() if key != "input_shape"}
        return build_for_table(builder, table, outputs, settings)
    return builder(**inputs, **settings)


def rebuild(model: dict, data_inputs: dict, task: str) -> nn.Module:
    """The network a checkpoint or an export stores in plain values: `model`, the family's name and settings (the
    run's `model` config), and what the data declared (lists stored for tuples are tuples again). No weights yet."""
    settings = dict(model)
    name = settings.pop("name")
    inputs = {key: tuple(value) if isinstance(value, list) else value for key, value in data_inputs.items()}
    return build(name, inputs, task, **settings)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Importing the modules registers them.
from zoo.models import cnn, linear, mlp, rnn, transformer  # noqa: E402,F401
from zoo.models.table import build_for_table  # noqa: E402
