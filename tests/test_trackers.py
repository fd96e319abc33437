"""logger=mlflow and logger=wandb, several loggers at once and a multirun's group, read back with the trackers' own
libraries; and what a run writes when its output goes to a file (a cluster job's log) or to a terminal."""

import fcntl
import json
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from wandb.proto import wandb_internal_pb2

import zoo.training.command
from zoo.runs.hparams import flat_hparams

from conftest import REPO, TINY, command_here, read_metrics, run_dirs, train_cli, train_here

pytestmark = pytest.mark.slow  # every test here trains or starts a process (pytest -m "not slow" leaves them out)

FAMILIES = ["mlp", "linear"]
# The views whose figures and measurements no test here reads: they take most of a tiny run's time.
SLOW_VIEWS_OFF = ["task.views.robustness=null", "task.views.saliency=null", "callbacks.compute_cost=null"]


@pytest.fixture(scope="module")
def multirun(tmp_path_factory, data_dir):
    """`python train.py -m 'logger=[tensorboard,mlflow,wandb]' model=mlp,linear` on tiny budgets, its output to a
    file as a cluster job's is: the three trackers at once, two runs in one group."""
    log_dir = tmp_path_factory.mktemp("trackers")
    log = log_dir / "train.log"
    command = [sys.executable, "train.py", "-m", "logger=[tensorboard,mlflow,wandb]", f"model={','.join(FAMILIES)}"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WANDB_", "HYDRA_FULL_ERROR"))}
    env["HOME"] = str(log_dir)  # no ~/.netrc: W&B has no API key, so offline
    with log.open("w") as output:
        finished = subprocess.run(
            [*command, *TINY, *SLOW_VIEWS_OFF, f"paths.log_dir={log_dir}", f"paths.data_dir={data_dir}"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    text = log.read_text()
    assert finished.returncode == 0, text
    return log_dir, text


def mlflow_runs(log_dir: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(f"sqlite:///{log_dir}/mlflow.db")
    experiments = [experiment for experiment in client.search_experiments() if experiment.name != "Default"]
    return client, [
        (experiment, run) for experiment in experiments for run in client.search_runs([experiment.experiment_id])
    ]


def artifact_paths(client: MlflowClient, run_id: str, folder: str | None = None) -> list[str]:
    paths = []
    for artifact in client.list_artifacts(run_id, folder):
        paths += artifact_paths(client, run_id, artifact.path) if artifact.is_dir else [artifact.path]
    return paths


def wandb_records(run_file: Path) -> list:
    """The records of an offline W&B run's `run-<id>.wandb`: a header, then LevelDB's log format (32 KiB blocks of
    chunks, each with a checksum, a length and whether it is a whole record or a part), each record a protobuf."""
    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    records, position, pending, block, header = [], 7, b"", 32 * 1024, 7
    while position + header <= len(data):
        if block - position % block < header:  # a block's tail too short for a header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + header])
        if kind == 0:
            position += block - position % block
            continue
        pending += data[position + header : position + header + length]
        position += header + length
        if kind in (1, 4):  # a whole record, or a record's last part
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_run(records: list) -> dict:
    """What an offline W&B run holds: its group and name, config, history rows and artifacts."""
    run: dict = {"history": [], "artifacts": []}
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run |= {"group": record.run.run_group, "name": record.run.display_name, "project": record.run.project}
        elif kind == "config":
            run["config"] = {item.key: json.loads(item.value_json) for item in record.config.update if item.key}
        elif kind == "history":
            items = record.history.item
            run["history"].append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}
            )
        elif kind == "artifact":
            run["artifacts"].append((record.artifact.type, [entry.path for entry in record.artifact.manifest.contents]))
    return run


def test_mlflow_holds_each_runs_hyperparameters_metrics_figures_and_best_checkpoint(multirun, compose_config):
    log_dir, _ = multirun
    client, runs = mlflow_runs(log_dir)
    # One experiment for the multirun, named by its folder, one finished run in it for each job.
    [sweep] = [path.name for path in (log_dir / "multiruns").iterdir()]
    assert {experiment.name for experiment, _ in runs} == {f"multirun_{sweep}"}
    assert sorted(run.info.run_name.split("/")[1] for _, run in runs) == sorted(FAMILIES)
    for _, run in runs:
        assert run.info.status == "FINISHED"
        [run_dir] = [path for path in run_dirs(log_dir) if path.name.endswith(run.info.run_name.split("/")[1])]
        metrics, config = read_metrics(run_dir), json.loads((run_dir / "trackers.json").read_text())
        assert config["mlflow"] == run.info.run_id
        # The HPARAMS tab's columns, with their values.
        assert run.data.params["model"] == metrics["model"] and run.data.params["optimizer"] == "AdamW"
        assert float(run.data.params["optimizer.lr"]) == 0.003 and run.data.params["data.batch_size"] == "32"
        # The settings that apply to the family, none that does not (a linear model has no model.dim).
        expected = flat_hparams(compose_config(f"model={metrics['model']}"), "cpu", "32-true")
        assert set(run.data.params) == set(expected) and ("model.dim" in run.data.params) == (metrics["model"] == "mlp")
        # TensorBoard's metric names, one value an epoch; the test metrics and the final zoo/ ones.
        history = client.get_metric_history(run.info.run_id, "val/acc")
        assert sorted(point.step for point in history) == [3, 7]  # as in TensorBoard: each epoch's last step
        assert run.data.metrics["val/acc_best"] == pytest.approx(metrics["val/acc_best"])
        assert run.data.metrics["test/acc"] == pytest.approx(metrics["test/acc"])
        assert run.data.metrics["zoo/test_acc"] == pytest.approx(metrics["test/acc"])
        # The learning rate of every step (4 an epoch), in one batch an epoch.
        assert [point.step for point in client.get_metric_history(run.info.run_id, "train/lr")] == list(range(8))
        assert "train/loss" in run.data.metrics
        artifacts = artifact_paths(client, run.info.run_id)
        assert "checkpoints/best.ckpt" in artifacts
        assert any(path.startswith("figures/test/confusion_matrix/") and path.endswith(".png") for path in artifacts)
        # The artifact is the run's best checkpoint, byte for byte.
        local = client.download_artifacts(run.info.run_id, "checkpoints/best.ckpt", str(log_dir / run.info.run_id))
        assert Path(local).read_bytes() == (run_dir / "checkpoints" / "best.ckpt").read_bytes()


def test_wandb_runs_offline_without_an_api_key_and_holds_the_same(multirun):
    log_dir, output = multirun
    folders = sorted((log_dir / "wandb").glob("offline-run-*"))
    assert len(folders) == len(FAMILIES)
    for folder in folders:
        assert f"upload it with: wandb sync {folder}" in output
        [run_file] = folder.glob("run-*.wandb")
        run = wandb_run(wandb_records(run_file))
        [sweep] = [path.name for path in (log_dir / "multiruns").iterdir()]
        assert run["group"] == f"multirun_{sweep}" and run["project"] == "zoo"
        model = run["name"].split("/")[1]
        [run_dir] = [path for path in run_dirs(log_dir) if path.name.endswith(model)]
        metrics = read_metrics(run_dir)
        assert json.loads((run_dir / "trackers.json").read_text())["wandb"] == run_file.stem.removeprefix("run-")
        assert run["config"]["model"] == model and run["config"]["optimizer.lr"] == 0.003
        epochs = [row for row in run["history"] if "val/acc" in row]
        assert [row["trainer/global_step"] for row in epochs] == [3, 7]  # Lightning's step of the epoch's end
        [tested] = [row for row in run["history"] if "test/acc" in row]
        assert tested["test/acc"] == pytest.approx(metrics["test/acc"])
        assert any("test/confusion_matrix" in key for row in run["history"] for key in row)
        assert ("model", ["best.ckpt"]) in run["artifacts"]


def test_tensorboard_still_logs_beside_the_other_trackers(multirun):
    log_dir, _ = multirun
    events = sorted((log_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert len({path.parent for path in events}) == len(FAMILIES)
    accumulator = EventAccumulator(str(events[0].parent)).Reload()
    assert "val/acc" in accumulator.Tags()["scalars"] and "test/confusion_matrix" in accumulator.Tags()["images"]


def test_a_log_written_to_a_file_is_plain_lines_one_per_epoch(multirun):
    _, output = multirun
    assert "\r" not in output and "\x1b" not in output and "v_num" not in output
    epoch_lines = [line for line in output.splitlines() if line.startswith("epoch ")]
    # Two jobs of two epochs; each line with its step, speed and the epoch's metrics.
    assert [line.split("  ")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"] * len(FAMILIES)
    for line in epoch_lines:
        assert "samples/s" in line and "train/loss " in line and "val/acc " in line


def test_a_terminal_gets_the_live_bar_without_v_num(tmp_path, data_dir):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # tqdm draws nothing 0 wide
    command = [sys.executable, "train.py", "model=linear", *TINY, "task.views=null", f"paths.log_dir={tmp_path}"]
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    run = subprocess.Popen(
        [*command, f"paths.data_dir={data_dir}"], cwd=REPO, env=env, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert run.wait(timeout=120) == 0
    output = b"".join(chunks).decode(errors="replace")
    assert "\r" in output and "Epoch 1:" in output  # tqdm's bar, redrawn in place
    assert "v_num" not in output and "\nepoch 1/2  " not in output


def test_resume_continues_the_same_mlflow_run(tmp_path, data_dir):
    settings = ["logger=mlflow", "model=linear", *TINY, *SLOW_VIEWS_OFF]
    first = train_here(*settings, "trainer.max_epochs=1", log_dir=tmp_path, data_dir=data_dir)
    resumed = train_cli(*settings, f"resume={first['run_dir']}", log_dir=tmp_path, data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr
    client, runs = mlflow_runs(tmp_path)
    [(experiment, run)] = runs
    assert experiment.name == "zoo"
    assert [point.step for point in client.get_metric_history(run.info.run_id, "val/acc")] == [3, 7]
    # The parameter that changed on resuming, beside its first value
    assert run.data.params["trainer.max_epochs"] == "1" and run.data.tags["resumed.trainer.max_epochs"] == "2"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mlflow_api(port: int, path: str, body: dict | None = None) -> dict:
    """An answer of MLflow's REST API (a GET, or a POST of `body`)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_mlflow_s_server_starts_on_zoo_s_store_and_lists_its_run(tmp_path, data_dir):
    """`mlflow ui --backend-store-uri sqlite:///logs/mlflow.db`, as docs/trackers.md says: with every extra installed
    (SQLAlchemy 2), the server starts and its REST API lists the run zoo logged."""
    result = train_here("logger=mlflow", "model=linear", *TINY, *SLOW_VIEWS_OFF, log_dir=tmp_path, data_dir=data_dir)
    run_id = json.loads((Path(result["run_dir"]) / "trackers.json").read_text())["mlflow"]
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    # One worker and no job runner (MLflow's background jobs, which nothing here uses): a start of seconds.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(log := (tmp_path / "server.log").open("w")),
        start_new_session=True,  # its own process group: the command, and the uvicorn it starts
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "MLflow's server did not answer within 120 s"
            time.sleep(0.25)
        experiment = mlflow_api(port, "experiments/get-by-name?experiment_name=zoo")["experiment"]
        [run] = mlflow_api(port, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        assert run["info"]["run_id"] == run_id and run["info"]["status"] == "FINISHED"
        metrics = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
        assert metrics["test/acc"] == pytest.approx(result["test/acc"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        log.close()
    assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    deadline = time.monotonic() + 30
    while True:  # every process of the group ended on SIGTERM
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "MLflow's server left processes behind"
        time.sleep(0.1)


def test_a_missing_tracker_package_names_the_extra_in_one_line(monkeypatch, tmp_path, data_dir):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if MLflow were not installed
    missing = command_here(zoo.training.command.main, "logger=[tensorboard,mlflow]", f"paths.log_dir={tmp_path}")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        'error: logger.mlflow needs MLflow ("mlflow"), which is not installed: pip install "zoo[trackers]" '
        '(in a checkout: pip install -e ".[trackers]")'
    )
    assert not list(tmp_path.rglob("*.ckpt"))
