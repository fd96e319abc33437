"""Every file zoo writes is written beside its place and renamed into it, so a kill or a full disk during the write
leaves the previous file whole (or none), never a truncated one under its name."""

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object], finish_in: Executor | None = None) -> Future | None:
    """`write(partial)` writes the content to `partial`, a hidden file beside `path`; once it has returned, the file is
    flushed to disk and renamed into place. What a killed writer left beside `path` is removed first. An OSError (a
    full disk, a folder zoo may not write) reaches the caller, which names what to do; the partial file is removed
    whatever happens.

    With `finish_in` (an executor of one thread), the flush to disk and the rename, which wait on the disk, happen
    there: the returned future is done once the file is in place, and raises what went wrong. Until then a kill
    leaves the previous file, as a kill during the write does."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.partial"):
        if not running(stale.name.rsplit(".", 2)[-2]):
            stale.unlink(missing_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if finish_in is None:
        put_in_place(partial, path)
        return None
    return finish_in.submit(put_in_place, partial, path)


def put_in_place(partial: Path, path: Path) -> None:
    """The end of write_atomically: `partial` flushed to disk and renamed to `path` (removed if that fails)."""
    try:
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    """`text` (UTF-8) into `path`, atomically."""
    write_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def running(pid: str) -> bool:
    """Whether the process `pid` (a partial file's writer) is alive on this machine."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
