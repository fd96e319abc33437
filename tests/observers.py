"""A callback that records which samples each process of a run trained and tested on, for tests/test_devices.py.
Added to a real run from the command line: +callbacks.samples_seen._target_=observers.SamplesSeen (with tests/
on PYTHONPATH, which the processes of a multi-process run inherit)."""

import json
import zlib
from pathlib import Path

import lightning as L


def fingerprints(inputs) -> list[int]:
    """A checksum of each input, the same in every process (Python's own hash of bytes is not)."""
    return [zlib.crc32(row.cpu().numpy().tobytes()) for row in inputs]


class SamplesSeen(L.Callback):
    """Writes `train_rank<r>.json` (the samples of the first training epoch, batch by batch) and
    `test_rank<r>.json` (the samples tested) into `folder`."""

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self.train_batches: list[list[int]] = []
        self.tested: list[int] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == 0:
            self.train_batches.append(fingerprints(batch[0]))

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == 0:
            self.write(trainer, "train", self.train_batches)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.tested += fingerprints(batch[0])

    def on_test_end(self, trainer, pl_module):
        self.write(trainer, "test", self.tested)

    def write(self, trainer, stage: str, seen) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"rank": trainer.global_rank, "processes": trainer.world_size, "seen": seen}
        (self.folder / f"{stage}_rank{trainer.global_rank}.json").write_text(json.dumps(record))


class ModulesAtFirstStep(L.Callback):
    """Writes `path`: the top-level names of every module imported when the first training step starts, for
    tests/test_startup.py (what a run's start-up paid for)."""

    def __init__(self, path: str):
        self.path, self.written = Path(path), False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        import sys

        if not self.written:
            self.path.write_text(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
            self.written = True
