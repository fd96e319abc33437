"""What zoo-compare keeps of a comparison over folds (zoo.compare.noise): the forest plot (each configuration's mean
and 95% interval, one row per family and baseline) in `forest.png` and in TensorBoard, and `report.html`, one
self-contained page a user keeps: the verdict, what zoo noticed about the data, the protocol (folds, seeds, the
search budget), the table, the plot, the learning curves, the settings of each configuration and the commands that
reproduce them. Every figure is embedded in the page, so it travels as one file.

The page reads what the runs left in their folders (their data_checks.json and training command, found through each
run's run.json) and, where zoo-which ran the comparison, its protocol.json beside the runs' folder.
"""

import base64
import html
import io
import json
import shlex
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from rich.console import Console

from zoo.compare.noise import HEADERS, SAID, Panel, cells, panels, print_panels, write_markdown
from zoo.files import write_atomically, write_text_atomically
from zoo.runs.folder import Run
from zoo.runs.grouping import setting_text

COLOURS = {"best": "#1a7f37", "tied": "#0969da", "worse": "#8c959f", "untested": "#bf8700"}


def say_what_is_noise(finished: list[dict], logdir: Path, out: Path, console: Console) -> list[Path]:
    """zoo-compare's part on noise: each comparison's table and sentence printed, and noise.md, forest.png and
    report.html written into `out` (nothing where every configuration ran once); the files written."""
    found = panels(finished)
    if not found:
        console.print(
            "one run per configuration: nothing tells a real difference from noise; train every configuration on "
            "the same folds (data.folds=5 'data.fold=range(5)') or seeds, or run the whole protocol with zoo-which"
        )
        return []
    print_panels(console, found)
    write_markdown(found, out / "noise.md")
    return [out / "noise.md", *write_outputs(found, logdir, out)]


def forest_figure(found: list[Panel]) -> Figure:
    """One panel per comparison: each configuration's mean (dot) and 95% interval (line), best at the top, coloured
    by its verdict; the best mean as a dashed line."""
    heights = [max(2.0, 0.45 * len(panel.ranked) + 1.2) for panel in found]
    figure = Figure(figsize=(8, sum(heights)))
    grid = figure.add_gridspec(len(found), 1, height_ratios=heights)
    for index, panel in enumerate(found):
        axes = figure.add_subplot(grid[index])
        rows = panel.ranked
        for position, row in enumerate(rows):
            y = len(rows) - 1 - position
            colour = COLOURS[row.verdict]
            if row.interval.low is not None and row.interval.high is not None:
                axes.plot([row.interval.low, row.interval.high], [y, y], color=colour, linewidth=2)
            axes.plot([row.interval.mean], [y], "o", color=colour, markersize=7)
        axes.axvline(rows[0].interval.mean, color=COLOURS["best"], linestyle="--", linewidth=1, alpha=0.6)
        axes.set_yticks(range(len(rows)), [row.name for row in reversed(rows)])
        axes.set_title(panel.title, fontsize="medium")
        axes.set_xlabel(f"{panel.score.replace('_', ' ')}: mean and 95% interval")
        axes.grid(axis="x", alpha=0.3)
        for verdict, colour in COLOURS.items():
            if any(row.verdict == verdict for row in rows):
                axes.plot([], [], "o-", color=colour, label=SAID[verdict])
        axes.legend(fontsize="small", loc="best")
    figure.tight_layout()
    return figure


def curves_figure(found: list[Panel]) -> Figure:
    """Each configuration's validation curve (what its best checkpoint monitors, once an epoch), the mean over its
    folds epoch by epoch (folds of different sizes take different steps to an epoch)."""
    figure = Figure(figsize=(8, 3.6 * len(found)))
    for index, panel in enumerate(found, start=1):
        axes = figure.add_subplot(len(found), 1, index)
        for row in panel.ranked:
            curves = [[value for _, value in run["curve"]] for run in panel.runs.get(row.name, []) if run["curve"]]
            if curves:
                epochs = min(len(curve) for curve in curves)
                means = [sum(curve[epoch] for curve in curves) / len(curves) for epoch in range(epochs)]
                axes.plot(range(1, epochs + 1), means, marker="." if epochs < 20 else None, label=row.name)
        metrics = sorted({run["metric"] for runs in panel.runs.values() for run in runs})
        axes.set_title(panel.title, fontsize="medium")
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(", ".join(metrics) + " (mean over folds)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def write_outputs(found: list[Panel], logdir: Path, out: Path) -> list[Path]:
    """forest.png and report.html in `out`; the forest plot and the sentences in TensorBoard (`tensorboard_dir`)."""
    forest, curves = png(forest_figure(found)), png(curves_figure(found))
    write_atomically(out / "forest.png", lambda partial: partial.write_bytes(forest))
    log_to_tensorboard(found, forest, tensorboard_dir(logdir))
    write_text_atomically(out / "report.html", page(found, logdir, forest, curves))
    return [out / "forest.png", out / "report.html"]


def tensorboard_dir(logdir: Path) -> Path:
    """Where the comparison goes in TensorBoard: zoo-compare/ under the runs' TensorBoard root (zoo-compare reads no
    run from a folder of that name)."""
    root = logdir / "tensorboard" if (logdir / "tensorboard").is_dir() else logdir
    return root / "zoo-compare"


def log_to_tensorboard(found: list[Panel], forest: bytes, folder: Path) -> None:
    """IMAGES: the forest plot; TEXT: each comparison's sentence (a new step each time zoo-compare runs)."""
    import numpy as np
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    image = np.asarray(Image.open(io.BytesIO(forest)).convert("RGB"))
    step = len(list(folder.glob("events.out.tfevents.*"))) if folder.is_dir() else 0
    with SummaryWriter(str(folder)) as writer:
        writer.add_image("zoo-compare/forest", image, step, dataformats="HWC")
        for panel in found:
            writer.add_text(f"zoo-compare/{panel.title}", panel.sentence, step)


# --- the page -------------------------------------------------------------------------------------------------------
STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}td,th{border:1px solid #d0d7de;padding:.3rem .6rem}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}.verdict{font-size:1.1rem;
background:#f6f8fa;padding:.8rem 1rem;border-left:4px solid #1a7f37}.warning{color:#9a6700}
img{max-width:100%}code,pre{background:#f6f8fa;font-size:.85rem}pre{padding:.6rem;overflow-x:auto}"""


def page(found: list[Panel], logdir: Path, forest: bytes, curves: bytes) -> str:
    runs = run_folders(logdir)
    protocol = read_protocol(logdir)
    body = ["<h1>Which configuration for this data?</h1>"]
    body += [f'<p class="verdict">{html.escape(panel.sentence)}</p>' for panel in found]
    body += ["<h2>What zoo noticed about the data</h2>", notes_section(found, runs)]
    body += ["<h2>The protocol</h2>", protocol_section(found, protocol)]
    for panel in found:
        body += [f"<h2>{html.escape(panel.title)}</h2>", results_table(panel)]
    body += ["<h2>Means and 95% intervals</h2>", image(forest, "forest plot")]
    body += ["<h2>Learning curves</h2>", image(curves, "validation curves")]
    body += ["<h2>The settings of each configuration</h2>", settings_section(found, protocol)]
    body += ["<h2>To reproduce</h2>", commands_section(found, runs, protocol)]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>zoo: which configuration</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def image(data: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def run_folders(logdir: Path) -> dict[str, Run]:
    """Each run's folder by its TensorBoard folder (`<log_dir>/tensorboard/<name>`, as its run.json records)."""
    found = {}
    for record in logdir.rglob("run.json"):
        try:
            saved = json.loads(record.read_text())
            found[str((Path(saved["log_dir"]) / "tensorboard" / saved["name"]).resolve())] = Run(record.parent)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def read_protocol(logdir: Path) -> dict | None:
    """zoo-which's protocol.json, in the runs' folder or the one above it."""
    for folder in (logdir, logdir.parent):
        try:
            return json.loads((folder / "protocol.json").read_text())
        except (OSError, ValueError):
            continue
    return None


def notes_section(found: list[Panel], runs: dict[str, Run]) -> str:
    texts: dict[str, bool] = {}
    for panel in found:
        for members in panel.runs.values():
            for run in members:
                folder = runs.get(str(Path(run["run"]).resolve()))
                try:
                    notes = json.loads((folder.folder / "data_checks.json").read_text())["notes"] if folder else []
                except (OSError, ValueError, KeyError):
                    notes = []
                texts |= {note["text"]: bool(note.get("warning")) for note in notes}
    if not texts:
        return "<p>Nothing: no rows repeated across the splits, no identifier-like column, no one-feature leak.</p>"
    return (
        "<ul>"
        + "".join(
            f'<li class="{"warning" if warning else ""}">{html.escape(text)}</li>' for text, warning in texts.items()
        )
        + "</ul>"
    )


def protocol_section(found: list[Panel], protocol: dict | None) -> str:
    items = []
    for panel in found:
        seeds = sorted({int(run["hparams"].get("seed") or 0) for runs in panel.runs.values() for run in runs})
        scheme = (
            f"{panel.folds}-fold cross-validation"
            + (f", repeated {panel.repeats} times" if panel.repeats > 1 else "")
            + " (scikit-learn's RepeatedStratifiedKFold for classes, RepeatedKFold for a quantity); validation for "
            "early stopping and the best checkpoint drawn from each fold's training rows; every configuration and "
            "baseline tested on the same folds"
            if panel.folds
            else "one test split, the configurations repeated over seeds"
        )
        items.append(f"<li>{html.escape(panel.title)}: {scheme}; seeds {', '.join(map(str, seeds))}.</li>")
    interval = (
        "The interval is the corrected resampled t (Nadeau and Bengio, 2003): the variance of a mean over K folds is "
        "(1/K + 1/(K-1)) s², because the folds' training sets overlap and their scores are correlated, which makes "
        "the naive t interval too narrow; a bootstrap of a few correlated fold scores would be too. Each configuration "
        "is tested against the best by the paired corrected resampled t-test on their common folds, at the 5% level."
    )
    if protocol:
        budget = (
            f"Search budget (Grinsztajn et al., 2022): each family got its defaults and {protocol['trials']} random "
            f"settings, scored on the validation rows of fold 1's training part only (seed {protocol['seed']}); the "
            f"best of each family was then trained and tested on every fold."
            if protocol.get("trials")
            else "No search: every family with its defaults (zoo-which trials=0)."
        )
        items.append(f"<li>{html.escape(budget)}</li>")
    return "<ul>" + "".join(items) + f"<li>{html.escape(interval)}</li></ul>"


def results_table(panel: Panel) -> str:
    headers = [*HEADERS[:-1], "verdict"]
    rows = []
    for row in panel.ranked:
        values = cells(panel, row)
        rows.append(
            "<tr>"
            + "".join(
                f'<td class="{"n" if index not in (1, 7) else ""}">{html.escape(value)}</td>'
                for index, value in enumerate(values)
            )
            + "</tr>"
        )
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def settings_section(found: list[Panel], protocol: dict | None) -> str:
    parts = []
    if protocol and protocol.get("best"):
        rows = "".join(
            f"<tr><td>{html.escape(family)}</td><td><code>{html.escape(' '.join(best['overrides']) or '(defaults)')}"
            f"</code></td><td class='n'>{best['value']:.4g}</td></tr>"
            for family, best in protocol["best"].items()
        )
        parts.append(
            "<p>The best setting each family's search found (its validation score on fold 1):</p>"
            f"<table><tr><th>family</th><th>setting</th><th>validation</th></tr>{rows}</table>"
        )
    for panel in found:
        names = [row.name for row in panel.ranked if not panel.is_baseline(row.name)]
        keys = sorted(
            key
            for key in {key for name in names for key in panel.settings[name]}
            if len({str(panel.settings[name].get(key)) for name in names}) > 1 and key not in ("model",)
        )
        head = "".join(f"<th>{html.escape(key)}</th>" for key in ["configuration", *keys])
        rows = "".join(
            "<tr>"
            + f"<td>{html.escape(name)}</td>"
            + "".join(f"<td>{html.escape(setting_text(panel.settings[name].get(k)))}</td>" for k in keys)
            + "</tr>"
            for name in names
        )
        parts.append(f"<p>{html.escape(panel.title)}: the settings that differ</p><table><tr>{head}</tr>{rows}</table>")
    return "".join(parts)


def commands_section(found: list[Panel], runs: dict[str, Run], protocol: dict | None) -> str:
    lines = []
    if protocol:
        lines.append(protocol["command"])
    else:
        for panel in found:
            for row in panel.ranked:
                for run in panel.runs.get(row.name, [])[:1]:
                    folder = runs.get(str(Path(run["run"]).resolve()))
                    command = folder.training_command() if folder else None
                    if command:
                        lines.append(every_fold(command, panel.folds * panel.repeats))
    if not lines:
        return "<p>The runs' folders were not found under the folder compared.</p>"
    return "<pre>" + html.escape("\n".join(lines)) + "\nzoo-compare</pre>"


def every_fold(command: str, count: int) -> str:
    """A run's training command as the multirun over every fold (and its seed as it was)."""
    if not count:
        return command
    words = [word for word in shlex.split(command) if not word.startswith("data.fold=")]
    return " ".join([words[0], words[1], "-m", *map(shlex.quote, words[2:]), shlex.quote(f"data.fold=range({count})")])
