"""What the views (zoo/views/) add to a default run, on and off side by side."""

import contextlib
import os
import statistics
import sys
from pathlib import Path

from benchmarks.common import command, compose, run_zoo

VIEW_FAMILIES = ["cnn", "transformer"]


def views_off(overrides: list[str]) -> list[str]:
    """The overrides that switch every view off: the task's (`task.views=null`) and those that
    conf/callbacks/ builds from zoo.views."""
    cfg = compose(overrides, Path("unused"))
    names = [
        name
        for name, entry in (cfg.get("callbacks") or {}).items()
        if entry is not None and str(entry.get("_target_", "")).startswith("zoo.views.")
    ]
    return ["task.views=null"] * bool(cfg.task.get("views")) + [f"callbacks.{name}=null" for name in names]


def run(args, work: Path) -> str:
    repeats = 1 if args.quick else args.repeats
    families = args.families or (VIEW_FAMILIES[:1] if args.quick else VIEW_FAMILIES)
    # Quick: a few steps, but with TensorBoard, which the views draw into.
    extra = (
        ["trainer.max_epochs=1", "++trainer.limit_train_batches=3", "++trainer.limit_test_batches=1"]
        if args.quick
        else []
    )
    lines = [
        "| family | command | views off with | training s: on / off (medians) | training on / off (median of pairs) "
        "| ratios, run by run | seconds outside training: on - off (median) | whole run s: on / off (medians) |",
        "|---|---|---|---:|---:|---|---:|---:|",
    ]
    # Untimed: the first run in a process pays for imports (matplotlib, TensorBoard) that the views would be billed for.
    run_zoo(
        [
            f"model={families[0]}",
            "trainer.max_epochs=1",
            "++trainer.limit_train_batches=2",
            "++trainer.limit_test_batches=1",
        ],
        work / "warm-up",
        args.verbose,
    )
    for family in families:
        overrides = [f"model={family}", *extra]
        off = views_off(overrides)
        times = {"on": [], "off": []}
        for repeat in range(repeats):
            sides = [("on", []), ("off", off)]
            for side, switches in sides if repeat % 2 == 0 else sides[::-1]:  # alternate which goes first
                result, wall = run_zoo([*overrides, *switches], work / f"{family}_{side}_{repeat}", args.verbose)
                times[side].append((result["train_time_s"], wall))
            print(
                f"  views {family} repeat {repeat}: training on {times['on'][-1][0]:.1f} s, "
                f"off {times['off'][-1][0]:.1f} s; "
                f"whole run on {times['on'][-1][1]:.1f} s, off {times['off'][-1][1]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        ratios = [on[0] / off[0] for on, off in zip(times["on"], times["off"], strict=False)]
        outside = [(on[1] - on[0]) - (off[1] - off[0]) for on, off in zip(times["on"], times["off"], strict=False)]
        median = {side: [statistics.median(t[i] for t in times[side]) for i in (0, 1)] for side in times}
        lines.append(
            f"| {family} | `{command(overrides)}` | `{' '.join(off)}` | "
            f"{median['on'][0]:.1f} / {median['off'][0]:.1f} | "
            f"{statistics.median(ratios):.3f} | {', '.join(f'{r:.3f}' for r in ratios)} | "
            f"{statistics.median(outside):+.2f} | {median['on'][1]:.1f} / {median['off'][1]:.1f} |"
        )
    with contextlib.suppress(OSError):
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        lines += ["", f"Load average when done (1, 5, 15 min): {load}; {repeats} repeats per side, alternating."]
    return "\n".join(lines)
