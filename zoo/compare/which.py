"""zoo-which: which family for this data? The whole protocol in one command, every family under the same budget:

    zoo-which data=table data.path=cancer.csv data.target=target
    zoo-which --families mlp cnn --trials 20 --folds 10 data=images data.path=~/pets data.size=16

1. The search (Grinsztajn et al., 2022: every model gets the same random-search budget). For each family, its
   defaults and `trials` random settings from its search space (conf/which.yaml), each trained on the training rows of
   fold 1 and scored on their validation part, the job's return value (zoo's Optuna sweeper with Optuna's
   RandomSampler; the defaults run as a job of their own). The test fold is never looked at to choose.
2. The folds. Each family's best setting trained and tested on every fold (`data.folds=K data.fold=i`, stratified
   for classes; scikit-learn's splitters), the classical baselines of a table fitted on the same folds.
3. The comparison. zoo-compare over the fold runs: means, intervals, ranks, the paired test against the best, one
   sentence, and report.html (zoo.compare.noise, zoo.compare.report).

Before starting it says what the data holds that could make the scores lie, what it will run, and about how long
that takes. Every job starts through train.py's own door (zoo.training.command.run_command), in this process, its
output in the protocol folder's jobs.log. Everything is seeded (`--seed`); the protocol folder is named by the command,
so the same command again continues a protocol that was stopped, skipping the runs it finished:

    <log_dir>/which/<data>_<hash>/protocol.json     the plan, the best setting of each family, the runs done
                                  search/<family>/  the search's runs and its Optuna study (study.db)
                                  runs/<family>/fold<i>/   the fold runs (paths.log_dir of each)
                                  compare/          zoo-compare's tables, forest.png and report.html
"""

import argparse
import contextlib
import logging
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig

from zoo.compare.protocol import Protocol, duration, plan
from zoo.errors import ZooError


def job(arguments: list[str], log: Path) -> dict | None:
    """One job (or a sweep) through train.py's door, in this process, its output appended to `log`; Hydra's state and
    the process's logging left as they were. A sweep whose failed trials end it with exit 1 returns None."""
    from hydra.core.hydra_config import HydraConfig

    from zoo.training.command import run_command

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with open(log, "a") as output, redirected(output):
        print(f"\n$ python train.py {shlex.join(arguments)}", flush=True)
        try:
            return run_command(arguments)
        except SystemExit:  # zoo's FailureSummary: some trials failed, and the study counted them as the worst
            return None
        finally:
            HydraConfig.instance().cfg = None
            root.handlers[:] = handlers
            root.setLevel(level)


@contextlib.contextmanager
def redirected(output) -> Iterator[None]:
    """Everything written to stdout and stderr into `output`: Python's streams, and the file descriptors beneath them,
    which the handlers Lightning made at import write to."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            yield
    finally:
        output.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in saved:
            os.close(descriptor)


def search(protocol: Protocol, family: str, cfg: DictConfig) -> None:
    """The family's defaults and its random settings on fold 1; its best setting (by the validation value) saved."""
    import optuna

    from zoo.registry import load_class

    task = load_class(cfg.task._target_)
    folder = protocol.folder / "search" / family
    quiet = [f"task.views.{name}=null" for name in cfg.task.get("views") or {}] + ["callbacks.compute_cost=null"]
    common = [f"model={family}", *protocol.overrides, *protocol.fold_settings(0), *quiet]
    log = protocol.folder / "jobs.log"
    if family not in protocol.defaults:
        shutil.rmtree(folder / "defaults", ignore_errors=True)  # a run stopped before it finished
        started = time.monotonic()
        result = job([*common, f"paths.log_dir={folder / 'defaults'}"], log)
        assert result is not None
        protocol.defaults[family] = float(result[task.best_metric()])
        protocol.save()
        say(protocol, family, f"{family}: defaults {task.best_metric()} {protocol.defaults[family]:.4g}", started)
    storage = f"sqlite:///{folder / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its line per study: the sweeper's log has it
    study = optuna.create_study(
        direction="maximize" if task.mode == "max" else "minimize",
        study_name=family,
        storage=storage,
        load_if_exists=True,
    )
    finished = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    if finished < protocol.trials:
        started = time.monotonic()
        job(
            [
                "-m",
                "hydra/sweeper=zoo_optuna",
                f"hydra.sweeper.n_trials={protocol.trials - finished}",
                f"hydra.sweeper.storage={storage}",
                f"hydra.sweeper.study_name={family}",
                "hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler",
                "~hydra.sweeper.sampler.n_startup_trials",
                f"hydra.sweeper.sampler.seed={protocol.seed + finished}",  # a continued search draws new settings
                f"hydra.sweep.dir={folder / f'trials_from_{finished}'}",
                *common,
                f"paths.log_dir={folder}",
                *(f"{key}={value}" for key, value in protocol.search[family].items()),
            ],
            log,
        )
        searched = protocol.trials - finished
        say(protocol, family, f"{family}: {searched} random settings searched", started, jobs=searched)
    # The defaults win a tie: a search must do better to count.
    overrides: list[str] = []
    value, source = protocol.defaults[family], "defaults"
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)) if protocol.trials else []
    for trial in sorted(done, key=lambda trial: trial.number):
        if trial.value is not None and (trial.value > value if task.mode == "max" else trial.value < value):
            overrides = [f"{key}={setting}" for key, setting in trial.params.items()]
            value, source = trial.value, f"trial {trial.number + 1}"
    protocol.best[family] = {"overrides": overrides, "value": value, "from": source}
    protocol.save()
    print(f"  {family}: best setting {' '.join(overrides) or '(its defaults)'}, {value:.4g}", flush=True)


def say(protocol: Protocol, family: str, what: str, started: float, jobs: int = 1) -> None:
    """One line per step: what it did, how long it took, and about how long the rest should take."""
    took = time.monotonic() - started
    protocol.took(family, took, jobs)
    print(f"  {what} ({took:.0f} s; about {duration(protocol.time_left())} left)", flush=True)


def folds(protocol: Protocol, family: str, cfg: DictConfig) -> None:
    """The family's best setting trained and tested on every fold it has not finished."""
    from zoo.registry import load_class

    done = protocol.done.setdefault(family, {})
    for fold in range(protocol.fold_count):
        if str(fold) in done:
            continue
        log_dir = protocol.folder / "runs" / family / f"fold{fold}"
        shutil.rmtree(log_dir, ignore_errors=True)  # a run stopped before it finished: again, from its start
        started = time.monotonic()
        best = protocol.best.get(family, {"overrides": []})["overrides"]
        result = job(
            [f"model={family}", *protocol.overrides, *best, *protocol.fold_settings(fold), f"paths.log_dir={log_dir}"],
            protocol.folder / "jobs.log",
        )
        assert result is not None
        done[str(fold)] = round(time.monotonic() - started, 1)
        protocol.save()
        headline = load_class(cfg.task._target_).headline
        say(
            protocol,
            family,
            f"{family}: fold {fold + 1} of {protocol.fold_count}, {headline} {result[headline]:.4g}",
            started,
        )


def run(args: argparse.Namespace, argv: list[str]) -> int:
    protocol = Protocol(args, argv)
    configs = plan(protocol)
    if args.dry_run:
        return 0
    protocol.save()
    for family in protocol.families:
        if protocol.trials and family not in protocol.best:
            search(protocol, family, configs[family])
    for family in protocol.families:
        folds(protocol, family, configs[family])
    from zoo.compare.command import main as compare

    return compare(["--logdir", str(protocol.folder / "runs"), "--out", str(protocol.folder / "compare")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo-which", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", nargs="+", help="the families to compare (conf/which.yaml: all five)")
    parser.add_argument("--folds", type=int, help="test folds, K (conf/which.yaml: 5)")
    parser.add_argument("--repeats", type=int, help="the K folds drawn again R times (conf/which.yaml: 1)")
    parser.add_argument("--trials", type=int, help="random settings per family besides its defaults; 0: none")
    parser.add_argument("--seed", type=int, help="every run's seed and the search's (conf/which.yaml: 0)")
    parser.add_argument("--log-dir", default="logs", help="where the protocol's folder goes, under which/ (logs)")
    parser.add_argument("--dry-run", action="store_true", help="say what would run and how long it takes; run nothing")
    parser.add_argument("overrides", nargs="*", help="train.py overrides: data=table data.path=... data.target=...")
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_intermixed_args(given)
    from zoo.training.failures import Interrupted

    try:
        return run(args, given)
    except Interrupted as error:
        print(f"interrupted: {error}; the same command continues the protocol", file=sys.stderr)
        return 130
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
