"""zoo-export: every family to ONNX, torch.export and safetensors, each file checked against the checkpoint, with a
model card; what the exports compute is checked again here, outside zoo-export, with onnxruntime and torch.

The commands run in this process (their own main(), conftest.command_here), but for zoo-export without its extra,
which needs a fresh process (one where onnxruntime was never imported) and checks its exit status and one line."""

import csv
import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch

import zoo
import zoo.export.command
import zoo.inference.evaluate
import zoo.inference.predict
import zoo.training.command
from zoo.data.mnist1d import MNIST1D
from zoo.export.command import export

from conftest import REPO, TINY, command_here, run_dirs

pytestmark = pytest.mark.slow  # every test here trains or starts a process (pytest -m "not slow" leaves them out)

FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]
TINY_ONE_EPOCH = ["trainer.max_epochs=1", *TINY[1:]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """One tiny run of every family on MNIST-1D, as one multirun (train.py's main() in this process)."""
    log_dir = tmp_path_factory.mktemp("runs")
    result = command_here(
        zoo.training.command.main,
        "-m",
        f"model={','.join(FAMILIES)}",
        *TINY_ONE_EPOCH,
        "task.views=null",
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = {json.loads((run / "metrics.json").read_text())["model"]: run for run in run_dirs(log_dir)}
    assert sorted(found) == sorted(FAMILIES)
    return found


@pytest.fixture(scope="module")
def test_signals(runs, data_dir):
    with np.load(MNIST1D(name="mnist1d", data_dir=str(data_dir)).cache_path) as data:
        return data["x_test"][:, None, :].astype(np.float32), data["y_test"]


COMMANDS = {
    "zoo.export.command": zoo.export.command.main,
    "zoo.inference.predict": zoo.inference.predict.main,
    "zoo.inference.evaluate": zoo.inference.evaluate.main,
}


def zoo_command(module, *arguments):
    """`python -m <module> <arguments>`, run by the command's own main() in this process."""
    return command_here(COMMANDS[module], *arguments)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_exports_to_every_format_and_each_computes_the_checkpoints_logits(
    family, runs, test_signals, tmp_path, capsys
):
    x, y = test_signals
    folder = export(str(runs[family]), ["onnx", "torch", "safetensors"], str(tmp_path / "export"))
    printed = capsys.readouterr().out
    for name in ("model.onnx", "model.pt2", "model.safetensors"):
        assert f"zoo: checked {name} on the test split: largest |logit difference|" in printed
    expected = zoo.load(runs[family])(x).detach()
    accuracy = float((expected.argmax(1).numpy() == y).mean())

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    program = torch.export.load(folder / "model.pt2").module()
    for batch in (1, 7, len(x)):  # the batch dimension is dynamic
        onnx_logits = torch.from_numpy(session.run(None, {"inputs": x[:batch]})[0])
        assert (onnx_logits - expected[:batch]).abs().max() < 1e-4
        assert torch.allclose(program(torch.from_numpy(x[:batch])), expected[:batch], atol=1e-5)
    assert float((onnx_logits.argmax(1).numpy() == y).mean()) == accuracy
    assert torch.equal(zoo.load(folder)(x), zoo.load(runs[family])(x))  # safetensors + config.json, no checkpoint

    config = json.loads((folder / "config.json").read_text())
    assert config["measured"]["accuracy"] == pytest.approx(accuracy)
    assert {check["file"] for check in config["checks"].values()} == {"model.onnx", "model.pt2", "model.safetensors"}
    card = (folder / "README.md").read_text()
    for expected_text in (
        f"# {family} on mnist1d",
        f"`model={family}`",
        "| input | (batch, 1, 40) float32",
        "| classes | 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 |",
        f"| parameters | {config['params']:,} |",
        "test/acc (the run's)",
        f"python train.py model={family} ",
        "onnxruntime.InferenceSession",
        "torch.export.load",
        "zoo.load(",
    ):
        assert expected_text in card, expected_text


def test_the_model_card_gives_the_exact_training_command(runs, tmp_path):
    folder = export(str(runs["cnn"]), ["torch"], str(tmp_path / "export"))
    overrides = (runs["cnn"] / ".hydra" / "overrides.yaml").read_text()
    assert "model=cnn" in overrides
    command = json.loads((folder / "config.json").read_text())["command"]
    assert (
        command.startswith("python train.py model=cnn trainer.max_epochs=1")
        and command in (folder / "README.md").read_text()
    )


def test_zoo_export_and_zoo_predict_on_the_command_line(runs, test_signals, tmp_path):
    out = tmp_path / "shared"
    result = zoo_command("zoo.export.command", f"ckpt={runs['cnn']}", "format=safetensors,onnx", f"output={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "checked model.onnx on the test split" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.onnx",
        "model.safetensors",
    ]
    signals = tmp_path / "signals.npy"
    np.save(signals, test_signals[0][:50])
    rows = {}
    for name, ckpt in (("run", runs["cnn"]), ("export", out)):
        target = tmp_path / f"{name}.csv"
        result = zoo_command("zoo.inference.predict", f"ckpt={ckpt}", f"input={signals}", f"output={target}")
        assert result.returncode == 0, result.stderr[-2000:]
        with open(target, newline="") as file:
            rows[name] = list(csv.reader(file))
    assert rows["run"] == rows["export"] and len(rows["run"]) == 51


@pytest.fixture(scope="module")
def language_models(tmp_path_factory, data_dir):
    log_dir = tmp_path_factory.mktemp("lm")
    result = command_here(
        zoo.training.command.main,
        "-m",
        "data=text",
        "model=rnn,transformer",
        *TINY_ONE_EPOCH,
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={data_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {json.loads((run / "metrics.json").read_text())["model"]: run for run in run_dirs(log_dir)}


def test_a_language_model_exports_its_next_symbol_logits(language_models, tmp_path, capsys):
    """The transformer takes any length up to its context; the GRU's recurrence, which torch.export unrolls over
    time, is exported at its full context, and zoo-export, config.json and the card say so."""
    for family, takes in (("transformer", ["batch", "time"]), ("rnn", ["batch", 64])):
        folder = export(str(language_models[family]), ["onnx", "torch", "safetensors"], str(tmp_path / family))
        printed = capsys.readouterr().out
        assert ("exported model takes exactly 64 symbols per row" in printed) == (family == "rnn")
        config = json.loads((folder / "config.json").read_text())
        assert config["checks"]["onnx"]["input_shape"] == config["checks"]["torch"]["input_shape"] == takes
        assert config["checks"]["safetensors"]["input_shape"] == ["batch", "time"]
        assert f"| model.onnx | ({', '.join(map(str, takes))}) |" in (folder / "README.md").read_text()
        ids = torch.randint(0, config["data"]["model_inputs"]["vocab_size"], (3, 64))
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"inputs": ids.numpy()})[0]
        assert logits.shape == (3, 64, config["data"]["model_inputs"]["vocab_size"])
        if family == "transformer":
            program = torch.export.load(folder / "model.pt2").module()
            assert program(ids[:1, :5]).shape[:2] == (1, 5)
        with pytest.raises(zoo.ZooError, match="holds a language model, not a classifier"):
            zoo.load(folder)


def test_bad_exports_fail_in_one_line(runs, tmp_path):
    folder = tmp_path / "export"
    cases = [
        (
            ("zoo.export.command", f"ckpt={runs['mlp']}", "format=tflite"),
            "format='tflite': choose onnx, torch or safetensors",
        ),
        (("zoo.export.command", f"ckpt={tmp_path / 'nope.ckpt'}", "format=onnx"), "does not exist"),
        (("zoo.inference.evaluate", f"ckpt={folder}"), "is a folder zoo-export wrote, not a run"),
        (
            ("zoo.export.command", f"ckpt={runs['cnn']}", "format=torch", f"output={folder}"),
            "holds the export of another checkpoint",
        ),
    ]
    export(str(runs["mlp"]), ["safetensors"], str(folder))
    for arguments, message in cases:
        result = zoo_command(*arguments)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        [line] = result.stderr.strip().splitlines()
        assert message in line, line
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model": {**config["model"], "name": "resnet"}}))
    with pytest.raises(zoo.ZooError, match="model=resnet is not a zoo model"):
        zoo.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(zoo.ZooError, match="is not readable JSON"):
        zoo.load(folder)


def test_a_missing_export_extra_is_named_in_one_line(runs, tmp_path):
    script = (
        "import sys; sys.modules['onnxruntime'] = None; from zoo.export.command import main; "
        f"sys.argv = ['zoo-export', 'ckpt={runs['mlp']}', 'format=onnx', 'output={tmp_path}']; main()"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "onnxruntime, which is not installed" in line and 'pip install "zoo[export]"' in line
