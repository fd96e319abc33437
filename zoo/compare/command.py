"""zoo-compare: compare finished runs from their TensorBoard event files, without re-training.

A run is known by what it logged itself: the flat hyperparameters of its HPARAMS row (zoo.runs.hparams), which
a run writes when it finishes. Where its folder lies does not matter, so `--logdir` may be any folder
above the runs: `paths.log_dir`, its `tensorboard/`, one data set's folder or one model's folder.

Runs with the same settings but for `seed` form a group: one experiment repeated over seeds. The table
(printed, Markdown, CSV) has one row per group, named by data, model and every setting that tells the
groups apart; a family's own settings (`model.*`) count only where they vary within one model, as the
model column already implies its defaults. Each task gets its own table, scored by the metric the task
declares (test accuracy for classification; test bits per character, lower is better, for language
models, whose rows are ranked by it). The plot shows a metric's curves (by default what each task's best
checkpoint monitors), one per group, the mean over seeds with the spread shaded, one panel per data set.
Runs without an HPARAMS row are left out and counted.

    zoo-compare [--logdir logs] [--data mnist1d] [--model cnn rnn] [--metric val/acc] [--out DIR]
"""

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from zoo.compare.report import say_what_is_noise
from zoo.compare.tables import cells, headers, plot, summarize, write_csv, write_markdown
from zoo.errors import ZooError
from zoo.runs.grouping import distinguishing_keys, group_runs, score_columns, task_of
from zoo.views import comparison_figures
from zoo.views.baselines import CLASSICAL

COST_COLUMNS = ["params", "train_time_s", "samples_per_s", "flops_forward"]  # flops: zoo.views.cost


def run_dirs(logdir: Path) -> list[Path]:
    """Every folder of event files under `logdir`, but zoo-compare's own (zoo.compare.report.tensorboard_dir)."""
    found = {path.parent for path in logdir.rglob("events.out.tfevents.*")}
    return sorted(folder for folder in found if "zoo-compare" not in folder.relative_to(logdir).parts)


def logged_hparams(events: EventAccumulator) -> dict | None:
    """The run's HPARAMS row (session start info), or None when the run wrote none."""
    try:
        content = events.PluginTagToContent("hparams")
    except KeyError:
        return None
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            return {
                key: getattr(value, value.WhichOneof("kind"))
                for key, value in data.session_start_info.hparams.items()
                if value.WhichOneof("kind")
            }
    return None


def read_run(run_dir: Path, metric: str | None) -> dict:
    """One run's logged hyperparameters, final values and the curve of `metric` (None: the metric its
    task's best checkpoint monitors)."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 1}).Reload()  # the last image
    tags = set(events.Tags()["scalars"])
    record = {
        "run": str(run_dir),
        "events": events,
        "hparams": logged_hparams(events),
        "tested": any(tag.startswith("test/") for tag in tags),
    }
    task = task_of(record["hparams"] or {})
    for column in [*score_columns(task), *COST_COLUMNS]:
        # hp/ tags came with the HPARAMS table; earlier runs logged only the metric itself
        found = next((tag for tag in (f"hp/{column}", column.replace("_", "/", 1)) if tag in tags), None)
        record[column] = events.Scalars(found)[-1].value if found else None
    # The classical models fitted on the same rows (zoo.views.baselines), scored by the task's headline metric.
    headline = score_columns(task)[0]
    record["classical"] = {
        name: events.Scalars(f"hp/{name}_{headline}")[-1].value for name in CLASSICAL if f"hp/{name}_{headline}" in tags
    }
    metric = metric or task.monitor
    record["metric"] = metric
    record["curve"] = [(s.step, s.value) for s in events.Scalars(metric)] if metric in tags else []
    record["final"] = record["curve"][-1][1] if record["curve"] else None
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo-compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--logdir",
        default="logs",
        help="any folder above the runs: paths.log_dir (default logs), its tensorboard/, ...",
    )
    parser.add_argument("--data", nargs="*", help="only these data sets")
    parser.add_argument("--model", nargs="*", help="only these models")
    parser.add_argument(
        "--metric",
        help="the scalar whose curves are plotted (default: what each task's best "
        "checkpoint monitors, val/acc or val/loss)",
    )
    parser.add_argument("--out", help="where to write comparison.md/.csv/.png (default: compare/ in the logdir)")
    args = parser.parse_args(argv)
    try:
        return compare(args)
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def compare(args: argparse.Namespace) -> int:
    """Read, group, tabulate and draw the runs under args.logdir; 1 where there are none."""
    logdir = Path(args.logdir)
    runs = [read_run(run_dir, args.metric) for run_dir in run_dirs(logdir)] if logdir.is_dir() else []
    unfinished = sum(run["hparams"] is None and not run["tested"] for run in runs)
    without_hparams = sum(run["hparams"] is None and run["tested"] for run in runs)
    finished = [
        run
        for run in runs
        if run["hparams"] is not None
        and (not args.data or run["hparams"].get("data") in args.data)
        and (not args.model or run["hparams"].get("model") in args.model)
    ]
    left_out = [f"left out {unfinished} unfinished runs (no test metrics)"] * bool(unfinished) + [
        f"left out {without_hparams} runs logged without HPARAMS data (written before zoo logged it)"
    ] * bool(without_hparams)
    if not finished:
        print(
            f"error: no finished zoo runs under {logdir}"
            + (f" for data {args.data}" if args.data else "")
            + (f" and models {args.model}" if args.model else "")
            + "".join(f"; {line}" for line in left_out)
            + "; train some first, e.g. python train.py -m model=mlp,cnn",
            file=sys.stderr,
        )
        return 1

    groups = group_runs(finished)
    keys = distinguishing_keys(groups)
    tables = []
    for name in sorted({run["hparams"].get("task", "classification") for run in finished}):
        task = task_of({"task": name})
        own = [(config, runs) for config, runs in groups if config.get("task", "classification") == name]
        own_keys = [key for key in distinguishing_keys(own) if key != "task"]  # what differs within the table
        metric = args.metric or task.monitor
        tables.append((task, summarize(own, own_keys, task), own_keys, metric))
    out = Path(args.out) if args.out else logdir / "compare"
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(tables, out / "comparison.md")
    write_csv([row for _, rows, _, _ in tables for row in rows], out / "comparison.csv")
    plot(groups, keys, out / "comparison.png")
    written = [out / "comparison.md", out / "comparison.csv", out / "comparison.png"]
    for figure in comparison_figures():
        written.append(figure(finished, out))

    console = Console(width=max(Console().width, 120))
    for task, rows, own_keys, metric in tables:
        trained = sum(row["runs"] for row in rows if row["model"] not in CLASSICAL.values())
        table = Table(
            title=f"{trained} finished {task.name.replace('_', ' ')} runs under "
            f"{logdir}, grouped by every setting but the seed"
        )
        for header in headers(own_keys, metric, task):
            numeric = header not in ("data", "model", *own_keys)
            table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
        for row in rows:
            table.add_row(*cells(row, own_keys, task))
        wide_enough = Console(width=1000).measure(table).maximum  # a cut cell would hide a setting or a result
        console = Console(width=max(Console().width, 120, wide_enough))
        console.print(table)
    for line in left_out:
        console.print(line)
    # Runs that differ only by fold and seed: what is noise (zoo.compare.noise, zoo.compare.report).
    written += say_what_is_noise(finished, logdir, out, console)
    console.print(f"wrote {out / 'comparison.md'}, " + ", ".join(path.name for path in written[1:] if path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
