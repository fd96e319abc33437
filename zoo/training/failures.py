"""What goes wrong while a run trains, as the user reads it: one line for each failure zoo can name (a write that
fails, a setting Lightning refuses once it sees the data, an error in a process ddp_spawn started), and the two
exceptions that end a run or a sweep early."""

import contextlib
import errno
import sys
from collections.abc import Iterator

import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException

from zoo.errors import ZooError


class Interrupted(ZooError):
    """The user stopped the run (Ctrl-C)."""


class SweepStopped(ZooError):
    """An error that would fail every job of a multirun alike: the sweep stops at its first job."""


@contextlib.contextmanager
def readable_lightning_errors(datamodule) -> Iterator[None]:
    """A Trainer setting Lightning refuses once it sees the data (a fraction of a single batch, say): one line."""
    try:
        yield
    except MisconfigurationException as error:
        print(file=sys.stderr)  # Lightning leaves its progress bar mid-line: the error starts a line of its own
        raise ZooError(
            f"Lightning cannot train with these settings: {' '.join(str(error).split())} "
            f"(val and test batches hold data.eval_batch_size={datamodule.eval_batch_size} samples, "
            f"training batches data.batch_size={datamodule.batch_size})"
        ) from None


@contextlib.contextmanager
def errors_of_spawned_processes() -> Iterator[None]:
    """A ZooError raised in a process that ddp_spawn started reaches this one as torch's report of that
    process's traceback: its one line again."""
    try:
        yield
    except torch.multiprocessing.ProcessRaisedException as error:
        kind, _, message = str(error).strip().splitlines()[-1].partition(": ")
        if not kind.startswith("zoo."):
            raise
        raise ZooError(message) from None


@contextlib.contextmanager
def readable_write_errors() -> Iterator[None]:
    """A full disk or a folder zoo may not write: one line naming the path, not a logger's traceback."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR):
            raise
        raise ZooError(
            f"could not write {error.filename or 'a file'}: {error.strerror}; free some space or "
            f"choose another paths.log_dir"
        ) from None


@contextlib.contextmanager
def readable_errors(datamodule) -> Iterator[None]:
    """All three, around Lightning's fit and test."""
    with readable_write_errors(), readable_lightning_errors(datamodule), errors_of_spawned_processes():
        yield
