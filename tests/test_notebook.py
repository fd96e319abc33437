"""zoo from Python: zoo.train makes the command line's run, zoo.open_run gives a run's network and data back,
and notebooks/claims.ipynb runs top to bottom (on a tiny budget) in the venv's kernel."""

import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path

import hydra.core.utils
import nbformat
import pytest
import torch
from nbclient import NotebookClient

import zoo
import zoo.training.job
from zoo.runs.checkpoint import load_checkpoint

from conftest import REPO, TINY, read_metrics, run_dirs, train_py

NOTEBOOK = REPO / "notebooks" / "claims.ipynb"
OVERRIDES = ["model=mlp", "data=digits", "seed=3", *TINY]
# What the run measured, the same for the same seed and overrides however it was started.
METRICS = [
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "val/acc_best",
    "test/loss",
    "test/acc",
    "params",
    "samples",
]
# Appended to the executed copy only: which Python and which zoo the kernel ran.
KERNEL_REPORT = "import sys, json\nprint('KERNEL', json.dumps({'prefix': sys.prefix, 'zoo': zoo.__file__}))"


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory, data_dir):
    """The notebook executed as a learner would run it, on a tiny budget, writing under a temporary folder:
    (its text output, its log folder)."""
    work = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_REPORT))
    with pytest.MonkeyPatch.context() as env:
        # The kernel is a fresh Python: it imports this checkout's zoo, as `python -m pytest` does here.
        env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        env.setenv("ZOO_NOTEBOOK_BUDGET", " ".join(TINY))
        env.setenv("ZOO_LOG_DIR", str(work / "logs"))
        env.setenv("ZOO_DATA_DIR", str(data_dir))
        NotebookClient(
            notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(work)}}
        ).execute()
    text = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    return text, work / "logs", notebook


@pytest.mark.slow
def test_the_notebook_runs_in_the_venvs_kernel_with_this_zoo(notebook_run):
    text, _, _ = notebook_run
    kernel = json.loads(re.search(r"^KERNEL (.*)$", text, re.M).group(1))
    assert kernel["prefix"] == sys.prefix
    assert Path(kernel["zoo"]).parent == REPO / "zoo"


@pytest.mark.slow
def test_the_notebook_trains_two_families_and_prints_their_accuracies(notebook_run):
    text, log_dir, _ = notebook_run
    accuracies = dict(re.findall(r"^(\w+): test accuracy (\S+) with", text, re.M))
    assert set(accuracies) == {"mlp", "cnn"}
    assert all(0 <= float(accuracy) <= 1 for accuracy in accuracies.values())
    runs = [read_metrics(run) for run in run_dirs(log_dir)]
    # two families, two more CNNs on parts of the data (claim 4), three models of the circle (claim 1)
    assert sorted(run["model"] for run in runs if run["data"] == "mnist1d") == ["cnn", "cnn", "cnn", "mlp"]
    assert sorted(run["model"] for run in runs if run["data"] == "toy") == ["linear", "linear", "mlp"]
    # open_run's network scores its data module's test split exactly as the run did
    again, measured = re.search(r"accuracy (\S+) \(the run measured (\S+)\)", text).groups()
    assert again == measured == accuracies["cnn"]
    predicted = re.search(r"^predicted: (.*)$", text, re.M).group(1).split()
    labels = re.search(r"^labels: +(.*)$", text, re.M).group(1).split()
    assert len(predicted) == len(labels) == 10 and set(predicted) <= set("0123456789")


@pytest.mark.slow
def test_the_notebook_shows_every_claims_figure_and_measurement(notebook_run):
    text, _, notebook = notebook_run
    pictures = {
        cell.id
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    }
    assert {
        "boundaries-linear",
        "boundaries-squares",
        "first-layer",
        "filters",
        "feature-maps",
        "robustness",
        "adversarial",
        "saliency",
        "compare",
    } <= pictures
    samples = [int(count) for count in re.findall(r"^cnn on (\d+) training samples", text, re.M)]
    assert samples == [180, 900, 3600]  # 5%, 25% and all of MNIST-1D's 3,600 training signals
    gaps = re.findall(r"^(\w+): training accuracy (\S+), test accuracy (\S+), gap (\S+)$", text, re.M)
    assert {family for family, *_ in gaps} == {"mlp", "cnn"}
    assert all(abs(float(train) - float(test) - float(gap)) < 2e-3 for _, train, test, gap in gaps)
    costs = dict(re.findall(r"^(\w+): [\d,]+ parameters, ([\d,]+) FLOPs forward", text, re.M))
    assert int(costs["cnn"].replace(",", "")) > int(costs["mlp"].replace(",", "")) > 0
    assert re.search(r"^wrote .*boundaries.png.*cost.png, data_hunger.png, robustness.png", text, re.M)


def test_the_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert "ZOO_NOTEBOOK_BUDGET" in code[0].source


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory, data_dir):
    """The same run from the command line and from zoo.train: (command line's run folder, zoo.train's result)."""
    cli_logs, python_logs = tmp_path_factory.mktemp("cli"), tmp_path_factory.mktemp("python")
    finished = train_py(*OVERRIDES, log_dir=cli_logs, data_dir=data_dir)
    assert finished.returncode == 0, finished.stderr[-3000:]
    [cli_run] = run_dirs(cli_logs)
    result = zoo.train(*OVERRIDES, f"paths.log_dir={python_logs}", f"paths.data_dir={data_dir}")
    return cli_run, result


def tensorboard_runs(log_dir: Path) -> list[str]:
    return sorted(path.name for path in (log_dir / "tensorboard" / "digits" / "mlp").iterdir())


@pytest.mark.slow
def test_zoo_train_makes_the_command_lines_run(both_ways):
    cli_run, result = both_ways
    cli = read_metrics(cli_run)
    for key in METRICS:
        # to float32's rounding: this process may run torch on another number of threads, which sums in
        # another order (a train/loss 1.4e-6 apart was seen)
        assert result[key] == pytest.approx(cli[key], rel=1e-5, abs=1e-6), key
    # written as the command line writes: logs/runs/<time>_<data>_<model>, its metrics.json, its checkpoints, its
    # record, a TensorBoard run named after the data, the family, the overrides and the start time
    run_dir = Path(result["run_dir"])
    stamp = r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d"
    assert run_dir.parent.name == "runs" and re.fullmatch(f"{stamp}_digits_mlp", run_dir.name)
    assert json.loads((run_dir / "metrics.json").read_text())["test/acc"] == result["test/acc"]
    assert result["best_checkpoint"] == str(run_dir / "checkpoints" / "best.ckpt")
    [cli_name], [python_name] = tensorboard_runs(cli_run.parent.parent), tensorboard_runs(run_dir.parent.parent)
    assert re.fullmatch(f".*_{stamp}", python_name)
    assert re.sub(stamp, "", python_name) == re.sub(stamp, "", cli_name)
    assert "seed=3" in python_name and "trainer.max_epochs=2" in python_name
    record = json.loads((run_dir / "run.json").read_text())
    assert record["name"] == f"digits/mlp/{python_name}" and record["output_dir"] == str(run_dir)


@pytest.mark.slow
def test_open_run_gives_the_best_network_and_the_runs_data(both_ways):
    _, result = both_ways
    net, datamodule = zoo.open_run(result["run_dir"])
    assert not net.training
    assert datamodule.split_sizes() == result["samples"]
    inputs, targets = datamodule.splits["test"]
    with torch.no_grad():
        accuracy = (net(inputs).argmax(dim=1) == targets).float().mean().item()
    assert accuracy == pytest.approx(result["test/acc"], abs=1e-6)


@pytest.mark.parametrize(
    "override, named",
    [
        ("optimizer.lrr=0.1", "did you mean optimizer.lr?"),
        ("model=cnnn", "choose one of cnn, linear"),
        ("optimizer.lr=-1", "must be a positive number"),
        ("-m", "is for the command line"),
    ],
)
@pytest.mark.slow
def test_a_bad_override_raises_one_line(override, named, tmp_path):
    with pytest.raises(zoo.ZooError) as error:
        zoo.train(override, f"paths.log_dir={tmp_path}")
    assert named in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, data_dir, monkeypatch):
    """Two runs of the same settings in the same second: two folders, two TensorBoard runs (the second with _2)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2025, 1, 2, 3, 4, 5)

    monkeypatch.setattr(hydra.core.utils, "datetime", Frozen)  # Hydra's ${now:...}, in the run folder's name
    monkeypatch.setattr(zoo.training.job, "datetime", Frozen)  # the time in the run's name
    runs = [
        zoo.train(
            "model=linear", "data=digits", "seed=1", *TINY, f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}"
        )
        for _ in range(2)
    ]
    assert [Path(run["run_dir"]).name for run in runs] == [
        "2025-01-02_03-04-05_digits_linear",
        "2025-01-02_03-04-05_digits_linear_2",
    ]
    names = sorted(path.name for path in (tmp_path / "tensorboard" / "digits" / "linear").iterdir())
    leaf = "seed=1_trainer.max_epochs=2_trainer.limit_train_batches=4_trainer.limit_val_batches=2_data.batch_size=32"
    assert names == [f"{leaf}_2025-01-02_03-04-05", f"{leaf}_2025-01-02_03-04-05_2"]


@pytest.mark.slow
def test_zoo_train_resumes_a_run_in_its_folder(both_ways):
    _, result = both_ways
    with pytest.raises(zoo.ZooError, match=r"optimizer\.lr is") as error:
        zoo.train(f"resume={result['run_dir']}", "optimizer.lr=0.5")
    assert "\n" not in str(error.value)
    resumed = zoo.train(f"resume={result['run_dir']}", "trainer.max_epochs=3")
    assert resumed["run_dir"] == result["run_dir"]
    assert load_checkpoint(Path(result["run_dir"]) / "checkpoints" / "last.ckpt")["global_step"] == 3 * 4
    assert len(tensorboard_runs(Path(result["run_dir"]).parent.parent)) == 1  # the run's own, continued


@pytest.mark.slow
def test_a_long_override_list_from_python_still_gets_a_folder_the_file_system_takes(tmp_path, data_dir):
    """The TensorBoard run is named after the overrides; a file system takes 255 bytes a name."""
    long_lr = "optimizer.lr=0.001" + "0" * 300 + "1"  # the same number, written out at length
    overrides = ["model=linear", "data=digits", long_lr, "optimizer.weight_decay=0.0", "seed=7", *TINY]
    result = zoo.train(*overrides, f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}")
    [run] = (tmp_path / "tensorboard" / "digits" / "linear").iterdir()
    assert len(run.name.encode()) <= 255
    assert "optimizer.lr=0.001000" in run.name and any(run.glob("events.out.tfevents.*"))
    assert (Path(result["run_dir"]) / "checkpoints" / "best.ckpt").is_file()
