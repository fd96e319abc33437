"""The three formats zoo-export writes, each checked on the run's test split against the checkpoint's model.

    format=onnx         model.onnx   ONNX (torch.onnx.export, dynamo=True), for onnxruntime and others
    format=torch        model.pt2    a torch.export ExportedProgram, for torch.export.load
    format=safetensors  model.safetensors, for zoo.load and zoo-predict without the checkpoint (with config.json)

A classifier's ONNX and torch.export models take raw inputs as zoo-predict does, (batch, *input_shape) float32,
normalize inside and return logits (a regressor's values, in the target's units); a language model's take symbol ids
(batch, time) and return every position's next-symbol logits. The batch dimension is dynamic. Each file written is
checked: the largest absolute logit difference must stay under MAX_LOGIT_DIFFERENCE (for a regressor, in standard
deviations of the test targets) and the accuracy be the same (a regressor's RMSE), else the file is removed.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    import torch
    from torch import nn


FILES = {"onnx": "model.onnx", "torch": "model.pt2", "safetensors": "model.safetensors"}


MAX_LOGIT_DIFFERENCE = 1e-4


CHECK_BATCH = 256


def traceable(task, dataset: dict) -> tuple[nn.Module, torch.Tensor, dict]:
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

        def __init__(self, net, mean, std, scale) -> None:
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


def exported_program(module, example, dynamic: dict, family: str) -> tuple[Any, dict]:
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


def write_onnx(program, target: Path, folder: Path, dataset: dict) -> Callable[[torch.Tensor], torch.Tensor]:
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


def write_torch(program, target: Path, folder: Path, dataset: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch

    torch.export.save(program, target)
    return torch.export.load(target).module()


def write_safetensors(net, target: Path, folder: Path, dataset: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network's weights alone, checked as zoo.load rebuilds them from the folder (config.json is there)."""
    from safetensors.torch import save_model

    from zoo.inference.predict import Predictor
    from zoo.runs.export_folder import load_network

    save_model(net, str(target))
    rebuilt, config = load_network(folder)
    return rebuilt if config["task"] == "language_model" else Predictor(rebuilt, config["data"]).eval()


WRITERS = {"onnx": write_onnx, "torch": write_torch, "safetensors": write_safetensors}


def logits_of(run, inputs) -> torch.Tensor:
    import torch

    with torch.no_grad():
        return torch.cat([run(inputs[start : start + CHECK_BATCH]) for start in range(0, len(inputs), CHECK_BATCH)])


def accuracy_of(logits, targets, median: int | None = None) -> float:
    """Accuracy of logits; of a regressor's values, which come with float targets, RMSE; of a forecaster's (batch,
    horizon, quantiles), the MAE of its point forecast, the quantile at `median`."""
    from zoo.data.vocabulary import IGNORED

    if median is not None:
        return float((logits[..., median].double() - targets).abs().mean())
    if targets.is_floating_point():
        return float(((logits.double() - targets) ** 2).mean().sqrt())
    kept = targets != IGNORED
    return float((logits.argmax(dim=-1) == targets)[kept].float().mean())


def check(
    target: Path, logits, reference, targets, accuracy: float, score: str = "accuracy", median: int | None = None
) -> dict:
    """The file's logits against the checkpoint's model's on the test split: printed, and returned for
    config.json; a file that differs by more is removed and the export fails."""
    difference = float((logits - reference).abs().max())
    if targets.is_floating_point():  # a regressor's values: in standard deviations of the test targets, not units
        difference /= float(targets.std()) or 1.0
    got = accuracy_of(logits, targets, median)
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
            "values": "a table's rows encoded as data.encoding says (zoo.data.table_files; in Python: "
            "zoo.load(folder).encode(rows))",
            "normalization": "none: the encoding standardizes",
        }
    if task_name == "forecasting":
        series = dataset["series"]
        return {
            "shape": ["batch", *dataset["input_shape"]],
            "dtype": "float32",
            "values": f"windows of {series['lookback']} steps of history and {series['horizon']} ahead, channels "
            f"{', '.join(series['channels'])} (zoo.data.series_layout; in Python: zoo.load(folder).forecast(rows))",
            "normalization": "inside model.onnx and model.pt2 (the covariates'; the network normalizes each window "
            "by its own look-back); model.safetensors holds the network alone, which takes (x - data.mean) / "
            "data.std per channel (zoo.load does it)",
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
    if task_name == "forecasting":
        series = dataset["series"]
        return {
            "shape": ["batch", series["horizon"], len(series["quantiles"])],
            "values": f"each step's quantiles of {series['channels'][0]}, in its units (0.5: the point forecast)",
            "quantiles": series["quantiles"],
        }
    if task_name == "regression":
        return {"shape": ["batch"], "values": f"the predicted {dataset['target']['name']}, in its units", "classes": []}
    if task_name == "language_model":
        return {
            "shape": ["batch", "time", dataset["model_inputs"]["vocab_size"]],
            "values": "logits of the next symbol at every position",
        }
    return {"shape": ["batch", len(dataset["class_names"])], "values": "logits", "classes": dataset["class_names"]}
