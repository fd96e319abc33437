"""Issue 13's targets, from what the accuracy and overhead sections measure."""

from pathlib import Path

from benchmarks import accuracy, overhead
from benchmarks.common import MEASURED


def run(args, work: Path) -> str:
    """Issue 13's table: each target and what this invocation measured for it. `all` fills it from the sections
    it ran; `targets` alone runs what it needs: the defaults' accuracy table and the overhead rows with a target."""
    if args.which == "targets":
        args.table = "defaults"
        args.rows = [" ".join(overrides) for _, overrides, target in overhead.OVERHEAD_ROWS if target] + ["startup"]
        accuracy.run(args, work / "accuracy")
        overhead.run(args, work / "overhead")
    lines = ["| measure | now | target | |", "|---|---|---|---|"]
    for measure, (now, target, met) in MEASURED.items():
        lines.append(f"| {measure} | {now} | {target} | {'met' if met else 'missed'} |")
    return "\n".join(lines)
