"""The sweeper: Hydra's override syntax read as an Optuna search space, a study, and the loop that asks the study for
trials, launches them as jobs and tells it what each job returned."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

log = logging.getLogger(__name__)
Direction = Literal["minimize", "maximize"]


def create_study(
    direction: Direction, study_name: str | None = None, storage: str | None = None, sampler: Any = None
) -> optuna.Study:
    """A new study, or where `storage` already holds one named `study_name`, that study, continued."""
    import optuna

    return optuna.create_study(
        direction=direction, study_name=study_name, storage=storage, sampler=sampler, load_if_exists=True
    )


def search_space(overrides: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(the distribution of each key searched, the overrides every trial takes as they are) from Hydra overrides: a
    sweep (`interval(...)`, `choice(...)`, `range(...)`, `a,b,c`) searches its key, a plain value fixes it. Of two
    overrides of one key, the later wins (the command line's over hydra.sweeper.params)."""
    searched: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.get_key_element()
        searched.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            searched[key] = distribution(override)
        else:
            fixed[key] = override.input_line or ""
    return searched, list(fixed.values())


def distribution(override: Override) -> BaseDistribution:
    """Optuna's distribution for a Hydra sweep: `interval(low, high)` any number between (Hydra reads its bounds as
    floats), on a log scale when tagged `tag(log, ...)`; `range(start, stop, step)` its values, as Hydra counts them
    (stop excluded; integers where they all are); `choice(...)`, `a,b,c` and a shuffled range their values as
    categories."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        assert low is not None and high is not None  # the grammar has no interval without both
        return FloatDistribution(low, high, log="log" in sweep.tags)
    values: list[Any] = list(override.sweep_iterator(transformer=Transformer.encode))  # as overrides write them
    if isinstance(sweep, RangeSweep) and not sweep.shuffle:
        low, high, step = min(values), max(values), abs(sweep.step)
        if all(isinstance(number, int) for number in (*values, step)):
            return IntDistribution(low, high, step=int(step))
        return FloatDistribution(low, high, step=step)
    return CategoricalDistribution(values)


class OptunaSweeper(Sweeper):
    """Asks the study for `n_jobs` trials at a time, launches them together, tells the study each job's return value
    (a job that raised, or returned no number, is a failed trial), until `n_trials` have run. More failed trials in a
    batch than `max_failure_rate` allows stops the sweep with the first failure. The best trial's parameters and
    value end in `<sweep dir>/optimization_results.yaml` and the last lines logged."""

    def __init__(
        self,
        direction: Direction,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        sampler: Any,
        params: Mapping[str, Any] | None,
    ) -> None:
        if n_jobs < 1:  # joblib's -1 (one per core) is no number of trials
            raise ValueError(f"hydra.sweeper.n_jobs={n_jobs}: the trials launched at once are 1 or more")
        self.direction, self.study_name, self.storage, self.sampler = direction, study_name, storage, sampler
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.params = [f"{key}={value}" for key, value in (params or {}).items()]

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.launcher: Launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        from zoo.training.failures import Interrupted

        searched, fixed = search_space([*self.params, *arguments])
        study = create_study(self.direction, self.study_name, self.storage, self.sampler)
        log.info(f"Study {study.study_name} ({self.storage or 'in memory'}): {self.direction}, {self.n_trials} trials")
        launched = 0
        while launched < self.n_trials:
            trials = [study.ask(searched) for _ in range(min(self.n_jobs, self.n_trials - launched))]
            jobs = [[f"{key}={value}" for key, value in trial.params.items()] + fixed for trial in trials]
            returns = self.launcher.launch(jobs, initial_job_idx=launched)
            launched += len(trials)
            failures = [error for trial, job in zip(trials, returns, strict=True) if (error := tell(study, trial, job))]
            stopped = [error for error in failures if isinstance(error, Interrupted)]
            if stopped:  # Ctrl-C stops the study, not only the trial it reached
                raise stopped[0]
            if len(failures) > self.max_failure_rate * len(trials):
                log.error(f"{len(failures)} of {len(trials)} trials failed (max_failure_rate={self.max_failure_rate})")
                raise failures[0]
        self.report(study)

    def report(self, study: optuna.Study) -> None:
        try:
            best = study.best_trial
        except ValueError:  # no trial returned a number
            log.warning("No trial finished: the study has no best trial")
            return
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value}
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")
        log.info(f"Best parameters: {best.params}")
        log.info(f"Best value: {best.value}")


def tell(study: optuna.Study, trial: optuna.Trial, job: JobReturn) -> Exception | None:
    """Tell the study what `job` returned for `trial`; returns why the trial failed, if it did."""
    from optuna.trial import TrialState

    try:
        value = float(job.return_value)  # re-raises the job's own exception, if it raised
    except Exception as error:
        study.tell(trial, state=TrialState.FAIL)
        log.warning(f"Trial {trial.number} failed: {type(error).__name__}: {error}")
        return error
    study.tell(trial, value)
    return None
