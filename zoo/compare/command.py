"""zoo-compare: compare finished runs from their TensorBoard event files, without re-training.

A run is known by what it logged itself: its HPARAMS row (zoo.runs.hparams), which a run writes when it finishes.
Where its folder lies does not matter, so `--logdir` may be any folder above the runs: `paths.log_dir`, its
`tensorboard/`, one data set's folder or one model's folder.

Runs with the same settings but for `seed` form a group: one experiment repeated over seeds. Each task gets its own
table (printed, Markdown, CSV), one row per group, scored by the metric the task declares: test accuracy for
classification; test RMSE for regression and test bits per character for language models, where lower is better
and rows are ranked by it. A row is named by its data (a user's file by its stem: cancer.csv is `cancer`), its model
and every setting that tells the task's groups apart; a family's own settings (`model.*`) count only where they vary
within one family on one data set. A table's runs (data=table) get the classical models fitted on the same rows as
rows of their own. comparison.png draws, one panel per task and metric, each group's curve of what the task's best
checkpoint monitors (val/acc, val/rmse, val/loss; or --metric where the runs logged it), the mean over seeds with
min to max shaded, labelled by what tells it apart. Runs without an HPARAMS row are left out and counted.

    zoo-compare [--logdir logs] [--data mnist1d cancer] [--model cnn rnn] [--metric val/acc] [--out DIR]
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from zoo.compare.report import say_what_is_noise
from zoo.compare.tables import (
    cells,
    curves_figure,
    headers,
    repeated,
    shown_keys,
    summarize,
    write_csv,
    write_markdown,
)
from zoo.errors import ZooError
from zoo.runs.grouping import data_text, distinguishing_keys, group_runs, score_columns, task_of
from zoo.runs.hparams import EXPERIMENT_FOLDER, FINAL, final_tag, read_row
from zoo.views import comparison_figures
from zoo.views.baselines import CLASSICAL

COST_COLUMNS = ["params", "train_time_s", "samples_per_s", "flops_forward"]  # flops: zoo.views.cost


def run_dirs(logdir: Path) -> list[Path]:
    """Every folder under `logdir` with event files, but the description of the log folder's HPARAMS columns and
    zoo-compare's own (zoo.compare.report.tensorboard_dir)."""
    found = {path.parent for path in logdir.rglob("events.out.tfevents.*") if EXPERIMENT_FOLDER not in path.parts}
    return sorted(folder for folder in found if "zoo-compare" not in folder.relative_to(logdir).parts)


def whole_number(value: Any) -> Any:
    """A setting as zoo logged it: TensorBoard holds a whole number as its text (zoo.callbacks.tensorboard)."""
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value


def logged_hparams(events: EventAccumulator, run_dir: Path) -> dict | None:
    """The run's settings: its HPARAMS row (hparams.json, zoo.runs.hparams), or for a run from before zoo wrote one,
    its session start info; None when the run wrote neither (it did not finish)."""
    row = read_row(run_dir)
    if row is not None:
        return row["hparams"]
    try:
        content = events.PluginTagToContent("hparams")
    except KeyError:
        return None
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            return {
                key: whole_number(getattr(value, value.WhichOneof("kind")))
                for key, value in data.session_start_info.hparams.items()
                if value.WhichOneof("kind")
            }
    return None


def last_value(events: EventAccumulator, tags: set[str], name: str) -> float | None:
    """The final value `name` (test_acc, params...) of a run: `zoo/<name>`; `hp/<name>` or the test metric itself
    (test/acc) in runs from before."""
    found = next((tag for tag in (final_tag(name), f"hp/{name}", name.replace("_", "/", 1)) if tag in tags), None)
    return events.Scalars(found)[-1].value if found else None


def read_run(run_dir: Path, metric: str | None) -> dict:
    """One run's logged hyperparameters, final values and the curve of `metric` (None: the metric its
    task's best checkpoint monitors)."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 1}).Reload()  # the last image
    tags = set(events.Tags()["scalars"])
    record = {
        "run": str(run_dir),
        "events": events,
        "hparams": logged_hparams(events, run_dir),
        "tested": any(tag.startswith(("test/", FINAL, "hp/")) for tag in tags),
    }
    task = task_of(record["hparams"] or {})
    for column in [*score_columns(task), *COST_COLUMNS]:
        record[column] = last_value(events, tags, column)
    # The classical models fitted on the same rows (zoo.views.baselines), scored by the task's headline metric.
    headline = score_columns(task)[0]
    classical = {name: last_value(events, tags, f"{name}_{headline}") for name in CLASSICAL}
    record["classical"] = {name: value for name, value in classical.items() if value is not None}
    metric = metric if metric in tags else task.monitor
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
    parser.add_argument("--data", nargs="*", help="only these data sets (a name, or a user's file or folder's stem)")
    parser.add_argument("--model", nargs="*", help="only these models")
    parser.add_argument(
        "--metric",
        help="the scalar whose curves are plotted, where the runs logged it (default: what each task's best "
        "checkpoint monitors: val/acc, val/rmse, val/loss)",
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
        and (not args.data or {run["hparams"].get("data"), data_text(run["hparams"])} & set(args.data))
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
    every_key = distinguishing_keys(groups)  # the CSV's columns: every task's rows get each one's value
    tables, panels = [], []
    for name in sorted({run["hparams"].get("task", "classification") for run in finished}):
        task = task_of({"task": name})
        own = [(config, runs) for config, runs in groups if config.get("task", "classification") == name]
        own_keys = [key for key in distinguishing_keys(own) if key != "task"]  # what differs within the table
        metrics = sorted({run["metric"] for _, runs in own for run in runs})  # --metric where the runs logged it
        rows = summarize(own, own_keys, task, columns=[key for key in every_key if key != "task"])
        tables.append((task, rows, shown_keys(own, own_keys), ", ".join(metrics)))
        for metric in metrics:
            drawn = [(config, [run for run in runs if run["metric"] == metric]) for config, runs in own]
            panels.append((f"{name.replace('_', ' ')}: {metric}", metric, [group for group in drawn if group[1]]))
    out = Path(args.out) if args.out else logdir / "compare"
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(tables, out / "comparison.md")
    write_csv([row for _, rows, _, _ in tables for row in rows], out / "comparison.csv")
    curves_figure(panels, out / "comparison.png")
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
        for header in headers(own_keys, metric, task, repeated(rows)):
            numeric = header not in ("data", "model", *own_keys)
            table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
        for row in rows:
            table.add_row(*cells(row, own_keys, task, repeated(rows)))
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
