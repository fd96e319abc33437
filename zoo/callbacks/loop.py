"""What every run's training loop gets from zoo around Lightning's own: the throughput clock, the views' results handed
back, Ctrl-C between batches, a stop on a non-finite loss, the step timer of the benchmarks, per-batch hooks
dispatched only to the callbacks that use them, and Lightning's messages that do not apply to zoo kept quiet. The
configurable callbacks come straight from Lightning (or zoo's own modules here) through `conf/callbacks/`."""

import json
import logging
import math
import signal
import threading
import time
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from zoo.errors import ZooError
from zoo.files import write_text_atomically


class Throughput(L.Callback):
    """Training samples per second, timed over the training part of each epoch (not validation, not
    start-up), and the wall time of fitting. The clock is read only at epoch boundaries, after waiting
    for the GPU, so it costs no synchronization inside the training step.

    The totals are saved in every checkpoint and restored with it, so a resumed run reports the time
    and samples of all its parts; the work a killed run did after its last checkpoint is done again
    and counted once. Where several processes train together, the samples are those of all of them.

    With `first_step_apart` (a compiled network, trainer.compile=true) the first training step of each part
    of the run, which compiles the network, is timed apart (`first_step_seconds`) and counts neither in the
    samples nor in the seconds of samples per second, which then measure the steady state.

    At the end of fitting the totals and the step reached go into `trainer.callback_metrics`
    (`zoo/train_time_s`, `zoo/samples_per_s`, `zoo/first_step_s`, `zoo/global_step`): under ddp_spawn the hooks
    run in processes of their own, and callback_metrics is what Lightning hands back to the process that
    called fit."""

    def __init__(self, first_step_apart: bool = False) -> None:
        self.samples, self.seconds = 0, 0.0
        self._start: float | None = None
        self.earlier_wall_seconds = 0.0
        self._fit_start: float | None = None
        self.first_step_seconds, self._first_step_due = 0.0, first_step_apart

    def _stop(self, pl_module) -> None:
        if self._start is not None:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            self.seconds += time.perf_counter() - self._start
            self._start = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._first_step_due:
            self._first_step_due = False
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            now = time.perf_counter()
            self.first_step_seconds += now - (self._start or now)
            self._start = now
            return
        self.samples += len(batch[0]) * trainer.world_size  # each process trains on an equal share of the batch

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._stop(pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop(pl_module)

    def on_fit_end(self, trainer, pl_module) -> None:
        trainer.callback_metrics.update(
            {
                "zoo/train_time_s": torch.tensor(self.wall_seconds, dtype=torch.float64),
                "zoo/samples_per_s": torch.tensor(self.samples_per_s, dtype=torch.float64),
                "zoo/first_step_s": torch.tensor(self.first_step_seconds, dtype=torch.float64),
                "zoo/global_step": torch.tensor(trainer.global_step, dtype=torch.float64),
            }
        )

    def state_dict(self) -> dict:
        return {
            "samples": self.samples,
            "seconds": self.seconds,
            "wall_seconds": self.wall_seconds,
            "first_step_seconds": self.first_step_seconds,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.samples, self.seconds = state_dict["samples"], state_dict["seconds"]
        self.earlier_wall_seconds = state_dict["wall_seconds"]
        self.first_step_seconds = state_dict["first_step_seconds"]

    @property
    def wall_seconds(self) -> float:
        """Seconds since fitting started, plus those of the run's earlier parts."""
        now = time.perf_counter() - self._fit_start if self._fit_start is not None else 0.0
        return self.earlier_wall_seconds + now

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


class HandBackResults(L.Callback):
    """Copies what the run's views measured (their `results`, see zoo.tasks.base.Task.callbacks) into
    `trainer.callback_metrics` as `measured/<name>`, at the end of fitting and of testing. Under ddp_spawn
    the hooks run in processes of their own and callback_metrics is what Lightning hands back to the process
    that called fit or test, so zoo.training.train reads the measurements there, whatever the strategy."""

    def on_fit_end(self, trainer, pl_module) -> None:
        self.hand_back(trainer)

    def on_test_end(self, trainer, pl_module) -> None:
        self.hand_back(trainer)

    @staticmethod
    def hand_back(trainer) -> None:
        for callback in trainer.callbacks:
            for name, value in (getattr(callback, "results", None) or {}).items():
                trainer.callback_metrics[f"measured/{name}"] = torch.tensor(float(value), dtype=torch.float64)


class CtrlCBetweenBatches(L.Callback):
    """Ctrl-C during training stops the run at the next batch, where Lightning's shutdown is safe.

    Python raises KeyboardInterrupt wherever the main thread is when the signal arrives. Seen here, in runs
    stopped at a random moment: inside torch.save, whose zip writer then failed with a RuntimeError (a
    traceback, exit 1, instead of the interrupted run), and inside the TensorBoard writer's queue, whose
    thread then never woke up to close the file (Lightning's shutdown hung). So while training, Ctrl-C
    only records the request, and the next batch (training or validation) raises KeyboardInterrupt, which
    Lightning handles as it does any Ctrl-C. A second Ctrl-C interrupts at once, wherever it lands in training.

    Once Lightning handles the interrupt, it ignores Ctrl-C through its shutdown and then puts back the handler it
    found; this callback leaves that alone. Putting Python's handler back on the exception let a second Ctrl-C land
    inside the shutdown (seen: a traceback from torch's atexit hooks, exit -2; a lock taken then hangs it)."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None  # the SIGINT handler in place before training

    def on_train_start(self, trainer, pl_module) -> None:
        # After Lightning's own signal handlers (it restores what it found at the end of fitting), and only
        # where Python's own Ctrl-C handling is in place (not in a thread, nor where SIGINT is ignored).
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self.requested, self.previous = False, signal.signal(signal.SIGINT, self.request)

    def request(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def stop_if_requested(self, *args, **kwargs) -> None:
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_start = on_train_batch_end = on_validation_batch_start = stop_if_requested

    def teardown(self, trainer, pl_module, stage) -> None:
        self.restore()

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class StopOnNonFiniteLoss(L.Callback):
    """Stops training at the first step whose loss is NaN or infinite, naming the step. The checkpoints
    on disk are those of earlier epochs, which were still good.

    On a GPU, reading the loss would make the host wait for the step to finish. Instead each step's loss is
    copied to the host in the background and read once its copy has arrived, usually a step or two later,
    and at the latest at the end of the epoch or before a checkpoint is written, whichever comes first."""

    def __init__(self) -> None:
        self.pending: deque[tuple[int, int, torch.Tensor, torch.cuda.Event]] = deque()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = (outputs["loss"] if isinstance(outputs, dict) else outputs).detach()
        step = (trainer.global_step, trainer.current_epoch)
        if loss.device.type != "cuda":
            self._check(trainer, *step, loss)
            return
        copied = torch.cuda.Event()
        self.pending.append((*step, loss.to("cpu", non_blocking=True), copied))
        copied.record()
        while self.pending and self.pending[0][3].query():  # query() asks, it does not wait
            self._check(trainer, *self.pending.popleft()[:3])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check_all(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self._check_all(trainer)  # raising here writes nothing: no checkpoint of non-finite weights

    def _check_all(self, trainer) -> None:
        while self.pending:
            step, epoch, loss, copied = self.pending.popleft()
            copied.synchronize()
            self._check(trainer, step, epoch, loss)

    def _check(self, trainer, step: int, epoch: int, loss: torch.Tensor) -> None:
        if not math.isfinite(loss.item()):
            self.pending.clear()
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            raise ZooError(
                f"train/loss became {loss.item()} at step {step} (epoch {epoch}); the usual cause is a "
                f"learning rate too high for the model (it was {lr:.3g}): lower optimizer.lr"
            )


class StepTimer(L.Callback):
    """The wall clock at the start of every training step and at the end of training, written as JSON to
    `path` when training ends; what `scripts/benchmark.py` measures zoo's training loop and start-up with.
    `started_at` (time.time(), comparable across processes) marks the first training step."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.started_at: float | None = None
        self.steps: list[float] = []
        self.epoch_starts: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epoch_starts.append(len(self.steps))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.started_at is None:
            self.started_at = time.time()
        self.steps.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        end = time.perf_counter()
        record = {
            "started_at": self.started_at,
            "steps": self.steps,
            "end": end,
            "epoch_starts": self.epoch_starts,
            "device": pl_module.device.type,
        }
        write_text_atomically(Path(self.path), json.dumps(record))


BATCH_HOOKS = [name for name in vars(L.Callback) if name.endswith("_batch_start") or name.endswith("_batch_end")] + [
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
]


def skip_unused_batch_hooks(callbacks: Sequence[L.Callback]) -> None:
    """Lightning calls every per-batch hook of every callback, ~3 us each through its profiler context, whether or
    not the callback overrides it: with a run's 19 callbacks, 6% of a step of the paper's CNN (profiled with py-spy).
    A hook a callback's class leaves as Lightning's no-op is set to None on the callback: Lightning's dispatch
    (`_call_callback_hooks`) calls a hook only where it is callable."""
    for callback in callbacks:
        for hook in BATCH_HOOKS:
            if getattr(type(callback), hook) is getattr(L.Callback, hook):
                setattr(callback, hook, None)


def quiet_lightning() -> None:
    """Keep Lightning's advertising and its warnings that do not apply to zoo out of the terminal."""

    class DropTips(logging.Filter):
        def filter(self, record):
            # Its TF32 advice too: zoo's own switch is tf32=true (see conf/train.yaml).
            message = record.getMessage()
            # and the scheduler's count of steps, which Lightning announces
            noise = ("Tip:", "set_float32_matmul_precision", "to estimate number of stepping batches")
            return not any(text in message for text in noise)

    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(DropTips())
    # logger=mlflow creates its experiment (`group`) on first use: expected, not a warning.
    logging.getLogger("lightning.pytorch.loggers.mlflow").addFilter(
        lambda record: "not found. Creating it" not in record.getMessage()
    )
    # Lightning's own use of a deprecated torch API: nothing a zoo user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    # zoo logs its metrics once per epoch; only the learning-rate curve follows log_every_n_steps.
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging")
    # A run folder that moved goes on in its new folder (zoo.training.resume.relocated, BestCheckpoint).
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from")
    # A non-finite loss stops the run with zoo's own message (StopOnNonFiniteLoss).
    warnings.filterwarnings("ignore", message=r"Encountered `nan` values in tensor")
    # On several processes zoo logs what torchmetrics computed over all of them already.
    warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('[^']*', ..., sync_dist=True\)`")


class QuietLightning(L.Callback):
    """quiet_lightning() in every process that trains: those ddp_spawn starts begin with Python's defaults."""

    def setup(self, trainer, pl_module, stage) -> None:
        quiet_lightning()
