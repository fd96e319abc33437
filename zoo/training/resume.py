"""Continuing a run: `python train.py resume=<run>` trains on with the settings saved in its checkpoint.

The command line may repeat the run's own settings (a requeued cluster job runs its command again, with
resume= added), change trainer.max_epochs to lengthen or shorten the run, and give paths.data_dir anew
(where the data lies belongs to the machine, not to the run). Any other setting that differs from the
saved one is refused: the run would not be the same run any more.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from zoo.configs import CONFIG_DIR, plain
from zoo.errors import ZooError
from zoo.runs.checkpoint import load_checkpoint, run_record, stored_config
from zoo.runs.folder import Run, RunRecord, absolute
from zoo.training.schedules import FIXED_LENGTH

# Where the data sets lie: the command line's value, if it gives one, replaces the run's.
DATA_DIR_KEYS = ("paths.data_dir", "data.data_dir")
UNSET = object()


def resumed_run(composed: DictConfig, resume: str, overrides: list[str]) -> tuple[DictConfig, RunRecord]:
    """The config and record of the run to continue (`resume`: a checkpoint, or a run directory for its last.ckpt),
    after checking the command line's `overrides` against its config. `composed` is the command line's own config.
    The run's config is the one its checkpoint stores, with what the command line may change merged over it (a new
    trainer.max_epochs, where its data sets lie now); its record says it resumed from this checkpoint."""
    path = Path(resume)
    checkpoint_path = Run(path).last_checkpoint if path.is_dir() else path
    checkpoint = load_checkpoint(checkpoint_path)
    # A run folder that moved goes on where it lies now: its settings are compared as they read there.
    stored, record = relocated(
        stored_config(checkpoint), run_record(checkpoint), Path(composed.paths.output_dir).resolve()
    )
    saved, given = leaves(stored), leaves(plain(composed))
    data_dir, max_epochs = None, None
    for override, key, named in touched_keys(composed, overrides):
        if named and key in DATA_DIR_KEYS and key in given:
            data_dir = str(Path(given[key]).expanduser().resolve())
        elif named and key == "trainer.max_epochs" and key in given:
            max_epochs = given[key]
        else:
            check_same(key, saved, given, override, named, record.started_in)
    cfg = OmegaConf.create(stored)
    changes: dict = {}
    if max_epochs is not None and max_epochs != cfg.trainer.max_epochs:
        check_new_length(cfg, max_epochs, epochs_done(checkpoint))
        changes["trainer"] = {"max_epochs": max_epochs}
    if data_dir:
        changes["paths"] = {"data_dir": data_dir}
        if "data_dir" in cfg.data:
            changes["data"] = {"data_dir": data_dir}
        record = record.replace(data_dir=data_dir)
    resumed = OmegaConf.merge(cfg, changes) if changes else cfg
    assert isinstance(resumed, DictConfig)
    return resumed, record.replace(resumed_from=str(checkpoint_path.resolve()))


def relocated(stored: dict, record: RunRecord, folder: Path) -> tuple[dict, RunRecord]:
    """A run folder moved since it was written (copied to another machine, or its log folder renamed) goes on in the
    folder it now lies in: what its config and record say of the old folder (its checkpoints' folder, the log folder
    it lay in) now means the new one. A folder is data: the run writes where it is, not where a file says it was."""
    old_folder = Path(record.output_dir)
    if not record.output_dir or old_folder == folder:
        return stored, record
    moves = {str(old_folder): str(folder)}
    old_log_dir = Path(record.log_dir)
    if old_folder.parent == old_log_dir / "runs" and folder.parent.name == "runs":
        moves[str(old_log_dir)] = str(folder.parent.parent)

    def moved(value):
        if isinstance(value, dict):
            return {key: moved(child) for key, child in value.items()}
        if isinstance(value, list):
            return [moved(child) for child in value]
        if isinstance(value, str):
            for old, new in moves.items():  # the run folder first: it lies inside the log folder
                if value == old or value.startswith(old + os.sep) or value.startswith(f"sqlite:///{old}"):
                    return value.replace(old, new, 1)
        return value

    new_record = record.replace(output_dir=str(folder), log_dir=moves.get(str(old_log_dir), record.log_dir))
    return moved(stored), new_record


def requeued_checkpoint(run: Run) -> Path | None:
    """The last checkpoint a SLURM job left in its own run directory before it was requeued, which the
    job, run again, continues from by itself; None for every other run. hydra/launcher=slurm requeues a
    preempted or timed-out job (submitit calls the launcher's checkpoint(), which runs the same job
    again, in the same sweep directory: its `${now:...}` is resolved once, at submission); SLURM counts
    the restarts in SLURM_RESTART_COUNT. A first run, a run outside SLURM, or a requeued job that had
    not yet written a checkpoint starts afresh."""
    restarts = os.environ.get("SLURM_RESTART_COUNT", "")
    last = run.last_checkpoint
    return last if restarts.isdigit() and int(restarts) > 0 and last.is_file() else None


def epochs_done(checkpoint: dict) -> int:
    """The epochs trained to their end (a checkpoint's "epoch" is the index of the last one, or one more
    when it was written after training ended)."""
    return checkpoint["loops"]["fit_loop"]["epoch_progress"]["total"]["processed"]


def check_new_length(cfg: DictConfig, max_epochs: int, epochs_done: int) -> None:
    """A run may be lengthened (a finished one trains the extra epochs) or shortened, but not to fewer
    epochs than its checkpoint has done, and not where its schedule planned its whole course."""
    if max_epochs < epochs_done:
        raise ZooError(
            f"the run has trained {epochs_done} epochs already; trainer.max_epochs={max_epochs} "
            f"would end it before that: give {epochs_done} or more"
        )
    scheduler = cfg.get("scheduler") or {}
    if scheduler.get("_target_") in FIXED_LENGTH:
        name = scheduler["_target_"].rpartition(".")[2]
        raise ZooError(
            f"scheduler={name} planned its cycle for the run's {cfg.trainer.max_epochs} epochs; it "
            f"cannot change its length to trainer.max_epochs={max_epochs}: start a new run with "
            f"trainer.max_epochs={max_epochs}"
        )


def touched_keys(composed: DictConfig, overrides: list[str]) -> Iterator[tuple[str, str, bool]]:
    """(override, key, named) for every setting an override sets: the key it names (named), or for a
    config group (`model=mlp`) every setting of the group and every other setting the group's file
    changes, unless an override names it. A value derived from another setting (`${...}`) is left to
    that setting."""
    literal = leaves(OmegaConf.to_container(composed, resolve=False))
    parsed = OverridesParser.create().parse_overrides(overrides)
    groups = [o for o in parsed if (Path(CONFIG_DIR) / o.key_or_group).is_dir()]
    named = [o.key_or_group for o in parsed if o not in groups]
    last = {o.key_or_group: o for o in parsed}  # given twice, the last one counts
    for override in parsed:
        if override.key_or_group == "resume" or last[override.key_or_group] is not override:
            continue
        if override not in groups:
            yield override.input_line or "", override.key_or_group, True
            continue
        group = override.key_or_group
        # The other groups only: a named key is compared on its own, and may not exist without this group
        # (task.sample.length needs data=text, which chooses the language-model task).
        others = [o.input_line or "" for o in groups if o is not override]
        without = leaves(OmegaConf.to_container(compose(config_name="train", overrides=others), resolve=False))
        for leaf in dict.fromkeys([*literal, *without]):
            if leaf == "resume":  # what to continue, not a setting of the run (a requeued job sets it itself)
                continue
            changed = below(leaf, group) or literal.get(leaf, UNSET) != without.get(leaf, UNSET)
            if changed and not derived(literal.get(leaf)) and not any(below(leaf, key) for key in named):
                yield override.input_line or "", leaf, False


def below(leaf: str, key: str) -> bool:
    """`leaf` is the setting `key` or one of its settings."""
    return leaf == key or leaf.startswith(f"{key}.")


def leaves(node, prefix: str = "") -> dict:
    """{"a.b.c": value} for every value of nested dicts (a list is one value)."""
    if not isinstance(node, dict) or not node:
        return {prefix.rstrip("."): node}
    return {key: value for name, child in node.items() for key, value in leaves(child, f"{prefix}{name}.").items()}


def derived(value) -> bool:
    return isinstance(value, str) and "${" in value


def check_same(key: str, saved: dict, given: dict, override: str, named: bool, started_in: str) -> None:
    """The run's and the command line's values of `key` (and of every setting below it) must agree.
    `override` set it: by naming it, or as a config group's setting."""
    for leaf in dict.fromkeys(k for k in [*saved, *given] if below(k, key)):
        before, after = saved.get(leaf, UNSET), given.get(leaf, UNSET)
        if not same(leaf, before, after, started_in):
            where = "on the command line" if named else f"with {override}"
            raise ZooError(
                f"resume continues a run with its saved settings: {leaf} is {shown(leaf, before)} in the "
                f"run but {shown(leaf, after)} {where}; drop {override}, or start a new run to change it"
            )


def same(key: str, saved, given, started_in: str) -> bool:
    """Equal values; folders compare as absolute paths (the saved one relative to where the run was started, the
    given one to where it is resumed)."""
    return as_folder(key, saved, started_in) == as_folder(key, given)


def as_folder(key: str, value, started_in: str | None = None) -> Any:
    is_folder = key.startswith("paths.") or key.endswith(("_dir", "dirpath")) or key == "data.path"
    return absolute(value, started_in or None) if is_folder and isinstance(value, str) else value


def shown(key: str, value) -> str:
    value = as_folder(key, value)
    return "unset" if value is UNSET else "null" if value is None else str(value)
