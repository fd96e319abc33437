"""TensorBoard's HPARAMS tab, as event files: a finished run's session (its row) and the columns of every run in a log
folder. Light (protobuf and TensorBoard's protos), so that zoo-board writes them without loading torch.

TensorBoard's HPARAMS tab takes its columns from one experiment description in the log folder (the first it finds,
and for each run the first version it read): so no run writes its own, and the log folder's is rewritten under a new
name as runs finish (`update_experiment`), the previous one removed.
"""

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: runs that finish at the same moment may leave one of them out until the next one
    fcntl = None  # type: ignore[assignment]

from google.protobuf import struct_pb2
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from zoo.files import write_atomically
from zoo.runs.hparams import EXPERIMENT_FOLDER, Setting, experiment, rows_under

# Taken by the run that writes the log folder's description, beside it in the TensorBoard root.
LOCK_FILE = ".hparams.lock"


def hparams_summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    """A summary of the hparams plugin: what it reads is the metadata (as torch's and Lightning's writers do)."""
    data.version = metadata.PLUGIN_DATA_VERSION
    plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=data.SerializeToString())
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])


def as_value(value: Setting) -> struct_pb2.Value:
    """A setting as TensorBoard stores it: a whole number as its text (TensorBoard prints every number with five
    digits, 64 as 64.000), a float as a number, a flag as a flag."""
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, float):
        return struct_pb2.Value(number_value=value)
    return struct_pb2.Value(string_value=str(value))


def write_session(writer, settings: dict[str, Setting], values: dict[str, float], step: int) -> None:
    """A finished run's HPARAMS row into its own event files: its settings, its final values as scalars, and that it
    finished."""
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for key, value in settings.items():
        start.hparams[key].CopyFrom(as_value(value))
    file_writer = writer._get_file_writer()  # as Lightning's own log_hyperparams writes it
    file_writer.add_summary(
        hparams_summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)),
        step,
    )
    for tag, value in values.items():
        writer.add_scalar(tag, value, step)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    file_writer.add_summary(
        hparams_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)), step
    )
    writer.flush()


TYPES = {"bool": api_pb2.DATA_TYPE_BOOL, "float": api_pb2.DATA_TYPE_FLOAT64}


def experiment_summary(rows: list[dict]) -> Summary:
    """The HPARAMS columns of `rows` (zoo.runs.hparams.experiment) as TensorBoard's experiment description."""
    settings, metrics = experiment(rows)
    infos = []
    for setting in settings:
        info = api_pb2.HParamInfo(
            name=setting["name"], type=TYPES.get(setting["type"], api_pb2.DATA_TYPE_STRING), differs=setting["differs"]
        )
        if setting["type"] == "float":
            info.domain_interval.min_value, info.domain_interval.max_value = setting["domain"]
        else:
            info.domain_discrete.values.extend([as_value(value) for value in setting["domain"]])
        infos.append(info)
    described = api_pb2.Experiment(
        hparam_infos=infos,
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metrics],
        time_created_secs=time.time(),
    )
    return hparams_summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=described))


def write_events(path: Path, summary: Summary) -> None:
    """An event file holding `summary` alone."""
    now = time.time()

    def write(partial: Path) -> None:
        with open(partial, "wb") as file:
            records = RecordWriter(file)
            records.write(Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
            records.write(Event(wall_time=now, step=0, summary=summary).SerializeToString())

    write_atomically(path, write)


@contextlib.contextmanager
def held(lock: Path) -> Iterator[None]:
    """`lock` held by this process alone while the block runs (where the system has POSIX file locks)."""
    with open(lock, "a") as file:
        if fcntl is not None:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes
        yield


def update_experiment(root: Path) -> None:
    """Describe every run under the TensorBoard root `root` for HPARAMS: the union of their rows (zoo.runs.hparams),
    in `<root>/.hparams/<time>_<pid>/`. TensorBoard reads a run's description once, so each version is a new folder,
    and the older ones are removed: TensorBoard forgets a run whose folder is gone.

    The jobs of a multirun finish in processes of their own, each calling this: one at a time (a lock file beside the
    folder), each reads every row there is, so the last one to finish writes the description of all."""
    root = Path(root)
    folder = root / EXPERIMENT_FOLDER
    with held(root / LOCK_FILE):
        rows = rows_under(root)
        if not rows:  # no finished run (any more): nothing to describe
            shutil.rmtree(folder, ignore_errors=True)
            return
        now = time.time_ns()
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now // 10**9)) + f".{now % 10**9:09d}"
        version = folder / f"{stamp}_{os.getpid()}"  # in the order they were made, as folder names sort
        version.mkdir(parents=True)
        # TensorBoard reads any file with "tfevents" in its name; one that does not start "events.out" is not taken
        # for a run's by the tools that look for those (zoo-compare, a user's glob)
        write_events(version / "columns.tfevents", experiment_summary(list(rows.values())))
        for older in folder.iterdir():
            if older != version:
                shutil.rmtree(older, ignore_errors=True)
