"""zoo-compare's outputs, each a plain function of grouped runs (zoo.runs.grouping): one table per task (printed,
Markdown, CSV), with the classical models a table's runs were measured against as rows of their own, and the curves
of each group, one panel per task and metric."""

import csv
import statistics
from pathlib import Path

from matplotlib.figure import Figure

from zoo.files import write_atomically, write_text_atomically
from zoo.runs.grouping import data_text, labels, mean, order, panel_title, score_columns, setting_text, spread
from zoo.views.baselines import CLASSICAL

Groups = list[tuple[dict, list[dict]]]
# What a row names its data by besides its `data` column (a user's file by its stem): the file and the column.
OWN_DATA = ("data.path", "data.target")


def shown_keys(groups: Groups, keys: list[str]) -> list[str]:
    """The settings a printed table names its rows by: `keys` (those that differ), less a file's path where the data
    column's stems already tell the files apart."""
    paths = {config.get("data.path") for config, _ in groups}
    stems = {data_text(config) for config, _ in groups}
    return [key for key in keys if key != "data.path" or len(stems) < len(paths)]


def summarize(groups: Groups, keys: list[str], task, columns: list[str] | None = None) -> list[dict]:
    """One row per group, all of one task, with the value of each setting in `columns` (default `keys`, those that
    tell the task's groups apart; the CSV gives every task's rows the columns of all). Classification rows are
    ordered by their settings; where lower is better (regression's RMSE, language models' bits per character) rows
    are ranked by their score within each data set."""
    columns = list(dict.fromkeys([*keys, *(columns or [])]))
    score, best = score_columns(task)
    rows = []
    for config, members in groups:
        scores = [m[score] for m in members]
        rows.append(
            {
                "task": task.name,
                "data": data_text(config),
                "model": config.get("model"),
                **{key: config.get(key) for key in columns},
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
    rows += classical_rows(groups, columns, task)
    # A user's data sets share a name (table, images): their file tells them apart.
    data = ["data", *(key for key in columns if key in OWN_DATA)]
    if task.mode == "min":
        return sorted(rows, key=lambda row: [order(row[key]) for key in data] + [order(row[f"{score}_mean"])])
    # Each data set's families by their settings, then the classical models it was measured against.
    return sorted(
        rows,
        key=lambda row: (
            [order(row[key]) for key in data]
            + [row["model"] in CLASSICAL.values()]
            + [order(row[key]) for key in ["model", *columns]]
        ),
    )


def fitted_on(run: dict) -> tuple:
    """Which training rows of its file a run's classical models were fitted on (zoo.data.table): the split does not
    change with the seed, but the part `data.train_fraction` keeps of it is drawn by the seed."""
    fraction = run["hparams"].get("data.train_fraction", 1.0)
    return (fraction, run["hparams"].get("seed") if fraction != 1 else None)


def classical_rows(groups: Groups, columns: list[str], task) -> list[dict]:
    """One row per data set and classical model its runs measured (tables: zoo.views.baselines), beside the
    families: whether any network beats gradient boosting on the user's data shows at once. A classical model is
    fitted once per set of training rows (`fitted_on`): the networks trained on the same rows count it once."""
    score, best = score_columns(task)
    own = [key for key in columns if key in OWN_DATA]  # which file and column they were fitted on
    runs_by_data: dict = {}
    for config, members in groups:
        key = (data_text(config), *(config.get(key) for key in own))
        runs_by_data.setdefault(key, []).extend(members)
    rows = []
    for (data, *values), members in runs_by_data.items():
        for name, title in CLASSICAL.items():
            fitted = {fitted_on(run): run["classical"][name] for run in members if name in run["classical"]}
            scores = list(fitted.values())  # one per set of training rows: the runs on the same rows share theirs
            if scores:
                rows.append(
                    {
                        "task": task.name,
                        "data": data,
                        "model": title,
                        **dict.fromkeys(columns),
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


def repeated(rows: list[dict]) -> bool:
    """Whether any row holds several runs: a table of single runs has no spread to show."""
    return any(row["runs"] > 1 for row in rows)


def headers(keys: list[str], metric: str, task, spread: bool = True) -> list[str]:
    """The columns of a task's table; "± std" only where `spread` (some row holds several runs)."""
    score, best = score_columns(task)
    lower = " (lower is better)" if task.mode == "min" else ""
    return [
        "data",
        "model",
        *keys,
        "runs",
        score.replace("_", " ") + lower,
        *["± std"] * spread,
        best.replace("_", " ") + lower,
        "params",
        "FLOPs/sample",
        "time (s)",
        "samples/s",
        f"final {metric}",
    ]


def cells(row: dict, keys: list[str], task, spread: bool = True) -> list[str]:
    """A row's cells under `headers`; the spread (where `spread`) is left empty where the row is a single run."""
    score, best = score_columns(task)
    deviation = text(row[f"{score}_std"]) if row[f"{score}_std"] is not None else ""
    return [setting_text(row[key]) for key in ["data", "model", *keys]] + [
        str(row["runs"]),
        text(row[f"{score}_mean"]),
        *[deviation] * spread,
        text(row[f"{best}_mean"]),
        text(row["params"], 0),
        si(row["flops_forward"]),
        text(row["train_time_s_mean"], 1),
        text(row["samples_per_s_mean"]),
        text(row["final_metric_mean"]),
    ]


def write_markdown(tables: list[tuple], path: Path) -> None:
    """One Markdown table per task, in the order given: (task, rows, keys, metric), each under its task's name."""
    lines: list[str] = []
    for task, rows, keys, metric in tables:
        if lines:
            lines.append("")
        lines += [
            f"**{task.name.replace('_', ' ')}**",
            "",
            "| " + " | ".join(headers(keys, metric, task, repeated(rows))) + " |",
            "|" + "---|" * len(headers(keys, metric, task, repeated(rows))),
        ]
        lines += ["| " + " | ".join(cells(row, keys, task, repeated(rows))) + " |" for row in rows]
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


def curves(runs: list[dict]) -> tuple[list[int], list[list[float]]] | None:
    """The steps every run of a group logged its curve at, and the runs' values at each; None where they share none."""
    logged = [dict(run["curve"]) for run in runs]
    steps = sorted(set.intersection(*(set(curve) for curve in logged)))
    return (steps, [[curve[step] for curve in logged] for step in steps]) if steps else None


def curves_figure(panels: list[tuple[str, str, Groups]], path: Path) -> None:
    """comparison.png: one panel per (title, metric, groups), never two metrics on one axis; in each, every group's
    mean curve over its runs (shaded from min to max where it has several), labelled by what tells it apart
    (zoo.runs.grouping.labels), the legend beside the panel."""
    figure = Figure(figsize=(10, 3.6 * len(panels)))
    for index, (title, metric, groups) in enumerate(panels, start=1):
        axes = figure.add_subplot(len(panels), 1, index)
        names = labels([config for config, _ in groups])
        for (_, runs), name in sorted(zip(groups, names, strict=True), key=lambda pair: pair[1]):
            drawn = curves(runs)
            if drawn is None:
                continue
            steps, values = drawn
            line = axes.plot(steps, [statistics.fmean(v) for v in values], label=name + runs_note(len(runs)))
            if len(runs) > 1:
                low, high = [min(v) for v in values], [max(v) for v in values]
                axes.fill_between(steps, low, high, alpha=0.2, color=line[0].get_color())
        axes.set_title(panel_title(title, [config for config, _ in groups]))
        axes.set_xlabel("training step")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    figure.tight_layout()
    write_atomically(path, lambda partial: figure.savefig(partial, format="png", dpi=100, bbox_inches="tight"))


def runs_note(runs: int) -> str:
    """What a legend adds to a group of several runs: their number (one run needs no note)."""
    return f" ({runs} runs)" if runs > 1 else ""
