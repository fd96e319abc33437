"""The model families, each built from what the data declares (the registry of builders is zoo.models.registry).

A family may serve several tasks (`model=rnn` classifies signals and models text); each task's builder
takes what the data declares for that task, never numbers copied into a config:

- classification: `input_shape` (without the batch dimension) and `num_classes`;
- language_model: `vocab_size` and `context` (the longest sequence it is trained on).
- translation: `source_vocab`, `target_vocab` and `shared_vocabulary` (whether the two are one vocabulary, which
  the network may then embed with one table); the network is an encoder-decoder that zoo.models.decoding drives.
- regression: what classification takes, with `num_outputs` for `num_classes`: a regressor is a family's
  classifier with one output per target (BORROWED).

Rows of a table (`table` among what the data declares) reach a family through zoo.models.table.

The other keyword arguments are the model's settings (`model.dim`, `model.depth`...), with the same
names and meanings in every task.
"""

import difflib

from torch import nn

# Importing the families registers them.
from zoo.models import cnn, linear, mlp, rnn, transformer  # noqa: F401
from zoo.models.registry import BORROWED, build_function, builders, list_models, register, settings_of
from zoo.models.table import build_for_table

__all__ = [
    "build",
    "build_function",
    "builders",
    "count_parameters",
    "list_models",
    "rebuild",
    "register",
    "settings_of",
]


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
