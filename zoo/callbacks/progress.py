"""How a run shows its progress: a live bar on a terminal; where the output goes to a file (a SLURM job, `nohup`,
`> train.log`), plain lines a person can read and grep, with no carriage returns or terminal escape codes."""

import sys
import time

from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar


def progress_bar(refresh_rate: int = 20, every_s: float = 30.0) -> ProgressBar:
    """The live bar (redrawn every `refresh_rate` steps) when both stdout and stderr are terminals, else a plain
    line per epoch and at most one every `every_s` seconds within a long epoch (conf/callbacks/default.yaml)."""
    if sys.stdout.isatty() and sys.stderr.isatty():
        return LiveBar(refresh_rate=refresh_rate)
    return PlainLines(every_s=every_s)


class WithoutVersion(ProgressBar):
    """A bar without Lightning's `v_num` (the logger's version: for zoo's runs, the run's name, which a progress
    line has no room for)."""

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class LiveBar(WithoutVersion, TQDMProgressBar):
    """Lightning's tqdm bar, without `v_num`."""


class PlainLines(WithoutVersion):
    """One line per training epoch, written when its validation is done:

        epoch 3/10  step 112  4.1 s  3,512 samples/s  train/loss 0.4121  val/loss 0.3987  val/acc 0.8712

    and, within an epoch longer than `every_s` seconds, a line every `every_s` seconds with the step reached. An
    epoch's line is written when the next epoch starts, or training ends: Lightning reduces the epoch's training
    metrics after the callbacks' on_train_epoch_end."""

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.enabled = True
        self.started = self.last_line = 0.0
        self.samples = 0
        self.finished_epoch: str | None = None

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.write_finished_epoch(trainer, pl_module)
        self.started = self.last_line = time.perf_counter()
        self.samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.samples += len(inputs) if hasattr(inputs, "__len__") else 0
        now = time.perf_counter()
        if now - self.last_line >= self.every_s:
            self.last_line = now
            self.write(trainer, pl_module, self.head(trainer, f"step {batch_idx + 1}/{self.total_train_batches}"))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.finished_epoch = self.head(trainer, f"step {trainer.global_step}")

    def on_train_end(self, trainer, pl_module) -> None:
        self.write_finished_epoch(trainer, pl_module)

    def head(self, trainer, where: str) -> str:
        """The start of a line: the epoch, `where` in it, the time it took and its speed."""
        elapsed = time.perf_counter() - self.started
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        parts = [f"epoch {trainer.current_epoch + 1}{epochs}", where, f"{elapsed:.1f} s"]
        if self.samples and elapsed > 0:
            parts.append(f"{self.samples / elapsed:,.0f} samples/s")
        return "  ".join(parts)

    def write_finished_epoch(self, trainer, pl_module) -> None:
        if self.finished_epoch is not None:
            self.write(trainer, pl_module, self.finished_epoch)
            self.finished_epoch = None

    def write(self, trainer, pl_module, head: str) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        metrics = self.get_metrics(trainer, pl_module).items()
        parts = [f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}" for name, value in metrics]
        print("  ".join([head, *sorted(parts)]), flush=True)
