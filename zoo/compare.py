"""zoo-compare: compare finished runs from their TensorBoard event files, without re-training.

Groups runs by data set and model and writes one table (printed, Markdown, CSV) and one plot of a
metric's curves per model, the mean over seeds with the spread shaded.

    zoo-compare [--logdir logs/tensorboard] [--data mnist1d] [--model cnn rnn] [--metric val/acc] [--out DIR]
"""

import argparse
import csv
import statistics
import sys
from pathlib import Path

from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Table column -> the scalar tags that hold it, newest layout first (hp/ tags came with the HPARAMS table).
COLUMNS = {
    "test_acc": ["hp/test_acc", "test/acc"],
    "val_acc_best": ["hp/val_acc_best", "val/acc_best"],
    "params": ["hp/params"],
    "train_time_s": ["hp/train_time_s"],
    "samples_per_s": ["hp/samples_per_s"],
}


def run_dirs(logdir: Path) -> list[Path]:
    return sorted({path.parent for path in logdir.rglob("events.out.tfevents.*")})


def read_run(run_dir: Path, logdir: Path, metric: str) -> dict:
    """One run's final values and `metric` curve. Runs lie at <data>/<model>/<run> under the root."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    parts = run_dir.relative_to(logdir).parts
    record = {"run": "/".join(parts), "data": parts[0] if len(parts) >= 3 else "?",
              "model": parts[1] if len(parts) >= 3 else "?"}
    for column, candidates in COLUMNS.items():
        found = next((tag for tag in candidates if tag in tags), None)
        record[column] = events.Scalars(found)[-1].value if found else None
    record["curve"] = [(s.step, s.value) for s in events.Scalars(metric)] if metric in tags else []
    record["final"] = record["curve"][-1][1] if record["curve"] else None
    return record


def mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) > 1 else 0.0 if values else None


def summarize(runs: list[dict]) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["data"], run["model"]), []).append(run)
    rows = []
    for (data, model), members in sorted(groups.items()):
        accs = [m["test_acc"] for m in members]
        rows.append({"data": data, "model": model, "runs": len(members), "test_acc_mean": mean(accs),
                     "test_acc_std": spread(accs), "val_acc_best_mean": mean(m["val_acc_best"] for m in members),
                     "params": mean(m["params"] for m in members),
                     "train_time_s_mean": mean(m["train_time_s"] for m in members),
                     "samples_per_s_mean": mean(m["samples_per_s"] for m in members),
                     "final_metric_mean": mean(m["final"] for m in members)})
    return rows


def text(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def headers(metric: str) -> list[str]:
    return ["data", "model", "runs", "test acc", "± std", "val best", "params", "time (s)", "samples/s",
            f"final {metric}"]


def cells(row: dict) -> list[str]:
    return [row["data"], row["model"], str(row["runs"]), text(row["test_acc_mean"]), text(row["test_acc_std"]),
            text(row["val_acc_best_mean"]), text(row["params"]), text(row["train_time_s_mean"], 1),
            text(row["samples_per_s_mean"]), text(row["final_metric_mean"])]


def write_markdown(rows: list[dict], metric: str, path: Path) -> None:
    lines = ["| " + " | ".join(headers(metric)) + " |", "|" + "---|" * len(headers(metric))]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(runs: list[dict], metric: str, path: Path) -> None:
    """One panel per data set; per model the mean curve over its runs, shaded from min to max."""
    datasets = sorted({run["data"] for run in runs})
    figure = Figure(figsize=(6.5 * len(datasets), 4.5))
    for index, data in enumerate(datasets, start=1):
        axes = figure.add_subplot(1, len(datasets), index)
        for model in sorted({run["model"] for run in runs if run["data"] == data}):
            curves = [dict(run["curve"]) for run in runs if (run["data"], run["model"]) == (data, model)]
            steps = sorted(set.intersection(*(set(curve) for curve in curves)))
            if not steps:
                continue
            values = [[curve[step] for curve in curves] for step in steps]
            axes.plot(steps, [statistics.fmean(v) for v in values], label=f"{model} ({len(curves)})")
            axes.fill_between(steps, [min(v) for v in values], [max(v) for v in values], alpha=0.2)
        axes.set_title(data)
        axes.set_xlabel("training step")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs/tensorboard", help="the TensorBoard root to read")
    parser.add_argument("--data", nargs="*", help="only these data sets")
    parser.add_argument("--model", nargs="*", help="only these models")
    parser.add_argument("--metric", default="val/acc", help="the scalar whose curves are plotted (default val/acc)")
    parser.add_argument("--out", help="where to write comparison.md/.csv/.png (default: beside the logdir, compare/)")
    args = parser.parse_args(argv)

    logdir = Path(args.logdir)
    runs = [read_run(run_dir, logdir, args.metric) for run_dir in run_dirs(logdir)] if logdir.is_dir() else []
    runs = [run for run in runs if (not args.data or run["data"] in args.data)
            and (not args.model or run["model"] in args.model)]
    finished = [run for run in runs if run["test_acc"] is not None]
    if not finished:
        print(f"error: no finished zoo runs under {logdir}"
              + (f" for data {args.data}" if args.data else "") + (f" and models {args.model}" if args.model else "")
              + "; train some first, e.g. python train.py -m model=mlp,cnn", file=sys.stderr)
        return 1

    rows = summarize(finished)
    out = Path(args.out) if args.out else logdir.parent / "compare"
    out.mkdir(parents=True, exist_ok=True)
    write_markdown(rows, args.metric, out / "comparison.md")
    write_csv(rows, out / "comparison.csv")
    plot(finished, args.metric, out / "comparison.png")

    table = Table(title=f"{len(finished)} finished runs under {logdir}")
    for header in headers(args.metric):
        table.add_column(header, justify="left" if header in ("data", "model") else "right", no_wrap=True)
    for row in rows:
        table.add_row(*cells(row))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    if len(runs) > len(finished):
        console.print(f"left out {len(runs) - len(finished)} unfinished runs (no test metrics)")
    console.print(f"wrote {out / 'comparison.md'}, comparison.csv, comparison.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
