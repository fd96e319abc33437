"""Take a trained model out of zoo: `zoo-export ckpt=<run or .ckpt> format=onnx|torch|safetensors[,...] output=<dir>`.

Every format (zoo.export.formats says what each file takes and returns, and how it is checked) also writes
config.json (what the model takes and returns, the input normalization, the checks) and README.md, a model card;
several formats may go to one folder, but only one checkpoint's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.configs import plain
from zoo.errors import ZooError
from zoo.export.formats import (
    FILES,
    WRITERS,
    accuracy_of,
    check,
    exported_program,
    input_layout,
    logits_of,
    output_layout,
    traceable,
)
from zoo.inference.arguments import parse_settings
from zoo.runs.folder import Run

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    import torch


USAGE = (
    "usage: zoo-export ckpt=<checkpoint or run directory> format=onnx|torch|safetensors[,...] "
    "[output=<folder>] [data_dir=<data folder>]"
)
EXTRAS = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "torch": (), "safetensors": ("safetensors",)}


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
    from zoo.runs.export_folder import require_export_extra

    for name in formats:
        require_export_extra(*EXTRAS[name])

    from zoo import models
    from zoo.export.card import write_card
    from zoo.inference.restore import restore
    from zoo.runs.export_folder import write_config

    path, checkpoint, cfg, task = restore(ckpt, data_dir)
    if task.name == "translation":
        raise ZooError(
            f"{path} is a translation model: onnx, torch and safetensors files here hold one forward pass, and "
            f"translating is a loop of decoder steps (greedy or beam search) that zoo-export does not write; "
            f"translate with zoo-generate or zoo-predict"
        )
    run = Run.holding(path)
    dataset = {key: value for key, value in checkpoint["hyper_parameters"]["dataset"].items() if key != "path"}
    folder = Path(output) if output else default_output(path)
    previous = earlier_export(folder, path)
    module, example, full = traceable(task, dataset)
    dynamic = full
    inputs, targets = test_split(cfg, checkpoint, task.name)
    reference = logits_of(module, inputs)
    median = dataset["series"]["quantiles"].index(0.5) if task.name == "forecasting" else None
    accuracy = accuracy_of(reference, targets, median)
    score = {"regression": "rmse", "forecasting": "mae"}.get(task.name, "accuracy")  # what accuracy_of measures
    print(
        f"zoo: exporting {cfg.model.name} on {dataset['name']} from {path}; checking on the "
        f"{len(inputs):,} test samples, where the checkpoint's model has {score} {accuracy:.4f}",
        flush=True,
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZooError(f"could not create output={folder}: {error.strerror}") from None
    config: dict[str, Any] = {
        "task": task.name,
        "model": plain(cfg.model),
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
        runner = WRITERS[name](program if name != "safetensors" else task.net, target, folder, dataset)
        try:
            logits = logits_of(runner, inputs)
        except Exception as error:  # an exported file that does not run is removed, not left half-working
            target.unlink(missing_ok=True)
            raise ZooError(f"{target} does not run: {' '.join(str(error).split())[:200]}") from None
        # The shape the file takes: a program's may have fewer dynamic dimensions than the network.
        takes = input_layout(task.name, dataset, dynamic if name != "safetensors" else full)["shape"]
        config["checks"][name] = {
            **check(target, logits, reference, targets, accuracy, score, median),
            "input_shape": takes,
        }
        write_config(folder, config)
    write_card(folder, config)
    files = sorted(p.name for p in folder.iterdir() if p.name in (*FILES.values(), "config.json", "README.md"))
    print(f"zoo: exported to {folder}: {', '.join(files)}")
    return folder


def default_output(path: Path) -> Path:
    """<run>/export for a checkpoint in its run folder, else a folder beside the checkpoint."""
    run = Run.holding(path)
    return run.export_folder if run else path.with_name(f"{path.stem}_export")


def earlier_export(folder: Path, path: Path) -> dict:
    """What an earlier zoo-export of the same checkpoint wrote into `folder` (its formats are kept); the export
    of another checkpoint is refused, so one folder never mixes two models."""
    from zoo.runs.export_folder import CONFIG, read_config

    if not (folder / CONFIG).is_file():
        return {}
    config = read_config(folder)
    if config.get("checkpoint") != str(path):
        raise ZooError(
            f"output={folder} holds the export of another checkpoint ({config.get('checkpoint')}); "
            f"choose another output="
        )
    return config


def test_split(cfg, checkpoint: dict, task_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's test split as its exported model takes it: raw inputs (not normalized) and their targets."""
    import torch

    from zoo.training.build import instantiate_checked

    datamodule = instantiate_checked(cfg.data)
    datamodule.check_matches(checkpoint["hyper_parameters"]["dataset"])
    if task_name == "language_model":
        datamodule.setup("test")
        inputs, targets = datamodule.splits["test"]
        return inputs.cpu(), targets.cpu()
    *_, inputs, targets = datamodule.load()
    if task_name == "forecasting":  # the horizon's true values, without the series' MASE scale
        return inputs.to(torch.float32), targets[:, : checkpoint["hyper_parameters"]["dataset"]["series"]["horizon"]]
    if task_name == "regression":
        mean, std = checkpoint["hyper_parameters"]["dataset"]["target"]["scale"]
        return inputs.to(torch.float32), targets.double() * std + mean
    return inputs.to(torch.float32), targets.long()


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
