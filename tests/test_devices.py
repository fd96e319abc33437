"""One run on several processes: Lightning's ddp, its ddp_spawn and a real torchrun, two CPU processes each
(gloo). Each process trains on its own half of every batch and tests on its own part of the test split; one
process writes the run's files; a killed run resumes exactly. docs/devices.md."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_checkpoints import zoo_eval
from test_resume import lr_steps, wait_for_first_checkpoint

from zoo.callbacks.checkpointing import RandomState
from zoo.runs.checkpoint import open_safely
from zoo.training.command import main

from conftest import REPO, command_here, read_metrics, run_dirs, train_py

TESTS = Path(__file__).resolve().parent
# 3,600 training samples in batches of 16 (8 a process): 225 steps an epoch, every sample once.
TWO_PROCESSES = ["model=mlp", "trainer=cpu", "trainer.devices=2", "trainer.max_epochs=1", "data.batch_size=16"]
VIEWS_OFF = ["task.views=null", "callbacks.compute_cost=null"]
STEPS_PER_EPOCH, TRAIN_SAMPLES, TEST_SAMPLES = 225, 3600, 1000
LAUNCHES = {
    "ddp": ["trainer.strategy=ddp", *VIEWS_OFF],
    # In a multirun, which Lightning's ddp cannot start (see the test of its error below); flags come first.
    # With the views: measured and drawn by the first process, handed back to the one that called fit and test.
    "ddp_spawn": ["-m", "trainer.strategy=ddp_spawn"],
    "torchrun": ["trainer.strategy=ddp", *VIEWS_OFF],
}


@pytest.fixture(scope="module", autouse=True)
def observers_importable():
    """Every process of a run imports tests/observers.py (they inherit the environment)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
        yield


def run_on_two_processes(launch: str, log_dir: Path, data_dir: Path, *more: str) -> subprocess.CompletedProcess:
    overrides = [*LAUNCHES[launch], *TWO_PROCESSES, *more, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}"]
    if launch != "torchrun":
        return train_py(*overrides[:-2], log_dir=log_dir, data_dir=data_dir)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "train.py", *overrides]
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


@pytest.fixture(scope="module", params=list(LAUNCHES))
def two_process_run(request, tmp_path_factory, data_dir):
    """A run on two processes, each writing which samples it trained and tested on."""
    log_dir = tmp_path_factory.mktemp(request.param)
    seen = log_dir / "seen"
    result = run_on_two_processes(
        request.param,
        log_dir,
        data_dir,
        "+callbacks.seen._target_=observers.SamplesSeen",
        f"+callbacks.seen.folder={seen}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, log_dir, seen, result


def seen_by(seen: Path, stage: str) -> list:
    records = sorted(
        (json.loads(path.read_text()) for path in seen.glob(f"{stage}_rank*.json")), key=lambda record: record["rank"]
    )
    assert [(record["rank"], record["processes"]) for record in records] == [(0, 2), (1, 2)]
    return [record["seen"] for record in records]


@pytest.mark.slow
def test_each_process_trains_on_its_half_of_every_batch(two_process_run):
    _, _, seen, _ = two_process_run
    first, second = seen_by(seen, "train")
    assert len(first) == len(second) == STEPS_PER_EPOCH  # as many steps as one process takes
    assert all(len(batch) == 8 for batch in first + second)  # data.batch_size=16 is the batch of both together
    first_samples = {sample for batch in first for sample in batch}
    second_samples = {sample for batch in second for sample in batch}
    assert not first_samples & second_samples
    assert len(first_samples | second_samples) == TRAIN_SAMPLES  # the epoch covers the training split once


@pytest.mark.slow
def test_each_test_sample_is_counted_once_and_one_process_writes(two_process_run, data_dir):
    launch, log_dir, seen, result = two_process_run
    first, second = seen_by(seen, "test")
    assert len(first) + len(second) == TEST_SAMPLES and len(set(first) | set(second)) == TEST_SAMPLES
    [run_dir] = run_dirs(log_dir)  # one metrics.json
    metrics = read_metrics(run_dir)
    assert metrics["processes"] == 2 and metrics["status"] == "finished"
    assert result.stdout.count("zoo: training mlp") == 1 and result.stdout.count("test/acc") == 1
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    # One TensorBoard run with the event files of one process: fitting and testing each open the writer once and the
    # HPARAMS row goes with the test's; under ddp_spawn, three processes each open it as the first of its kind.
    events = list(log_dir.rglob("events.out.tfevents.*"))
    spawned = log_dir.name.startswith("ddp_spawn")
    assert len({path.parent for path in events}) == 1 and len(events) == (3 if spawned else 2)
    # Every process's random state is saved, each restored by its own process on resume.
    last = open_safely(run_dir / "checkpoints" / "last.ckpt")
    assert len(last["callbacks"]["RandomState"]["ranks"]) == 2
    # The reduced metrics are those of the whole test split: one process testing the same checkpoint agrees.
    # The test's own callback is not one of zoo's classes, which zoo-eval refuses to open (tests/test_safe_restore.py):
    # it evaluates the checkpoint as saved without it.
    best = open_safely(metrics["best_checkpoint"])
    del best["hyper_parameters"]["callbacks"]["seen"]
    torch.save(best, log_dir / "best_without_observer.ckpt")
    evaluated = zoo_eval(f"ckpt={log_dir / 'best_without_observer.ckpt'}", f"data_dir={data_dir}")
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"test/acc {metrics['test/acc']:.4f}, test/loss {metrics['test/loss']:.4f}" in evaluated.stdout
    # The second process keeps Hydra's files out of the log folder (torchrun's) or in the run's own folder.
    assert sorted(path.name for path in log_dir.iterdir()) == [
        "best_without_observer.ckpt",
        "best_without_observer_eval.json",  # zoo-eval's metrics of a checkpoint kept outside a run folder
        "multiruns" if launch == "ddp_spawn" else "runs",
        "seen",
        "tensorboard",
    ]
    assert len(list(log_dir.glob("*runs/*"))) == 1
    if launch == "ddp_spawn":  # the views' measurements and figures came back from the spawned processes
        assert {"flops_forward", "latency_ms", "eval_train_acc", "noise_acc_0.5"} <= set(metrics["measured"])
        images = EventAccumulator(str(events[0].parent), size_guidance={"images": 0}).Reload().Tags()["images"]
        assert {"test/confusion_matrix", "robust/accuracy"} <= set(images), images


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_to_the_same_result(tmp_path, tmp_path_factory, data_dir):
    alone_dir = tmp_path_factory.mktemp("alone")
    assert run_on_two_processes("ddp", alone_dir, data_dir, "trainer.max_epochs=2").returncode == 0
    [alone_run] = run_dirs(alone_dir)
    alone = read_metrics(alone_run)

    command = [
        sys.executable,
        "train.py",
        *TWO_PROCESSES,
        *LAUNCHES["ddp"],
        "trainer.max_epochs=2",
        f"paths.log_dir={tmp_path}",
        f"paths.data_dir={data_dir}",
    ]
    # A session of its own: the kill takes both processes at once, as a lost node would.
    run = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    checkpoint = wait_for_first_checkpoint(run, tmp_path)
    time.sleep(alone["train_time_s"] / 2 / 4)  # into the second epoch
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    saved = open_safely(checkpoint)
    assert saved["epoch"] < 1, "the run finished its second epoch before the kill"
    run_dir = checkpoint.parent.parent
    assert not (run_dir / "metrics.json").exists()

    resumed = train_py(f"resume={run_dir}", log_dir=tmp_path, data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step {saved['global_step']}" in resumed.stdout
    after = read_metrics(run_dir)
    assert after["processes"] == 2
    for key in ["val/acc_best", "test/acc", "test/loss", "train/loss", "val/loss"]:
        assert after[key] == pytest.approx(alone[key], abs=1e-6), key
    assert lr_steps(tmp_path) == lr_steps(alone_dir)


def test_each_process_takes_its_own_random_state_back():
    """The kill and resume above cannot tell the states apart (every process starts from the same seed):
    here they differ, as they would where the processes drew differently."""
    states = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        states.append({"cpu": torch.get_rng_state()})
    second = RandomState()
    second.rank = 1
    second.load_state_dict({"ranks": states})
    drawn = torch.rand(3)
    torch.manual_seed(2)
    assert torch.equal(drawn, torch.rand(3))


@pytest.mark.slow
def test_an_error_in_a_spawned_process_is_one_line(tmp_path, data_dir):
    result = train_py(
        *TWO_PROCESSES,
        "trainer.strategy=ddp_spawn",
        *VIEWS_OFF,
        "model.norm=none",
        "optimizer=sgd",
        "scheduler=constant",
        "optimizer.lr=1e12",
        log_dir=tmp_path,
        data_dir=data_dir,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: train/loss became ")
    [run_dir] = run_dirs(tmp_path)
    assert read_metrics(run_dir)["status"] == "failed"


@pytest.mark.slow
def test_sync_batchnorm_without_a_gpu_fails_in_one_line(tmp_path, data_dir):
    result = train_py(
        *TWO_PROCESSES, "trainer.strategy=ddp", "trainer.sync_batchnorm=true", log_dir=tmp_path, data_dir=data_dir
    )
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: trainer.sync_batchnorm=true needs CUDA GPUs (torch's SyncBatchNorm runs on them only); drop it to "
        "normalize each process's share of the batch on its own"
    )


def test_a_batch_that_does_not_divide_among_the_processes_fails_in_one_line(tmp_path, data_dir):
    result = command_here(
        main, *TWO_PROCESSES, "trainer.strategy=ddp", "data.batch_size=15", f"paths.log_dir={tmp_path}"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: data.batch_size=15 is the batch of all 2 processes together and must divide evenly among them: "
        "use data.batch_size=14 or 16"
    )


def test_a_multirun_with_lightnings_ddp_stops_at_once_naming_ddp_spawn(tmp_path, data_dir):
    result = command_here(main, "-m", "seed=0,1", *TWO_PROCESSES, "trainer.strategy=ddp", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: a multirun (-m) cannot train its jobs on 2 processes with Lightning's ddp strategy")
    )
    assert "use trainer.strategy=ddp_spawn" in result.stderr
    assert result.stdout.count("zoo: training") == 0 and not run_dirs(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_trainer_ddp_trains_on_every_gpu(tmp_path, data_dir):
    result = train_py("trainer=ddp", "model=cnn", "trainer.max_epochs=1", log_dir=tmp_path, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    [run_dir] = run_dirs(tmp_path)
    assert read_metrics(run_dir)["processes"] == torch.cuda.device_count()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_processes(commands_and_envs: list[tuple[list[str], dict]]) -> list[subprocess.CompletedProcess]:
    """Start every process at once, as a launcher would, and wait for all."""
    started = [
        subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command, env in commands_and_envs
    ]
    return [subprocess.CompletedProcess(run.args, run.wait(timeout=300), *run.communicate()) for run in started]


def one_finished_run_of(log_dir: Path, processes: int, results: list[subprocess.CompletedProcess]) -> dict:
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    assert sum(result.stdout.count("zoo: training") for result in results) == 1
    assert len(list((log_dir / "runs").iterdir())) == 1  # the other processes made no run folder of their own
    [run_dir] = run_dirs(log_dir)
    metrics = read_metrics(run_dir)
    assert metrics["processes"] == processes and metrics["status"] == "finished"
    return metrics


@pytest.mark.slow
def test_two_nodes_through_torchrun(tmp_path, data_dir):
    """Two torchrun commands, one per node, as on two machines; here both nodes are this one."""
    port = free_port()
    overrides = [
        "model=mlp",
        "trainer=cpu",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        "trainer.strategy=ddp",
        "trainer.max_epochs=1",
        "task.views=null",
        f"paths.log_dir={tmp_path}",
        f"paths.data_dir={data_dir}",
    ]
    results = start_processes(
        [
            (
                [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--nnodes=2",
                    f"--node-rank={node}",
                    "--nproc-per-node=1",
                    "--master-addr=127.0.0.1",
                    f"--master-port={port}",
                    "train.py",
                    *overrides,
                ],
                {},
            )
            for node in (0, 1)
        ]
    )
    one_finished_run_of(tmp_path, 2, results)
    assert "on 2 processes (2 nodes)" in results[0].stdout


@pytest.mark.slow
def test_two_tasks_started_by_slurm(tmp_path, data_dir):
    """What srun starts for `#SBATCH --ntasks-per-node=2`: the same command twice, told its task by SLURM's
    variables, which Lightning reads (SLURMEnvironment)."""
    overrides = [
        "model=mlp",
        "trainer=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.max_epochs=1",
        "task.views=null",
        f"paths.log_dir={tmp_path}",
        f"paths.data_dir={data_dir}",
    ]
    slurm = {
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NODEID": "0",
        "SLURM_JOB_NAME": "zoo",
        "SLURM_JOB_ID": str(free_port()),
        "SLURM_NODELIST": "localhost",
    }
    results = start_processes(
        [
            ([sys.executable, "train.py", *overrides], {**slurm, "SLURM_PROCID": str(task), "SLURM_LOCALID": str(task)})
            for task in (0, 1)
        ]
    )
    one_finished_run_of(tmp_path, 2, results)
