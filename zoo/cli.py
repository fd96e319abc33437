"""The `train.py` / `zoo-train` command line: checks what Hydra cannot check well before torch and Lightning are
imported, so a mistyped override fails in a fraction of a second, in one line; then Hydra's entry, one job of
`zoo.training.train` each (several in a multirun, where a failing job is listed at the end instead of stopping the
others)."""

import logging
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from hydra_plugins.zoo_optuna_sweeper import register as register_sweeper
from zoo import CONFIG_DIR
from zoo.checks import check_overrides
from zoo.distributed import outside_the_run_dir, rank_started_outside
from zoo.errors import ZooError
from zoo.multirun import FailedJob, register_resolvers
from zoo.registry import load_class
from zoo.run import Run, continued_run, run_name

# Hydra's own flags, some with a value of their own: Hydra handles these command lines itself.
HYDRA_FLAGS = (
    "--help",
    "-h",
    "--hydra-help",
    "--cfg",
    "-c",
    "--config",
    "--info",
    "--version",
    "--shell-completion",
    "--experimental-rerun",
    "--resolve",
    "-p",
    "--package",
)


def main() -> None:
    try:
        start()
    # Ctrl-C before fitting (Hydra composing, imports, building; Hydra passes it through): once a job fits,
    # zoo.training reports an interrupted run instead.
    except KeyboardInterrupt:
        stopped_before_training()


def stopped_before_training() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting: a further Ctrl-C would only cut the shutdown
    print("interrupted: stopped before training started; nothing was trained", file=sys.stderr)
    sys.exit(130)


def start() -> None:
    arguments = sys.argv[1:]
    if not any(argument.startswith(HYDRA_FLAGS) for argument in arguments):
        try:
            configs = check_overrides(arguments, CONFIG_DIR)
            # A resumed run writes into its own folders (a paths.log_dir other than its own is refused).
            for log_dir in {cfg.paths.log_dir for cfg in configs if not cfg.resume}:
                check_log_dir(Path(log_dir))
            sys.argv += continue_in_run_dir(configs[0].resume)
            sys.argv += outside_the_run_dir(rank_started_outside())
        except ZooError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    register_resolvers()
    register_sweeper()  # hparams_search=optuna's; Hydra's own search misses it in an editable install
    hydra_main()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> Any:
    """One job. In a multirun a failing job reports and returns (a FailedJob), so the other jobs still run;
    zoo.multirun.FailureSummary then lists the failures and makes the command exit non-zero."""
    from zoo.failures import Interrupted, SweepStopped  # here: they import torch
    from zoo.resume import requeued_checkpoint, resumed_config
    from zoo.training import train

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        if not cfg.get("resume") and (last := requeued_checkpoint(Run(HydraConfig.get().runtime.output_dir))):
            print(f"zoo: requeued by SLURM: continuing from {last}", flush=True)
            cfg.resume = str(last)
        if cfg.get("resume"):
            cfg = resumed_config(cfg, HydraConfig.get().overrides.task)
        else:  # the overrides (model and data excepted) tell a multirun's runs apart in TensorBoard
            cfg.run_name = run_name(cfg.run_name, HydraConfig.get().job.override_dirname.replace("/", "_"))
            if multirun and not any(item.startswith("group=") for item in HydraConfig.get().overrides.task):
                cfg.group = f"multirun_{Path(HydraConfig.get().sweep.dir).name}"  # one MLflow experiment, W&B group
        result = train(cfg)
    except ZooError as error:
        label = "interrupted" if isinstance(error, Interrupted) else "error"
        print(f"{label}: {error}", file=sys.stderr, flush=True)
        if multirun and not isinstance(error, (Interrupted, SweepStopped)):
            return FailedJob(str(error), cfg.task._target_)
        sys.exit(130 if isinstance(error, Interrupted) else 2)
    except Exception as error:
        if not multirun:
            raise
        logging.getLogger(__name__).exception("the job failed")  # the traceback goes to the job's log file
        return FailedJob(f"{type(error).__name__}: {error}", cfg.task._target_)
    # What a Hydra sweeper optimizes (hparams_search=...); its direction is the task's `mode` (max for accuracy).
    return result[load_class(cfg.task._target_).best_metric()]


def check_log_dir(log_dir: Path) -> None:
    """Hydra creates its run directory under paths.log_dir before any zoo code runs, and fails there with
    a traceback; check that the folder can be written first."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=log_dir):
            pass
    except OSError as error:
        raise ZooError(
            f"paths.log_dir={log_dir} cannot be written ({error.strerror}); "
            f"choose another folder with paths.log_dir=..."
        ) from None


def continue_in_run_dir(resume: str | None) -> list[str]:
    """A resumed run writes its log into the run directory it continues, not a new one, and keeps that
    directory's .hydra/ config (the run's own) as it is."""
    if not resume:
        return []
    run_dir = continued_run(resume)
    return [f"hydra.run.dir='{run_dir}'", "hydra.output_subdir=null"] if run_dir else []


if __name__ == "__main__":
    main()
