"""scripts/benchmark.py on a budget of a few steps: every table and row comes out; the numbers mean nothing.
One torch thread: on a busy 2-core machine two threads can make each tiny step ten times slower."""

import importlib.util
import re
import subprocess

import pytest
import torch

from conftest import REPO

pytestmark = pytest.mark.slow  # every test here trains or starts a process (pytest -m "not slow" leaves them out)


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", REPO / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_prints_every_table(tmp_path, capsys):
    benchmark = load_benchmark()
    out = tmp_path / "BENCHMARKS.md"
    benchmark.main(["--quick", "--threads", "1", "--workdir", str(tmp_path / "work"), "--out", str(out)])
    printed = capsys.readouterr().out
    written = out.read_text()
    assert "### Accuracy on MNIST-1D" in written and "### Training loop" in written and "QUICK MODE" in written
    for preset in ("paper_linear", "paper_mlp", "paper_cnn", "paper_gru"):
        assert f"`python train.py experiment={preset}` | 4000/0/1000 |" in printed
    # --quick: the first default row, each seed at torch's default threads and at one
    row = re.search(
        r"^\| MLP \| `python train.py model=mlp` \| 3600/400/1000 \| 68 \| 75 \(.*\) \| ([\d.]+) \| ([\d.]+) \|",
        printed,
        re.M,
    )
    assert row, printed
    assert all(0 <= float(value) <= 100 for value in row.groups())
    for name, overrides in (("CNN", "experiment=paper_cnn"), ("CNN", "model=cnn"), ("MLP", "experiment=paper_mlp")):
        row = re.search(rf"^\| {name} \(`{overrides}`\) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", printed, re.M)
        assert row, printed
        assert all(float(value) > 0 for value in row.groups())
    assert "| CNN compiled (`experiment=paper_cnn trainer.compile=true`) | - | - | - | skipped (--quick" in printed
    assert "Measured on cpu" in printed or "Measured on cuda" in printed
    assert "### Character-level language modelling" in written
    baselines = dict(
        re.findall(
            r"^\| (unigram \(train counts\)|bigram \(train counts\)|xz -9e|bz2 -9|gzip -9) \| ([\d.]+) \|",
            printed,
            re.M,
        )
    )
    assert len(baselines) == 5 and float(baselines["bigram (train counts)"]) < float(
        baselines["unigram (train counts)"]
    )
    assert "| linear | `python train.py data=text model=linear` |" in printed  # --quick: the first family
    assert "### What the views add to a run" in written
    row = re.search(
        r"^\| cnn \| `python train.py model=cnn [^`]*` \| `task.views=null[^`]*callbacks.compute_cost=null[^`]*` "
        r"\| ([\d.]+) / ([\d.]+) \| ([\d.]+) \|",
        printed,
        re.M,
    )
    assert row, printed
    assert all(float(value) > 0 for value in row.groups())
    assert "### One run on 1 and 2 CPU processes" in written
    for processes, switches in (("1", ""), ("2", " trainer.devices=2 trainer.strategy=ddp")):
        row = re.search(
            rf"^\| cnn \(`python train.py model=cnn trainer=cpu [^`]*{switches}`\) \| {processes} \| 3 \| "
            r"([\d,]+) \|",
            printed,
            re.M,
        )
        assert row, printed
        assert float(row.group(1).replace(",", "")) > 0
    assert "### Targets" in written
    for measure in (
        "MLP defaults (`python train.py model=mlp`), test acc %, mean of seeds 0-0",
        "whole command per default run",
        "`experiment=paper_cnn`",
        "`model=cnn`",
        "best language model (`python train.py data=text model=",
        "zoo-predict on 8 inputs",
    ):
        assert re.search(
            rf"^\| [^|]*{re.escape(measure)}[^|]* \| [\d.]+[^|]* \| [^|]+ \| (met|missed) \|$", printed, re.M
        ), measure
    assert "### Inference: eager PyTorch, torch.export and onnxruntime" in written
    for family in ("linear",):  # --quick: the first family, as the views and devices sections do
        row = re.search(
            rf"^\| {family} \| [\d,]+ \| ([\d.]+) / ([\d.]+) / ([\d.]+) \| ([\d,]+) / ([\d,]+) / ([\d,]+) \|$",
            printed,
            re.M,
        )
        assert row, family
        assert all(float(value.replace(",", "")) > 0 for value in row.groups())
    assert "### An image folder in memory and streamed from disk" in written
    for size in ("100", "200"):
        for data in ("in memory", "streamed, data.num_workers=auto (0 on 2 cores)", "streamed, data.num_workers=2"):
            row = re.search(
                rf"^\| {size} \| {re.escape(data)} \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) \|$", printed, re.M
            )
            assert row, (size, data)
            assert all(float(value.replace(",", "")) > 0 for value in row.groups())
    assert re.search(
        r"^- streamed, data.num_workers=2: peak memory with 200 images against 100: [\d.]+x \(target "
        r"< 1.2x: (met|missed)\); throughput against in memory: [\d.]+x, [\d.]+x",
        printed,
        re.M,
    )
    assert "### Inference start-up: zoo-predict and zoo-generate against importing torch" in written
    for command in (
        '`python -c "import torch"`',
        "`zoo-predict ckpt=<cnn run>",
        "`zoo-generate ckpt=<linear text run>",
    ):
        row = re.search(rf"^\| {re.escape(command)}[^|]* \| ([\d.]+) \| [\d.]+-[\d.]+ \| ([\d.]+)x \|$", printed, re.M)
        assert row, command
        assert all(float(value) > 0 for value in row.groups())
    assert re.search(r"^- zoo-predict / import torch: [\d.]+x \(target <= 1.5x: (met|missed)\)$", printed, re.M)
    assert re.search(
        r"^\| zoo-predict on 8 inputs, whole command, [^|]* \| [\d.]+x \| <= 1.5x \| (met|missed) \|$", printed, re.M
    )
    assert "### Forecasting: every family beside naive, seasonal naive, ETS and ARIMA" in written
    for model in ("naive", "seasonal naive", "linear"):  # --quick: the bundled series, the naive ones, one family
        row = re.search(rf"^\| El Nino \(bundled\) \| {model} \| ([\d.]+) \| ([\d.]+) \| ", printed, re.M)
        assert row, model
        assert float(row.group(1)) > 0 and 0 <= float(row.group(2)) <= 1
    assert "### GPU check: every family in bf16, compiled and not, against the raw loop" in written
    if not torch.cuda.is_available():
        assert "No CUDA GPU on this machine: the GPU check needs one, nothing was run." in printed


def test_gpu_check_rows_on_the_cpu(tmp_path, capsys):
    """The GPU check's rows, run on the CPU (--device cpu): zoo's bf16 step against the raw loop's, one row a family."""
    benchmark = load_benchmark()
    benchmark.main(["gpu", "--device", "cpu", "--quick", "--threads", "1", "--workdir", str(tmp_path / "work")])
    printed = capsys.readouterr().out
    row = re.search(
        r"^\| cnn \| no \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d,]+) \| ([\d.]+) \| - \|$", printed, re.M
    )
    assert row, printed
    assert all(float(value.replace(",", "")) > 0 for value in row.groups())
    assert "On CPU, 1 torch threads: MNIST-1D, 2 epochs a run (the first not timed), bf16-mixed" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the check runs for minutes")
def test_gpu_check_without_a_gpu_says_so_in_one_line_and_exits_0():
    checked = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and checked.stderr == ""
    assert checked.stdout == (
        "gpu_check: no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing to check\n"
    )
