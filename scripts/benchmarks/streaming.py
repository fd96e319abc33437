"""`python scripts/benchmark.py streaming`: an image folder held in memory against the same folder streamed from disk.

For each folder size (2,000, 20,000 and 100,000 synthetic 32x32 RGB PNGs in 10 classes, written once into the work
folder), the default CNN trains a fixed number of steps through the user's command, `python train.py data=images
data.path=<folder> data.in_memory=true|false` (logger and views off, validation and test cut to 5 batches of 128): in
memory, streamed with the default workers (none on 2 cores) and streamed by 2 workers, one after the other. The
decoded cache is removed and built again first, by a streamed run of one step, and timed apart: every run then reads
the same cache.

Measured for each run: the peak memory of the training process and its DataLoader workers together, as the sum of
their proportional set sizes (PSS: a page shared by several processes counts once, in shares), read from /proc every
50 ms, and of that the anonymous memory (heap and tensors, not the libraries' pages); and the training throughput zoo
itself reports (metrics.json samples_per_s, the first step left out).

Then the issue's measure (issue 36): one whole epoch of the default run, streamed, as a user starts it (`python
train.py data=images data.path=<folder> data.in_memory=false trainer.max_epochs=1`: logger and views on, whole
validation and test splits) on 3,000 and 30,000 images, each folder's cache built before by a run of one step; the
peak resident memory of the process (its maximum RSS, which `/usr/bin/time -v` reports: the kernel's count, from
wait4), with the growth per image it implies and that growth carried on to a million images.
`--rows steps` runs the first table alone, `--rows epoch` the second.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import MEASURED, REPO

SIZES = [2_000, 20_000, 100_000]
EPOCH_SIZES = (3_000, 30_000)  # the (issue 36)
STEPS = 150
IN_MEMORY = "data.in_memory=true"
MODES = {
    IN_MEMORY: "in memory",
    "data.in_memory=false": "streamed, data.num_workers=auto (0 on 2 cores)",
    "data.in_memory=false data.num_workers=2": "streamed, data.num_workers=2",
}
# Evaluation batches of 128: no larger than the smallest folder's test split (200), so that every size evaluates
# batches of the same size (a CNN's activations for a batch of 512 images take more memory than 2,000 images).
BOUNDED = [
    "model=cnn",
    "logger=none",
    "task.views=null",
    "callbacks.compute_cost=null",
    "trainer.max_epochs=1",
    "+trainer.limit_val_batches=5",
    "+trainer.limit_test_batches=5",
    "data.eval_batch_size=128",
]


def write_images(folder: Path, count: int) -> Path:
    """`count` noisy 32x32 RGB PNGs in 10 class folders, each class a colour (written once, kept after)."""
    import numpy as np
    from PIL import Image

    done = folder / ".complete"
    if done.is_file():
        return folder
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 215, (10, 3))
    for label in range(10):
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        label = i % 10
        pixels = (rng.normal(0, 30, (32, 32, 3)) + colours[label]).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"class_{label}" / f"{i:06d}.png", compress_level=1)
    done.write_text("")
    return folder


def tree_memory_kib(root: int) -> tuple[int, int]:
    """(PSS, anonymous memory) of `root` and every process below it, in KiB. Anonymous memory is the heap and the
    tensors, without the pages of the libraries the processes map (torch's are hundreds of MiB, touched unevenly)."""
    pss = anonymous = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Anonymous:"):
                    anonymous += int(line.split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return pss, anonymous


def train(overrides: list[str], work: Path, verbose: bool) -> tuple[dict, tuple[float, float, float], float]:
    """One run of train.py: (its metrics.json, its peak PSS, peak anonymous memory and maximum RSS in MiB, its wall
    time in s)."""
    log_dir = work / "logs"
    command = [
        sys.executable,
        str(REPO / "train.py"),
        *overrides,
        f"paths.log_dir={log_dir}",
        f"paths.data_dir={work / 'data'}",
    ]
    start = time.perf_counter()
    errors = work / "stderr.txt"  # a file, not a pipe: a pipe nobody reads until the end can fill and stall the run
    with open(errors, "w") as stderr:
        run = subprocess.Popen(command, cwd=work, stdout=None if verbose else subprocess.DEVNULL, stderr=stderr)
        peak = anonymous = 0
        while True:
            # wait4, not poll: the kernel's maximum RSS of the process comes with its exit (what /usr/bin/time shows)
            pid, status, usage = os.wait4(run.pid, os.WNOHANG)
            if pid:
                break
            pss, anon = tree_memory_kib(run.pid)
            peak, anonymous = max(peak, pss), max(anonymous, anon)
            time.sleep(0.05)
    run.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"train.py {' '.join(overrides)} failed:\n{errors.read_text()[-2000:]}")
    newest = max(log_dir.rglob("metrics.json"), key=lambda path: path.stat().st_mtime)
    return json.loads(newest.read_text()), (peak / 1024, anonymous / 1024, usage.ru_maxrss / 1024), wall


def one_epoch(args, work: Path) -> list[str]:
    """The issue's measure: the maximum RSS of one whole default epoch, streamed, at two folder sizes (module doc)."""
    small, large = (100, 200) if args.quick else EPOCH_SIZES
    rows, peaks = [], {}
    for size in (small, large):
        folder = write_images(work / f"images_{size}", size)
        data = ["data=images", f"data.path={folder}", "data.in_memory=false"]
        train([*data, *BOUNDED, "+trainer.max_steps=1"], work, args.verbose)  # the cache, if not built yet
        metrics, (pss, anonymous, peaks[size]), wall = train([*data, "trainer.max_epochs=1"], work, args.verbose)
        rows.append(
            f"| {size:,} | {peaks[size]:,.0f} | {pss:,.0f} | {anonymous:,.0f} | {metrics['samples_per_s']:,.0f} "
            f"| {wall:.1f} |"
        )
        print(rows[-1], flush=True)
    ratio = peaks[large] / peaks[small]
    per_image = max(0.0, (peaks[large] - peaks[small]) / (large - small))  # MiB; less memory is no growth
    million = peaks[small] + per_image * (1_000_000 - small)
    MEASURED[f"one streamed epoch of the default run, maximum RSS, {large:,} images against {small:,}"] = (
        f"{ratio:.2f}x ({peaks[small]:,.0f} / {peaks[large]:,.0f} MiB; a million images: {million:,.0f} MiB)",
        "< 1.2x",
        ratio < 1.2,
    )
    return [
        "One epoch of the default run, streamed, views and logger on (`python train.py data=images "
        "data.path=<folder> data.in_memory=false trainer.max_epochs=1`); the cache built before.",
        "",
        "| images | maximum RSS (MiB) | peak PSS (MiB) | of it anonymous, peak (MiB) | training images/s | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"- one streamed epoch, maximum RSS with {large:,} images against {small:,}: {ratio:.2f}x (target < 1.2x: "
        f"{'met' if ratio < 1.2 else 'missed'}); {per_image * 2**20 / 1000:,.1f} KB more per image, which carried "
        f"on to 1,000,000 images is {million:,.0f} MiB ({million / peaks[small]:.2f}x)",
    ]


def run(args, work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    which = args.rows or ["steps", "epoch"]
    lines = steps_table(args, work) if "steps" in which else []
    if "epoch" in which:
        lines += ["", *one_epoch(args, work)] if lines else one_epoch(args, work)
    return "\n".join(lines)


def steps_table(args, work: Path) -> list[str]:
    """In memory and streamed, the same number of steps, at each of SIZES (module doc)."""
    sizes = [100, 200] if args.quick else SIZES
    steps = 3 if args.quick else STEPS
    rows, memory, speed = [], {}, {}
    for size in sizes:
        folder = write_images(work / f"images_{size}", size)
        data = ["data=images", f"data.path={folder}"]
        shutil.rmtree(work / "data" / "images", ignore_errors=True)  # the first run decodes every file
        _, (decode_peak, decode_anonymous, _), decode_wall = train(
            [*data, *BOUNDED, "+trainer.max_steps=1", "data.in_memory=false"], work, args.verbose
        )
        for mode, label in MODES.items():
            metrics, (peak, anonymous, _), wall = train(
                [*data, *BOUNDED, f"+trainer.max_steps={steps}", *mode.split()], work, args.verbose
            )
            memory[(size, mode)], speed[(size, mode)] = peak, metrics["samples_per_s"]
            rows.append(
                f"| {size:,} | {label} | {peak:,.0f} | {anonymous:,.0f} | {metrics['samples_per_s']:,.0f} "
                f"| {wall:.1f} |"
            )
            print(rows[-1], flush=True)
        rows.append(
            f"| {size:,} | building the decoded cache (first run) | {decode_peak:,.0f} | "
            f"{decode_anonymous:,.0f} | - | {decode_wall:.1f} |"
        )
        print(rows[-1], flush=True)
    small, large = sizes[0], sizes[-1]
    streamed = [mode for mode in MODES if mode != IN_MEMORY]
    flat = {mode: memory[(large, mode)] / memory[(small, mode)] for mode in streamed}
    ratios = {mode: [speed[(size, mode)] / speed[(size, IN_MEMORY)] for size in sizes] for mode in streamed}
    lines = [
        f"Default CNN, batch 64, {steps} training steps a run; torch threads: torch's default; peak PSS of the "
        f"process and its workers.",
        "",
        "| images | data | peak memory, PSS (MiB) | of it anonymous, peak (MiB) | training images/s | wall (s) |",
        "|---:|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    for mode in streamed:
        lines += [
            f"- {MODES[mode]}: peak memory with {large:,} images against {small:,}: {flat[mode]:.2f}x (target "
            f"< 1.2x: {'met' if flat[mode] < 1.2 else 'missed'}); throughput against in memory: "
            f"{', '.join(f'{r:.2f}x' for r in ratios[mode])} for {', '.join(f'{s:,}' for s in sizes)} images "
            f"(target >= 0.8x: {'met' if min(ratios[mode]) >= 0.8 else 'missed'})"
        ]
    return lines
