"""Take a trained model out of zoo: `zoo-export ckpt=<run or .ckpt> format=onnx|torch|safetensors output=<dir>`.

    format=onnx         model.onnx   ONNX (torch.onnx.export, dynamo=True), for onnxruntime and others
    format=torch        model.pt2    a torch.export ExportedProgram, for torch.export.load
    format=safetensors  model.safetensors + config.json, for zoo.load and zoo-predict without the checkpoint

Every format writes config.json (what the model takes and returns, the input normalization, the checks
below) and README.md, a model card; several formats may go to one folder. A classifier's ONNX and torch.export
models take raw inputs as zoo-predict does, (batch, *input_shape) float32, normalize inside and return logits;
a language model's take symbol ids (batch, time) and return every position's next-symbol logits. The batch
dimension is dynamic. Each file written is checked on the run's test split against the checkpoint's model:
the largest absolute logit difference must stay under 1e-4 and the accuracy be the same (a regressor's RMSE), else the file is
removed and the export fails.
"""

import contextlib
import io
import sys
from pathlib import Path

from zoo.arguments import parse_settings
from zoo.errors import ZooError
from zoo.run import Run

USAGE = (
    "usage: zoo-export ckpt=<checkpoint or run directory> format=onnx|torch|safetensors[,...] "
    "[output=<folder>] [data_dir=<data folder>]"
)
FILES = {"onnx": "model.onnx", "torch": "model.pt2", "safetensors": "model.safetensors"}
EXTRAS = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "torch": (), "safetensors": ("safetensors",)}
MAX_LOGIT_DIFFERENCE = 1e-4
CHECK_BATCH = 256


def parse_formats(text: str) -> list[str]:
    formats = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in formats if name not in FILES]
    if unknown or not formats:
        raise ZooError(
            f"format={text!r}: choose onnx, torch or safetensors (several with commas: format=onnx,safetensors)"
        )
    return list(dict.fromkeys(formats))


def export(ckpt: str, formats: list[str], output: str | None = None, data_dir: str | None = None) -> Path:
    """Export the model at `ckpt` in each of `formats` into `output`; check each file; return the folder."""
    from zoo.export_folder import require_export_extra

    for name in formats:
        require_export_extra(*EXTRAS[name])
    from omegaconf import OmegaConf

    from zoo import models
    from zoo.export_folder import write_config
    from zoo.model_card import write_card
    from zoo.restore import restore

    path, checkpoint, cfg, task = restore(ckpt, data_dir)
    run = Run.holding(path)
    dataset = {key: value for key, value in checkpoint["hyper_parameters"]["dataset"].items() if key != "path"}
    folder = Path(output) if output else default_output(path)
    previous = earlier_export(folder, path)
    module, example, full = traceable(task, dataset)
    dynamic = full
    inputs, targets = test_split(cfg, checkpoint, task.name)
    reference = logits_of(module, inputs)
    accuracy = accuracy_of(reference, targets)
    score = "rmse" if task.name == "regression" else "accuracy"  # what accuracy_of measures
    print(
        f"zoo: exporting {cfg.model.name} on {dataset['name']} from {path}; checking on the "
        f"{len(inputs):,} test samples, where the checkpoint's model has {score} {accuracy:.4f}",
        flush=True,
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZooError(f"could not create output={folder}: {error.strerror}") from None
    config = {
        "task": task.name,
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": dataset,
        "inputs": input_layout(task.name, dataset, full),
        "outputs": output_layout(task.name, dataset),
        "params": models.count_parameters(task.net),
        "test_metrics": run.test_metrics_of(path) if run else {},
        "measured": {"test_samples": len(inputs), score: accuracy},
        "command": run.training_command() if run else None,
        "checkpoint": str(path),
        "checks": dict(previous.get("checks", {})),
    }
    write_config(folder, config)  # first: zoo.load reads it to check model.safetensors
    program = None
    for name in formats:
        target = folder / FILES[name]
        if name in ("onnx", "torch") and program is None:
            program, dynamic = exported_program(module, example, dynamic, cfg.model.name)
        run = WRITERS[name](program if name != "safetensors" else task.net, target, folder, dataset)
        try:
            logits = logits_of(run, inputs)
        except Exception as error:  # an exported file that does not run is removed, not left half-working
            target.unlink(missing_ok=True)
            raise ZooError(f"{target} does not run: {' '.join(str(error).split())[:200]}") from None
        # The shape the file takes: a program's may have fewer dynamic dimensions than the network.
        takes = input_layout(task.name, dataset, dynamic if name != "safetensors" else full)["shape"]
        config["checks"][name] = {**check(target, logits, reference, targets, accuracy, score), "input_shape": takes}
        write_config(folder, config)
    write_card(folder, config)
    files = sorted(p.name for p in folder.iterdir() if p.name in (*FILES.values(), "config.json", "README.md"))
    print(f"zoo: exported to {folder}: {', '.join(files)}")
    return folder


def default_output(path: Path) -> Path:
    """<run>/export for a checkpoint in its run folder, else a folder beside the checkpoint."""
    run = Run.holding(path)
    return run.folder / "export" if run else path.with_name(f"{path.stem}_export")


def earlier_export(folder: Path, path: Path) -> dict:
    """What an earlier zoo-export of the same checkpoint wrote into `folder` (its formats are kept); the export
    of another checkpoint is refused, so one folder never mixes two models."""
    from zoo.export_folder import CONFIG, read_config

    if not (folder / CONFIG).is_file():
        return {}
    config = read_config(folder)
    if config.get("checkpoint") != str(path):
        raise ZooError(
            f"output={folder} holds the export of another checkpoint ({config.get('checkpoint')}); "
            f"choose another output="
        )
    return config


def traceable(task, dataset: dict):
    """(module to export, example input, its dynamic dimensions): a classifier behind its normalization, taking
    raw float32 inputs; a language model's network, taking symbol ids whose length may vary up to its context."""
    import torch
    from torch import nn
    from torch.export import Dim

    batch = Dim("batch", min=1)
    if task.name == "language_model":
        context = int(dataset["context"])
        return task.net, torch.zeros(2, context, dtype=torch.long), {0: batch, 1: Dim("time", min=1, max=context)}

    class RawInputs(nn.Module):
        """The network behind the normalization it was trained with: raw (batch, *input_shape) in, logits out (a
        regressor's values, in the target's units)."""

        def __init__(self, net, mean, std, scale):
            super().__init__()
            self.net, self.scale = net, scale
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

        def forward(self, x):
            out = self.net((x - self.mean) / self.std)
            return out.squeeze(-1) * self.scale[1] + self.scale[0] if self.scale else out

    shape = tuple(dataset["input_shape"])
    view = (1, -1) + (1,) * (len(shape) - 1)
    mean = torch.tensor(dataset["mean"], dtype=torch.float32).view(view)
    std = torch.tensor(dataset["std"], dtype=torch.float32).view(view)
    scale = (dataset.get("target") or {}).get("scale")
    return RawInputs(task.net, mean, std, scale).eval(), torch.zeros(2, *shape), {0: batch}


def exported_program(module, example, dynamic: dict, family: str):
    """torch.export's program of `module`, and the dynamic dimensions it kept. A recurrence torch.export
    unrolls over time (model=rnn's GRU) cannot keep a language model's time dimension dynamic: that one
    is exported at its full context, with the batch still dynamic, and config.json says so."""
    import warnings

    import torch

    # torch's note on the GRU's flat weights, which nn.GRU sets itself: nothing a zoo user can act on.
    warnings.filterwarnings("ignore", message=r"The tensor attributes .* were assigned during export")
    try:
        return torch.export.export(module, (example,), dynamic_shapes=(dynamic,)), dynamic
    except torch._dynamo.exc.UserError:
        if 1 not in dynamic:
            raise
        fixed = {0: dynamic[0]}
        print(
            f"zoo: model={family}: torch.export cannot keep the time dimension dynamic (it unrolls the "
            f"recurrence over time), so the exported model takes exactly {example.shape[1]} symbols per row",
            flush=True,
        )
        return torch.export.export(module, (example,), dynamic_shapes=(fixed,)), fixed


def write_onnx(program, target: Path, folder: Path, dataset: dict):
    import onnxruntime
    import torch

    with contextlib.redirect_stdout(io.StringIO()):  # torch.onnx reports each of its passes on stdout
        torch.onnx.export(
            program,
            (),
            f=str(target),
            input_names=["inputs"],
            output_names=["logits"],
            dynamo=True,
            external_data=False,
        )
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"inputs": x.numpy()})[0])


def write_torch(program, target: Path, folder: Path, dataset: dict):
    import torch

    torch.export.save(program, target)
    return torch.export.load(target).module()


def write_safetensors(net, target: Path, folder: Path, dataset: dict):
    """The network's weights alone, checked as zoo.load rebuilds them from the folder (config.json is there)."""
    from safetensors.torch import save_model

    from zoo.export_folder import load_network
    from zoo.predict import Predictor

    save_model(net, target)
    rebuilt, config = load_network(folder)
    return rebuilt if config["task"] == "language_model" else Predictor(rebuilt, config["data"]).eval()


WRITERS = {"onnx": write_onnx, "torch": write_torch, "safetensors": write_safetensors}


def test_split(cfg, checkpoint: dict, task_name: str):
    """The run's test split as its exported model takes it: raw inputs (not normalized) and their targets."""
    import torch

    from zoo.build import build

    datamodule = build(cfg.data)
    datamodule.check_matches(checkpoint["hyper_parameters"]["dataset"])
    if task_name == "language_model":
        datamodule.setup("test")
        inputs, targets = datamodule.splits["test"]
        return inputs.cpu(), targets.cpu()
    *_, inputs, targets = datamodule.load()
    if task_name == "regression":
        mean, std = checkpoint["hyper_parameters"]["dataset"]["target"]["scale"]
        return inputs.to(torch.float32), targets.double() * std + mean
    return inputs.to(torch.float32), targets.long()


def logits_of(run, inputs):
    import torch

    with torch.no_grad():
        return torch.cat([run(inputs[start : start + CHECK_BATCH]) for start in range(0, len(inputs), CHECK_BATCH)])


def accuracy_of(logits, targets) -> float:
    """Accuracy of logits; of a regressor's values, which come with float targets, RMSE."""
    from zoo.data.vocabulary import IGNORED

    if targets.is_floating_point():
        return float(((logits.double() - targets) ** 2).mean().sqrt())
    kept = targets != IGNORED
    return float((logits.argmax(dim=-1) == targets)[kept].float().mean())


def check(target: Path, logits, reference, targets, accuracy: float, score: str = "accuracy") -> dict:
    """The file's logits against the checkpoint's model's on the test split: printed, and returned for
    config.json; a file that differs by more is removed and the export fails."""
    difference = float((logits - reference).abs().max())
    if targets.is_floating_point():  # a regressor's values: in standard deviations of the test targets, not units
        difference /= float(targets.std()) or 1.0
    got = accuracy_of(logits, targets)
    print(
        f"zoo: checked {target.name} on the test split: largest |logit difference| {difference:.2e} "
        f"(limit {MAX_LOGIT_DIFFERENCE:g}), {score} {got:.4f} (checkpoint {accuracy:.4f})",
        flush=True,
    )
    same = abs(got - accuracy) <= 1e-6 * max(1.0, abs(accuracy)) if targets.is_floating_point() else got == accuracy
    if not difference < MAX_LOGIT_DIFFERENCE or not same:
        target.unlink(missing_ok=True)
        raise ZooError(
            f"{target.name} does not compute what the checkpoint's model computes (largest logit "
            f"difference {difference:.2e}, {score} {got:.4f} against {accuracy:.4f}); it was removed"
        )
    return {"file": target.name, "max_abs_logit_difference": difference, score: got}


def input_layout(task_name: str, dataset: dict, dynamic: dict) -> dict:
    if "encoding" in dataset:
        return {
            "shape": ["batch", *dataset["input_shape"]],
            "dtype": "float32",
            "values": "a table's rows encoded as data.encoding says (zoo.data.table_encoding; in Python: "
            "zoo.load(folder).encode(rows))",
            "normalization": "none: the encoding standardizes",
        }
    if task_name == "language_model":
        time = "time" if 1 in dynamic else int(dataset["context"])
        return {
            "shape": ["batch", time],
            "dtype": "int64",
            "max_time": int(dataset["context"]),
            "values": "symbol ids of data.vocabulary (encode a prompt with its characters)",
        }
    return {
        "shape": ["batch", *dataset["input_shape"]],
        "dtype": "float32",
        "values": f"raw, as the data set stores them (pixels 0-{dataset['pixel_max']:g})"
        if dataset.get("pixel_max")
        else "raw, as the data set stores them",
        "normalization": "inside model.onnx and model.pt2; model.safetensors holds the network alone, which "
        "takes (x - data.mean) / data.std per channel (zoo.load does it)",
    }


def output_layout(task_name: str, dataset: dict) -> dict:
    if task_name == "regression":
        return {"shape": ["batch"], "values": f"the predicted {dataset['target']['name']}, in its units", "classes": []}
    if task_name == "language_model":
        return {
            "shape": ["batch", "time", dataset["model_inputs"]["vocab_size"]],
            "values": "logits of the next symbol at every position",
        }
    return {"shape": ["batch", len(dataset["class_names"])], "values": "logits", "classes": dataset["class_names"]}


def main() -> None:
    try:
        settings = parse_settings(
            "zoo-export", sys.argv[1:], USAGE, required=("ckpt", "format"), optional={"output": None, "data_dir": None}
        )
        export(settings["ckpt"], parse_formats(settings["format"]), settings["output"], settings["data_dir"])
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
