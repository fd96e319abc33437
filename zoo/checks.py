"""Checks of a run's settings made before any data is loaded, each failing with one line that
names the key, the value and the rule."""

import numbers

import torch
from omegaconf import DictConfig

from zoo.errors import ZooError


def _get(cfg: DictConfig, key: str):
    node = cfg
    for part in key.split("."):
        if node is None or part not in node:
            return None
        node = node[part]
    return node


def _require(cfg, key, rule: str, ok) -> None:
    value = _get(cfg, key)
    if value is not None and not ok(value):
        raise ZooError(f"{key}={value!r} {rule}")


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_config(cfg: DictConfig) -> None:
    _require(cfg, "seed", "must be an integer", is_int)
    _require(cfg, "optimizer.lr", "must be a positive number", lambda v: is_number(v) and v > 0)
    _require(cfg, "optimizer.weight_decay", "must be a number >= 0", lambda v: is_number(v) and v >= 0)
    _require(cfg, "data.batch_size", "must be a positive integer", lambda v: is_int(v) and v > 0)
    _require(cfg, "data.val_fraction", "must be a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)
    _require(cfg, "trainer.max_epochs", "must be a positive integer", lambda v: is_int(v) and v > 0)
    _require(cfg, "label_smoothing", "must be a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)
    if _get(cfg, "trainer.accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ZooError("trainer=gpu needs a CUDA device and none is available; use trainer=cpu or trainer=auto")
