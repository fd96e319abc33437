"""Which differences between configurations are noise: runs that differ only by their test fold (`data.fold`) and
seed are one configuration, scored once per fold (its seeds averaged), and the configurations of one data set, the
classical baselines among them, are ranked and tested against the best on the same folds (zoo.compare.statistics).

A comparison (`Panel`) holds one task's configurations on one data set and one fold scheme (`data.folds`,
`data.repeats`): the paired test needs the same test rows on both sides. Runs without folds, repeated over seeds on
one split, are compared over their seeds, which measures the training's noise only (the sentence says so).
"""

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from zoo.compare.statistics import Ranked, holdout_ratio, number, rank, verdict
from zoo.files import write_text_atomically
from zoo.runs.grouping import distinguishing_keys, group_runs, score_columns, setting_text, task_of
from zoo.views.baselines import CLASSICAL

# What tells one comparison's data apart from another's: the data set, and a user's file and column.
DATA_KEYS = ("data", "data.path", "data.target")


@dataclass
class Panel:
    """One task's configurations on one data set and fold scheme: their scores per fold (or seed), ranked."""

    task: Any  # a zoo.tasks Task class
    data: dict  # the DATA_KEYS' values
    folds: int  # data.folds (0: one test split, repeated over seeds)
    repeats: int
    scores: dict[str, dict] = field(default_factory=dict)  # configuration -> {fold or seed: score}
    runs: dict[str, list[dict]] = field(default_factory=dict)  # configuration -> its runs (none for a baseline)
    settings: dict[str, dict] = field(default_factory=dict)  # configuration -> its HPARAMS settings
    ranked: list[Ranked] = field(default_factory=list)
    sentence: str = ""

    @property
    def score(self) -> str:
        return score_columns(self.task)[0]

    @property
    def title(self) -> str:
        path, target = (self.data.get(key) for key in ("data.path", "data.target"))
        where = Path(str(path)).name if path not in (None, "-") else str(self.data.get("data"))
        if target not in (None, "-"):
            where += f", target {str(target)!r}"
        scheme = (
            f"{self.folds}-fold cross-validation" + (f" x {self.repeats}" if self.repeats > 1 else "")
            if self.folds
            else "one test split, over seeds"
        )
        lower = ", lower is better" if self.task.mode == "min" else ""
        return f"{where}: {self.score.replace('_', ' ')} ({scheme}{lower})"

    def is_baseline(self, name: str) -> bool:
        return not self.runs.get(name)


def panels(runs: list[dict]) -> list[Panel]:
    """Every comparison the finished `runs` make (see the module docstring), ranked, with its sentence."""
    found: dict[tuple, Panel] = {}
    for run in runs:
        hparams = run["hparams"]
        task = task_of(hparams)
        folds, repeats = int(hparams.get("data.folds") or 0), int(hparams.get("data.repeats") or 1)
        data = {key: hparams.get(key) for key in DATA_KEYS}
        key = (task.name, *data.values(), folds, repeats)
        found.setdefault(key, Panel(task, data, folds, repeats)).runs.setdefault("", []).append(run)
    result = []
    for panel in found.values():
        members = panel.runs.pop("")
        groups = group_runs(members)
        shown = keys_within_models(groups)
        for config, group in groups:
            name = " ".join([setting_text(config.get("model"))] + [f"{k}={setting_text(config.get(k))}" for k in shown])
            panel.runs[name], panel.settings[name] = group, config
            panel.scores[name] = averaged([(repeat_of(run, panel.folds), run[panel.score]) for run in group])
        for short, title in CLASSICAL.items():
            values = [
                (repeat_of(run, panel.folds), run["classical"][short]) for run in members if short in run["classical"]
            ]
            if values:
                panel.scores[title] = averaged(values)
        if max(len(scores) for scores in panel.scores.values()) < 2:
            continue  # one run per configuration: nothing to say about noise
        panel.ranked = rank(panel.scores, panel.task.mode, holdout_ratio(panel.folds))
        panel.sentence = verdict(panel.ranked, folds=bool(panel.folds))
        result.append(panel)
    return result


def keys_within_models(groups: list[tuple[dict, list[dict]]]) -> list[str]:
    """The settings that tell apart configurations of one model: what a row's name gives beside the model (a setting
    that differs only from model to model, such as each family's budget, goes without saying)."""
    models = {config.get("model") for config, _ in groups}
    return [
        key
        for key in distinguishing_keys(groups)
        if any(len({config.get(key) for config, _ in groups if config.get("model") == model}) > 1 for model in models)
    ]


def repeat_of(run: dict, folds: int) -> int:
    """What a run repeats its configuration over: its test fold, or without folds, its seed."""
    return int(run["hparams"].get("data.fold" if folds else "seed") or 0)


def averaged(values: list[tuple[int, float | None]]) -> dict[int, float]:
    """{fold: the mean of its scores} (several seeds on one fold average to one score)."""
    by_fold: dict[int, list[float]] = {}
    for fold, value in values:
        if value is not None:
            by_fold.setdefault(fold, []).append(value)
    return {fold: statistics.fmean(scores) for fold, scores in sorted(by_fold.items())}


HEADERS = ["rank", "configuration", "folds", "mean", "sd", "95% interval", "p vs best", ""]
SAID = {"best": "best", "tied": "not distinguishable", "worse": "worse", "untested": "too few common folds"}


def cells(panel: Panel, row: Ranked) -> list[str]:
    interval = row.interval
    return [
        str(row.rank),
        row.name,
        str(interval.count),
        number(interval.mean),
        number(interval.sd) if interval.sd is not None else "-",
        "-" if interval.low is None or interval.high is None else f"{number(interval.low)} to {number(interval.high)}",
        "-" if row.p_value is None else f"{row.p_value:.3f}",
        SAID[row.verdict],
    ]


def print_panels(console: Console, found: list[Panel]) -> None:
    for panel in found:
        table = Table(title=panel.title)
        for header in HEADERS:
            table.add_column(header, justify="left" if header in ("configuration", "") else "right", no_wrap=True)
        for row in panel.ranked:
            table.add_row(*cells(panel, row), style="bold" if row.verdict == "best" else None)
        console.print(table)
        console.print(panel.sentence)


def write_markdown(found: list[Panel], path: Path) -> None:
    lines: list[str] = []
    for panel in found:
        lines += [f"## {panel.title}", "", "| " + " | ".join([*HEADERS[:-1], "verdict"]) + " |"]
        lines.append("|" + "---|" * len(HEADERS))
        lines += ["| " + " | ".join(cells(panel, row)) + " |" for row in panel.ranked]
        lines += ["", panel.sentence, ""]
    write_text_atomically(path, "\n".join(lines))
