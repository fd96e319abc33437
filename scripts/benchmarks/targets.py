"""The targets' table, from what the sections of this invocation measured."""

from pathlib import Path

from benchmarks import accuracy, overhead, startup, streaming, text
from benchmarks.common import MEASURED


def run(args, work: Path) -> str:
    """Each target and what this invocation measured for it. `all` fills it from the sections it ran; `targets`
    alone runs what it needs: the defaults' accuracy table (every run at torch's default threads and at one), the
    overhead rows with a target and the start-up row, inference's start-up, and the best language model."""
    tables = []
    if args.which == "targets":
        args.table = "defaults"
        args.rows = [" ".join(overrides) for _, overrides, target in overhead.OVERHEAD_ROWS if target] + ["startup"]
        tables.append(accuracy.run(args, work / "accuracy"))
        tables.append(overhead.run(args, work / "overhead"))
        tables.append(startup.run(args, work / "startup"))
        args.families = args.families or [text.BEST_FAMILY]
        tables.append(text.run(args, work / "text"))
        args.rows = ["epoch"]  # streaming: the measure, one default epoch at 3,000 and 30,000 images
        tables.append(streaming.run(args, work / "streaming"))
    lines = [*(f"{table}\n" for table in tables), "| measure | now | target | |", "|---|---|---|---|"]
    for measure, (now, target, met) in MEASURED.items():
        lines.append(f"| {measure} | {now} | {target} | {'met' if met else 'missed'} |")
    return "\n".join(lines)
