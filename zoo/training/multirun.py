"""What zoo adds to Hydra's multiruns: a callback that ends a multirun with the list of its failed jobs
and a non-zero exit, and what a failed job gives a sweeper that needs a number."""

import json
import math
import shutil
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode

from zoo.files import write_text_atomically
from zoo.registry import load_class
from zoo.training.distributed import rank_started_outside


class FailureSummary(Callback):
    """Each job records how it ended in `<sweep dir>/.jobs/<job number>.json`, from whichever process
    ran it (Hydra calls `on_job_end` there: this process, a joblib worker or a SLURM node); the
    multirun's own process reads the records at its end. Files, because a launcher's workers share no
    memory with it."""

    def on_multirun_start(self, config, **kwargs) -> None:
        shutil.rmtree(records_dir(config), ignore_errors=True)  # a sweep dir used again: this multirun's only

    def on_job_end(self, config, job_return, **kwargs) -> None:
        # Only a multirun's jobs have numbers; of a job that SLURM runs as several tasks, the first one reports.
        if config.hydra.mode != RunMode.MULTIRUN or rank_started_outside() != 0:
            return
        value = job_return._return_value  # read directly: `.return_value` re-raises a job's exception
        if isinstance(value, BaseException):
            value = {"failed": f"{type(value).__name__}: {value}"}
        failed = value["failed"] if isinstance(value, dict) and "failed" in value else None
        record = records_dir(config) / f"{config.hydra.job.num}.json"
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(record, json.dumps({"overrides": list(job_return.overrides), "failed": failed}) + "\n")

    def on_multirun_end(self, config, **kwargs) -> None:
        records = sorted(records_dir(config).glob("*.json"), key=lambda path: int(path.stem))
        jobs = [json.loads(path.read_text()) for path in records]
        failures = [job for job in jobs if job["failed"] is not None]
        if not failures:
            return
        # Name each failed job by what sets it apart from the others (its sweep values).
        shared = set.intersection(*(set(job["overrides"]) for job in jobs))
        print(f"\n{len(failures)} of {len(jobs)} jobs failed:", file=sys.stderr)
        for job in failures:
            name = " ".join(o for o in job["overrides"] if o not in shared) or " ".join(job["overrides"])
            print(f"  {name}: {job['failed']}", file=sys.stderr)
        sys.exit(1)


def records_dir(config) -> Path:
    return Path(config.hydra.sweep.dir) / ".jobs"


class FailedJob(dict):
    """What `hydra_main` returns for a job of a multirun that failed: {"failed": why}, which FailureSummary
    lists. A sweeper that needs a number (Optuna takes float() of what a job returns) gets the worst value
    the task's metric can take, so that the study goes on, and steers away from such settings, and still
    has a best trial to report when every trial failed."""

    def __init__(self, failed: str, task_target: str) -> None:
        super().__init__(failed=failed, worst=-math.inf if task_mode(task_target) == "max" else math.inf)

    def __float__(self) -> float:
        return self["worst"]


def task_mode(task_target: str) -> str:
    return load_class(task_target).mode
