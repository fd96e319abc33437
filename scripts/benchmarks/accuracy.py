"""Accuracy on MNIST-1D: the paper's presets, then zoo's defaults (scripts/benchmark.py's docstring says how)."""

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
    seeds = list(range(args.seeds))
    extra = QUICK if args.quick else []
    tables, default_walls = [], []
    for title, rows, with_target in [
        ("The MNIST-1D paper's recipe and models (`experiment=paper_*`)", PAPER_ROWS, False),
        ("zoo's defaults (no experiment preset)", DEFAULT_ROWS, True),
    ]:
        if args.table and args.table != ("defaults" if with_target else "paper"):
            continue
        wall_header = (
            f"whole command s per run (train s), target <= {DEFAULT_WALL_TARGET}"
            if with_target
            else "wall s per run (train s)"
        )
        lines = [
            f"#### {title}",
            "",
            "| model | command | split (train/val/test) | paper test acc % | "
            + ("target % | " if with_target else "")
            + f"zoo test acc % (mean ± sd, min-max) | seeds | {wall_header} |",
            "|---|---|---|---:|" + ("---:|" if with_target else "") + "---:|---:|---:|",
        ]
        for name, paper, target, overrides in rows:
            accs, walls, trains, split = [], [], [], ""
            for seed in seeds:
                folder = work / f"{overrides[0]}_{seed}".replace("=", "-")
                if with_target:
                    result, wall, _ = train_py_run(
                        [*overrides, f"seed={seed}", *extra], folder, args.verbose, args.threads
                    )
                else:
                    result, wall = run_zoo([*overrides, f"seed={seed}", *extra], folder)
                accs.append(result["test/acc"])
                walls.append(wall)
                trains.append(result["train_time_s"])
                split = "/".join(str(result["samples"][stage]) for stage in ("train", "val", "test"))
                print(
                    f"  {name} {overrides[0]} seed {seed}: test acc {result['test/acc']:.4f}, {wall:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            verdict, wall_verdict = "", ""
            if target is not None:
                MEASURED[f"{name} defaults, test acc %, mean of {len(seeds)} seeds"] = (
                    f"{100 * statistics.mean(accs):.1f}",
                    f">= {target}",
                    100 * statistics.mean(accs) >= target,
                )
                default_walls += walls
                gap = 100 * statistics.mean(accs) - target
                verdict = f"{target} ({'met' if gap >= 0 else f'missed by {-gap:.1f}'}) | "
                wall_verdict = " (met)" if max(walls) <= DEFAULT_WALL_TARGET else " (missed)"
            lines.append(
                f"| {name} | `{command(overrides)}` | {split} | {paper if paper is not None else '-'} | {verdict}"
                f"{spread(accs)} | {len(seeds)} | {statistics.mean(walls):.1f} ({statistics.mean(trains):.1f})"
                f"{wall_verdict} |"
            )
        tables.append("\n".join(lines))
    if default_walls:
        threads = f"{args.threads} torch thread(s)" if args.threads else "torch's default threads"
        MEASURED[f"whole command per default run (MNIST-1D), 2 CPU cores, {threads}"] = (
            f"{min(default_walls):.0f}-{max(default_walls):.0f} s",
            f"<= {DEFAULT_WALL_TARGET} s each",
            max(default_walls) <= DEFAULT_WALL_TARGET,
        )
    return "\n\n".join(tables)
