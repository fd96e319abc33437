"""Side-by-side comparison: a real TensorBoard server's HPARAMS table, zoo-board and zoo-compare."""

import csv
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from zoo.compare import command as compare
from zoo.runs.grouping import distinguishing_keys
from zoo.runs.hparams import COST_VALUES, EXPERIMENT_FOLDER, final_tag, flat_hparams
from zoo.tasks.classification import Classification
from zoo.training import command as cli

from conftest import CTRL_C_ABLE, REPO, TINY, command_here, free_port, http, read_metrics, run_dirs

MODELS = ["mlp", "cnn"]
# The robustness and saliency figures take most of a tiny run's time, and nothing here looks at them.
NO_SLOW_VIEWS = ["task.views.robustness=null", "task.views.saliency=null"]
LRS = [1e-3, 1e-2]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, data_dir):
    """Two families x two learning rates x two seeds, one multirun (in this process): its log_dir."""
    log_dir = tmp_path_factory.mktemp("compare")
    result = command_here(
        cli.main,
        "-m",
        f"model={','.join(MODELS)}",
        f"optimizer.lr={','.join(map(str, LRS))}",
        "seed=0,1",
        *TINY,
        *NO_SLOW_VIEWS,
        "trainer.log_every_n_steps=2",
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir


def job_lr(run_dir) -> float:
    """The learning rate a multirun job was given, from Hydra's record of its config."""
    return float(yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["optimizer"]["lr"])


@pytest.fixture(scope="module")
def board(sweep):
    """`zoo-board` serving the multirun's TensorBoard root on a free local port."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "zoo.compare.board", "--logdir", str(sweep / "tensorboard"), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **CTRL_C_ABLE,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if len(http(port, "/data/runs")) == 8 + 1:  # and the description of the HPARAMS columns
                break
        except OSError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "TensorBoard did not come up"
        time.sleep(0.5)
    yield port, server
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)


HP_METRICS = {final_tag(key): key for key in (*Classification.hp_metrics, *COST_VALUES)}


def session_groups(port: int) -> list[dict]:
    request = {
        "experimentName": "",
        "startIndex": 0,
        "sliceSize": 100,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"metric": {"group": "", "tag": tag}} for tag in HP_METRICS],
    }
    return http(port, "/data/plugin/hparams/session_groups", request)["sessionGroups"]


@pytest.mark.slow
def test_tensorboard_lists_every_run_with_its_curves(board):
    port, server = board
    assert server.stdout.readline().startswith("TensorBoard for ")
    runs = [run for run in http(port, "/data/runs") if not run.startswith(EXPERIMENT_FOLDER)]
    assert sorted({tuple(run.split("/")[:2]) for run in runs}) == sorted(("mnist1d", m) for m in MODELS)
    tags = http(port, "/data/plugin/scalars/tags")
    for run in runs:
        assert {"train/loss", "train/acc", "train/lr", "val/acc", "val/acc_best", "zoo/test_acc"} <= set(tags[run])


@pytest.mark.slow
def test_hparams_table_has_real_values_for_every_run(board, sweep):
    port, _ = board
    groups = session_groups(port)
    assert len(groups) == 8
    metrics_by_run = {}
    for run_dir in run_dirs(sweep):
        metrics = read_metrics(run_dir)
        metrics_by_run[(metrics["model"], job_lr(run_dir), float(metrics["seed"]))] = metrics
    for group in groups:
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert set(HP_METRICS) <= set(values)  # all six, none missing (zoo/train_samples and the views' come too)
        assert all(value != -1 for value in values.values())
        hparams = group["hparams"]
        expected = metrics_by_run[(hparams["model"], hparams["optimizer.lr"], float(hparams["seed"]))]
        for tag, key in HP_METRICS.items():
            assert values[tag] == pytest.approx(expected[key], rel=1e-5), tag
        assert [session["status"] for session in group["sessions"]] == ["STATUS_SUCCESS"]


@pytest.mark.slow
def test_each_row_holds_the_settings_of_its_family_and_the_columns_open_on_what_differs(board):
    port, _ = board
    for group in session_groups(port):
        hparams = group["hparams"]
        assert ("model.kernel" in hparams) == (hparams["model"] == "cnn") and "model.heads" not in hparams
        assert hparams["seed"] in ("0", "1") and hparams["data.batch_size"] == "32"  # whole numbers as they read
    experiment = http(port, "/data/plugin/hparams/experiment", {"experimentName": ""})
    differs = [info["name"] for info in experiment["hparamInfos"] if info["differs"]]
    assert differs == ["model", "optimizer.lr", "seed"]  # first: TensorBoard shows these columns from the start
    assert [info["name"] for info in experiment["hparamInfos"]][:3] == differs


@pytest.mark.parametrize("model", ["linear", "mlp", "cnn", "rnn", "transformer"])
def test_flat_hparams_hold_the_settings_that_apply_with_their_types(compose_config, model):
    cfg = compose_config(f"model={model}", "model.kernel=[5,3,3]" if model == "cnn" else "seed=0")
    flat = flat_hparams(cfg, "cpu", "32-true")
    given = {key for key, value in cfg.model.items() if key != "name" and value is not None}
    assert {key.removeprefix("model.") for key in flat if key.startswith("model.")} == given
    assert flat["model"] == model and "_target_" not in json.dumps(flat)
    assert flat["seed"] == 0 and flat["data.batch_size"] == 128
    assert flat["optimizer.lr"] == pytest.approx(1e-2 if model == "cnn" else 3e-3)  # conf/model/cnn.yaml sets its own
    assert "data.path" not in flat and "data.target" not in flat  # MNIST-1D has neither
    if model == "cnn":
        assert flat["model.kernel"] == "[5,3,3]" and flat["model.dim"] == 32


def test_a_regression_row_has_no_label_smoothing(compose_config):
    cfg = compose_config("data=table", "task=regression", "data.path=houses.csv", "data.target=price", "model=mlp")
    flat = flat_hparams(cfg, "cpu", "32-true")
    assert "label_smoothing" not in flat and "data.augment" not in flat
    assert flat["data.path"] == "houses.csv" and flat["task"] == "regression"


def test_every_model_setting_has_an_hparams_column_of_its_type():
    """The columns come from the registry's builders: every setting of conf/model/ has one, numbers as numbers."""
    from zoo import CONFIG_DIR
    from zoo.runs.hparams import model_keys

    for path in (Path(CONFIG_DIR) / "model").glob("*.yaml"):
        settings = yaml.safe_load(path.read_text())
        settings = settings.get("model", settings)  # a file in the global package (model/mlp.yaml) nests them
        assert set(settings) - {"name"} <= set(model_keys()), path.name
    assert model_keys()["dim"] is int and model_keys()["positions"] is int and model_keys()["dropout"] is float
    assert model_keys()["kernel"] is str and model_keys()["channels"] is str and model_keys()["bidirectional"] is bool


@pytest.mark.slow
def test_run_tensorboard_holds_config_parameters_histograms_and_confusion_matrix(sweep):
    [run] = [p.parent for p in (sweep / "tensorboard" / "mnist1d" / "cnn").rglob("events.*")][:1]
    events = EventAccumulator(str(run), size_guidance={"images": 0, "histograms": 0, "tensors": 0}).Reload()
    tags = events.Tags()
    assert "test/confusion_matrix" in tags["images"]
    assert any(tag.startswith("weights/features.0.weight") for tag in tags["histograms"])
    assert {"config/text_summary", "parameters/text_summary"} <= set(tags["tensors"])
    parameters = events.Tensors("parameters/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "features.0.weight" in parameters and "**total**" in parameters


def zoo_compare(*args: str) -> subprocess.CompletedProcess:
    """zoo-compare's main() in this process: its exit status and what it printed."""
    return command_here(compare.main, *args)


def compare_script(*args: str) -> subprocess.CompletedProcess:
    """scripts/compare.py run as a script, in a process of its own."""
    return subprocess.run(
        [sys.executable, "scripts/compare.py", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def read_csv(path: Path) -> list[dict]:
    with open(path) as file:
        return list(csv.DictReader(file))


@pytest.mark.slow
def test_zoo_compare_gives_a_sweep_one_row_per_setting(sweep, tmp_path):
    result = compare_script("--logdir", str(sweep), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "optimizer.lr" in result.stdout and all(model in result.stdout for model in MODELS)
    rows = read_csv(tmp_path / "comparison.csv")
    # the settings that differ name the rows; the seeds are the repeats counted in `runs`
    assert list(rows[0])[:5] == ["task", "data", "model", "optimizer.lr", "runs"]  # the CSV holds every task's rows
    assert sorted((row["model"], float(row["optimizer.lr"])) for row in rows) == sorted(
        (model, lr) for model in MODELS for lr in LRS
    )
    for row in rows:
        jobs = [
            d
            for d in run_dirs(sweep)
            if (read_metrics(d)["model"], job_lr(d)) == (row["model"], float(row["optimizer.lr"]))
        ]
        assert row["data"] == "mnist1d" and row["runs"] == "2" and len(jobs) == 2
        accs = [read_metrics(d)["test/acc"] for d in jobs]
        assert float(row["test_acc_mean"]) == pytest.approx(statistics.fmean(accs), rel=1e-5)
    markdown = (tmp_path / "comparison.md").read_text()
    assert markdown.startswith("**classification**\n\n| data | model | optimizer.lr | runs |")
    assert "| mnist1d | cnn | 0.001 | 2 |" in markdown
    image = imread(tmp_path / "comparison.png")
    assert image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.slow
def test_zoo_compare_gives_the_same_rows_from_any_folder_above_the_runs(sweep):
    """paths.log_dir, its TensorBoard root and one data set's folder hold the same runs; the output goes
    into the folder given."""
    folders = [sweep, sweep / "tensorboard", sweep / "tensorboard" / "mnist1d"]
    tables = {}
    for folder in folders:
        result = zoo_compare("--logdir", str(folder))
        assert result.returncode == 0, result.stderr
        tables[folder] = (folder / "compare" / "comparison.csv").read_text()
    assert tables[sweep] == tables[sweep / "tensorboard"] == tables[sweep / "tensorboard" / "mnist1d"]
    assert len(read_csv(sweep / "compare" / "comparison.csv")) == 4
    one_model = sweep / "tensorboard" / "mnist1d" / "cnn"
    result = zoo_compare("--logdir", str(one_model), "--out", str(one_model.parent.parent / "cnn_only"))
    assert result.returncode == 0, result.stderr
    cnn_rows = [row for row in read_csv(sweep / "compare" / "comparison.csv") if row["model"] == "cnn"]
    assert read_csv(sweep / "tensorboard" / "cnn_only" / "comparison.csv") == cnn_rows


@pytest.mark.slow
def test_zoo_compare_filters_and_says_when_nothing_matches(sweep, tmp_path):
    result = zoo_compare("--logdir", str(sweep), "--out", str(tmp_path), "--model", "cnn")
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "comparison.csv")
    assert [row["model"] for row in rows] == ["cnn", "cnn"] and {row["optimizer.lr"] for row in rows} == {
        "0.001",
        "0.01",
    }
    result = zoo_compare("--logdir", str(sweep), "--out", str(tmp_path), "--data", "cifar10")
    assert result.returncode == 1 and "no finished zoo runs" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_zoo_compare_counts_the_runs_it_leaves_out(sweep, tmp_path):
    """A run that stopped before its HPARAMS row, and one written before zoo logged HPARAMS rows, are left
    out and counted; neither is mistaken for a configuration."""
    from torch.utils.tensorboard import SummaryWriter

    finished = next(p.parent for p in (sweep / "tensorboard" / "mnist1d" / "cnn").rglob("events.*"))
    shutil.copytree(finished, tmp_path / "finished")
    for name, tags in [("unfinished", ["val/acc"]), ("before_hparams", ["val/acc", "test/acc"])]:
        with SummaryWriter(tmp_path / name) as writer:
            for tag in tags:
                writer.add_scalar(tag, 0.5, global_step=3)
    result = zoo_compare("--logdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "left out 1 unfinished runs" in result.stdout
    assert "left out 1 runs logged without HPARAMS data" in result.stdout
    assert [(row["model"], row["runs"]) for row in read_csv(tmp_path / "compare" / "comparison.csv")] == [("cnn", "1")]


def test_a_model_setting_is_a_column_only_where_it_varies_within_a_model():
    """A family's own defaults differ between families (an MLP's width against a CNN's channels) and the
    model column says as much; a training setting that differs, or a model setting swept within a family,
    gets a column."""
    base = {"data": "mnist1d", "optimizer.lr": 0.001, "trainer.max_epochs": 2.0, "device": "cpu"}
    mlp = base | {"model": "mlp", "model.dim": 256.0, "model.kernel": "-"}
    cnn = base | {"model": "cnn", "model.dim": 32.0, "model.kernel": "5"}
    assert distinguishing_keys([(mlp, []), (cnn, [])]) == []
    assert distinguishing_keys([(mlp | {"trainer.max_epochs": 100.0}, []), (cnn, [])]) == ["trainer.max_epochs"]
    assert distinguishing_keys([(mlp, []), (mlp | {"model.dim": 64.0}, []), (cnn, [])]) == ["model.dim"]
    assert distinguishing_keys([(cnn, []), (cnn | {"device": "cuda"}, [])]) == ["device"]


@pytest.mark.slow
def test_zoo_board_says_when_the_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "zoo.compare.board", "--logdir", str(tmp_path), "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        f"error: port {port} on 127.0.0.1 is taken (another TensorBoard?); "
        f"pass --port with a free one, e.g. --port {port + 1}"
    )


@pytest.mark.slow
def test_an_interrupted_run_leaves_no_finished_row(tmp_path, data_dir):
    command = [
        sys.executable,
        "train.py",
        "model=mlp",
        "trainer.max_epochs=100000",
        f"paths.log_dir={tmp_path}",
        f"paths.data_dir={data_dir}",
    ]
    run = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **CTRL_C_ABLE
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.rglob("checkpoints/last.ckpt")):  # a few epochs in
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, _stderr = run.communicate(timeout=60)
    assert run.returncode != 0
    [events_dir] = {p.parent for p in tmp_path.rglob("events.out.tfevents.*")}
    with pytest.raises(KeyError, match="hparams"):  # no HPARAMS session was written
        EventAccumulator(str(events_dir)).Reload().PluginTagToContent("hparams")
    result = zoo_compare("--logdir", str(tmp_path))
    assert result.returncode == 1 and "no finished zoo runs" in result.stderr
    assert "left out 1 unfinished runs" in result.stderr
