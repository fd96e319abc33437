"""Sweeps through Hydra's plugins (the cluster extra): jobs started by submitit (the code path of SLURM,
on this machine), several jobs at once (joblib), an Optuna study through zoo's own sweeper
(hydra_plugins/zoo_optuna_sweeper), and a requeued job that continues by itself. Real train.py runs, on tiny
budgets."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hydra_plugins.zoo_optuna_sweeper.sweeper import OptunaSweeper, search_space
from zoo import CONFIG_DIR
from zoo.compare import command as compare
from zoo.registry import register_resolvers
from zoo.runs.checkpoint import load_checkpoint
from zoo.runs.folder import Run
from zoo.training import command as cli
from zoo.training.failures import Interrupted
from zoo.training.resume import requeued_checkpoint

from conftest import REPO, TINY, command_here, read_metrics, run_dirs

# The robustness and saliency figures take most of a short run's time, and nothing here looks at them.
NO_SLOW_VIEWS = ["task.views.robustness=null", "task.views.saliency=null"]
# Long enough an epoch (about 225 steps) to stop the run between its first checkpoint and its end.
KILLABLE = ["model=mlp", "trainer.max_epochs=2", "data.batch_size=16", *NO_SLOW_VIEWS]


def train_command(*arguments: str, log_dir: Path, data_dir: Path) -> subprocess.CompletedProcess:
    """`python train.py <arguments>` by train.py's main() in this process (a launcher's jobs still run in the
    processes it starts)."""
    return command_here(cli.main, *arguments, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}")


def zoo_compare(log_dir: Path) -> list[dict]:
    """zoo-compare's rows for the runs under `log_dir`, as a user gets them (its main(), in this process)."""
    result = command_here(compare.main, "--logdir", str(log_dir))
    assert result.returncode == 0, result.stderr
    with open(log_dir / "compare" / "comparison.csv") as file:
        return list(csv.DictReader(file))


def finished_models(log_dir: Path) -> list[str]:
    return sorted(read_metrics(run)["model"] for run in run_dirs(log_dir) if read_metrics(run)["status"] == "finished")


@pytest.fixture(scope="module")
def submitit_sweep(tmp_path_factory, data_dir):
    """Two jobs through hydra/launcher=submitit_local: each in a process that submitit starts from the
    job's pickle, as on a SLURM node. The MLP job is the uninterrupted twin of the requeue test's run."""
    log_dir = tmp_path_factory.mktemp("submitit")
    result = train_command(
        "-m",
        "hydra/launcher=submitit_local",
        "model=linear,mlp",
        "trainer.max_epochs=2",
        "data.batch_size=16",
        *NO_SLOW_VIEWS,
        log_dir=log_dir,
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir


@pytest.mark.slow
def test_a_sweep_through_submitit_runs_every_job_and_compares_them(submitit_sweep):
    assert finished_models(submitit_sweep) == ["linear", "mlp"]
    [sweep_dir] = (submitit_sweep / "multiruns").iterdir()
    assert len(list((sweep_dir / ".submitit").glob("*/*_submitted.pkl"))) == 2  # a job each, from its pickle
    assert sorted((row["model"], row["runs"]) for row in zoo_compare(submitit_sweep)) == [("linear", "1"), ("mlp", "1")]


@pytest.mark.slow
def test_several_jobs_at_once_run_and_their_failures_are_listed(tmp_path, data_dir):
    """hydra/launcher=local_parallel: jobs in joblib's worker processes; a failing job is listed at the end
    and the command exits 1, as without the launcher (the jobs report from their own processes)."""
    result = train_command(
        "-m",
        "hydra/launcher=local_parallel",
        "model=mlp,cnn,transformer",
        "model.dim=30",
        *TINY,  # (NO_SLOW_VIEWS would make the run names too long to end as the test expects)
        log_dir=tmp_path,
        data_dir=data_dir,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    assert finished_models(tmp_path) == ["cnn", "mlp"]
    assert sorted(row["model"] for row in zoo_compare(tmp_path)) == ["cnn", "mlp"]
    summary = result.stderr[result.stderr.index("1 of 3 jobs failed:") :].strip().splitlines()
    assert summary == [
        "1 of 3 jobs failed:",
        "  model=transformer: model=transformer on data=mnist1d: model.dim=30 must be divisible by model.heads=4",
    ]
    # Each job's TensorBoard run is named after its own settings.
    names = [path.name for path in (tmp_path / "tensorboard" / "mnist1d").glob("*/*")]
    assert len(names) == 2 and all(name.startswith("model.dim=30_trainer.max_epochs=2") for name in names), names


@pytest.mark.slow
def test_an_optuna_study_reports_its_best_trial_and_survives_failing_trials(tmp_path, data_dir):
    """Four trials of hparams_search=optuna (in memory), two at a time, over the learning rate, weight decay and
    the model; this sampler seed draws the transformer, which cannot take model.dim=30, for two of them."""
    result = train_command(
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.sampler.seed=2",
        "model=mlp,transformer",
        "model.dim=30",
        *TINY,
        *NO_SLOW_VIEWS,
        log_dir=tmp_path,
        data_dir=data_dir,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert "2 of 4 jobs failed:" in result.stderr
    assert output.count("Launching 2 jobs locally") == 2  # n_jobs trials a batch, each batch launched at once
    [sweep_dir] = (tmp_path / "multiruns").iterdir()
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    finished = [read_metrics(run) for run in run_dirs(tmp_path) if read_metrics(run)["status"] == "finished"]
    assert [run["model"] for run in finished] == ["mlp", "mlp"]
    # Accuracy is maximized: the best value is the higher of the finished trials' val/acc_best.
    assert best["best_value"] == pytest.approx(max(run["val/acc_best"] for run in finished))
    assert best["best_params"]["model"] == "mlp" and set(best["best_params"]) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "model",
    }  # data.batch_size: fixed by the command line
    assert f"Best value: {best['best_value']}" in output


@pytest.mark.parametrize("data, direction", [("mnist1d", "maximize"), ("text", "minimize")])
def test_an_optuna_study_optimizes_the_task_s_own_way(data, direction):
    GlobalHydra.instance().clear()
    register_resolvers()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(
                config_name="train", overrides=["hparams_search=optuna", f"data={data}"], return_hydra_config=True
            )
        assert OmegaConf.select(cfg, "hydra.sweeper.direction") == direction
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.slow
def test_an_optuna_study_kept_in_sqlite_is_continued_by_the_same_command(tmp_path, data_dir):
    """hydra.sweeper.storage=sqlite:///... with a study_name: a second command adds its trials to the study the
    first one stored, and reports the best of them all."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    command = ["hparams_search=optuna", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=zoo"]
    tiny = ["model=linear", *TINY, "task.views=null", "callbacks.compute_cost=null"]
    for trials in (2, 1):
        result = train_command(*command, f"hydra.sweeper.n_trials={trials}", *tiny, log_dir=tmp_path, data_dir=data_dir)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    study = optuna.load_study(study_name="zoo", storage=storage)
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 3
    assert study.direction.name == "MAXIMIZE"  # accuracy: the task's direction
    values = sorted(read_metrics(run)["val/acc_best"] for run in run_dirs(tmp_path))
    assert sorted(trial.value for trial in study.trials) == pytest.approx(values, abs=1e-6)  # one per run
    [second, _] = sorted((tmp_path / "multiruns").iterdir(), reverse=True)
    best = yaml.safe_load((second / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(values), abs=1e-6)  # the best of both commands' trials


@pytest.mark.parametrize(
    "override, expected",
    [
        ("lr=interval(0.1, 1.5)", FloatDistribution(0.1, 1.5)),
        ("lr=tag(log, interval(1e-4, 1e-1))", FloatDistribution(1e-4, 1e-1, log=True)),
        ("layers=interval(1, 4)", FloatDistribution(1.0, 4.0)),  # Hydra's interval is of floats: range() for integers
        ("layers=range(1, 7, 2)", IntDistribution(1, 5, step=2)),  # Hydra's range: 1, 3, 5 (stop excluded)
        ("p=range(0.0, 0.3, 0.1)", FloatDistribution(0.0, 0.2, step=0.1)),
        ("batch=choice(32, 64)", CategoricalDistribution([32, 64])),
        ("model.dim=64,128,256", CategoricalDistribution([64, 128, 256])),
        ("model=mlp,cnn", CategoricalDistribution(["mlp", "cnn"])),
        ("dropout=null,0.1", CategoricalDistribution(["null", 0.1])),  # as an override writes it
    ],
)
def test_hydra_s_sweep_syntax_is_optuna_s_search_space(override, expected):
    searched, fixed = search_space([override])
    assert searched == {override.split("=")[0]: expected} and fixed == []


def test_a_plain_value_fixes_a_key_and_the_later_override_of_a_key_wins():
    params = ["optimizer.lr=tag(log, interval(1e-4, 1e-2))", "data.batch_size=choice(32, 64)"]
    command_line = ["data.batch_size=64", "model=mlp", "+trainer.limit_train_batches=4", "~callbacks.early_stopping"]
    searched, fixed = search_space([*params, *command_line, "optimizer.lr=interval(0.1, 0.2)"])
    assert searched == {"optimizer.lr": FloatDistribution(0.1, 0.2)}
    assert fixed == command_line


class ScriptedLauncher:
    """A launcher whose jobs return, batch after batch, the values given (an exception: a job that raised)."""

    def __init__(self, *batches):
        self.batches, self.launched = list(batches), []

    def launch(self, jobs, initial_job_idx):
        self.launched.append((initial_job_idx, [list(job) for job in jobs]))
        results = self.batches.pop(0)
        return [
            JobReturn(
                overrides=job,
                status=JobStatus.FAILED if isinstance(result, Exception) else JobStatus.COMPLETED,
                _return_value=result,
            )
            for job, result in zip(jobs, results, strict=True)
        ]


@pytest.mark.parametrize("max_failure_rate, stops", [(0.5, True), (1.0, False)])
def test_failed_trials_beyond_max_failure_rate_stop_the_study(tmp_path, max_failure_rate, stops):
    """Two batches of two trials: one job of the first raises (half the batch), both of the second do."""
    sweeper = OptunaSweeper("maximize", None, None, 4, 2, max_failure_rate, None, {"x": "interval(0, 1)"})
    sweeper.sweep_dir, sweeper.launcher = tmp_path, ScriptedLauncher([0.5, ValueError("nan")], [OSError(), OSError()])
    if stops:
        with pytest.raises(OSError):
            sweeper.sweep(["model=mlp"])
    else:
        sweeper.sweep(["model=mlp"])
        assert yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())["best_value"] == 0.5
    # The job numbers run on across batches, and every job gets its trial's value and the fixed overrides.
    assert [first for first, _ in sweeper.launcher.launched] == [0, 2]
    jobs = [job for _, batch in sweeper.launcher.launched for job in batch]
    assert len(jobs) == 4 and all(job[0].startswith("x=") and job[1:] == ["model=mlp"] for job in jobs)


def test_ctrl_c_stops_the_study_not_only_its_trial(tmp_path):
    """A user who stops a study with Ctrl-C stops it: the trial it reached fails, and no trial starts after it."""
    sweeper = OptunaSweeper("maximize", None, None, 4, 1, 1.0, None, {"x": "interval(0, 1)"})
    sweeper.sweep_dir, sweeper.launcher = tmp_path, ScriptedLauncher([0.5], [Interrupted("stopped at epoch 3")], [0.7])
    with pytest.raises(Interrupted):
        sweeper.sweep(["model=mlp"])
    assert [first for first, _ in sweeper.launcher.launched] == [0, 1]


def test_a_sweep_launches_at_least_one_trial_at_a_time():
    with pytest.raises(ValueError, match="n_jobs=-1"):
        OptunaSweeper("maximize", None, None, 4, -1, 1.0, None, None)  # would ask the study for no trial, forever


@pytest.mark.slow
def test_a_requeued_slurm_job_continues_from_its_last_checkpoint(submitit_sweep, tmp_path, data_dir):
    """A job killed after its first checkpoint, then started again as SLURM starts a requeued job:
    submitit's runner on the job's pickle (what the launcher's checkpoint() leaves), SLURM_RESTART_COUNT=1."""
    command = [
        sys.executable,
        "train.py",
        "-m",
        "hydra/launcher=submitit_local",
        *KILLABLE,
        f"paths.log_dir={tmp_path}",
        f"paths.data_dir={data_dir}",
    ]
    sweep = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )  # its own process group: the launcher and the job
    deadline = time.monotonic() + 180
    while not (found := list(tmp_path.rglob("checkpoints/last.ckpt"))):
        assert sweep.poll() is None, sweep.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.communicate(timeout=60)
    run_dir = found[0].parent.parent
    saved = load_checkpoint(found[0])
    assert not (run_dir / "metrics.json").exists()

    [pickle] = (run_dir.parent / ".submitit").glob("*/*_submitted.pkl")
    job_id = pickle.name.split("_")[0]
    env = {
        **os.environ,
        "SLURM_RESTART_COUNT": "1",
        "SUBMITIT_EXECUTOR": "local",
        "SUBMITIT_LOCAL_JOB_ID": job_id,
        "SUBMITIT_LOCAL_NTASKS": "1",
        "SUBMITIT_LOCAL_GLOBALID": "0",
        "SUBMITIT_LOCAL_LOCALID": "0",
        "SUBMITIT_LOCAL_NODEID": "0",
        "SUBMITIT_LOCAL_JOB_NUM_NODES": "1",
    }
    requeued = subprocess.run(
        [sys.executable, "-u", "-m", "submitit.core._submit", str(run_dir.parent / ".submitit" / "%j")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    zoo_lines = [line for line in requeued.stdout.splitlines() if line.startswith("zoo:")]
    assert zoo_lines[0] == f"zoo: requeued by SLURM: continuing from {run_dir / 'checkpoints' / 'last.ckpt'}"
    assert zoo_lines[1].startswith(f"zoo: resuming from step {saved['global_step']}: mlp")
    # The same run directory (the sweep's ${now:...} was resolved once, at submission), finished, with
    # the metrics of the MLP job that ran uninterrupted.
    assert [path.name for path in run_dirs(tmp_path)] == [run_dir.name]
    after = read_metrics(run_dir)
    [alone] = [read_metrics(run) for run in run_dirs(submitit_sweep) if read_metrics(run)["model"] == "mlp"]
    assert after["status"] == "finished"
    for key in ["val/acc_best", "test/acc", "test/loss", "train/loss", "val/loss"]:
        assert after[key] == pytest.approx(alone[key], abs=1e-6), key


@pytest.mark.parametrize(
    "restarts, checkpoint, resumes",
    [
        ("1", True, True),
        ("3", True, True),
        (None, True, False),  # not requeued: a finished or stopped run is continued by resume= only
        ("0", True, False),
        ("1", False, False),  # requeued before its first checkpoint: starts afresh
    ],
)
def test_only_a_requeued_job_with_a_checkpoint_continues_by_itself(
    tmp_path, monkeypatch, restarts, checkpoint, resumes
):
    if restarts is None:
        monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    else:
        monkeypatch.setenv("SLURM_RESTART_COUNT", restarts)
    last = tmp_path / "checkpoints" / "last.ckpt"
    if checkpoint:
        last.parent.mkdir()
        last.write_bytes(b"")
    assert requeued_checkpoint(Run(tmp_path)) == (last if resumes else None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "argument, message, hidden",
    [
        # As a plain `pip install zoo` leaves it: no Hydra plugin of the extra (the hydra_plugins namespace package
        # holds zoo's own sweeper only)...
        (
            "hydra/launcher=slurm",
            "hydra/launcher=slurm needs a Hydra plugin that is not installed "
            "(Hydra has no hydra/launcher/submitit_slurm)",
            "hydra_plugins.hydra_submitit_launcher",
        ),
        # ...and no Optuna, which that sweeper needs.
        ("hparams_search=optuna", "this run needs optuna, which is not installed", "optuna"),
    ],
)
def test_a_sweep_preset_without_its_plugin_says_how_to_install_it(tmp_path, argument, message, hidden):
    hide = f"import sys; sys.modules[{hidden!r}] = None"
    run = f"{hide}; sys.argv = ['train.py', '-m', {argument!r}]; from zoo.training.command import main; main()"
    result = subprocess.run([sys.executable, "-c", run], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == (
        f'error: {message}: install zoo\'s cluster extra, pip install -e ".[cluster]"'
    )
