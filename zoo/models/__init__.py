"""The model registry: every architecture registers a builder under a short name.

A model is always built from what the data declares (its input shape and class count), so no
config carries numbers like 784 or 40.
"""

import difflib
import inspect
from collections.abc import Callable, Sequence

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Class decorator: make `name` buildable through `build(name, ...)`."""

    def add(builder):
        _BUILDERS[name] = builder
        return builder

    return add


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def build_function(name: str) -> Callable[..., nn.Module]:
    """The builder registered as `name`; its keyword defaults are the model's defaults everywhere
    (conf/model/<name>.yaml repeats them for the command line, and a test keeps the two equal)."""
    if name not in _BUILDERS:
        raise ValueError(f"model={name} is not a zoo model; choose one of {', '.join(list_models())}")
    return _BUILDERS[name]


def build(name: str, input_shape: Sequence[int], num_classes: int, **cfg) -> nn.Module:
    """Build model `name` for inputs of `input_shape` (without the batch dimension).

    Raises ValueError with a one-line message naming the key and the rule when the settings or the
    input cannot work.
    """
    builder = build_function(name)
    known = set(inspect.signature(builder).parameters) - {"input_shape", "num_classes"}
    for key in cfg:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean model.{close[0]}?" if close else f"its settings are {', '.join(sorted(known)) or 'none'}"
            raise ValueError(f"model.{key} is not a setting of model={name}; {hint}")
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, **cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Importing the modules registers them.
from zoo.models import cnn, linear, mlp, rnn, transformer  # noqa: E402,F401
