"""Accuracy on MNIST-1D: the paper's presets, then zoo's defaults (scripts/benchmark.py's docstring says how)."""

import shutil
import statistics
import sys
from pathlib import Path

from benchmarks.common import MEASURED, QUICK, command, run_zoo, spread, train_py_run

# (row, the MNIST-1D paper's test accuracy in %, the target for zoo's defaults in %, train.py overrides)
PAPER_ROWS = [
    ("logistic regression", 32, None, ["experiment=paper_linear"]),
    ("MLP", 68, None, ["experiment=paper_mlp"]),
    ("CNN", 94, None, ["experiment=paper_cnn"]),
    ("GRU", 91, None, ["experiment=paper_gru"]),
]


DEFAULT_ROWS = [
    ("MLP", 68, 75, ["model=mlp"]),
    ("CNN", 94, 98.5, ["model=cnn"]),
    ("GRU", 91, 95, ["model=rnn"]),
    ("transformer", None, 95, ["model=transformer"]),
]


# The most seconds a default run may take, the whole `python train.py model=...` command on 2 CPU cores.
DEFAULT_WALL_TARGET = 60


def run(args, work: Path) -> str:
    """The paper's presets run in this process (`train(cfg)`, wall time without the interpreter's start-up); zoo's
    defaults run as a user runs them, `python train.py model=...` in a subprocess, whose wall time is the whole
    command's: start-up, training, testing and every view."""
    tables = []
    if args.table in (None, "paper"):
        tables.append(paper_table(args, work))
    if args.table in (None, "defaults"):
        tables.append(defaults_table(args, work))
    return "\n\n".join(tables)


def paper_table(args, work: Path) -> str:
    seeds = list(range(args.seeds))
    lines = [
        "#### The MNIST-1D paper's recipe and models (`experiment=paper_*`)",
        "",
        "| model | command | split (train/val/test) | paper test acc % | zoo test acc % (mean ± sd, min-max) | seeds "
        "| wall s per run (train s) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, paper, _, overrides in PAPER_ROWS:
        results, walls = [], []
        for seed in seeds:
            folder = work / f"{overrides[0]}_{seed}".replace("=", "-")
            result, wall = run_zoo([*overrides, f"seed={seed}", *(QUICK if args.quick else [])], folder)
            results.append(result)
            walls.append(wall)
            print(f"  {name} {overrides[0]} seed {seed}: test acc {result['test/acc']:.4f}", file=sys.stderr)
        split = "/".join(str(results[0]["samples"][stage]) for stage in ("train", "val", "test"))
        trains = [result["train_time_s"] for result in results]
        lines.append(
            f"| {name} | `{command(overrides)}` | {split} | {paper} | {spread([r['test/acc'] for r in results])} | "
            f"{len(seeds)} | {statistics.mean(walls):.1f} ({statistics.mean(trains):.1f}) |"
        )
    return "\n".join(lines)


def defaults_table(args, work: Path) -> str:
    """Each default row is the README's command, `python train.py model=<family> seed=<s>` (seed 0 is the plain
    command), run twice: with torch's default threads, as a user runs it, and with one (OMP_NUM_THREADS=1), whose
    float sums go in another order and so train another trajectory. The data is generated afresh by the first run:
    nothing cached before the benchmark is used."""
    shutil.rmtree(work / "data", ignore_errors=True)
    seeds = list(range(args.seeds))
    lines = [
        "#### zoo's defaults (no experiment preset)",
        "",
        "| model | command | split (train/val/test) | paper test acc % | target % | test acc %, default threads "
        "| test acc %, 1 thread | seeds | whole command s per run, default threads / 1 thread (max), target "
        f"<= {DEFAULT_WALL_TARGET} |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    walls: dict[int, list[float]] = {0: [], 1: []}
    for name, paper, target, overrides in DEFAULT_ROWS[:1] if args.quick else DEFAULT_ROWS:  # --quick: the first
        accs: dict[int, list[float]] = {0: [], 1: []}
        row_walls: dict[int, list[float]] = {0: [], 1: []}
        split = ""
        for threads in (0, 1):
            for seed in seeds:
                folder = work / f"{overrides[0]}_{seed}_threads-{threads or 'default'}".replace("=", "-")
                seeded = [*overrides, *([f"seed={seed}"] if seed else []), *(QUICK if args.quick else [])]
                result, wall, _ = train_py_run(seeded, folder, args.verbose, threads)
                accs[threads].append(result["test/acc"])
                row_walls[threads].append(wall)
                split = "/".join(str(result["samples"][stage]) for stage in ("train", "val", "test"))
                print(
                    f"  {name} {overrides[0]} seed {seed}, {threads or 'default'} thread(s): test acc "
                    f"{result['test/acc']:.4f}, {wall:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            walls[threads] += row_walls[threads]
        means = {threads: 100 * statistics.mean(values) for threads, values in accs.items()}
        met = min(means.values()) >= target
        MEASURED[f"{name} defaults (`{command(overrides)}`), test acc %, mean of seeds 0-{len(seeds) - 1}"] = (
            f"{means[0]:.1f} (default threads) / {means[1]:.1f} (1 thread)",
            f">= {target} at both",
            met,
        )
        verdict = "met" if met else f"missed by {target - min(means.values()):.1f}"
        lines.append(
            f"| {name} | `{command(overrides)}` | {split} | {paper if paper is not None else '-'} | {target} "
            f"({verdict}) | {spread(accs[0])} | {spread(accs[1])} | {len(seeds)} | "
            f"{statistics.mean(row_walls[0]):.1f} / {statistics.mean(row_walls[1]):.1f} "
            f"({max(row_walls[0] + row_walls[1]):.1f}) |"
        )
    slowest = max(walls[0] + walls[1])
    MEASURED["whole command per default run (MNIST-1D), 2 CPU cores, default threads / 1 thread"] = (
        f"{min(walls[0]):.0f}-{max(walls[0]):.0f} s / {min(walls[1]):.0f}-{max(walls[1]):.0f} s",
        f"<= {DEFAULT_WALL_TARGET} s each",
        slowest <= DEFAULT_WALL_TARGET,
    )
    return "\n".join(lines)
