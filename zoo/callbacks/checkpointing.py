"""How zoo writes checkpoints from inside Lightning's loop: atomically, never with code inside (plain containers and
tensors only), with the random state of every process and the data's description. How they are read, their layout's
version and `migrate` are zoo.runs.checkpoint's, which needs torch alone."""

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from zoo.files import write_atomically
from zoo.runs.checkpoint import FORMAT, migrate, open_safely


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint beside its destination, then renames it into place: a kill during a save
    leaves the previous checkpoint whole, never a truncated file under its name. The next save of the same
    checkpoint (a resumed run's, say) removes what such a kill left behind.

    With `in_background` (a run's Trainer), the flush to disk and the rename happen in a thread of their own while
    training goes on: waiting for the disk was most of a checkpoint's time (a save of the paper CNN took 8-18 ms on a
    loaded 2-core machine, 2 of them writing; BENCHMARKS.md, issue 36). The checkpoint's content is written before
    training goes on, so the file holds the weights of the moment it was saved. Each save, each removal, each load
    and the end of fitting or testing (`teardown`) first waits for the save before, and raises what went wrong
    with it."""

    def __init__(self, in_background: bool = False) -> None:
        super().__init__()
        self.in_background = in_background
        self._finisher: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        self.wait()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.in_background and self._finisher is None:
            self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoo-checkpoint")
        self._pending = write_atomically(
            path, lambda partial: torch.save({**checkpoint, "zoo_format": FORMAT}, partial), self._finisher
        )

    def remove_checkpoint(self, path) -> None:
        self.wait()
        super().remove_checkpoint(path)

    def wait(self) -> None:
        """Until the last save is in place; raises what went wrong with it."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def teardown(self) -> None:
        try:
            self.wait()
        finally:
            if self._finisher is not None:
                self._finisher.shutdown()
                self._finisher = None

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> Any:
        self.wait()
        # Not only checkpoints: under ddp_spawn Lightning hands the trained weights back as a bare state dict.
        opened = open_safely(path, map_location)
        return migrate(opened, path) if isinstance(opened, dict) and "state_dict" in opened else opened


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
        if "cuda" in state and cuda_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def own_random_state() -> dict:
    state: dict[str, torch.Tensor | list[torch.Tensor]] = {"cpu": torch.get_rng_state()}
    if cuda_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


@functools.cache
def cuda_available() -> bool:
    """torch.cuda.is_available(), asked once a process: with the NVML check Lightning switches on
    (PYTORCH_NVML_BASED_CUDA_CHECK=1), each call loads NVML, 0.5 ms on a CPU machine, in every checkpoint."""
    return torch.cuda.is_available()


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


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, where an epoch that ties the best score so far replaces it: Lightning keeps the
    first epoch to reach a score. Validation accuracy on a few hundred samples ties often (one MNIST-1D validation
    signal is 0.25 points), and the later of two tied epochs trained longer, at a lower learning rate: on 6 runs of
    the default CNN the last checkpoint tested 0.2-0.6 points above the first best one."""

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        if current is not None and self.save_top_k == 1 and self.best_k_models:
            tie = bool(current == self.best_k_models[self.kth_best_model_path])
            if trainer.strategy.reduce_boolean_decision(tie):
                return True
        return super().check_monitor_top_k(trainer, current)

    def load_state_dict(self, state_dict: dict) -> None:
        """A run folder that moved (zoo.training.resume.relocated) keeps its checkpoints in its own folder now, under
        the names its state gives: the state is read as this folder's (Lightning would forget the best score of a
        folder it does not recognize, and start a second best checkpoint beside the first)."""
        before = state_dict.get("dirpath")
        best = Path(state_dict.get("best_model_path") or "")
        if (
            before
            and self.dirpath
            and Path(before) != Path(self.dirpath)
            and (Path(self.dirpath) / best.name).is_file()
        ):
            state_dict = moved_paths(state_dict, str(before), str(self.dirpath))
        super().load_state_dict(state_dict)

    @property
    def state_key(self) -> str:
        # The key its state is stored under in a checkpoint: ModelCheckpoint's, so that runs saved before this class
        # resume with their best score.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)


def moved_paths(state: Any, before: str, after: str) -> Any:
    """`state` with every path under the folder `before` (values, and the keys of best_k_models) under `after`."""
    if isinstance(state, dict):
        return {moved_paths(key, before, after): moved_paths(value, before, after) for key, value in state.items()}
    if isinstance(state, str) and (state == before or state.startswith(before.rstrip("/") + "/")):
        return after + state[len(before) :]
    return state
