"""Side-by-side comparison: a real TensorBoard server's HPARAMS table, zoo-board and zoo-compare."""

import csv
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import pytest
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import CTRL_C_ABLE, REPO, TINY, read_metrics, run_dirs, train_py
from zoo.hparams import HP_METRICS, flat_hparams

MODELS = ["linear", "mlp", "cnn"]


@pytest.fixture(scope="module")
def three_families(tmp_path_factory, data_dir):
    """Three families x two seeds, one multirun."""
    log_dir = tmp_path_factory.mktemp("compare")
    result = train_py("-m", f"model={','.join(MODELS)}", "seed=0,1", *TINY, "trainer.log_every_n_steps=2",
                      log_dir=log_dir, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(port: int, path: str, body: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def board(three_families):
    """`zoo-board` serving the multirun's TensorBoard root on a free local port."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "zoo.board", "--logdir", str(three_families / "tensorboard"),
                               "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, **CTRL_C_ABLE)
    deadline = time.monotonic() + 90
    while True:
        try:
            if len(http(port, "/data/runs")) == 6:
                break
        except OSError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "TensorBoard did not come up"
        time.sleep(0.5)
    yield port, server
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)


def session_groups(port: int) -> list[dict]:
    request = {"experimentName": "", "startIndex": 0, "sliceSize": 100,
               "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
               "colParams": [{"metric": {"group": "", "tag": tag}} for tag in HP_METRICS]}
    return http(port, "/data/plugin/hparams/session_groups", request)["sessionGroups"]


def test_tensorboard_lists_every_run_with_its_curves(board):
    port, server = board
    assert server.stdout.readline().startswith(f"TensorBoard for ")
    runs = http(port, "/data/runs")
    assert sorted({tuple(run.split("/")[:2]) for run in runs}) == sorted(("mnist1d", m) for m in MODELS)
    tags = http(port, "/data/plugin/scalars/tags")
    for run in runs:
        assert {"train/loss", "train/acc", "val/acc", "val/acc_best", "test/acc", "test/loss", "lr-AdamW"} <= set(tags[run])


def test_hparams_table_has_real_values_for_every_run(board, three_families):
    port, _ = board
    groups = session_groups(port)
    assert len(groups) == 6
    metrics_by_run = {}
    for run_dir in run_dirs(three_families):
        metrics = read_metrics(run_dir)
        metrics_by_run[(metrics["model"], float(metrics["seed"]))] = metrics
    for group in groups:
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert set(values) == set(HP_METRICS)  # all six, none missing
        assert all(value != -1 for value in values.values())
        expected = metrics_by_run[(group["hparams"]["model"], group["hparams"]["seed"])]
        for tag, key in HP_METRICS.items():
            assert values[tag] == pytest.approx(expected[key], rel=1e-5), tag
        assert [session["status"] for session in group["sessions"]] == ["STATUS_SUCCESS"]


def test_every_family_logs_the_same_hparam_keys_with_the_same_types(board):
    port, _ = board
    shapes = {frozenset((key, type(value).__name__) for key, value in group["hparams"].items())
              for group in session_groups(port)}
    assert len(shapes) == 1
    [shape] = shapes
    assert {("model.heads", "float"), ("model.cell", "str"), ("optimizer.lr", "float"), ("device", "str")} <= shape


@pytest.mark.parametrize("model", ["linear", "mlp", "cnn", "rnn", "transformer"])
def test_flat_hparams_have_one_shape_for_every_family(compose_config, model):
    reference = flat_hparams(compose_config("model=linear"), "cpu", "32-true")
    flat = flat_hparams(compose_config(f"model={model}", "model.kernel=[5,3,3]" if model == "cnn" else "seed=0"),
                        "cpu", "32-true")
    assert {k: type(v) for k, v in flat.items()} == {k: type(v) for k, v in reference.items()}
    assert flat["model"] == model and "_target_" not in json.dumps(flat)


def test_every_model_setting_has_an_hparams_column():
    from pathlib import Path

    import yaml

    from zoo.hparams import MODEL_KEYS
    from zoo.train import CONFIG_DIR

    for path in (Path(CONFIG_DIR) / "model").glob("*.yaml"):
        settings = yaml.safe_load(path.read_text())
        settings = settings.get("model", settings)  # a file in the global package (model/mlp.yaml) nests them
        assert set(settings) - {"name"} <= set(MODEL_KEYS), path.name


def test_run_tensorboard_holds_config_parameters_histograms_and_confusion_matrix(three_families):
    [run] = [p.parent for p in (three_families / "tensorboard" / "mnist1d" / "cnn").rglob("events.*")][:1]
    events = EventAccumulator(str(run), size_guidance={"images": 0, "histograms": 0, "tensors": 0}).Reload()
    tags = events.Tags()
    assert "test/confusion_matrix" in tags["images"]
    assert any(tag.startswith("weights/features.0.weight") for tag in tags["histograms"])
    assert {"config/text_summary", "parameters/text_summary"} <= set(tags["tensors"])
    parameters = events.Tensors("parameters/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "features.0.weight" in parameters and "**total**" in parameters


def test_zoo_compare_table_csv_and_plot(three_families, tmp_path):
    result = subprocess.run([sys.executable, "scripts/compare.py", "--logdir", str(three_families / "tensorboard"),
                             "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(model in result.stdout for model in MODELS)
    with open(tmp_path / "comparison.csv") as file:
        rows = {row["model"]: row for row in csv.DictReader(file)}
    assert sorted(rows) == sorted(MODELS) and all(row["runs"] == "2" for row in rows.values())
    for model in MODELS:
        accs = [read_metrics(d)["test/acc"] for d in run_dirs(three_families) if read_metrics(d)["model"] == model]
        assert float(rows[model]["test_acc_mean"]) == pytest.approx(statistics.fmean(accs), rel=1e-5)
    assert "| mnist1d | cnn | 2 |" in (tmp_path / "comparison.md").read_text()
    image = imread(tmp_path / "comparison.png")
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_zoo_compare_filters_and_says_when_nothing_matches(three_families, tmp_path):
    command = [sys.executable, "-m", "zoo.compare", "--logdir", str(three_families / "tensorboard"),
               "--out", str(tmp_path)]
    result = subprocess.run(command + ["--model", "cnn"], cwd=REPO, capture_output=True, text=True, timeout=120)
    with open(tmp_path / "comparison.csv") as file:
        assert [row["model"] for row in csv.DictReader(file)] == ["cnn"]
    result = subprocess.run(command + ["--data", "cifar10"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no finished zoo runs" in result.stderr and "Traceback" not in result.stderr


def test_zoo_board_says_when_the_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "zoo.board", "--logdir", str(tmp_path), "--port", str(port)],
                                cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"error: port {port} on 127.0.0.1 is taken (another TensorBoard?); "
                                          f"pass --port with a free one, e.g. --port {port + 1}")


def test_an_interrupted_run_leaves_no_finished_row(tmp_path, data_dir):
    command = [sys.executable, "train.py", "model=mlp", "trainer.max_epochs=100000", f"paths.log_dir={tmp_path}",
               f"paths.data_dir={data_dir}"]
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           **CTRL_C_ABLE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.rglob("checkpoints/last.ckpt")):  # a few epochs in
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode != 0
    [events_dir] = {p.parent for p in tmp_path.rglob("events.out.tfevents.*")}
    with pytest.raises(KeyError, match="hparams"):  # no HPARAMS session was written
        EventAccumulator(str(events_dir)).Reload().PluginTagToContent("hparams")
    result = subprocess.run([sys.executable, "-m", "zoo.compare", "--logdir", str(tmp_path / "tensorboard")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "no finished zoo runs" in result.stderr
