"""Character-level language modelling: entropy and compressor baselines, then every family's defaults."""

import itertools
import platform
import statistics
import sys
from pathlib import Path

from benchmarks.common import MEASURED, QUICK, command, train_py_run

TEXT_FAMILIES = ["linear", "mlp", "cnn", "rnn", "transformer"]
# The family with the lowest test bits per character at its default budget (this section's table): the one
# `python scripts/benchmark.py targets` runs for the language-model target.
BEST_FAMILY = "rnn"
BPC_TARGET = 1.50
WALL_TARGET = 180  # seconds, the whole command on 2 CPU cores


def entropy_baselines(train: list[int], test: list[int], symbols: int) -> dict[str, float]:
    """Bits per character of the test block's characters (each but the first, as the models predict them)
    under unigram and bigram counts of the training block, with add-one smoothing (makemore's bigram)."""
    import math
    from collections import Counter

    unigram, bigram, previous = Counter(train), Counter(itertools.pairwise(train)), Counter(train[:-1])
    targets = list(itertools.pairwise(test))
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


def run(args, work: Path) -> str:
    from zoo.data.text import TextCorpus

    corpus = TextCorpus(data_dir=str(work / "data"))
    corpus.load()
    train, test = corpus.texts["train"], corpus.texts["test"]
    vocabulary = corpus.vocabulary
    baselines = entropy_baselines(vocabulary.encode(train).tolist(), vocabulary.encode(test).tolist(), len(vocabulary))
    baselines |= compression_baselines(train, test)
    val = len(corpus.texts["val"])
    lines = [
        f"Corpus: Python {platform.python_version()}'s `pydoc_data.topics`, {len(train) + len(test) + val:,} "
        f"characters, {len(vocabulary)} symbols; train/val/test {len(train):,}/{val:,}/{len(test):,} "
        "characters, contiguous.",
        "",
        "| baseline on the test block | bits per character |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {bpc:.3f} |" for name, bpc in baselines.items()]
    lines += [
        "",
        "| family | command | parameters | test bpc (mean ± sd, min-max) | seeds | whole command s per run (train s) "
        "| below bigram | above bz2 | above xz |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    seeds = list(range(args.seeds))
    extra = QUICK if args.quick else []
    measured: dict[str, tuple[float, float]] = {}  # family -> (mean test bpc, slowest whole command s)
    for family in args.families or (TEXT_FAMILIES[:1] if args.quick else TEXT_FAMILIES):  # --quick: the first
        overrides = ["data=text", f"model={family}"]
        bpcs, walls, trains, params = [], [], [], 0
        for seed in seeds:
            seeded = [*overrides, *([f"seed={seed}"] if seed else []), *extra]
            # as a user runs it: torch's default threads, whatever --threads says
            result, wall, _ = train_py_run(seeded, work / f"text_{family}_{seed}", args.verbose, 0)
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
        measured[family] = (mean, max(walls))
        lines.append(
            f"| {family} | `{command(overrides)}` | {params:,} | {shown} | {len(seeds)} | "
            f"{statistics.mean(walls):.1f} ({statistics.mean(trains):.1f}) | {below} | "
            f"{mean - baselines['bz2 -9']:+.3f} | {mean - baselines['xz -9e']:+.3f} |"
        )
    family, (bpc, slowest) = min(measured.items(), key=lambda item: item[1][0])
    MEASURED[
        f"best language model (`python train.py data=text model={family}`), test bpc, mean of seeds 0-{len(seeds) - 1}"
    ] = (
        f"{bpc:.3f} ({slowest:.0f} s at most)",
        f"<= {BPC_TARGET} within {WALL_TARGET} s",
        bpc <= BPC_TARGET and slowest <= WALL_TARGET,
    )
    return "\n".join(lines)
