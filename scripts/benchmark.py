"""Benchmarks of zoo, printed as Markdown tables (BENCHMARKS.md keeps the latest):

    python scripts/benchmark.py                       # every section below, then the targets' table
    python scripts/benchmark.py targets --threads 1   # the targets' table alone (the rows each target needs)
    python scripts/benchmark.py accuracy --seeds 3    # the MNIST-1D paper's table, then zoo's defaults
    python scripts/benchmark.py overhead --repeats 5  # zoo's training loop against a raw PyTorch loop
    python scripts/benchmark.py text --seeds 3        # language models: baselines, then every family's defaults
    python scripts/benchmark.py views --repeats 3     # what the views (zoo/views/) add to a default run
    python scripts/benchmark.py devices --repeats 3   # one run on 1 and on 2 CPU processes (DDP), side by side
    python scripts/benchmark.py inference --repeats 5 # exported models: eager, torch.export, onnxruntime
    python scripts/benchmark.py streaming             # an image folder in memory and streamed, 2k to 100k images
    python scripts/benchmark.py streaming --rows epoch # its peak memory over one default epoch, 3k and 30k images
    python scripts/benchmark.py startup --repeats 5   # zoo-predict, zoo-generate against `python -c "import torch"`
    python scripts/benchmark.py translation           # RNN +- attention and transformer, equal time, generated tasks
    python scripts/benchmark.py forecasting           # every family beside naive, seasonal naive, ETS and ARIMA
    python scripts/benchmark.py gpu --repeats 1       # every family on the GPU in bf16 (scripts/gpu_check.sh)
    python scripts/benchmark.py --quick               # a smoke test of the script: tiny budgets, meaningless numbers

Accuracy: every row is a real run. The paper's presets run `train(cfg)` in this process with the config
`python train.py ...` would compose (the command is printed beside it); wall time is that call's, from the
config to the tested model, without the interpreter's start-up. zoo's defaults run the user's command itself,
`python train.py model=...` in a subprocess, each seed twice, with torch's default threads and with one, on data
generated afresh; its wall time is the whole command's, checked against the minute a default run may take.

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
on the default corpus, `python train.py data=text model=...` in a subprocess (the whole command's time).

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

Translation, inference, streaming, startup and forecasting: scripts/benchmarks/translation.py's, inference.py's,
streaming.py's, startup.py's and forecasting.py's docstrings say how they measure.

Each section is a module of scripts/benchmarks/ with a `run(args, work) -> str` that returns its table.

Only the standard library is imported at the top, so that the raw start-up subprocess pays for nothing
but torch, Lightning and numpy.
"""

import argparse
import importlib
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The zoo of this checkout, not whichever one is installed (an editable install of another checkout, say):
# `python scripts/benchmark.py` puts scripts/ on the path, not the checkout.
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sections (scripts/benchmarks/), however it is loaded

from benchmarks.common import machine  # noqa: E402 (after the path)

# Each section (scripts/benchmarks/<name>.py) and its title, in the order `all` runs them; targets last, from what
# the accuracy and overhead sections measured.
SECTIONS = {
    "accuracy": "Accuracy on MNIST-1D",
    "text": "Character-level language modelling",
    "overhead": "Training loop: zoo against raw PyTorch",
    "views": "What the views add to a run",
    "devices": "One run on 1 and 2 CPU processes",
    "inference": "Inference: eager PyTorch, torch.export and onnxruntime",
    "streaming": "An image folder in memory and streamed from disk",
    "startup": "Inference start-up: zoo-predict and zoo-generate against importing torch",
    "translation": "Translation: recurrent with and without attention, and the transformer, at equal time",
    "forecasting": "Forecasting: every family beside naive, seasonal naive, ETS and ARIMA",
    "gpu": "GPU check: every family in bf16, compiled and not, against the raw loop",
    "targets": "Targets",
}


def main(argv=None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["raw-startup"]:  # the hand-written start-up that overhead's start-up row measures
        from benchmarks.overhead import raw_startup

        raw_startup(*argv[1:3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "which",
        nargs="?",
        choices=["all", *SECTIONS],
        default="all",
    )
    parser.add_argument(
        "--families",
        nargs="*",
        help="text: only these families (default: all five); "
        "views: these (default: cnn transformer); "
        "devices: these (default: cnn mlp); "
        "inference: these (default: all five); "
        "gpu: these (default: all five); "
        "forecasting: these (default: all five)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per accuracy row (0, 1, ...)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs of each side of the overhead, views and startup benchmarks"
    )
    parser.add_argument(
        "--rows",
        nargs="*",
        help="overhead: only the rows of these overrides (e.g. 'model=cnn', "
        "'experiment=paper_cnn trainer.compile=true'), and 'startup'; "
        "streaming: 'steps' (in memory and streamed, 2k to 100k images) or 'epoch' (one default epoch, 3k and 30k)",
    )
    parser.add_argument("--epochs", type=int, default=6, help="epochs per overhead run, the first not timed")
    parser.add_argument("--table", choices=["paper", "defaults"], help="only this accuracy table (default: both)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads of the runs (0: torch's default); the defaults' rows run at both, text at the default",
    )
    parser.add_argument(
        "--device", choices=["cuda", "cpu"], default="cuda", help="gpu: where its rows run (cpu: checks the script)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script, measures nothing")
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument("--workdir", type=Path, help="where the runs write (default: a temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="show each run's own output")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = min(args.seeds, 1)

    import torch

    from zoo.callbacks.loop import quiet_lightning

    quiet_lightning()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="zoo-benchmark-") as tmp:
        work = args.workdir or Path(tmp)
        sections = [f"Machine: {machine()}" + (" -- QUICK MODE, numbers meaningless" if args.quick else "")]
        invoked = "python scripts/benchmark.py " + " ".join(argv)
        for name, title in SECTIONS.items():
            if args.which in ("all", name):
                table = importlib.import_module(f"benchmarks.{name}").run(args, work / name)
                sections += [f"### {title}", "", f"`{invoked}`", "", table]
                print("\n".join(sections[-5:]), flush=True)
    print(sections[0])
    if args.out:
        args.out.write_text("\n\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
