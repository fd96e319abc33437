"""The two doors of a training job: `python train.py ...` (`zoo-train`, `main`) and `zoo.train(...)` from Python
(`train_from_python`). Both hand the same overrides to Hydra's own entry (`run_command`), so each job's config is
composed once, by Hydra, into a run folder Hydra makes, and goes through the same job (zoo.training.job): the same
checks, the same record and name. What goes wrong before a job runs (a misspelt key, a config that does not exist, a
folder that cannot be written) is one line, a ZooError, which the command line prints and zoo.train raises.

Hydra reports its own errors itself unless HYDRA_FULL_ERROR is set; the doors set it while Hydra runs, so that the
errors reach zoo as exceptions, in whichever door."""

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.zoo_optuna_sweeper import register as register_sweeper
from zoo.configs import CONFIG_DIR
from zoo.errors import ZooError
from zoo.registry import load_class, register_resolvers, targets
from zoo.runs.folder import continued_run, new_folder
from zoo.training.checks import check_choices, composition_error
from zoo.training.distributed import outside_the_run_dir, rank_started_outside
from zoo.training.multirun import FailedJob

# What the jobs this process ran returned, for the door that started them (Hydra's entry returns nothing), and
# whether one has started (an OSError before that is Hydra failing to make the run folder).
_finished: list[dict] = []
_failed: list[ZooError] = []
_started: list[bool] = []
# The run folder of each `hydra.run.dir` this command resolved: Hydra, and Lightning starting processes (its ddp), read
# the setting more than once, and each must find the folder the first reading made.
_run_folders: dict[str, str] = {}


def main() -> None:
    """train.py and zoo-train."""
    try:
        run_command(sys.argv[1:])
    except ZooError as error:
        # Only a run that started can be interrupted, and it imported zoo.training.failures; importing it here would
        # cost a bad override's one-line error the 4 s of importing torch.
        failures = sys.modules.get("zoo.training.failures")
        interrupted = failures is not None and isinstance(error, failures.Interrupted)
        print(f"{'interrupted' if interrupted else 'error'}: {error}", file=sys.stderr, flush=True)
        sys.exit(130 if interrupted else 2)
    # Ctrl-C before fitting (Hydra composing, imports, building; Hydra passes it through): once a job fits,
    # zoo.training.train reports an interrupted run instead.
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting: a further Ctrl-C would only cut the shutdown
        print("interrupted: stopped before training started; nothing was trained", file=sys.stderr)
        sys.exit(130)


def train_from_python(*given: str) -> dict:
    """`zoo.train("model=cnn", "data=digits")`: one job, as `python train.py model=cnn data=digits` runs it, in this
    process. Returns the run's metrics (what metrics.json holds) and "run_dir", the run's folder; a bad override
    raises a one-line ZooError. The process's logging and Hydra's state are left as they were found."""
    for override in given:
        if not isinstance(override, str):
            raise ZooError(f'zoo.train takes overrides as strings such as "model=cnn", not {override!r}')
        if override.startswith("-") or override.startswith(("hydra.", "hydra/", "+hydra", "~hydra")):
            raise ZooError(
                f"{override} is for the command line (python train.py); zoo.train runs one job with "
                f'the overrides of its config, such as "model=cnn" "data=digits"'
            )
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = run_command(list(given))
    finally:
        # What Hydra's job leaves in a process: its config (a later run would think itself inside this job) and its
        # logging (the job's train.log would go on receiving the notebook's messages).
        HydraConfig.instance().cfg = None
        root.handlers[:] = handlers
        root.setLevel(level)
    assert result is not None  # one job ran, and finished: a failure raises
    return result


def run_command(arguments: list[str]) -> dict | None:
    """Start the job(s) `arguments` ask for through Hydra's entry, as train.py does; return the last job's result
    (None where no job ran: --help, --cfg...). Raises ZooError for bad input and for a job that failed alone."""
    register_resolvers()
    register_sweeper()  # zoo's Optuna sweeper, which Hydra's scan of plugins misses in an editable install
    _run_folders.clear()
    OmegaConf.register_new_resolver("zoo.new_folder", run_folder, replace=True)
    try:
        # The overrides among the arguments: Hydra's flags start with "-", and the values some take (--cfg job) hold
        # no "=", which every override but a deletion (~key) does.
        given = [a for a in arguments if not a.startswith("-") and ("=" in a or a.startswith("~"))]
        parsed = OverridesParser.create().parse_overrides(given)
    except OverrideParseException as error:
        raise composition_error(error, {}) from None
    check_choices(parsed)
    chosen = {override.key_or_group: override.value() for override in parsed if not override.is_sweep_override()}
    arguments = [
        *arguments,
        *task_chosen_by_the_data(parsed),
        *continue_in_run_dir(parsed),
        *outside_the_run_dir(rank_started_outside()),
    ]
    _finished.clear()
    _failed.clear()
    _started.clear()
    with hydra_raising(), command_line(arguments):
        try:
            hydra_main()
        except HydraException as error:
            raise composition_error(error, chosen) from None
        except Exception as error:
            if _started or (cause := os_error_in(error)) is None:
                raise
            log_dir = next((o.value() for o in parsed if o.key_or_group == "paths.log_dir"), "logs")
            raise ZooError(
                f"paths.log_dir={log_dir} cannot be written ({cause.strerror}); "
                f"choose another folder with paths.log_dir=..."
            ) from None
    if _failed:
        raise _failed[-1]
    return _finished[-1] if _finished else None


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> Any:
    """One job. In a multirun a failing job reports and returns (a FailedJob), so the other jobs still run;
    zoo.training.multirun.FailureSummary then lists the failures and makes the command exit non-zero."""
    from zoo.training.failures import Interrupted, SweepStopped  # here: they import torch
    from zoo.training.job import multirun, run_job

    runtime = HydraConfig.get()
    _started.append(True)
    OmegaConf.set_readonly(cfg, True)  # the config is what the user asked: what the job derives goes into its record
    try:
        result = run_job(cfg, runtime)
    except ZooError as error:
        if not multirun(runtime):
            # Handed to the door, which reports it: raised here, Hydra would print a line of its own first.
            _failed.append(error)
            return None
        if isinstance(error, (Interrupted, SweepStopped)):
            raise
        print(f"error: {error}", file=sys.stderr, flush=True)
        return FailedJob(str(error), cfg.task._target_)
    except Exception as error:
        if not multirun(runtime):
            raise
        logging.getLogger(__name__).exception("the job failed")  # the traceback goes to the job's log file
        return FailedJob(f"{type(error).__name__}: {error}", cfg.task._target_)
    _finished.append({**result, "run_dir": runtime.runtime.output_dir})
    # What a Hydra sweeper optimizes (hparams_search=...); its direction is the task's `mode` (max for accuracy).
    return result[load_class(cfg.task._target_).best_metric()]


@contextlib.contextmanager
def hydra_raising() -> Iterator[None]:
    """Hydra's errors raised to zoo rather than printed by Hydra (HYDRA_FULL_ERROR), while Hydra runs."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


@contextlib.contextmanager
def command_line(arguments: list[str]) -> Iterator[None]:
    """Hydra's entry reads its overrides from sys.argv, as any command line does."""
    before = sys.argv
    sys.argv = [before[0] if before else "train.py", *arguments]
    try:
        yield
    finally:
        sys.argv = before


def run_folder(path: str) -> str:
    """`${zoo.new_folder:...}` (conf/hydra/default.yaml): a new folder for the run, once per command."""
    if path not in _run_folders:
        _run_folders[path] = new_folder(path)
    return _run_folders[path]


def os_error_in(error: BaseException) -> OSError | None:
    """The OSError behind `error` (Hydra making the run folder, or zoo's resolver doing it for Hydra), if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def task_chosen_by_the_data(overrides: list) -> list[str]:
    """A data set whose task depends on its content (data=table: classes or a quantity, `task: auto` in its config)
    chooses its task now, from an early, cheap look at the file (the data class's `choose_task`), as a `task=`
    override: Hydra composes that task's config, so a user's `task.*` overrides apply to it. Nothing where the command
    line chooses the task itself, or the data's task is fixed."""
    given = {override.key_or_group: override for override in overrides}
    if "task" in given or "data" not in given or given["data"].is_sweep_override():
        return []
    data = given["data"].value()
    settings = OmegaConf.load(Path(CONFIG_DIR) / "data" / f"{data}.yaml")
    task = given["data.task"].value() if "data.task" in given else getattr(settings, "task", None)
    if task != "auto" or "data.path" not in given or "data.target" not in given:
        return []
    choose = load_class(targets("data")[data]).choose_task
    paths = given["data.path"]
    files = list(paths.sweep_string_iterator()) if paths.is_sweep_override() else [paths.value()]
    # How the file is read, where the command line says (a CSV's separator and decimal mark).
    reading = {key: given[f"data.{key}"].value() for key in ("sep", "decimal") if f"data.{key}" in given}
    tasks = {str(file): choose(str(file), str(given["data.target"].value()), **reading) for file in files}
    if len(set(tasks.values())) > 1:
        kinds = ", ".join(f"{file}: {task}" for file, task in tasks.items())
        raise ZooError(f"data.path sweeps over files of different tasks ({kinds}): sweep each task apart")
    return [f"task={next(iter(tasks.values()))}"]


def continue_in_run_dir(overrides: list) -> list[str]:
    """A resumed run writes its log into the run directory it continues, not a new one, and keeps that
    directory's .hydra/ config (the run's own) as it is."""
    resume = next((o.value() for o in overrides if o.key_or_group == "resume" and o.value()), None)
    if not resume:
        return []
    run_dir = continued_run(str(resume))
    return [f"hydra.run.dir='{run_dir}'", "hydra.output_subdir=null"] if run_dir else []


if __name__ == "__main__":
    main()
