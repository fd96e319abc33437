"""The checks of a job's settings, each failing with one line that names the key, the value and the rule: what Hydra
reports when it cannot compose the config (`composition_error`), the command line's group choices before any job
runs (`check_choices`), and the values of a composed config before anything is loaded (`check_config`)."""

import contextlib
import difflib
import importlib.metadata
import importlib.util
import re

from omegaconf import DictConfig

from zoo.configs import is_int, is_number
from zoo.errors import ZooError
from zoo.registry import options


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


def _require_present(cfg, key, rule: str, ok) -> None:
    """As _require, for a key that must have a value (null fails too)."""
    value = _get(cfg, key)
    if value is None or not ok(value):
        raise ZooError(f"{key}={'null' if value is None else repr(value)} {rule}")


def check_config(cfg: DictConfig) -> None:
    _require(cfg, "seed", "must be an integer", is_int)
    _require(cfg, "optimizer.lr", "must be a positive number", lambda v: is_number(v) and v > 0)
    _require(cfg, "optimizer.weight_decay", "must be a number >= 0", lambda v: is_number(v) and v >= 0)
    _require(cfg, "data.batch_size", "must be a positive integer", lambda v: is_int(v) and v > 0)
    _require(cfg, "data.val_fraction", "must be a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)
    _require(cfg, "data.eval_batch_size", "must be a positive integer", lambda v: is_int(v) and v > 0)
    if "data" in cfg and "train_fraction" in cfg.data:  # null too: it has no meaning
        _require_present(
            cfg,
            "data.train_fraction",
            "must be a number in (0, 1], the part of the training split to train on",
            lambda v: is_number(v) and 0 < v <= 1,
        )
    if "data" in cfg and not isinstance(cfg.data.get("augment"), (DictConfig, type(None))):
        value = cfg.data.augment
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ZooError(
            f"data.augment={shown} is not allowed: give its settings, e.g. data.augment.shift=4, or "
            f"data.augment=null for none (conf/data/{cfg.data.get('name')}.yaml)"
        )
    steps = _get(cfg, "trainer.max_steps")
    if is_int(steps) and steps > 0:  # Lightning's way to train by steps: max_epochs=-1 max_steps=N
        _require(
            cfg,
            "trainer.max_epochs",
            "must be a positive integer, or -1 to train by trainer.max_steps",
            lambda v: is_int(v) and (v > 0 or v == -1),
        )
    else:
        _require(
            cfg,
            "trainer.max_epochs",
            "must be a positive integer (or -1 with +trainer.max_steps=N to train by steps)",
            lambda v: is_int(v) and v > 0,
        )
    _require(cfg, "label_smoothing", "must be a number in [0, 1)", lambda v: is_number(v) and 0 <= v < 1)
    devices, nodes, batch = (
        _get(cfg, "trainer.devices"),
        _get(cfg, "trainer.num_nodes") or 1,
        _get(cfg, "data.batch_size"),
    )
    if is_int(devices) and is_int(nodes) and is_int(batch) and devices * nodes > 1 and batch % (devices * nodes):
        # What zoo.data.loaders.process_share refuses once the Trainer exists, said before Lightning starts
        processes = devices * nodes
        smaller = batch - batch % processes
        raise ZooError(
            f"data.batch_size={batch} is the batch of all {processes} processes together and must "
            f"divide evenly among them: use data.batch_size={smaller or processes} or {smaller + processes}"
        )
    _require(cfg, "trainer.compile", "must be true or false", lambda v: isinstance(v, bool))
    import torch

    on_cpu = _get(cfg, "trainer.accelerator") == "cpu" or not torch.cuda.is_available()
    if _get(cfg, "trainer.sync_batchnorm") is True and on_cpu:
        raise ZooError(
            "trainer.sync_batchnorm=true needs CUDA GPUs (torch's SyncBatchNorm runs on them only); "
            "drop it to normalize each process's share of the batch on its own"
        )
    if _get(cfg, "trainer.accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ZooError(
            "trainer=gpu and trainer=ddp need a CUDA device and none is available; use trainer=cpu or "
            "trainer=auto (several processes on the CPU: trainer=cpu trainer.devices=2 trainer.strategy=ddp)"
        )


def check_slurm_processes(cfg: DictConfig, launcher: str | None) -> None:
    """hydra/launcher=slurm asks SLURM for one task per device (conf/hydra/launcher/slurm.yaml): it needs the
    number of devices, which Lightning's "auto" only finds out on the node."""
    if launcher == "slurm" and not is_int(_get(cfg, "trainer.devices")):
        raise ZooError(
            f"hydra/launcher=slurm starts one task per device and needs their number, not "
            f"trainer.devices={_get(cfg, 'trainer.devices')}: give it, e.g. trainer.devices=4"
        )


def check_choices(overrides: list) -> None:
    """Every choice of one of zoo's config groups (`model=cnnn`, `-m model=mlp,cnnn`) names a config of conf/<group>/:
    checked on the command line's parsed overrides (Hydra's), before any job of a multirun trains."""
    for override in overrides:
        group = override.key_or_group
        if (
            group.startswith("hydra/")  # Hydra's own groups: Hydra lists their options, plugins' included
            or override.package is not None
            or not options(group)
            or (not override.is_sweep_override() and (override.value() is None))
        ):
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        for value in values:
            if isinstance(value, str) and value not in options(group):
                raise ZooError(
                    f"{group}={value} is not a config in conf/{group}; choose one of {', '.join(options(group))}"
                )


def composition_error(error: Exception, chosen: dict) -> ZooError:
    """What Hydra reports when it cannot compose a job's config, as one line (Hydra's own report runs to a dozen):
    an unknown key (with the nearest known one), a config group option that does not exist (with those that do), an
    override Hydra cannot read, a Hydra plugin that is not installed (a config that one of zoo's presets needs, not
    one the command line chose: `chosen` holds its group choices)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException):
        group, _, choice = (error.missing_cfg_file or "").rpartition("/")
        options_text = f"; choose one of {', '.join(error.options)}" if error.options else ""
        if group.startswith("hydra/") and chosen.get(group) != choice:
            asked = f"{group}={chosen[group]}" if group in chosen else "this sweep"
            return ZooError(
                f"{asked} needs a Hydra plugin that is not installed (Hydra has no {group}/{choice}): install zoo's "
                f'cluster extra, pip install -e ".[cluster]"'
            )
        return ZooError(f"{group}={choice} is not a config in conf/{group}{options_text}")
    if isinstance(error, OverrideParseException):
        return ZooError(f"cannot read the overrides: {str(error).splitlines()[0]}")
    located = re.match(r"Error locating target '([\w.]+)'", str(error))
    if located and importlib.util.find_spec(located.group(1).split(".")[0]) is None:
        return missing_package(located.group(1).split(".")[0])
    cause = error.__cause__
    key = getattr(cause, "full_key", None)
    if isinstance(error, ConfigCompositionException) and key and "not in struct" in str(cause):
        return ZooError(unknown_key_message(str(key), getattr(cause, "parent_node", None)))
    return ZooError(" ".join(str(error).split()))


def missing_package(module: str) -> ZooError:
    """A package a config needs that is not installed, with the extra of zoo's that brings it (read off zoo's own
    dependencies, pyproject.toml)."""
    extras = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        for requirement in importlib.metadata.requires("zoo") or []:
            name, _, marker = requirement.partition(";")
            if (
                re.split(r"[<>=!~ \[]", name.strip(), maxsplit=1)[0].lower().replace("-", "_") == module
                and "extra" in marker
            ):
                extras.append(marker.split("==")[-1].strip().strip("'\""))
    extra = next((e for e in extras if e != "dev"), None)
    how = f'install zoo\'s {extra} extra, pip install -e ".[{extra}]"' if extra else f"pip install {module}"
    return ZooError(f"this run needs {module}, which is not installed: {how}")


def unknown_key_message(key: str, parent) -> str:
    """`key` is not in its parent (`parent`: the config node Hydra could not add it to, or None)."""
    parent_key, _, name = key.rpartition(".")
    prefix = f"{parent_key}." if parent_key else ""
    known = [] if not isinstance(parent, DictConfig) or parent._is_none() else [str(k) for k in parent]
    known = [k for k in known if not k.startswith("_")]
    if parent_key and not known:
        # a group of settings that is off (null), such as data.augment on data=mnist
        return f"{parent_key} is null here, so {key} is not a setting; to give it: +{key}=..."
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {prefix}{close[0]}?" if close else f"known keys: {', '.join(known)}"
    return f"{key} is not a setting; {hint} (to add a new key on purpose: +{key}=...)"
