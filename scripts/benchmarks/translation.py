"""Translation: on each generated task (data=pairs), the RNN encoder-decoder without attention, with attention, and the
transformer, each trained for the same wall-clock time (`+trainer.max_time`, validation included) as a user runs
`python train.py`, with the family's defaults for the task (conf/model/for_task/translation/) and a constant learning
rate (the default cosine schedule is laid over trainer.max_epochs, which a time budget cuts short). Exact match and
chrF on the test split, greedy decoding. SCAN with its length split (train on action sequences of at most 22
symbols, test on 24 to 48) is the row to read for generalization beyond the lengths seen.
"""

import sys
from pathlib import Path

from benchmarks.common import command, train_py_run

TASKS = {
    "reversal": ["data=pairs", "data.generated=reversal"],
    "addition": ["data=pairs", "data.generated=addition"],
    "scan (length split)": ["data=pairs", "data.generated=scan", "data.split=length", "data.test_fraction=0.2"],
}
MODELS = {
    "rnn, no attention": ["model=rnn", "model.attention=none"],
    "rnn, additive attention": ["model=rnn", "model.attention=additive"],
    "transformer": ["model=transformer"],
}
BUDGET_S = 180
QUICK_BUDGET = ["data.samples=200", "+trainer.limit_train_batches=3", "logger=none"]


def run(args, work: Path) -> str:
    budget = 10 if args.quick else BUDGET_S
    timed = ["trainer.max_epochs=1000", f"+trainer.max_time=00:00:{budget // 60:02d}:{budget % 60:02d}"]
    timed += ["scheduler=constant", "callbacks.compute_cost=null"]
    lines = [
        f"Each run trains for {budget} s of wall time (validation included) on the machine above, then tests its "
        f"best checkpoint (highest val/chrf); greedy decoding; seed 0. Exact match and chrF (sacreBLEU's) on the test "
        f"split. Shared overrides of every run: `{' '.join(timed)}`.",
        "",
        "| task | model | command | parameters | epochs | test exact | test chrF | val exact |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    tasks = list(TASKS)[:1] if args.quick else list(TASKS)
    for task in tasks:
        for model, settings in MODELS.items():
            overrides = [*TASKS[task], *settings]
            extra = QUICK_BUDGET if args.quick else []
            folder = work / f"{task.split()[0]}_{model.replace(', ', '_').replace(' ', '_')}"
            result, wall, _ = train_py_run([*overrides, *timed, *extra], folder, args.verbose, args.threads)
            epochs = f"{result['samples_per_s'] * result['train_time_s'] / result['samples']['train']:.1f}"
            lines.append(
                f"| {task} | {model} | `{command(overrides)}` | {result['params']:,} | {epochs} | "
                f"{result['test/exact']:.3f} | {result['test/chrf']:.1f} | {result['val/exact']:.3f} |"
            )
            print(
                f"  translation {task} {model}: test exact {result['test/exact']:.3f}, chrF "
                f"{result['test/chrf']:.1f}, {wall:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return "\n".join(lines)
