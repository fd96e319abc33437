"""Sentence pairs for translation (`data=pairs`): a user's file (`data.path`, zoo.data.pairs_files reads and checks
it) or a task generated offline (`data.generated`, zoo.data.generated_pairs), split by seed into train, validation
and test, with the vocabularies built from the training pairs alone.

Splits: `random` draws each pair's split with `data.seed`; `length` tests on the pairs with the longest targets
(the longest `test_fraction` of them, never splitting a length between train and test: SCAN's length split) and
draws validation from the rest. The run folder keeps the splits (`pairs_splits.tsv`).
"""

import os
from collections.abc import Iterator
from pathlib import Path

import torch

from zoo.data.contract import ZooDataModule
from zoo.data.generated_pairs import GENERATED, generate
from zoo.data.loaders import TensorLoader, overfitting, own_share, process_share
from zoo.data.pairs_files import LEVELS, PairVocabulary, padded, read_pairs
from zoo.errors import ZooError
from zoo.files import write_text_atomically

SPLITS = ("train", "val", "test")
SPLIT_KINDS = ("random", "length")


class IndexedLoader(TensorLoader):
    """Batches of (source ids, target ids, positions in the split): the task scores decoded sentences against the
    split's own target sentences, not against their ids (a symbol training never saw has no id)."""

    def __iter__(self) -> Iterator:
        order = self.positions().to(self.x.device)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            own = own_share(index, self.share) if self.split_batches else index
            yield self.x[own], self.y[own], own


class SentencePairs(ZooDataModule):
    """Pairs of sentences, read or generated on first use (`model_inputs`, `prepare_data`, `describe`). After
    `setup()`, `splits` holds each split's (source ids, target ids) on the training device, padded with 0: sources
    as they are, targets between the start and end symbols. `pairs` holds each split's sentences."""

    task = "translation"

    def __init__(
        self,
        name: str = "pairs",
        data_dir: str = "data",
        path: str | None = None,
        generated: str = "reversal",
        samples: int = 20000,
        digits: int = 3,
        source: str = "source",
        target: str = "target",
        level: str | None = None,
        max_len: int = 50,
        split: str = "random",
        shared_vocabulary: bool | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.name, self.data_dir = name, str(data_dir)
        self.path = None if path is None else os.path.abspath(os.path.expanduser(str(path)))
        self.generated, self.samples, self.digits = generated, samples, digits
        self.source_column, self.target_column = source, target
        self.level = level if level is not None else ("word" if self.path is None and generated == "scan" else "char")
        self.max_len, self.split_kind, self.shared_setting = max_len, split, shared_vocabulary
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        self.pairs: dict[str, list[tuple[str, str]]] = {}
        self.skipped = 0  # pairs longer than max_len, left out
        self.threshold: int | None = None  # length split: the shortest target length tested
        self.vocabularies: tuple[PairVocabulary, PairVocabulary] | None = None
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # --- what the data declares --------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"data.path={self.path}" if self.path else f"data.generated={self.generated}"

    @property
    def source_vocabulary(self) -> PairVocabulary:
        self.load()
        assert self.vocabularies is not None
        return self.vocabularies[0]

    @property
    def target_vocabulary(self) -> PairVocabulary:
        self.load()
        assert self.vocabularies is not None
        return self.vocabularies[1]

    @property
    def shared(self) -> bool:
        return self.source_vocabulary is self.target_vocabulary

    @property
    def model_inputs(self) -> dict:
        """What a translation builder needs (see zoo.models): the two vocabularies' sizes, and whether they are one."""
        return {
            "source_vocab": len(self.source_vocabulary),
            "target_vocab": len(self.target_vocabulary),
            "shared_vocabulary": self.shared,
        }

    def describe(self) -> dict:
        """Plain values, stored in checkpoints: the vocabularies, and how the pairs were made and split."""
        self.load()
        return {
            "name": self.name,
            "task": self.task,
            "model_inputs": self.model_inputs,
            "path": self.path,
            "generated": None if self.path else self.generated,
            "source_column": self.source_column,
            "level": self.level,
            "max_len": self.max_len,
            "split": self.split_kind,
            "length_threshold": self.threshold,
            "skipped": self.skipped,
            "source_vocabulary": self.source_vocabulary.to_dict(),
            "target_vocabulary": self.target_vocabulary.to_dict(),
            "shared_vocabulary": self.shared,
            "pairs": {split: len(pairs) for split, pairs in self.pairs.items()},
        }

    def check_matches(self, saved: dict) -> None:
        """The pairs must give the vocabularies the model was trained with: another file gives other ids."""
        for side in ("source", "target"):
            if f"{side}_vocabulary" not in saved:
                continue
            trained = PairVocabulary.from_dict(saved[f"{side}_vocabulary"])
            now = self.source_vocabulary if side == "source" else self.target_vocabulary
            if trained != now:
                raise ZooError(
                    f"{self.origin} gives a {side} vocabulary of {len(now)} symbols, not the {len(trained)} this "
                    f"model was trained with; evaluate and resume on the pairs it was trained on"
                )

    # --- reading, checking and splitting -------------------------------------------------------------
    def check_settings(self) -> None:
        def whole(value, low: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= low

        def fraction(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1

        if self.path is None and self.generated not in GENERATED:
            raise ZooError(
                f"data.generated={self.generated!r} must be one of {', '.join(GENERATED)} (or give data.path)"
            )
        if self.level not in LEVELS:
            raise ZooError(f"data.level={self.level!r} must be one of {', '.join(LEVELS)}")
        if self.split_kind not in SPLIT_KINDS:
            raise ZooError(f"data.split={self.split_kind!r} must be one of {', '.join(SPLIT_KINDS)}")
        whole_numbers = (("max_len", self.max_len, 2), ("samples", self.samples, 10), ("digits", self.digits, 1))
        for key, value, low in whole_numbers:
            if not whole(value, low):
                raise ZooError(f"data.{key}={value!r} must be an integer >= {low}")
        for key, share in (("val_fraction", self.val_fraction), ("test_fraction", self.test_fraction)):
            if not fraction(share):
                raise ZooError(f"data.{key}={share!r} must be a number in [0, 1)")
        if not self.test_fraction > 0 or self.val_fraction + self.test_fraction >= 1:
            raise ZooError(
                f"data.test_fraction={self.test_fraction} must be above 0, and with data.val_fraction="
                f"{self.val_fraction} leave pairs to train on (their sum below 1)"
            )
        if self.shared_setting not in (None, True, False):
            raise ZooError(f"data.shared_vocabulary={self.shared_setting!r} must be true, false or null")

    def load(self) -> None:
        """Read (or generate) the pairs, leave out those longer than max_len, split them and build the vocabularies
        from the training pairs (once)."""
        if self.vocabularies is not None:
            return
        self.check_settings()
        if self.path:
            pairs = read_pairs(self.path, self.source_column, self.target_column)
        else:
            pairs = generate(self.generated, self.samples, self.seed, self.max_len, self.digits)
        probe = PairVocabulary([], self.level)
        lengths = [(len(probe.tokens(source)), len(probe.tokens(target))) for source, target in pairs]
        kept = [i for i, (s, t) in enumerate(lengths) if 0 < s <= self.max_len and 0 < t <= self.max_len]
        self.skipped = len(pairs) - len(kept)
        if len(kept) < 3:
            raise ZooError(
                f"{self.origin}: {len(kept)} of its {len(pairs)} pairs have at most data.max_len={self.max_len} "
                f"symbols on each side; raise data.max_len"
            )
        positions = self.split_positions([lengths[i][1] for i in kept])
        self.pairs = {split: [pairs[kept[i]] for i in positions[split]] for split in SPLITS}
        if not self.pairs["train"] or not self.pairs["test"]:
            raise ZooError(
                f"{self.origin}: its {len(kept)} pairs split into train {len(self.pairs['train'])}, val "
                f"{len(self.pairs['val'])}, test {len(self.pairs['test'])}; train and test need a pair each: change "
                f"data.val_fraction/test_fraction or give more pairs"
            )
        sources = [source for source, _ in self.pairs["train"]]
        targets = [target for _, target in self.pairs["train"]]
        source_vocabulary = PairVocabulary.of(sources, self.level)
        target_vocabulary = PairVocabulary.of(targets, self.level)
        shared = self.shared_setting
        if shared is None:  # the same symbols on both sides (reversal, addition): one table serves both
            shared = set(target_vocabulary.symbols) <= set(source_vocabulary.symbols)
        if shared:
            source_vocabulary = target_vocabulary = PairVocabulary.of(sources + targets, self.level)
        self.vocabularies = (source_vocabulary, target_vocabulary)

    def split_positions(self, target_lengths: list[int]) -> dict[str, list[int]]:
        """Each split's positions among the pairs (in a seeded order)."""
        total = len(target_lengths)
        order = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed)).tolist()
        tests = round(total * self.test_fraction)
        if self.split_kind == "length":
            # The longest targets, whole lengths only: the shortest length whose pairs and all longer fit the share.
            counts: dict[int, int] = {}
            for length in target_lengths:
                counts[length] = counts.get(length, 0) + 1
            self.threshold, held = None, 0
            for length in sorted(counts, reverse=True):
                if held + counts[length] > tests:
                    break
                held += counts[length]
                self.threshold = length
            if self.threshold is None:
                raise ZooError(
                    f"{self.origin}: data.split=length finds no target length whose pairs fit in "
                    f"data.test_fraction={self.test_fraction} of the pairs; raise it"
                )
            test = [i for i in order if target_lengths[i] >= self.threshold]
            rest = [i for i in order if target_lengths[i] < self.threshold]
        else:
            test, rest = order[:tests], order[tests:]
        vals = round(total * self.val_fraction)
        return {"test": sorted(test), "val": sorted(rest[:vals]), "train": sorted(rest[vals:])}

    def prepare_data(self) -> None:
        """Check the settings and the pairs now, so that bad input stops the run before any training."""
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.load()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        for split, pairs in self.pairs.items():
            sources = padded([self.source_vocabulary.encode(source) for source, _ in pairs])
            targets = padded([self.target_vocabulary.encode(target, frame=True) for _, target in pairs])
            self.splits[split] = (sources.to(device), targets.to(device))

    def write_run_files(self, folder: Path) -> None:
        """pairs_splits.tsv (split, source, target a line), and the line that says what was read."""
        self.load()
        lines = [f"{split}\t{source}\t{target}" for split in SPLITS for source, target in self.pairs[split]]
        write_text_atomically(folder / "pairs_splits.tsv", "split\tsource\ttarget\n" + "\n".join(lines) + "\n")
        skipped = f", left out {self.skipped} longer than data.max_len={self.max_len}" if self.skipped else ""
        length = f"; tested on targets of {self.threshold}+ symbols" if self.threshold else ""
        sizes = ", ".join(f"{split} {len(self.pairs[split]):,}" for split in SPLITS)
        vocabularies = (
            f"one shared vocabulary of {len(self.source_vocabulary)}"
            if self.shared
            else f"vocabularies of {len(self.source_vocabulary)} and {len(self.target_vocabulary)}"
        )
        print(
            f"zoo: data=pairs: {self.origin}, {self.level} level, {vocabularies} symbols; pairs: {sizes}"
            f"{skipped}{length}",
            flush=True,
        )

    # --- loaders --------------------------------------------------------------------------------------
    def train_dataloader(self) -> IndexedLoader:
        return IndexedLoader(
            *self.splits["train"],
            self.batch_size,
            shuffle=not overfitting(self.trainer),
            seed=self.seed,
            share=process_share(self.trainer, self.batch_size),
            split_batches=True,
        )

    def evaluation_loader(self, split: str) -> IndexedLoader:
        x, y = self.splits[split]
        return IndexedLoader(x, y, self.eval_batch_size, shuffle=False, share=process_share(self.trainer))

    def val_dataloader(self) -> IndexedLoader:
        return self.evaluation_loader("val")

    def test_dataloader(self) -> IndexedLoader:
        return self.evaluation_loader("test")
