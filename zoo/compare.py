"""zoo-compare: compare finished runs from their TensorBoard event files, without re-training.

A run is known by what it logged itself: the flat hyperparameters of its HPARAMS row (zoo.hparams), which
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
import csv
import importlib
import statistics
import sys
from pathlib import Path

from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

COST_COLUMNS = ["params", "train_time_s", "samples_per_s", "flops_forward"]  # flops: zoo.views.cost
# The classical models a table's runs are measured against (zoo.views.baselines): result name -> row name.
CLASSICAL = {"hgb": "gradient boosting (sklearn)", "logistic": "logistic regression (sklearn)",
             "ridge": "ridge regression (sklearn)"}
# What changes between the repeats of one experiment; every other logged hyperparameter is a setting.
REPEAT_KEYS = {"seed"}
# Figures of what the runs' views measured (zoo/views/), as "module:function": each function(runs, out)
# draws into `out` where the finished runs have what it shows and returns the file it wrote, else None.
COMPARISON_FIGURES: list[str] = [
    "zoo.views.boundary:compare_figure",
    "zoo.views.data_hunger:compare_figure",
    "zoo.views.robustness:compare_figure",
    "zoo.views.cost:compare_figure",
]


def task_of(hparams: dict):
    """The task class a run declares in its HPARAMS row (runs from before tasks were all classifications). An
    event file is data: only the modules of zoo's own tasks (zoo/tasks/<name>.py, conf/task/) are imported."""
    from zoo.known_classes import known_task_names

    name = hparams.get("task", "classification")
    task = None
    if name in known_task_names():
        module = importlib.import_module(f"zoo.tasks.{name}")
        task = next((value for value in vars(module).values() if getattr(value, "name", None) == name
                     and isinstance(value, type)), None)
    if task is None:
        raise SystemExit(f"error: a run logged task {name!r}, which this zoo does not know; "
                         f"compare it with the zoo that trained it")
    return task


def score_columns(task) -> tuple[str, str]:
    """The table's two result columns for a task: its headline test metric and its best validation value."""
    return task.headline.replace("/", "_"), task.best_metric().replace("/", "_")


def run_dirs(logdir: Path) -> list[Path]:
    return sorted({path.parent for path in logdir.rglob("events.out.tfevents.*")})


def logged_hparams(events: EventAccumulator) -> dict | None:
    """The run's HPARAMS row (session start info), or None when the run wrote none."""
    try:
        content = events.PluginTagToContent("hparams")
    except KeyError:
        return None
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            return {key: getattr(value, value.WhichOneof("kind"))
                    for key, value in data.session_start_info.hparams.items() if value.WhichOneof("kind")}
    return None


def read_run(run_dir: Path, metric: str | None) -> dict:
    """One run's logged hyperparameters, final values and the curve of `metric` (None: the metric its
    task's best checkpoint monitors)."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 1}).Reload()  # the last image
    tags = set(events.Tags()["scalars"])
    record = {"run": str(run_dir), "events": events, "hparams": logged_hparams(events),
              "tested": any(tag.startswith("test/") for tag in tags)}
    task = task_of(record["hparams"] or {})
    for column in [*score_columns(task), *COST_COLUMNS]:
        # hp/ tags came with the HPARAMS table; earlier runs logged only the metric itself
        found = next((tag for tag in (f"hp/{column}", column.replace("_", "/", 1)) if tag in tags), None)
        record[column] = events.Scalars(found)[-1].value if found else None
    # The classical models fitted on the same rows (zoo.views.baselines), scored by the task's headline metric.
    headline = score_columns(task)[0]
    record["classical"] = {name: events.Scalars(f"hp/{name}_{headline}")[-1].value for name in CLASSICAL
                           if f"hp/{name}_{headline}" in tags}
    metric = metric or task.monitor
    record["metric"] = metric
    record["curve"] = [(s.step, s.value) for s in events.Scalars(metric)] if metric in tags else []
    record["final"] = record["curve"][-1][1] if record["curve"] else None
    return record


def settings(run: dict) -> dict:
    return {key: value for key, value in run["hparams"].items() if key not in REPEAT_KEYS}


def group_runs(runs: list[dict]) -> list[tuple[dict, list[dict]]]:
    """Runs with equal settings, as (settings, runs) pairs."""
    groups: dict[tuple, tuple[dict, list[dict]]] = {}
    for run in runs:
        key = tuple(sorted(settings(run).items()))
        groups.setdefault(key, (settings(run), []))[1].append(run)
    return list(groups.values())


def distinguishing_keys(groups: list[tuple[dict, list[dict]]]) -> list[str]:
    """The settings, data and model aside, that tell the groups apart. A family's own settings count only
    where they vary within one model: that an MLP's `model.dim` differs from a CNN's says nothing new."""
    keys = sorted({key for config, _ in groups for key in config} - {"data", "model"})
    shown = []
    for key in keys:
        if key.startswith("model."):
            varies = any(len({config.get(key) for config, _ in groups if config.get("model") == model}) > 1
                         for model in {config.get("model") for config, _ in groups})
        else:
            varies = len({config.get(key) for config, _ in groups}) > 1
        if varies:
            shown.append(key)
    return shown


def keys_within_models(groups: list[tuple[dict, list[dict]]]) -> list[str]:
    """The settings that tell apart groups of one model: what a figure's legend names beside the model
    (a setting that differs only from model to model, such as each family's budget, goes without saying)."""
    models = {config.get("model") for config, _ in groups}
    return [key for key in distinguishing_keys(groups)
            if any(len({config.get(key) for config, _ in groups if config.get("model") == model}) > 1
                   for model in models)]


def order(value) -> tuple:
    """Sort numbers by size, then text, then missing values."""
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value)) if value is not None else (2, 0, "")


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) > 1 else 0.0 if values else None


def summarize(groups: list[tuple[dict, list[dict]]], keys: list[str], task) -> list[dict]:
    """One row per group, all of one task. Classification rows are ordered by their settings; language
    models are ranked by their score (lower bits per character first) within each data set."""
    score, best = score_columns(task)
    rows = []
    for config, members in groups:
        scores = [m[score] for m in members]
        rows.append({"data": config.get("data"), "model": config.get("model"),
                     **{key: config.get(key) for key in keys}, "runs": len(members),
                     f"{score}_mean": mean(scores), f"{score}_std": spread(scores),
                     f"{best}_mean": mean(m[best] for m in members),
                     "params": mean(m["params"] for m in members),
                     "flops_forward": mean(m["flops_forward"] for m in members),
                     "train_time_s_mean": mean(m["train_time_s"] for m in members),
                     "samples_per_s_mean": mean(m["samples_per_s"] for m in members),
                     "final_metric_mean": mean(m["final"] for m in members)})
    rows += classical_rows(groups, keys, task)
    # A user's data sets share a name (table, images): their file tells them apart.
    data = ["data", *(key for key in keys if key in ("data.path", "data.target"))]
    if task.mode == "min":
        return sorted(rows, key=lambda row: [order(row[key]) for key in data] + [order(row[f"{score}_mean"])])
    # Each data set's families by their settings, then the classical models it was measured against.
    return sorted(rows, key=lambda row: [order(row[key]) for key in data] + [row["model"] in CLASSICAL.values()]
                  + [order(row[key]) for key in ["model", *keys]])


def classical_rows(groups: list[tuple[dict, list[dict]]], keys: list[str], task) -> list[dict]:
    """One row per data set and classical model its runs measured (tables: zoo.views.baselines), beside the
    families: whether any network beats gradient boosting on the user's data shows at once."""
    score, best = score_columns(task)
    own = [key for key in keys if key in ("data.path", "data.target")]  # which file and column they were fitted on
    runs_by_data: dict = {}
    for config, members in groups:
        runs_by_data.setdefault((config.get("data"), *(config.get(key) for key in own)), []).extend(members)
    rows = []
    for (data, *values), members in runs_by_data.items():
        for name, title in CLASSICAL.items():
            scores = [run["classical"][name] for run in members if name in run["classical"]]
            if scores:
                rows.append({"data": data, "model": title, **{key: None for key in keys}, **dict(zip(own, values)),
                             "runs": len(scores),
                             f"{score}_mean": mean(scores), f"{score}_std": spread(scores), f"{best}_mean": None,
                             "params": None, "flops_forward": None, "train_time_s_mean": None,
                             "samples_per_s_mean": None, "final_metric_mean": None})
    return rows


def text(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def si(value) -> str:
    """A count with an SI prefix: 1240000 -> 1.24M."""
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def setting_text(value) -> str:
    """A setting as it would be typed on the command line: 128, 0.001, 3e-05, cnn."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def headers(keys: list[str], metric: str, task) -> list[str]:
    score, best = score_columns(task)
    lower = " (lower is better)" if task.mode == "min" else ""
    return ["data", "model", *keys, "runs", score.replace("_", " ") + lower, "± std", best.replace("_", " ") + lower,
            "params", "FLOPs/sample", "time (s)", "samples/s", f"final {metric}"]


def cells(row: dict, keys: list[str], task) -> list[str]:
    score, best = score_columns(task)
    return [setting_text(row[key]) for key in ["data", "model", *keys]] + [
        str(row["runs"]), text(row[f"{score}_mean"]), text(row[f"{score}_std"]), text(row[f"{best}_mean"]),
        text(row["params"], 0), si(row["flops_forward"]), text(row["train_time_s_mean"], 1), text(row["samples_per_s_mean"]),
        text(row["final_metric_mean"])]


def write_markdown(tables: list[tuple], path: Path) -> None:
    """One Markdown table per task, in the order given: (task, rows, keys, metric)."""
    lines = []
    for task, rows, keys, metric in tables:
        if lines:
            lines.append("")
        lines += ["| " + " | ".join(headers(keys, metric, task)) + " |", "|" + "---|" * len(headers(keys, metric, task))]
        lines += ["| " + " | ".join(cells(row, keys, task)) + " |" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_csv(rows: list[dict], path: Path) -> None:
    """Every row of every task; a column a task lacks is left empty in its rows."""
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(rows)


def label(config: dict, keys: list[str], runs: int) -> str:
    return " ".join([setting_text(config.get("model"))] + [f"{key}={setting_text(config.get(key))}" for key in keys]
                    ) + f" ({runs})"


def plot(groups: list[tuple[dict, list[dict]]], keys: list[str], path: Path) -> None:
    """One panel per data set; per group the mean curve over its runs, shaded from min to max."""
    datasets = sorted({config.get("data") for config, _ in groups}, key=order)
    figure = Figure(figsize=(6.5 * len(datasets), 4.5))
    for index, data in enumerate(datasets, start=1):
        axes = figure.add_subplot(1, len(datasets), index)
        members = [(config, runs) for config, runs in groups if config.get("data") == data]
        for config, runs in sorted(members, key=lambda pair: [order(pair[0].get(k)) for k in ["model", *keys]]):
            curves = [dict(run["curve"]) for run in runs]
            steps = sorted(set.intersection(*(set(curve) for curve in curves)))
            if not steps:
                continue
            values = [[curve[step] for curve in curves] for step in steps]
            axes.plot(steps, [statistics.fmean(v) for v in values], label=label(config, keys, len(curves)))
            axes.fill_between(steps, [min(v) for v in values], [max(v) for v in values], alpha=0.2)
        axes.set_title(setting_text(data))
        axes.set_xlabel("training step")
        axes.set_ylabel(", ".join(sorted({run["metric"] for _, runs in members for run in runs})))
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs",
                        help="any folder above the runs: paths.log_dir (default logs), its tensorboard/, ...")
    parser.add_argument("--data", nargs="*", help="only these data sets")
    parser.add_argument("--model", nargs="*", help="only these models")
    parser.add_argument("--metric", help="the scalar whose curves are plotted (default: what each task's best "
                                         "checkpoint monitors, val/acc or val/loss)")
    parser.add_argument("--out", help="where to write comparison.md/.csv/.png (default: compare/ in the logdir)")
    args = parser.parse_args(argv)

    logdir = Path(args.logdir)
    runs = [read_run(run_dir, args.metric) for run_dir in run_dirs(logdir)] if logdir.is_dir() else []
    unfinished = sum(run["hparams"] is None and not run["tested"] for run in runs)
    without_hparams = sum(run["hparams"] is None and run["tested"] for run in runs)
    finished = [run for run in runs if run["hparams"] is not None
                and (not args.data or run["hparams"].get("data") in args.data)
                and (not args.model or run["hparams"].get("model") in args.model)]
    left_out = [f"left out {unfinished} unfinished runs (no test metrics)"] * bool(unfinished) + [
        f"left out {without_hparams} runs logged without HPARAMS data (written before zoo logged it)"
    ] * bool(without_hparams)
    if not finished:
        print(f"error: no finished zoo runs under {logdir}"
              + (f" for data {args.data}" if args.data else "") + (f" and models {args.model}" if args.model else "")
              + "".join(f"; {line}" for line in left_out)
              + "; train some first, e.g. python train.py -m model=mlp,cnn", file=sys.stderr)
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
    for name in COMPARISON_FIGURES:
        module, function = name.split(":")
        written.append(getattr(importlib.import_module(module), function)(finished, out))

    console = Console(width=max(Console().width, 120))
    for task, rows, own_keys, metric in tables:
        trained = sum(row["runs"] for row in rows if row["model"] not in CLASSICAL.values())
        table = Table(title=f"{trained} finished {task.name.replace('_', ' ')} runs under "
                            f"{logdir}, grouped by every setting but the seed")
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
    console.print(f"wrote {out / 'comparison.md'}, " + ", ".join(path.name for path in written[1:] if path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
