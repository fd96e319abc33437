"""One training job, whichever door started it (zoo.training.command): its settings checked, its record derived from
Hydra's runtime (or taken from the run it continues), then trained (zoo.training.train). The config Hydra composed is
read, never written: what the job derives goes into its record (zoo.runs.folder.RunRecord)."""

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from zoo.configs import plain
from zoo.errors import ZooError
from zoo.registry import load_class
from zoo.runs.folder import Run, RunRecord, absolute, data_label, free_name, run_name
from zoo.training.checks import check_config, check_slurm_processes


def run_job(cfg: DictConfig, hydra: Any) -> dict:
    """Check `cfg`, derive the job's record from Hydra's runtime config `hydra` (or continue the run `resume=` names,
    or the one a requeued SLURM job left), train, and return the run's metrics."""
    output_dir = str(Path(hydra.runtime.output_dir).resolve())
    try:
        return checked_and_trained(cfg, hydra, output_dir)
    except ZooError:
        Run(output_dir).discard_if_unstarted()  # no folder is left for a run that never started
        raise


def checked_and_trained(cfg: DictConfig, hydra: Any, output_dir: str) -> dict:
    check_config(cfg)
    check_slurm_processes(cfg, hydra.runtime.choices.get("hydra/launcher"))
    from zoo.training.resume import requeued_checkpoint, resumed_run  # here: they import torch
    from zoo.training.train import train

    overrides = list(hydra.overrides.task)
    resume = cfg.get("resume")
    if not resume and (last := requeued_checkpoint(Run(output_dir))):
        print(f"zoo: requeued by SLURM: continuing from {last}", flush=True)
        resume = str(last)
    if resume:
        cfg, record = resumed_run(cfg, str(resume), overrides)
    else:
        record = new_record(cfg, overrides, output_dir, sweep_dir=hydra.sweep.dir if multirun(hydra) else None)
    return train(cfg, record)


def multirun(hydra: Any) -> bool:
    from hydra.types import RunMode

    return hydra.mode == RunMode.MULTIRUN


def new_record(cfg: DictConfig, overrides: list[str], output_dir: str, sweep_dir: str | None = None) -> RunRecord:
    """The record of a new run: its name (`run_name`, or <data>/<model>/<overrides>_<time>), its group (`group`, or
    "zoo", or in a multirun the multirun's folder, so that its runs are compared together), absolute paths, the task."""
    started = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    data = plain(cfg.data)
    name = cfg.get("run_name") or run_name(data_label(data, overrides), str(cfg.model.name), overrides, started)
    log_dir = absolute(cfg.paths.log_dir)
    # A second run of the same settings started in the same second is <name>_2: no two runs share a TensorBoard run.
    name = free_name(str(name), Path(log_dir) / "tensorboard")
    group = cfg.get("group") or (f"multirun_{Path(sweep_dir).name}" if sweep_dir else "zoo")
    return RunRecord(
        name=str(name),
        group=str(group),
        output_dir=output_dir,
        log_dir=log_dir,
        data_dir=absolute(cfg.paths.data_dir),
        data_path=absolute(data["path"]) if data.get("path") else None,
        started_in=os.getcwd(),
        started=started,
        task=load_class(cfg.task._target_).name,
        overrides=overrides,
    )
