"""A run folder and what it holds: one object names it, creates it, and reads and writes its files, for every
command that opens a run (training, zoo-eval, zoo-predict, zoo-generate, resume=, zoo-export, zoo.open_run).

    <log_dir>/runs/<time>_<data>_<model>/           a single run; a multirun's job: <log_dir>/multiruns/<time>/<job>_...
        .hydra/config.yaml, overrides.yaml          the run's config and the command line's overrides (Hydra's)
        metrics.json                                the final metrics, or what stopped the run ("status")
        checkpoints/best.ckpt, last.ckpt            the best checkpoint (by the task's monitor) and the last one
        splits.csv                                  which split each file of a user's image folder went to
        export/                                     zoo-export's default output

A folder that arrives from elsewhere is data: its own files are read, never a path one of them names.
"""

import itertools
import json
import shlex
import zlib
from pathlib import Path

from zoo.errors import ZooError

MAX_NAME_BYTES = 200  # of a run's name: folder names may have 255 on most file systems, and suffixes follow


def run_name(base: str, overrides: str) -> str:
    """The name of a run (its TensorBoard folder): `base` (the start time) and the command line's overrides. A name
    longer than MAX_NAME_BYTES keeps its start and ends with a checksum of the whole, which still tells runs apart."""
    name = f"{base}_{overrides}" if overrides else base
    if len(name.encode()) > MAX_NAME_BYTES:
        name = name.encode()[: MAX_NAME_BYTES - 10].decode(errors="ignore") + f"..{zlib.crc32(name.encode()):08x}"
    return name


def new_folder(path: Path) -> Path:
    """Create `path`, or if it exists (a run started in the same second) the first free `path_<n>`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for number in itertools.count(1):
        folder = path if number == 1 else path.with_name(f"{path.name}_{number}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


class Run:
    """The run in `folder` (which need not exist yet)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def holding(cls, checkpoint: Path) -> "Run | None":
        """The run whose checkpoints/ folder holds `checkpoint`, or None for a checkpoint kept elsewhere."""
        return cls(checkpoint.parent.parent) if checkpoint.parent.name == "checkpoints" else None

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def metrics_file(self) -> Path:
        return self.folder / "metrics.json"

    def metrics(self) -> dict | None:
        """metrics.json's content; None where there is none (an unfinished run) or it is damaged."""
        try:
            metrics = json.loads(self.metrics_file.read_text())
        except (OSError, ValueError):
            return None
        return metrics if isinstance(metrics, dict) else None

    def write_metrics(self, status: str, **info) -> None:
        """metrics.json: the final metrics of a finished run, or what stopped an unfinished one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.metrics_file.write_text(json.dumps({"status": status, **info}, indent=2) + "\n")

    def best_checkpoint(self) -> Path | None:
        """This folder's own file of the name metrics.json gives the best checkpoint (wherever the run wrote it)."""
        best = (self.metrics() or {}).get("best_checkpoint")
        if isinstance(best, str) and (self.checkpoints / Path(best).name).is_file():
            return self.checkpoints / Path(best).name
        return None

    def checkpoint(self) -> Path:
        """What opening the run means: its best checkpoint, else its last."""
        best = self.best_checkpoint()
        if best is not None:
            return best
        if not self.last_checkpoint.is_file():
            raise ZooError(
                f"{self.folder} holds no checkpoint (checkpoints/last.ckpt): give a run folder or a .ckpt file"
            )
        return self.last_checkpoint

    def test_metrics_of(self, checkpoint: Path) -> dict:
        """The run's test metrics (metrics.json), where `checkpoint` is the one they were measured on."""
        metrics = self.metrics() or {}
        best = metrics.get("best_checkpoint")
        if not isinstance(best, str) or Path(best).name != checkpoint.name:
            return {}
        return {key: value for key, value in metrics.items() if key.startswith("test/") and isinstance(value, float)}

    def training_command(self) -> str | None:
        """`python train.py <overrides>` as .hydra/overrides.yaml records it (None where it is not known)."""
        import yaml

        try:
            overrides = yaml.safe_load((self.folder / ".hydra" / "overrides.yaml").read_text())
        except (OSError, yaml.YAMLError):
            return None
        if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
            return None
        return " ".join(["python train.py", *map(shlex.quote, overrides)])

    def resume_hint(self, suggest_resume: bool = True) -> str:
        """What a stopped run leaves to continue from, as the end of its message."""
        if not self.last_checkpoint.exists():
            return "No checkpoint was written yet"
        if not suggest_resume:
            return f"The last good checkpoint is kept: {self.last_checkpoint}"
        return (
            f"The last good checkpoint is {self.last_checkpoint}; continue with: python train.py resume={self.folder}"
        )


def continued_run(resume: str) -> Path | None:
    """The run folder that `resume` (a run folder or a checkpoint in its checkpoints/) continues; None for a
    checkpoint kept elsewhere."""
    path = Path(resume).resolve()
    if not path.exists():
        raise ZooError(f"checkpoint {resume} does not exist")
    if path.is_dir():
        return path
    run = Run.holding(path)
    return run.folder if run else None
