"""Benchmarks of zoo, printed as Markdown tables (BENCHMARKS.md keeps the latest):

    python scripts/benchmark.py                       # every section below, then the targets' table
    python scripts/benchmark.py targets --threads 1   # issue 13's table alone: the defaults and the overhead rows
    python scripts/benchmark.py accuracy --seeds 3    # the MNIST-1D paper's table, then zoo's defaults
    python scripts/benchmark.py overhead --repeats 5  # zoo's training loop against a raw PyTorch loop
    python scripts/benchmark.py text --seeds 3        # language models: baselines, then every family's defaults
    python scripts/benchmark.py views --repeats 3     # what the views (zoo/views/) add to a default run
    python scripts/benchmark.py devices --repeats 3   # one run on 1 and on 2 CPU processes (DDP), side by side
    python scripts/benchmark.py inference --repeats 5 # exported models: eager, torch.export, onnxruntime
    python scripts/benchmark.py streaming             # an image folder in memory and streamed, 2k to 100k images
    python scripts/benchmark.py --quick               # a smoke test of the script: tiny budgets, meaningless numbers

Accuracy: every row is a real run. The paper's presets run `train(cfg)` in this process with the config
`python train.py ...` would compose (the command is printed beside it); wall time is that call's, from the
config to the tested model, without the interpreter's start-up. zoo's defaults run the user's command itself,
`python train.py model=...` in a subprocess, and its wall time is the whole command's, checked against the
minute a default run may take.

Overhead: in one process, run after run and alternating, the same model on the same data with the same
batch size, optimizer, schedule and number of steps, trained two ways: zoo's `train(cfg)` as a user runs it
(TensorBoard logger, checkpoints, progress bar, every callback of conf/callbacks/default.yaml and view of the
task) and a minimal hand-written loop over the same in-memory tensors, with the optimizer and schedule built
from the same config and, where the config has a validation split, a validation pass after each epoch. Time per
step is the wall time from the first step of the second epoch to the end of training over the steps in
between, so each side's per-epoch work (shuffling, validation; for zoo also checkpoints, epoch logging,
histograms) is in it and its first, warm-up, epoch is not (nor, compiled, the compilation). Rows: the paper's
CNN and MLP, zoo's default CNN, and the paper's CNN compiled (`trainer.compile=true`; the raw loop compiles its
network too); on a CUDA GPU also bf16 mixed precision. Start-up is the wall time from launching the command to
the first training step, against a script that imports torch and Lightning, loads the cached data and takes
one step; and the time `python train.py model=nope` takes to fail in one line.

Text: the test block's bits per character under unigram and bigram counts of the training block, and
what xz, bz2 and gzip need for it once they have seen the training block; then every family's defaults
on the default corpus, through `train(cfg)` as for accuracy.

Views: the default run of a family (`python train.py model=cnn`) with every view on, as a user gets it, and
with every view off (`task.views=null` and `callbacks.<name>=null` for each view in conf/callbacks/), run
after run and alternating which goes first; the training time's ratio (on / off) and the seconds the views
add outside training (the FLOP count at the start of fitting and the measurements after testing: the
whole run's wall time less its training time, on less off).

Devices: the same run (`python train.py model=<family> trainer=cpu`) as a user starts it, on one process and
on two (`trainer.devices=2 trainer.strategy=ddp`, which Lightning gives one torch thread each where one process
has two), run after run and alternating which goes first; steps per epoch (each process's), training
samples per second (all processes together, zoo's Throughput), training time, the whole command's wall time
and the test accuracy. Each is a subprocess: Lightning's ddp starts its second process by running the
command line again.

Inference: scripts/inference_benchmark.py's docstring says how it measures; streaming: scripts/streaming_benchmark.py's.

Only the standard library is imported at the top, so that the raw start-up subprocess pays for nothing
but torch, Lightning and numpy.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The zoo of this checkout, not whichever one is installed (an editable install of another checkout, say):
# `python scripts/benchmark.py` puts scripts/ on the path, not the checkout.
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sections in other files, however it is loaded

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
# A few steps of everything: checks that the script runs, says nothing about zoo.
QUICK = [
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=3",
    "++trainer.limit_test_batches=1",
    "logger=none",
    "callbacks.tensorboard_extras=null",
]


def compose(overrides: list[str], output_dir: Path):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from zoo import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=[*overrides, f"paths.output_dir={output_dir}"])
    GlobalHydra.instance().clear()
    return cfg


@contextlib.contextmanager
def quiet(enabled: bool = True):
    """Keep a run's progress bar and summary out of the benchmark's output."""
    if not enabled:
        yield
        return
    sink, lightning_log = io.StringIO(), logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        lightning_log.setLevel(level)


def run_zoo(overrides: list[str], work: Path, verbose: bool = False) -> tuple[dict, float]:
    """One `train(cfg)` run, everything written under `work`; its metrics and its wall time."""
    from zoo.training import train

    work.mkdir(parents=True, exist_ok=True)
    cfg = compose([*overrides, f"paths.log_dir={work}", f"paths.data_dir={work.parent / 'data'}"], work / "run")
    start = time.perf_counter()
    with quiet(not verbose):
        result = train(cfg)
    return result, time.perf_counter() - start


def command(overrides: list[str]) -> str:
    return "python train.py " + " ".join(overrides)


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * statistics.stdev(values):.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


# ---------------------------------------------------------------------------------------------- accuracy


def accuracy(args, work: Path) -> str:
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


# ---------------------------------------------------------------------------------------------- overhead


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
    net.train()
    starts, epoch_starts = [], []
    for _ in range(epochs):
        epoch_starts.append(len(starts))
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(steps):
            starts.append(time.perf_counter())
            index = order[i * batch_size : (i + 1) * batch_size]
            with autocast:
                loss = F.cross_entropy(net(x[index]), y[index], label_smoothing=cfg.get("label_smoothing", 0.0))
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
        [*overrides, "+callbacks.step_timer._target_=zoo.callbacks.StepTimer", f"+callbacks.step_timer.path={timer}"],
        work,
        verbose,
    )
    return {**json.loads(timer.read_text()), "result": result}


def raw_inputs(overrides: list[str], work: Path, device):
    """The model, the training and validation tensors and the config zoo would use, built without Lightning."""
    import lightning as L
    from hydra.utils import instantiate

    from zoo.build import build_network

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
            "+callbacks.step_timer._target_=zoo.callbacks.StepTimer",
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
        [sys.executable, __file__, "raw-startup", str(cache), str(raw_file)],
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


def overhead(args, work: Path) -> str:
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

            def zoo_side():
                timed = zoo_timed(overrides, work / f"zoo_{tag}_{repeat}", args.verbose)
                zoo_times.append(per_step(timed["steps"], timed["end"], timed["epoch_starts"]))
                if timed["result"].get("compile_s") is not None:
                    compile_s.append(timed["result"]["compile_s"])

            def raw_side():
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
        ratios = [z / r for z, r in zip(zoo_times, raw_times)]
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
    zoo_start, raw_start, error_s = (statistics.median(values) for values in zip(*starts))
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


# ---------------------------------------------------------------------------------------------- text

TEXT_FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]


def entropy_baselines(train: list[int], test: list[int], symbols: int) -> dict[str, float]:
    """Bits per character of the test block's characters (each but the first, as the models predict them)
    under unigram and bigram counts of the training block, with add-one smoothing (makemore's bigram)."""
    import math
    from collections import Counter

    unigram, bigram, previous = Counter(train), Counter(zip(train, train[1:])), Counter(train[:-1])
    targets = list(zip(test, test[1:]))
    bits_unigram = -sum(math.log2((unigram[b] + 1) / (len(train) + symbols)) for _, b in targets)
    bits_bigram = -sum(math.log2((bigram[a, b] + 1) / (previous[a] + symbols)) for a, b in targets)
    return {"unigram (train counts)": bits_unigram / len(targets), "bigram (train counts)": bits_bigram / len(targets)}


def compression_baselines(train: str, test: str) -> dict[str, float]:
    """Bits per character a compressor needs for the test block once it has seen the training block:
    compressed size of train+test minus that of train."""
    import bz2
    import gzip
    import lzma

    compressors = {
        "xz -9e": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
        "bz2 -9": lambda data: bz2.compress(data, 9),
        "gzip -9": lambda data: gzip.compress(data, 9),
    }
    before, both = train.encode(), (train + test).encode()
    return {
        name: 8 * (len(compress(both)) - len(compress(before))) / len(test) for name, compress in compressors.items()
    }


def text(args, work: Path) -> str:
    from zoo.data.text import TextCorpus

    corpus = TextCorpus(data_dir=str(work / "data"))
    corpus.load()
    train, test = corpus.texts["train"], corpus.texts["test"]
    vocabulary = corpus.vocabulary
    baselines = entropy_baselines(vocabulary.encode(train).tolist(), vocabulary.encode(test).tolist(), len(vocabulary))
    baselines |= compression_baselines(train, test)
    lines = [
        f"Corpus: Python {platform.python_version()}'s `pydoc_data.topics`, {len(train) + len(test) + len(corpus.texts['val']):,} "
        f"characters, {len(vocabulary)} symbols; train/val/test {len(train):,}/{len(corpus.texts['val']):,}/{len(test):,} "
        "characters, contiguous.",
        "",
        "| baseline on the test block | bits per character |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {bpc:.3f} |" for name, bpc in baselines.items()]
    lines += [
        "",
        "| family | command | parameters | test bpc (mean ± sd, min-max) | seeds | wall s per run (train s) "
        "| below bigram | above bz2 | above xz |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    seeds = list(range(args.seeds))
    extra = QUICK if args.quick else []
    for family in args.families or TEXT_FAMILIES:
        overrides = ["data=text", f"model={family}"]
        bpcs, walls, trains, params = [], [], [], 0
        for seed in seeds:
            result, wall = run_zoo([*overrides, f"seed={seed}", *extra], work / f"text_{family}_{seed}")
            bpcs.append(result["test/bpc"])
            walls.append(wall)
            trains.append(result["train_time_s"])
            params = result["params"]
            print(
                f"  text {family} seed {seed}: test bpc {result['test/bpc']:.3f}, {wall:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        mean = statistics.mean(bpcs)
        shown = f"{mean:.3f}" + (
            f" ± {statistics.stdev(bpcs):.3f} ({min(bpcs):.3f}-{max(bpcs):.3f})" if len(bpcs) > 1 else ""
        )
        below = "yes" if mean < baselines["bigram (train counts)"] else "no"
        lines.append(
            f"| {family} | `{command(overrides)}` | {params:,} | {shown} | {len(seeds)} | "
            f"{statistics.mean(walls):.1f} ({statistics.mean(trains):.1f}) | {below} | "
            f"{mean - baselines['bz2 -9']:+.3f} | {mean - baselines['xz -9e']:+.3f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- views

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


def views(args, work: Path) -> str:
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
                f"  views {family} repeat {repeat}: training on {times['on'][-1][0]:.1f} s, off {times['off'][-1][0]:.1f} s; "
                f"whole run on {times['on'][-1][1]:.1f} s, off {times['off'][-1][1]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        ratios = [on[0] / off[0] for on, off in zip(times["on"], times["off"])]
        outside = [(on[1] - on[0]) - (off[1] - off[0]) for on, off in zip(times["on"], times["off"])]
        median = {side: [statistics.median(t[i] for t in times[side]) for i in (0, 1)] for side in times}
        lines.append(
            f"| {family} | `{command(overrides)}` | `{' '.join(off)}` | {median['on'][0]:.1f} / {median['off'][0]:.1f} | "
            f"{statistics.median(ratios):.3f} | {', '.join(f'{r:.3f}' for r in ratios)} | "
            f"{statistics.median(outside):+.2f} | {median['on'][1]:.1f} / {median['off'][1]:.1f} |"
        )
    with contextlib.suppress(OSError):
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        lines += ["", f"Load average when done (1, 5, 15 min): {load}; {repeats} repeats per side, alternating."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- devices

DEVICE_FAMILIES = ["cnn", "mlp"]


def train_py_run(overrides: list[str], work: Path, verbose: bool, threads: int = 0) -> tuple[dict, float, int]:
    """`python train.py` in a subprocess, writing under `work`: its metrics, wall time and steps per epoch.
    `threads`: torch threads of the run (0: torch's default)."""
    work.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(REPO / "train.py"),
        *overrides,
        f"paths.log_dir={work}",
        f"paths.data_dir={work.parent / 'data'}",
    ]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=not verbose, text=True, env=env)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{(result.stderr or '')[-2000:]}")
    [metrics_path] = work.rglob("metrics.json")
    metrics = json.loads(metrics_path.read_text())
    import torch

    last = torch.load(metrics_path.parent / "checkpoints" / "last.ckpt", weights_only=True)
    return metrics, wall, last["global_step"] // (last["epoch"] + 1)  # saved at the end of epoch `epoch` (from 0)


def devices(args, work: Path) -> str:
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
        ratios = [two[0]["samples_per_s"] / one[0]["samples_per_s"] for one, two in zip(*runs.values())]
        for index, (side, switches) in enumerate(sides):
            median = lambda key: statistics.median(run[0][key] for run in runs[side])  # noqa: E731
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


# ---------------------------------------------------------------------------------------------- targets

# What the accuracy and overhead sections measured against a target: (now, target, met), by measure.
MEASURED: dict = {}


def targets(args, work: Path) -> str:
    """Issue 13's table: each target and what this invocation measured for it. `all` fills it from the sections
    it ran; `targets` alone runs what it needs: the defaults' accuracy table and the overhead rows with a target."""
    if args.which == "targets":
        args.table = "defaults"
        args.rows = [" ".join(overrides) for _, overrides, target in OVERHEAD_ROWS if target] + ["startup"]
        accuracy(args, work / "accuracy")
        overhead(args, work / "overhead")
    lines = ["| measure | now | target | |", "|---|---|---|---|"]
    for measure, (now, target, met) in MEASURED.items():
        lines.append(f"| {measure} | {now} | {target} | {'met' if met else 'missed'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), {gpu}; {torch.get_num_threads()} torch threads; "
        f"Python {platform.python_version()}, torch {torch.__version__}; "
        f"{date.today().isoformat()}"
    )


def main(argv=None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["raw-startup"]:
        raw_startup(*argv[1:3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "which",
        nargs="?",
        choices=["all", "targets", "accuracy", "overhead", "text", "views", "devices", "inference", "streaming"],
        default="all",
    )
    parser.add_argument(
        "--families",
        nargs="*",
        help="text: only these families (default: all five); "
        "views: these (default: cnn transformer); "
        "devices: these (default: cnn mlp); "
        "inference: these (default: all five)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per accuracy row (0, 1, ...)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each side of the overhead and views benchmarks")
    parser.add_argument(
        "--rows",
        nargs="*",
        help="overhead: only the rows of these overrides (e.g. 'model=cnn', "
        "'experiment=paper_cnn trainer.compile=true'), and 'startup'",
    )
    parser.add_argument("--epochs", type=int, default=6, help="epochs per overhead run, the first not timed")
    parser.add_argument("--table", choices=["paper", "defaults"], help="only this accuracy table (default: both)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for every run (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script, measures nothing")
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument("--workdir", type=Path, help="where the runs write (default: a temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="show each run's own output")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = min(args.seeds, 1)

    import torch

    from zoo.build import quiet_lightning

    quiet_lightning()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="zoo-benchmark-") as tmp:
        work = args.workdir or Path(tmp)
        sections = [f"Machine: {machine()}" + (" -- QUICK MODE, numbers meaningless" if args.quick else "")]
        invoked = "python scripts/benchmark.py " + " ".join(argv)
        if args.which in ("all", "accuracy"):
            sections += ["### Accuracy on MNIST-1D", "", f"`{invoked}`", "", accuracy(args, work / "accuracy")]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "text"):
            sections += ["### Character-level language modelling", "", f"`{invoked}`", "", text(args, work / "text")]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "overhead"):
            sections += [
                "### Training loop: zoo against raw PyTorch",
                "",
                f"`{invoked}`",
                "",
                overhead(args, work / "overhead"),
            ]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "views"):
            sections += ["### What the views add to a run", "", f"`{invoked}`", "", views(args, work / "views")]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "devices"):
            sections += [
                "### One run on 1 and 2 CPU processes",
                "",
                f"`{invoked}`",
                "",
                devices(args, work / "devices"),
            ]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "inference"):
            from inference_benchmark import inference

            sections += [
                "### Inference: eager PyTorch, torch.export and onnxruntime",
                "",
                f"`{invoked}`",
                "",
                inference(args, work / "inference", run_zoo),
            ]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "streaming"):
            from streaming_benchmark import streaming

            sections += [
                "### An image folder in memory and streamed from disk",
                "",
                f"`{invoked}`",
                "",
                streaming(args, work / "streaming"),
            ]
            print("\n".join(sections[-5:]), flush=True)
        if args.which in ("all", "targets"):
            sections += ["### Targets (issue 13)", "", f"`{invoked}`", "", targets(args, work / "targets")]
            print("\n".join(sections[-5:]), flush=True)
    print(sections[0])
    if args.out:
        args.out.write_text("\n\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
