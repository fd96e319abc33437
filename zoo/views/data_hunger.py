"""Data hunger: how test accuracy grows with the number of training samples, family by family.

Runs that differ in `data.train_fraction` (python train.py -m experiment=data_hunger) train for the same
steps on the same schedule, on nested stratified parts of the training split (zoo/data/base.py), so their
accuracies differ by the data alone. zoo-compare draws them with `compare_figure` into data_hunger.png.
"""

import statistics
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from zoo.files import write_atomically
from zoo.runs.grouping import data_text, labels, logged_value, order

# What tells the points of one line apart: the fraction (and so the number of samples) and the repeats.
POINT_KEYS = {"seed", "data.train_fraction"}


def train_samples(run: dict) -> float | None:
    """The number of samples the run trained on (its HPARAMS row's zoo/train_samples)."""
    return logged_value(run, "train_samples")


def compare_figure(runs: list[dict], out: Path) -> Path | None:
    """data_hunger.png: test accuracy against training samples (log scale), one panel per data set, one line
    per family (and per other setting that differs: zoo.runs.grouping.labels), the mean over seeds with min to max
    shaded where there are several. Drawn
    where the classification runs vary in `data.train_fraction`; else None."""
    measured = [
        (run, train_samples(run))
        for run in runs
        if run["hparams"].get("task", "classification") == "classification" and run.get("test_acc") is not None
    ]
    points = [(run, samples) for run, samples in measured if samples is not None]
    fractions: dict[str, set[float]] = {}  # the data sets whose runs vary in data.train_fraction: one panel each
    for run, _ in points:
        fractions.setdefault(data_text(run["hparams"]), set()).add(run["hparams"].get("data.train_fraction", 1.0))
    points = [(run, samples) for run, samples in points if len(fractions[data_text(run["hparams"])]) > 1]
    if not points:
        return None
    lines: dict[tuple, tuple[dict, dict[float, list[float]]]] = {}
    for run, samples in points:
        config = {key: value for key, value in run["hparams"].items() if key not in POINT_KEYS}
        line = lines.setdefault(tuple(sorted(config.items())), (config, {}))
        line[1].setdefault(samples, []).append(run["test_acc"])
    datasets = sorted({data_text(config) for config, _ in lines.values()}, key=order)
    figure = Figure(figsize=(7, 4.5 * len(datasets)))
    for index, data in enumerate(datasets, start=1):
        axes = figure.add_subplot(len(datasets), 1, index)
        members = [line for line in lines.values() if data_text(line[0]) == data]
        members.sort(key=lambda line: [order(line[0].get(key)) for key in ["model", *sorted(line[0])]])
        for (_, accuracies), text in zip(members, labels([config for config, _ in members]), strict=True):
            sizes = sorted(accuracies)
            seeds = max(len(values) for values in accuracies.values())
            axes.plot(
                sizes,
                [statistics.fmean(accuracies[size]) for size in sizes],
                marker="o",
                label=text + (f" ({seeds} runs)" if seeds > 1 else ""),
            )
            if seeds > 1:
                axes.fill_between(
                    sizes,
                    [min(accuracies[size]) for size in sizes],
                    [max(accuracies[size]) for size in sizes],
                    alpha=0.2,
                )
        axes.set_xscale("log")
        # the sample counts themselves as ticks: log scale's minor labels would crowd each other
        sizes = sorted({size for _, accuracies in members for size in accuracies})
        axes.set_xticks(sizes, [f"{size:,.0f}" for size in sizes])
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_title(f"{data}: test accuracy against training samples")
        axes.set_xlabel("training samples (zoo/train_samples)")
        axes.set_ylabel("test accuracy")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    figure.tight_layout()
    path = out / "data_hunger.png"
    write_atomically(path, lambda partial: figure.savefig(partial, format="png", dpi=80, bbox_inches="tight"))
    return path
