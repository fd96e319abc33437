"""The GPU check (scripts/gpu_check.sh): every family on the GPU in bf16 mixed precision, compiled and not, zoo's
training step against the raw loop on the same device.

Each row trains `python train.py model=<family> trainer=gpu trainer.precision=bf16-mixed [trainer.compile=true]` on
MNIST-1D (zoo's `train(cfg)`, as the overhead section runs it) and the same network, optimizer and schedule in
overhead.py's hand-written loop under bf16 autocast (compiled where zoo's is), alternating, and reports the
milliseconds per step of each from the second epoch on, the ratio, the samples per second zoo measured and its
test accuracy. `--device cpu` runs the same rows on the CPU (trainer=cpu): a check of this script where no GPU is.
"""

import statistics
import sys
from pathlib import Path

from benchmarks.overhead import per_step, raw_inputs, raw_loop, zoo_timed

FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]


def run(args, work: Path) -> str:
    import torch

    device = "cpu" if args.device == "cpu" else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        return "No CUDA GPU on this machine: the GPU check needs one, nothing was run."
    epochs = 2 if args.quick else 3
    families = args.families or (["cnn"] if args.quick else FAMILIES)
    lines = [
        "| family | compiled | zoo ms/step | raw ms/step | zoo / raw (median) | zoo samples/s | test acc | compile s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for family in families:
        for compiled in (False,) if args.quick else (False, True):  # --quick: compiling takes a minute
            overrides = [
                f"model={family}",
                f"trainer={'gpu' if device == 'cuda' else 'cpu'}",
                "trainer.precision=bf16-mixed",
                f"trainer.compile={str(compiled).lower()}",
                f"trainer.max_epochs={epochs}",
                *(["++trainer.limit_train_batches=3", "logger=none"] if args.quick else []),
            ]
            zoo_times, raw_times, results = [], [], []
            for repeat in range(1 if args.quick else args.repeats):
                tag = f"{family}_{'compiled' if compiled else 'eager'}_{repeat}"
                sides = ["zoo", "raw"] if repeat % 2 == 0 else ["raw", "zoo"]
                for side in sides:
                    if side == "zoo":
                        timed = zoo_timed(overrides, work / f"zoo_{tag}", args.verbose)
                        zoo_times.append(per_step(timed["steps"], timed["end"], timed["epoch_starts"]))
                        results.append(timed["result"])
                    else:
                        net, splits, cfg = raw_inputs(overrides, work / f"raw_{tag}", torch.device(device))
                        if compiled:
                            net.compile()
                        steps = 3 if args.quick else len(splits["train"][0]) // cfg.data.batch_size
                        timed = raw_loop(net, splits, cfg, epochs, steps, precision="bf16-mixed")
                        raw_times.append(per_step(timed["steps"], timed["end"], timed["epoch_starts"]))
            ratio = statistics.median(z / r for z, r in zip(zoo_times, raw_times, strict=True))
            compile_s = [result["compile_s"] for result in results if result.get("compile_s") is not None]
            print(f"  {family} compiled={compiled}: zoo / raw {ratio:.2f}", file=sys.stderr, flush=True)
            compile_cell = f"{statistics.median(compile_s):.0f}" if compile_s else "-"
            lines.append(
                f"| {family} | {'yes' if compiled else 'no'} | {1e3 * statistics.median(zoo_times):.2f} | "
                f"{1e3 * statistics.median(raw_times):.2f} | {ratio:.2f} | "
                f"{statistics.median(result['samples_per_s'] for result in results):,.0f} | "
                f"{statistics.median(result['test/acc'] for result in results):.4f} | {compile_cell} |"
            )
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    lines += [
        "",
        f"On {name}: MNIST-1D, {epochs} epochs a run (the first not timed), bf16-mixed, each family's own batch.",
    ]
    return "\n".join(lines)
