"""How zoo writes and reads checkpoints: atomically, never with code inside, and in one current form.

Every checkpoint holds plain containers and tensors only, so it opens with `torch.load(weights_only=True)`; zoo
never opens one any other way. Each carries the version of its layout (`zoo_format`), and `migrate` turns a
checkpoint of any earlier zoo into the current form as it is read, by zoo's readers and by Lightning's resume alike.
"""

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO

from zoo.errors import ZooError
from zoo.registry import check_stored_config

FORMAT = 2  # the layout zoo writes: `zoo_format` in every checkpoint; 1 is every checkpoint written before it


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint beside its destination, then renames it into place: a kill during a save
    leaves the previous checkpoint whole, never a truncated file under its name. The next save of the same
    checkpoint (a resumed run's, say) removes what such a kill left behind."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.partial"):  # one writer a run: older ones are dead
            stale.unlink(missing_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with open(partial, "wb") as file:
                torch.save({**checkpoint, "zoo_format": FORMAT}, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> Any:
        # Not only checkpoints: under ddp_spawn Lightning hands the trained weights back as a bare state dict.
        opened = open_safely(path, map_location)
        return migrate(opened, path) if isinstance(opened, dict) and "state_dict" in opened else opened


def load_checkpoint(path, map_location=None) -> dict:
    """Open a checkpoint safely, or fail with one line that says what is wrong with the file. Its stored
    config may name zoo's own classes only (zoo.registry): it is checked here, before anything is built."""
    checkpoint = open_safely(path, map_location)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ZooError(f"{path} is not a zoo checkpoint: it has no model weights (state_dict)")
    check_stored_config(checkpoint.get("hyper_parameters"), path)
    return migrate(checkpoint, path)


def migrate(checkpoint: dict, path) -> dict:
    """`checkpoint` in the current layout (changed in place, and returned). What format 1 may lack:
    - hyper_parameters.task: runs from before tasks were chosen by the data were all classifications;
    - dataset.model_inputs and dataset.task: a classifier's input shape and classes were stored flat;
    - callbacks.RandomState.ranks: one process's random state was stored alone;
    - callbacks.Throughput.first_step_seconds: none was timed apart."""
    version = checkpoint.get("zoo_format", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise ZooError(
            f"{path} was written by a newer zoo (checkpoint format {version!r}; this zoo reads up to "
            f"{FORMAT}): update zoo to open it"
        )
    saved = checkpoint.get("hyper_parameters")
    if isinstance(saved, dict):
        saved.setdefault(
            "task",
            {
                "_target_": "zoo.tasks.classification.Classification",
                "_partial_": True,
                "label_smoothing": saved.get("label_smoothing", 0.0),
            },
        )
        dataset = saved.get("dataset")
        if isinstance(dataset, dict) and "input_shape" in dataset and "num_classes" in dataset:
            dataset.setdefault(
                "model_inputs", {"input_shape": dataset["input_shape"], "num_classes": dataset["num_classes"]}
            )
        if isinstance(dataset, dict):
            dataset.setdefault("task", "classification")
    callbacks = checkpoint.get("callbacks") or {}
    random_state = callbacks.get("RandomState")
    if isinstance(random_state, dict) and "ranks" not in random_state:
        callbacks["RandomState"] = {"ranks": [random_state]}
    if isinstance(callbacks.get("Throughput"), dict):
        callbacks["Throughput"].setdefault("first_step_seconds", 0.0)
    checkpoint["zoo_format"] = FORMAT
    return checkpoint


def open_safely(path, map_location=None) -> Any:
    """What torch.save wrote to `path`, opened with weights_only=True, or one line saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... depending on the damage
        reason = " ".join(str(error).split())
        if "Weights only load failed" in reason:
            try:
                unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
            except Exception:  # not a file torch.save wrote (a NumPy array...): torch's reason would mislead
                raise ZooError(f"{path} is not a checkpoint zoo can open: not in torch.save's zip format") from None
            raise ZooError(
                f"{path} holds Python objects ({', '.join(unsafe[:3]) or 'code'}) that would run code "
                f"when loaded; zoo opens checkpoints with weights_only=True only, so it will not load "
                f"this file"
            ) from None
        raise ZooError(
            f"{path} is not a readable checkpoint (truncated, or not a checkpoint at all): {reason[:150]}"
        ) from None
    return checkpoint


class RandomState(L.Callback):
    """Saves torch's random state in each checkpoint and restores it on resume, so that dropout after a
    resume draws the same numbers as the run left alone. (Batch order needs nothing: it is seeded by
    the run's seed and the epoch.) Where several processes train together, the checkpoint holds the state of
    each (`ranks`, by global rank) and each process takes its own back."""

    def __init__(self) -> None:
        self.rank = 0

    def setup(self, trainer, pl_module, stage) -> None:
        self.rank = trainer.global_rank  # known before Lightning restores a checkpoint's callback states

    def state_dict(self) -> dict:
        # Lightning collects the checkpoint's content in every process, then the first one writes it.
        return {"ranks": gathered(own_random_state())}

    def load_state_dict(self, state_dict) -> None:
        states = state_dict["ranks"]
        # A run resumed on more processes than it had: every process starts from the same seed and draws as
        # many numbers as the others, so the first one's state is what a new process would have had.
        state = states[self.rank] if self.rank < len(states) else states[0]
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def own_random_state() -> dict:
    state: dict[str, torch.Tensor | list[torch.Tensor]] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def gathered(value) -> list:
    """`value` from every process that trains together, by global rank ([value] on one process)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [value]
    values = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(values, value)
    return values


class DataDescription(L.Callback):
    """Stores the data set's description as it stands once the data is set up (`hyper_parameters["dataset"]`,
    plain containers) in every checkpoint: the per-channel mean and std with which a saved model takes raw
    inputs (zoo.load, zoo-predict), the vocabulary of a language model (zoo-generate)."""

    def setup(self, trainer, pl_module, stage) -> None:
        pl_module.hparams["dataset"] = {**pl_module.hparams["dataset"], **trainer.datamodule.describe()}
