"""`python scripts/benchmark.py inference`: what an exported model costs to run, per family, side by side.

Each family trains a few steps on MNIST-1D (`python train.py model=<family>` with a tiny budget: the weights do
not change the cost), then `zoo-export` writes it as ONNX and as a torch.export program, checked against the
checkpoint. The same raw test signals then go through three runtimes in this one process: eager PyTorch (the
checkpoint's network behind its normalization, as zoo.load gives it, its input checks included, under
torch.no_grad), the torch.export program (`torch.export.load(...).module()`) and onnxruntime on the CPU with
as many threads as torch uses.
Batch-1 latency is the median of single calls; batch-256 throughput is 256 over the median time of a call.
The runtimes take turns, round after round, so a busy moment of the machine falls on all three alike.
"""

import contextlib
import io
import statistics
import time
from pathlib import Path

from benchmarks.common import TINY_RUN, run_zoo

TINY = [*TINY_RUN, "task.views=null"]
FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]


def runtimes(folder: Path, run_dir: Path) -> dict:
    import onnxruntime
    import torch

    import zoo

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    eager = zoo.load(run_dir)
    program = torch.export.load(folder / "model.pt2").module()
    return {
        "eager": lambda x: eager(torch.from_numpy(x)),
        "torch.export": lambda x: program(torch.from_numpy(x)),
        "onnxruntime": lambda x: session.run(None, {"inputs": x})[0],
    }


def median_seconds(run, x, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args, work: Path) -> str:
    import numpy as np
    import torch

    from zoo.data.mnist1d import MNIST1D
    from zoo.export.command import export

    rounds, calls = (2, 5) if args.quick else (args.repeats, 200)
    lines = [
        f"Torch threads: {torch.get_num_threads()} (onnxruntime: the same). Median of {calls} calls a round, "
        f"{rounds} rounds; the rows' figures are the median over rounds.",
        "",
        "| family | params | batch-1 latency, ms: eager / torch.export / onnxruntime | "
        "batch-256 samples/s: eager / torch.export / onnxruntime |",
        "|---|---|---|---|",
    ]
    for family in args.families or (FAMILIES[:1] if args.quick else FAMILIES):  # test_export exports every family
        result, _ = run_zoo([f"model={family}", *TINY], work / family, args.verbose)
        run_dir = Path(result["best_checkpoint"]).parent.parent
        with contextlib.redirect_stdout(io.StringIO()):  # its checks pass or it raises: the table is the output
            folder = export(str(run_dir), ["onnx", "torch"], str(work / family / "export"))
        with np.load(MNIST1D(name="mnist1d", data_dir=str(work / "data")).cache_path) as data:
            signals = data["x_test"][:256, None, :].astype(np.float32)
        sides = runtimes(folder, run_dir)
        latency = {name: [] for name in sides}
        throughput = {name: [] for name in sides}
        with torch.no_grad():
            for run in sides.values():  # warm-up: the first calls allocate and plan
                for _ in range(10):
                    run(signals[:1]), run(signals)
            for _ in range(rounds):
                for name, run in sides.items():
                    latency[name].append(median_seconds(run, signals[:1], calls) * 1000)
                    throughput[name].append(len(signals) / median_seconds(run, signals, max(calls // 10, 3)))
        ms = " / ".join(f"{statistics.median(latency[name]):.3f}" for name in sides)
        rate = " / ".join(f"{statistics.median(throughput[name]):,.0f}" for name in sides)
        lines.append(f"| {family} | {result['params']:,} | {ms} | {rate} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)
