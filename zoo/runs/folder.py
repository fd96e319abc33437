"""A run folder and what it holds: one object names it, creates it, and reads and writes its files, for every
command that opens a run (training, zoo-eval, zoo-predict, zoo-generate, resume=, zoo-export, zoo.open_run).

    <log_dir>/runs/<time>_<data>_<model>/           a single run; a multirun's job: <log_dir>/multiruns/<time>/<job>_...
        .hydra/config.yaml, overrides.yaml          the run's config and the command line's overrides (Hydra's)
        run.json                                    the run's record: what it derived beside its config (RunRecord)
        metrics.json                                the final metrics, or what stopped the run ("status")
        checkpoints/best.ckpt, last.ckpt            the best checkpoint (by the task's monitor) and the last one
        trackers.json                               the MLflow and W&B run ids that resume= continues
        splits.csv                                  which split each file of a user's image folder went to
        eval_metrics.json                           what zoo-eval measured
        export/                                     zoo-export's default output

A folder that arrives from elsewhere is data: its own files are read, never a path one of them names.
"""

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.files import write_text_atomically

MAX_NAME_BYTES = 200  # of a run's name: folder names may have 255 on most file systems, and suffixes follow
# Overrides that a run's name shows otherwise (its data and family come first), that say where it writes, not what
# it trains, or that switch what it shows: left out of the name (a key, or a group of keys ending in ".").
NAMED_ELSEWHERE = (
    *("data", "model", "data.path", "data.name", "task", "task.", "paths.", "logger", "logger.", "group"),
    *("run_name", "resume", "hydra.", "hydra/"),
)


def run_name(data_label: str, family: str, overrides: list[str], started: str) -> str:
    """The name a person reads a run by, in TensorBoard and the trackers, in the order people scan:
    `<data>/<family>/<what the command line changed>_<time>`, e.g. `cancer/cnn/model.kernel=3_2026-12-07_14-05-38`.
    The data is a user's file or folder by its stem, never an absolute path. A name longer than MAX_NAME_BYTES keeps
    its start and ends with a checksum of the whole, which still tells runs apart."""
    shown = []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if any(key.startswith(k) if k.endswith((".", "/")) else key == k for k in NAMED_ELSEWHERE):
            continue
        shown.append(f"{key}={value}".replace("/", "_"))
    leaf = "_".join([*shown, started])
    name = f"{data_label}/{family}/{leaf}".replace(" ", "")
    if len(name.encode()) > MAX_NAME_BYTES:
        name = name.encode()[: MAX_NAME_BYTES - 10].decode(errors="ignore") + f"..{zlib.crc32(name.encode()):08x}"
    return name


def data_label(data: dict, overrides: list[str]) -> str:
    """What a run's data is called in its name: `data.name` where the command line gives it, else a user's file or
    folder by its stem (`cancer.csv` -> cancer), else the data set's name."""
    if any(override.lstrip("+").startswith("data.name=") for override in overrides) or not data.get("path"):
        return str(data.get("name"))
    return Path(str(data["path"])).expanduser().stem or str(data.get("name"))


def free_name(name: str, folder: Path) -> str:
    """`name`, or where `folder` already holds it (a run of the same settings started in the same second), the first
    free `name_<n>`."""
    number = 1
    while (folder / (candidate := name if number == 1 else f"{name}_{number}")).exists():
        number += 1
    return candidate


def new_folder(path: str | Path) -> str:
    """Create `path`, or where it exists (a run started in the same second) the first free `path_<n>`; its name.
    conf/hydra/default.yaml makes each run's folder through it (`${zoo.new_folder:...}`), so two runs started in
    the same second never share one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        folder = path if number == 1 else path.with_name(f"{path.name}_{number}")
        try:
            folder.mkdir()
            return str(folder)
        except FileExistsError:
            number += 1


@dataclass(frozen=True)
class RunRecord:
    """What a run derives from its config and from where and how it was started. It is kept beside the config, never
    written into it: in the run folder (run.json) and in every checkpoint (`hyper_parameters["run"]`), so that the
    stored config is what the user asked, and a run resumed from another folder still writes where it wrote."""

    name: str  # `run_name`: TensorBoard's run, the trackers' run name
    group: str  # `group`: the trackers' group (an MLflow experiment, a W&B group)
    output_dir: str  # the run folder, absolute
    log_dir: str  # paths.log_dir, absolute
    data_dir: str  # paths.data_dir, absolute
    data_path: str | None  # data.path (a user's file or folder), absolute; None where the data has none
    started_in: str  # the working directory the run was started from
    started: str  # when, as the run's name shows it
    task: str  # the task the run trains, which its data chose
    overrides: list[str] = field(default_factory=list)  # the command line's, as Hydra recorded them
    resumed_from: str | None = None  # the checkpoint the run last continued from

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> "RunRecord":
        known = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in known})

    def replace(self, **changes: Any) -> "RunRecord":
        return dataclasses.replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The config values the record decides, as a config holds them: merged over the user's config, they give
        the settings a run's objects are built from (absolute paths, the run's name and group)."""
        values: dict[str, Any] = {
            "run_name": self.name,
            "group": self.group,
            "paths": {"output_dir": self.output_dir, "log_dir": self.log_dir, "data_dir": self.data_dir},
        }
        if self.data_path is not None:
            values["data"] = {"path": self.data_path}
        return values


def absolute(path: str | os.PathLike, started_in: str | None = None) -> str:
    """`path` as an absolute path, relative ones read from `started_in` (the current folder by default)."""
    given = Path(path).expanduser()
    return str(given if given.is_absolute() else Path(started_in or os.getcwd(), given).resolve())


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

    @property
    def record_file(self) -> Path:
        return self.folder / "run.json"

    @property
    def trackers_file(self) -> Path:
        return self.folder / "trackers.json"

    @property
    def eval_metrics_file(self) -> Path:
        return self.folder / "eval_metrics.json"

    @property
    def export_folder(self) -> Path:
        return self.folder / "export"

    def discard_if_unstarted(self) -> None:
        """Remove the folder of a run that failed before it started (a bad setting, a data set that cannot be read):
        it holds only what Hydra writes for every job, its config and an empty log. A folder that holds anything
        else (a record, a checkpoint: the run had started, or it is one being resumed) is kept."""
        if self.folder.is_dir() and {path.name for path in self.folder.iterdir()} <= {".hydra", "train.log"}:
            shutil.rmtree(self.folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # the runs/ folder this run was the first in
                self.folder.parent.rmdir()

    def write_record(self, record: RunRecord) -> None:
        """run.json: the run's record, for a person reading the folder (checkpoints carry it too)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.record_file, json.dumps(record.to_dict(), indent=2) + "\n")

    def tracker_ids(self) -> dict[str, str]:
        """The trackers' run ids (trackers.json: "mlflow", "wandb"), so that resume= continues the same runs."""
        try:
            ids = json.loads(self.trackers_file.read_text())
        except (OSError, ValueError):
            return {}
        return {key: value for key, value in ids.items() if isinstance(value, str)} if isinstance(ids, dict) else {}

    def write_tracker_ids(self, ids: dict[str, str]) -> None:
        write_text_atomically(self.trackers_file, json.dumps(ids, indent=2) + "\n")

    def metrics(self) -> dict | None:
        """metrics.json's content; None where there is none (an unfinished run) or it is damaged."""
        try:
            metrics = json.loads(self.metrics_file.read_text())
        except (OSError, ValueError):
            return None
        return metrics if isinstance(metrics, dict) else None

    def write_metrics(self, status: str, **info) -> None:
        """metrics.json: the final metrics of a finished run, or what stopped an unfinished one. Written atomically: a
        kill during the write leaves the previous file whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.metrics_file, json.dumps({"status": status, **info}, indent=2) + "\n")

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
