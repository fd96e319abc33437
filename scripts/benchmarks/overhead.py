"""zoo's training loop against a raw PyTorch loop, and start-up (scripts/benchmark.py's docstring says how)."""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import MEASURED, REPO, compose, run_zoo


def per_step(starts: list[float], end: float, epoch_starts: list[int]) -> float:
    """Seconds per step from the first step of the second epoch (the first when there is one epoch) to the end."""
    first = epoch_starts[1] if len(epoch_starts) > 1 else 0
    return (end - starts[first]) / (len(starts) - first)


def raw_loop(net, splits: dict, cfg, epochs: int, steps: int, precision: str = "32-true") -> dict:
    """The hand-written loop: shuffle, slice, forward, cross-entropy, zero_grad, backward, step, the schedule's
    step; after each epoch, where the data has a validation split, its loss and accuracy in eval mode. The
    optimizer and schedule are zoo's, built from the same config; nothing else (no logging, no checkpoints).
    `precision` bf16-mixed runs forward and loss under autocast, as Lightning does."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate

    x, y = splits["train"]
    val = splits.get("val")
    batch_size, eval_batch_size = cfg.data.batch_size, cfg.data.get("eval_batch_size", 1024)
    optimizer = instantiate(cfg.optimizer)(params=net.parameters())
    scheduler = (
        instantiate(cfg.scheduler)(optimizer=optimizer, total_steps=epochs * steps) if cfg.get("scheduler") else None
    )
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    generator = torch.Generator().manual_seed(cfg.seed)
    # Read once: a DictConfig lookup every step was 1.4% of this loop's time (py-spy), which a hand-written loop
    # does not pay.
    label_smoothing = cfg.get("label_smoothing", 0.0)
    net.train()
    starts, epoch_starts = [], []
    for _ in range(epochs):
        epoch_starts.append(len(starts))
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(steps):
            starts.append(time.perf_counter())
            index = order[i * batch_size : (i + 1) * batch_size]
            with autocast:
                loss = F.cross_entropy(net(x[index]), y[index], label_smoothing=label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        if val is not None and len(val[0]):
            net.eval()
            with torch.no_grad(), autocast:
                total, correct = torch.zeros((), device=x.device), torch.zeros((), device=x.device)
                for i in range(0, len(val[0]), eval_batch_size):
                    logits = net(val[0][i : i + eval_batch_size])
                    total += F.cross_entropy(logits, val[1][i : i + eval_batch_size], reduction="sum")
                    correct += (logits.argmax(dim=1) == val[1][i : i + eval_batch_size]).sum()
                float(total / len(val[0])), float(correct / len(val[0]))  # wait for the values, as logging them would
            net.train()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return {"steps": starts, "end": time.perf_counter(), "epoch_starts": epoch_starts}


def zoo_timed(overrides: list[str], work: Path, verbose: bool) -> dict:
    timer = work / "steps.json"
    result, _ = run_zoo(
        [
            *overrides,
            "+callbacks.step_timer._target_=zoo.callbacks.loop.StepTimer",
            f"+callbacks.step_timer.path={timer}",
        ],
        work,
        verbose,
    )
    return {**json.loads(timer.read_text()), "result": result}


def raw_inputs(overrides: list[str], work: Path, device):
    """The model, the training and validation tensors and the config zoo would use, built without Lightning."""
    import lightning as L
    from hydra.utils import instantiate

    from zoo.training.build import build_network

    cfg = compose([*overrides, f"paths.log_dir={work}", f"paths.data_dir={work.parent / 'data'}"], work / "run")
    L.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate(cfg.data)
    net = build_network(cfg, datamodule).to(device)
    datamodule.setup("fit")
    splits = {
        name: tuple(t.to(device) for t in datamodule.splits[name])
        for name in ("train", "val")
        if name in datamodule.splits
    }
    return net, splits, cfg


def startup(overrides: list[str], work: Path) -> tuple[float, float, float]:
    """Seconds from launching `python train.py ...` to its first training step; the same for a hand-written
    script that imports torch and Lightning, loads the same cached data, builds the network in plain PyTorch
    and takes one step; and the seconds `python train.py model=nope` takes to fail with its one-line error."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    zoo_file, raw_file = work / "zoo_start.json", work / "raw_start.json"
    data_dir = work.parent / "data"
    launched = time.time()
    subprocess.run(
        [
            sys.executable,
            "train.py",
            *overrides,
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=2",
            f"paths.log_dir={work}",
            f"paths.data_dir={data_dir}",
            "+callbacks.step_timer._target_=zoo.callbacks.loop.StepTimer",
            f"+callbacks.step_timer.path={zoo_file}",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    zoo_start = json.loads(zoo_file.read_text())["started_at"] - launched
    cache = next((data_dir / "mnist1d").glob("mnist1d_*.npz"))
    launched = time.time()
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), "raw-startup", str(cache), str(raw_file)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    raw_start = json.loads(raw_file.read_text())["started_at"] - launched
    launched = time.perf_counter()
    failed = subprocess.run(
        [sys.executable, "train.py", "model=nope", f"paths.log_dir={work}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    error_s = time.perf_counter() - launched
    if failed.returncode != 2 or len(failed.stderr.strip().splitlines()) != 1:
        raise SystemExit(f"python train.py model=nope did not fail in one line:\n{failed.stderr[-2000:]}")
    return zoo_start, raw_start, error_s


def raw_startup(cache: str, out: str) -> None:
    """What a hand-written Lightning-era script does before its first step: import torch and Lightning, load the
    data, build a model; `started_at` is its first step."""
    import lightning  # noqa: F401  (unused: the issue's yardstick is a script that imports torch and Lightning)
    import numpy as np
    import torch
    from torch import nn

    data = np.load(cache)
    x = torch.from_numpy(data["x"]).float().unsqueeze(1)
    y = torch.from_numpy(data["y"]).long()
    x = (x - x.mean()) / x.std()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x, y = x.to(device), y.to(device)
    net = nn.Sequential(
        nn.Conv1d(1, 25, 5, 2, 2),
        nn.ReLU(),
        nn.Conv1d(25, 25, 3, 2, 1),
        nn.ReLU(),
        nn.Conv1d(25, 25, 3, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(125, 10),
    ).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    started_at = time.time()
    loss = nn.functional.cross_entropy(net(x[:100]), y[:100])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    Path(out).write_text(json.dumps({"started_at": started_at}))


# (row, train.py overrides, target for zoo / raw). The raw loop does the same work: the same network, optimizer
# and schedule, train mode, and a validation pass per epoch where the config has a validation split.
OVERHEAD_ROWS = [
    ("CNN", ["experiment=paper_cnn"], 1.3),
    ("CNN", ["model=cnn"], 1.3),
    ("MLP", ["experiment=paper_mlp"], None),
    ("CNN compiled", ["experiment=paper_cnn", "trainer.compile=true"], None),
]


# On a CUDA GPU, also bf16 mixed precision (zoo's trainer=gpu default; the raw loop under autocast).
CUDA_ROWS = [
    ("CNN bf16", ["experiment=paper_cnn", "trainer.precision=bf16-mixed"], None),
    ("CNN bf16", ["model=cnn", "trainer.precision=bf16-mixed"], None),
]


START_UP_TARGET = 1.2


def run(args, work: Path) -> str:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    epochs = 2 if args.quick else args.epochs
    repeats = 1 if args.quick else args.repeats
    rows = OVERHEAD_ROWS + (CUDA_ROWS if device.type == "cuda" else [])
    if args.rows:
        rows = [row for row in rows if " ".join(row[1]) in args.rows]
    lines = [
        "| model | zoo ms/step | raw ms/step | zoo / raw (median of pairs) | ratios, run by run | target | notes |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for name, row_overrides, target in rows:
        label = f"{name} (`{' '.join(row_overrides)}`)"
        compiled = "trainer.compile=true" in row_overrides
        if compiled and args.quick:
            lines.append(f"| {label} | - | - | - | skipped (--quick: compiling takes a minute) | - | - |")
            continue
        overrides = [*row_overrides, f"trainer.max_epochs={epochs}"]
        if args.quick:
            overrides.append("++trainer.limit_train_batches=3")
        tag = "_".join(row_overrides).replace("=", "-")
        zoo_times, raw_times, compile_s, batch = [], [], [], None
        for repeat in range(repeats):
            # The loop's values bound as defaults: each side runs in the repeat that defines it.
            def zoo_side(overrides=overrides, tag=tag, repeat=repeat, zoo_times=zoo_times, compile_s=compile_s):
                timed = zoo_timed(overrides, work / f"zoo_{tag}_{repeat}", args.verbose)
                zoo_times.append(per_step(timed["steps"], timed["end"], timed["epoch_starts"]))
                if timed["result"].get("compile_s") is not None:
                    compile_s.append(timed["result"]["compile_s"])

            def raw_side(overrides=overrides, tag=tag, repeat=repeat, compiled=compiled, raw_times=raw_times):
                nonlocal batch
                net, splits, cfg = raw_inputs(overrides, work / f"raw_{tag}_{repeat}", device)
                if compiled:
                    net.compile()
                batch = cfg.data.batch_size
                steps = 3 if args.quick else len(splits["train"][0]) // batch
                timed = raw_loop(net, splits, cfg, epochs, steps, precision=str(cfg.trainer.precision))
                raw_times.append(per_step(timed["steps"], timed["end"], timed["epoch_starts"]))

            for side in (zoo_side, raw_side) if repeat % 2 == 0 else (raw_side, zoo_side):  # alternate the order
                side()
            print(
                f"  {label} repeat {repeat}: zoo {1e3 * zoo_times[-1]:.2f} ms/step, raw {1e3 * raw_times[-1]:.2f} "
                f"ms/step",
                file=sys.stderr,
                flush=True,
            )
        ratios = [z / r for z, r in zip(zoo_times, raw_times, strict=False)]
        median = statistics.median(ratios)
        verdict = "-" if target is None else f"<= {target} " + ("(met)" if median <= target else "(missed)")
        if target is not None:
            MEASURED[
                f"training time per step against the hand-written loop, `{' '.join(row_overrides)}`, "
                f"{torch.get_num_threads()} thread(s)"
            ] = (f"{median:.2f}x", f"<= {target}x", median <= target)
        notes = [f"batch {batch}"] + (
            [f"compile {statistics.median(compile_s):.0f} s (zoo's first step)"] if compile_s else []
        )
        lines.append(
            f"| {label} | {1e3 * statistics.median(zoo_times):.2f} | {1e3 * statistics.median(raw_times):.2f} | "
            f"{median:.2f} | {', '.join(f'{r:.2f}' for r in ratios)} | {verdict} | {'; '.join(notes)} |"
        )
    where = (
        f"{device.type} ({torch.cuda.get_device_name(device)})"
        if device.type == "cuda"
        else f"{device.type} with {torch.get_num_threads()} torch threads"
    )
    lines += [
        "",
        f"Measured on {where}, {epochs} epochs (the first not timed), {repeats} repeats per side, "
        "alternating which side runs first.",
    ]

    if args.quick or (args.rows and "startup" not in args.rows):
        lines += ["", "Start-up: skipped" + (" (--quick)" if args.quick else " (--rows)") + "."]
        return "\n".join(lines)
    starts = [startup(["experiment=paper_cnn"], work / f"startup_{repeat}") for repeat in range(min(repeats, 3))]
    zoo_start, raw_start, error_s = (statistics.median(values) for values in zip(*starts, strict=False))
    ratio = statistics.median(z / r for z, r, _ in starts)
    MEASURED["command to first training step, against a plain script (torch, Lightning, cached data, one step)"] = (
        f"{ratio:.2f}x ({zoo_start:.1f} s / {raw_start:.1f} s)",
        f"<= {START_UP_TARGET}x",
        ratio <= START_UP_TARGET,
    )
    lines += [
        "",
        "| start-up | zoo s | raw s | zoo / raw (median of pairs) | target |",
        "|---|---:|---:|---:|---|",
        f"| `python train.py experiment=paper_cnn` to its first training step, against a script that imports "
        f"torch and Lightning, loads the cached data and takes one step | {zoo_start:.2f} | {raw_start:.2f} | "
        f"{ratio:.2f} | <= {START_UP_TARGET} ({'met' if ratio <= START_UP_TARGET else 'missed'}) |",
        f"| `python train.py model=nope` to its one-line error | {error_s:.2f} | - | - | - |",
        "",
        f"Start-up: median of {len(starts)} launches each.",
    ]
    return "\n".join(lines)
