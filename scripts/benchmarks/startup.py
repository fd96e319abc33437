"""`python scripts/benchmark.py startup`: the whole inference commands against importing torch, side by side.

A tiny CNN on MNIST-1D and a tiny bigram language model (`model=linear`) are trained first (the weights do not change
the cost). Then three commands run as processes, as a user types them, round after round, their order rotating each
round so a busy moment of the machine falls on all alike: `python -c "import torch"`, `zoo-predict` on 8 raw test
signals (a .npy file) and `zoo-generate` of 200 characters. Each is run once untimed first (the file system's cache,
and Python's bytecode cache where the environment lets it write one). The ratio is the median over rounds of each
command's time over importing torch in the same round; the target (issue 25) is zoo-predict within 1.5x.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import MEASURED, REPO, TINY_RUN, run_zoo

TARGET = 1.5  # zoo-predict's whole command over `python -c "import torch"`
INPUTS, LENGTH = 8, 200


def command(name: str) -> list[str]:
    """The console script installed beside this Python (zoo-predict), else `python -m zoo.<module>`."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.is_file() else [sys.executable, "-m", f"zoo.{name.removeprefix('zoo-')}"]


def timed(arguments: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(arguments, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
    return seconds


def run(args, work: Path) -> str:
    import numpy as np

    from zoo.data.mnist1d import MNIST1D

    classifier, _ = run_zoo(["model=cnn", "task.views=null", *TINY_RUN], work / "cnn", args.verbose)
    language_model, _ = run_zoo(["data=text", "model=linear", *TINY_RUN], work / "text", args.verbose)
    with np.load(MNIST1D(name="mnist1d", data_dir=str(work / "data")).cache_path) as data:
        np.save(work / "signals.npy", data["x_test"][:INPUTS].astype(np.float32))
    run_of = {
        name: Path(result["best_checkpoint"]).parent.parent
        for name, result in (("cnn", classifier), ("text", language_model))
    }
    sides = {
        '`python -c "import torch"`': [sys.executable, "-c", "import torch"],
        f"`zoo-predict ckpt=<cnn run> input=signals.npy` ({INPUTS} signals)": [
            *command("zoo-predict"),
            f"ckpt={run_of['cnn']}",
            f"input={work / 'signals.npy'}",
            f"output={work / 'predictions.csv'}",
        ],
        f"`zoo-generate ckpt=<linear text run> length={LENGTH}`": [
            *command("zoo-generate"),
            f"ckpt={run_of['text']}",
            f"length={LENGTH}",
        ],
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    for arguments in [] if args.quick else sides.values():  # warm-up, untimed
        timed(arguments, env)
    rounds = 1 if args.quick else max(args.repeats, 1)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            seconds[name].append(timed(sides[name], env))
    torch_times = seconds[names[0]]
    bytecode = "not written (PYTHONDONTWRITEBYTECODE set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "written"
    lines = [
        f"{rounds} round(s), order rotating; Python's bytecode cache {bytecode}; wall time of each whole process.",
        "",
        "| command | median s | min-max s | against importing torch (median of rounds) |",
        "|---|---|---|---|",
    ]
    ratios = {}
    for name in names:
        ratios[name] = statistics.median(t / base for t, base in zip(seconds[name], torch_times, strict=True))
        lines.append(
            f"| {name} | {statistics.median(seconds[name]):.2f} | {min(seconds[name]):.2f}-{max(seconds[name]):.2f} "
            f"| {ratios[name]:.2f}x |"
        )
    predict = ratios[names[1]]
    met = predict <= TARGET
    lines += ["", f"- zoo-predict / import torch: {predict:.2f}x (target <= {TARGET}x: {'met' if met else 'missed'})"]
    MEASURED[f'zoo-predict on {INPUTS} inputs, whole command, against `python -c "import torch"`'] = (
        f"{predict:.2f}x",
        f"<= {TARGET}x",
        met,
    )
    return "\n".join(lines)
