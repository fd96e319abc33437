"""One run on 1 and 2 CPU processes (DDP), side by side."""

import contextlib
import os
import statistics
import sys
from pathlib import Path

from benchmarks.common import command, train_py_run

DEVICE_FAMILIES = ["cnn", "mlp"]


def run(args, work: Path) -> str:
    repeats = 1 if args.quick else args.repeats
    families = args.families or (DEVICE_FAMILIES[:1] if args.quick else DEVICE_FAMILIES)
    extra = (
        [
            "trainer.max_epochs=1",
            "++trainer.limit_train_batches=3",
            "++trainer.limit_test_batches=1",
            "task.views=null",
            "callbacks.compute_cost=null",
        ]
        if args.quick
        else []
    )
    sides = [("1 process", []), ("2 processes", ["trainer.devices=2", "trainer.strategy=ddp"])]
    lines = [
        "| family | processes | steps per epoch | training samples/s (median) | training s (median) | "
        "whole command s (median) | test acc (median) | 2 / 1 processes, samples/s, run by run |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    train_py_run(
        ["trainer=cpu", "trainer.max_epochs=1", "++trainer.limit_train_batches=2"], work / "warm-up", args.verbose
    )  # untimed: generates and caches the data
    for family in families:
        base = [f"model={family}", "trainer=cpu", *extra]
        runs = {side: [] for side, _ in sides}
        for repeat in range(repeats):
            for side, switches in sides if repeat % 2 == 0 else sides[::-1]:
                folder = work / f"{family}_{side.split()[0]}_{repeat}"
                runs[side].append(train_py_run([*base, *switches], folder, args.verbose))
            print(
                f"  devices {family} repeat {repeat}: "
                + ", ".join(f"{side} {runs[side][-1][0]['samples_per_s']:,.0f} samples/s" for side, _ in sides),
                file=sys.stderr,
                flush=True,
            )
        ratios = [two[0]["samples_per_s"] / one[0]["samples_per_s"] for one, two in zip(*runs.values(), strict=False)]
        for index, (side, switches) in enumerate(sides):

            def median(key, runs=runs, side=side):
                return statistics.median(run[0][key] for run in runs[side])

            steps = sorted({run[2] for run in runs[side]})
            lines.append(
                f"| {family} (`{command([*base, *switches])}`) | {side.split()[0]} | "
                f"{', '.join(map(str, steps))} | {median('samples_per_s'):,.0f} | {median('train_time_s'):.1f} | "
                f"{statistics.median(run[1] for run in runs[side]):.1f} | {median('test/acc'):.4f} | "
                + (", ".join(f"{ratio:.2f}" for ratio in ratios) if index else "")
                + " |"
            )
    with contextlib.suppress(OSError):
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        lines += ["", f"Load average when done (1, 5, 15 min): {load}; {repeats} repeats per side, alternating."]
    return "\n".join(lines)
