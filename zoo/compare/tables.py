"""zoo-compare's outputs: one table per task (printed, Markdown, CSV), with the classical models a table's runs
were measured against as rows of their own, and the plot of each group's curve."""

import csv
import statistics
from pathlib import Path

from matplotlib.figure import Figure

from zoo.files import write_atomically, write_text_atomically
from zoo.runs.grouping import label, mean, order, score_columns, setting_text, spread
from zoo.views.baselines import CLASSICAL


def summarize(groups: list[tuple[dict, list[dict]]], keys: list[str], task) -> list[dict]:
    """One row per group, all of one task. Classification rows are ordered by their settings; language
    models are ranked by their score (lower bits per character first) within each data set."""
    score, best = score_columns(task)
    rows = []
    for config, members in groups:
        scores = [m[score] for m in members]
        rows.append(
            {
                "data": config.get("data"),
                "model": config.get("model"),
                **{key: config.get(key) for key in keys},
                "runs": len(members),
                f"{score}_mean": mean(scores),
                f"{score}_std": spread(scores),
                f"{best}_mean": mean(m[best] for m in members),
                "params": mean(m["params"] for m in members),
                "flops_forward": mean(m["flops_forward"] for m in members),
                "train_time_s_mean": mean(m["train_time_s"] for m in members),
                "samples_per_s_mean": mean(m["samples_per_s"] for m in members),
                "final_metric_mean": mean(m["final"] for m in members),
            }
        )
    rows += classical_rows(groups, keys, task)
    # A user's data sets share a name (table, images): their file tells them apart.
    data = ["data", *(key for key in keys if key in ("data.path", "data.target"))]
    if task.mode == "min":
        return sorted(rows, key=lambda row: [order(row[key]) for key in data] + [order(row[f"{score}_mean"])])
    # Each data set's families by their settings, then the classical models it was measured against.
    return sorted(
        rows,
        key=lambda row: (
            [order(row[key]) for key in data]
            + [row["model"] in CLASSICAL.values()]
            + [order(row[key]) for key in ["model", *keys]]
        ),
    )


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
                rows.append(
                    {
                        "data": data,
                        "model": title,
                        **dict.fromkeys(keys),
                        **dict(zip(own, values, strict=False)),
                        "runs": len(scores),
                        f"{score}_mean": mean(scores),
                        f"{score}_std": spread(scores),
                        f"{best}_mean": None,
                        "params": None,
                        "flops_forward": None,
                        "train_time_s_mean": None,
                        "samples_per_s_mean": None,
                        "final_metric_mean": None,
                    }
                )
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


def headers(keys: list[str], metric: str, task) -> list[str]:
    score, best = score_columns(task)
    lower = " (lower is better)" if task.mode == "min" else ""
    return [
        "data",
        "model",
        *keys,
        "runs",
        score.replace("_", " ") + lower,
        "± std",
        best.replace("_", " ") + lower,
        "params",
        "FLOPs/sample",
        "time (s)",
        "samples/s",
        f"final {metric}",
    ]


def cells(row: dict, keys: list[str], task) -> list[str]:
    score, best = score_columns(task)
    return [setting_text(row[key]) for key in ["data", "model", *keys]] + [
        str(row["runs"]),
        text(row[f"{score}_mean"]),
        text(row[f"{score}_std"]),
        text(row[f"{best}_mean"]),
        text(row["params"], 0),
        si(row["flops_forward"]),
        text(row["train_time_s_mean"], 1),
        text(row["samples_per_s_mean"]),
        text(row["final_metric_mean"]),
    ]


def write_markdown(tables: list[tuple], path: Path) -> None:
    """One Markdown table per task, in the order given: (task, rows, keys, metric)."""
    lines: list[str] = []
    for task, rows, keys, metric in tables:
        if lines:
            lines.append("")
        lines += [
            "| " + " | ".join(headers(keys, metric, task)) + " |",
            "|" + "---|" * len(headers(keys, metric, task)),
        ]
        lines += ["| " + " | ".join(cells(row, keys, task)) + " |" for row in rows]
    write_text_atomically(path, "\n".join(lines) + "\n")


def write_csv(rows: list[dict], path: Path) -> None:
    """Every row of every task; a column a task lacks is left empty in its rows."""
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))

    def write(partial: Path) -> None:
        with open(partial, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames, restval="")
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)


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
    write_atomically(path, lambda partial: figure.savefig(partial, format="png", dpi=100))
