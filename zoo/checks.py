"""Checks of a run's settings made before any data is loaded, each failing with one line that
names the key, the value and the rule. Only light imports here: the command line runs these checks
before torch and Lightning load."""

import difflib
import importlib.util
import numbers

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

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


def _require_present(cfg, key, rule: str, ok) -> None:
    """As _require, for a key that must have a value (null fails too)."""
    value = _get(cfg, key)
    if value is None or not ok(value):
        raise ZooError(f"{key}={'null' if value is None else repr(value)} {rule}")


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


# Hydra's plugins behind zoo's sweep presets (the cluster extra, pyproject.toml): group=choice -> (module, package).
SUBMITIT = ("hydra_plugins.hydra_submitit_launcher", "hydra-submitit-launcher")
JOBLIB = ("hydra_plugins.hydra_joblib_launcher", "hydra-joblib-launcher")
OPTUNA = ("optuna", "optuna")  # zoo's own sweeper, hydra_plugins/zoo_optuna_sweeper, needs Optuna alone
PLUGINS = {
    "hydra/launcher": {
        "slurm": SUBMITIT,
        "submitit_slurm": SUBMITIT,
        "submitit_local": SUBMITIT,
        "local_parallel": JOBLIB,
        "joblib": JOBLIB,
    },
    "hydra/sweeper": {"zoo_optuna": OPTUNA},
}


def hparams_search(arguments: list[str]) -> str | None:
    """The conf/hparams_search/ preset the command line chooses (an Optuna study), if any."""
    chosen = [a.partition("=")[2] for a in arguments if a.lstrip("+").startswith("hparams_search=")]
    return chosen[-1] if chosen and chosen[-1] != "null" else None


def check_plugins(arguments: list[str]) -> None:
    """A sweep preset whose Hydra plugin is not installed fails in one line that says how to install it
    (Hydra's own report would only say that a config is missing)."""
    for argument in arguments:
        group, _, choice = argument.lstrip("+").partition("=")
        needed = OPTUNA if hparams_search([argument]) else PLUGINS.get(group, {}).get(choice)
        if needed and not installed(needed[0]):
            raise ZooError(
                f"{argument} needs {needed[1]}, which is not installed: install zoo's cluster extra, "
                f'pip install -e ".[cluster]"'
            )


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # no Hydra plugin at all: not even their namespace package, hydra_plugins
        return False


def one_value(override: Override) -> str:
    """An Optuna search range (interval) as one of its values, for composing a job to check."""
    value = override.value()
    if isinstance(value, IntervalSweep):
        return f"{override.get_key_element()}={value.start}"
    return override.input_line or ""


def check_overrides(arguments: list[str], config_dir: str) -> list[DictConfig]:
    """Compose the config of every job the command line asks for, before Hydra starts, so that a
    misspelled key or a missing config option fails in one line instead of Hydra's multi-line report,
    and a wrong type or range fails before torch and Lightning take seconds to load. Returns the configs.
    For an Optuna study (hparams_search=...), the jobs of its choices and of one value of each interval."""
    check_plugins(arguments)
    optuna = hparams_search(arguments) is not None
    multirun = optuna or any(a in ("-m", "--multirun") for a in arguments)
    given = [a for a in arguments if not a.startswith("-") and not a.startswith(("hydra.", "hydra/", "+hydra"))]
    try:
        parsed = OverridesParser.create().parse_overrides(given)
        if optuna:
            parsed = OverridesParser.create().parse_overrides([one_value(override) for override in parsed])
    except OverrideParseException as error:
        raise ZooError(f"cannot read the overrides: {str(error).splitlines()[0]}") from None
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch] if multirun else [given]
    configs = []
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        for job in jobs:
            try:
                cfg = compose(config_name="train", overrides=job)
            except MissingConfigException as error:
                group, _, choice = (error.missing_cfg_file or "").partition("/")
                options = f"; choose one of {', '.join(error.options)}" if error.options else ""
                raise ZooError(f"{group}={choice} is not a config in conf/{group}{options}") from None
            except ConfigCompositionException as error:
                key = getattr(error.__cause__, "full_key", None)
                if not key or "not in struct" not in str(error.__cause__):
                    raise ZooError(" ".join(str(error).split())) from None
                raise ZooError(unknown_key_message(key, [o for o in job if not o.startswith(key + "=")])) from None
            check_config(cfg)
            check_slurm_processes(cfg, arguments)
            configs.append(cfg)
    return configs


def check_slurm_processes(cfg: DictConfig, arguments: list[str]) -> None:
    """hydra/launcher=slurm asks SLURM for one task per device (conf/hydra/launcher/slurm.yaml): it needs the
    number of devices, which Lightning's "auto" only finds out on the node."""
    if "hydra/launcher=slurm" in arguments and not is_int(_get(cfg, "trainer.devices")):
        raise ZooError(
            f"hydra/launcher=slurm starts one task per device and needs their number, not "
            f"trainer.devices={_get(cfg, 'trainer.devices')}: give it, e.g. trainer.devices=4"
        )


def unknown_key_message(key: str, other_overrides: list[str]) -> str:
    parent, _, name = key.rpartition(".")
    cfg = compose(config_name="train", overrides=other_overrides)
    node = OmegaConf.select(cfg, parent) if parent else cfg
    known = [str(k) for k in node if not str(k).startswith("_")] if isinstance(node, DictConfig) else []
    close = difflib.get_close_matches(name, known, n=1)
    prefix = f"{parent}." if parent else ""
    if parent and node is None:  # a group of settings that is off (null), such as data.augment on data=mnist
        return f"{parent} is null here, so {key} is not a setting; to give it: +{key}=..."
    hint = f"did you mean {prefix}{close[0]}?" if close else f"known keys: {', '.join(map(str, known))}"
    return f"{key} is not a setting; {hint} (to add a new key on purpose: +{key}=...)"
