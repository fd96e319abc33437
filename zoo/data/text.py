"""Character-level text for language modelling: every position of a window predicts the next symbol.

The default corpus is Python's own reference documentation, `pydoc_data.topics` (about 465k characters,
the exact text depends on the Python version), so it works offline with nothing to download; `data.path`
takes any UTF-8 text file instead (`scripts/download_data.py tiny_shakespeare` fetches one).

Character mode cuts one long text into windows. The splits are contiguous blocks, train first, then
validation, then test, so no window straddles two of them. Line mode (`data.lines=true`, makemore's
list of names) makes each non-empty line one sample, framed by a boundary symbol.
"""

import os
import sys
from collections.abc import Iterable

import torch

from zoo.data.contract import ZooDataModule
from zoo.data.loaders import TensorLoader, evaluation_loader, overfitting, process_share
from zoo.data.vocabulary import IGNORED, Vocabulary, read_text, reference_docs
from zoo.data.windows import WindowLoader, cut, evaluation_windows, line_samples
from zoo.errors import ZooError

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0  # line mode's assignment of lines to splits: fixed, so every run is measured on the same lines


class TextCorpus(ZooDataModule):
    """A text read from `path` (None: Python's reference docs), for next-character prediction.

    The corpus is read, checked and its vocabulary built on first use (`model_inputs`, `prepare_data`,
    `describe`), before any training. After `setup()`, `splits` holds each split's (x, y) tensors of
    shape (samples, context) on the training device:
    - character mode: val and test as their loaders serve them; train as the windows at offset 0, in
      order (each epoch serves as many, cut at an offset and in an order drawn for it);
    - line mode: the samples, one per line, in file order within each split.
    `blocks` (character mode) holds the ids of each split's text, on the training device.
    """

    task = "language_model"

    def __init__(
        self,
        name: str = "text",
        data_dir: str = "data",
        path: str | None = None,
        lines: bool = False,
        context: int = 64,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.name, self.data_dir = name, str(data_dir)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        # A relative path is relative to where the run was started, whatever directory it works in later.
        self.path = None if path is None else os.path.abspath(os.path.expanduser(str(path)))
        self.lines, self.context, self.seed = bool(lines), context, seed
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.texts: dict[str, str | list[str]] | None = None  # each split's text (line mode: its lines)
        self._vocabulary: Vocabulary | None = None
        self.blocks: dict[str, torch.Tensor] = {}
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def source(self) -> str:
        return (
            f"data.path={self.path}"
            if self.path
            else f"the default corpus (pydoc_data.topics of Python {sys.version.split()[0]})"
        )

    @property
    def vocabulary(self) -> Vocabulary:
        self.load()
        assert self._vocabulary is not None  # load() built it
        return self._vocabulary

    @property
    def model_inputs(self) -> dict:
        """What a model builder needs to know of this data (see zoo.models)."""
        return {"vocab_size": len(self.vocabulary), "context": self.context}

    def check_settings(self) -> None:
        def number(value) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if not (isinstance(self.context, int) and not isinstance(self.context, bool) and self.context > 0):
            raise ZooError(f"data.context={self.context!r} must be a positive integer (characters per window)")
        if not (number(self.val_fraction) and 0 <= self.val_fraction < 1):
            raise ZooError(f"data.val_fraction={self.val_fraction!r} must be a number in [0, 1)")
        if not (number(self.test_fraction) and 0 < self.test_fraction < 1):
            raise ZooError(f"data.test_fraction={self.test_fraction!r} must be a number in (0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            raise ZooError(
                f"data.val_fraction + data.test_fraction = {self.val_fraction + self.test_fraction:g} "
                f"leaves nothing to train on; keep their sum below 1"
            )

    def portions(self, total: int) -> dict[str, int]:
        """How many of `total` characters (line mode: lines) go to each split."""
        val, test = round(total * self.val_fraction), round(total * self.test_fraction)
        return {"train": total - val - test, "val": val, "test": test}

    def load(self) -> None:
        """Read and check the corpus, split it and build the vocabulary from the training part (once)."""
        if self.texts is not None:
            return
        self.check_settings()
        text = read_text(self.path) if self.path else reference_docs()
        texts: dict[str, str | list[str]] = dict(self.split_lines(text) if self.lines else self.split_characters(text))
        self._vocabulary = Vocabulary("".join(texts["train"]), self.lines)
        self.texts = texts

    def split_texts(self) -> dict[str, str | list[str]]:
        """Each split's text (line mode: its lines), read on first use."""
        self.load()
        assert self.texts is not None  # load() read them
        return self.texts

    def split_characters(self, text: str) -> dict[str, str]:
        sizes = self.portions(len(text))
        # A training window and the room to shift it take 2 x context; evaluation needs one full window.
        needed = {
            "train": 2 * self.context,
            "val": self.context + 1 if self.val_fraction else 0,
            "test": self.context + 1,
        }
        for split in SPLITS:
            if sizes[split] < needed[split]:
                fix = (
                    "a smaller data.context, smaller data.val_fraction/test_fraction"
                    if split == "train"
                    else f"a smaller data.context, a larger data.{split}_fraction"
                )
                raise ZooError(
                    f"{self.source}: its {len(text)} characters split into train {sizes['train']}, "
                    f"val {sizes['val']}, test {sizes['test']}, but with data.context={self.context} "
                    f"{split} needs at least {needed[split]}; use {fix} or a longer text"
                )
        val_start, test_start = sizes["train"], sizes["train"] + sizes["val"]
        return {"train": text[:val_start], "val": text[val_start:test_start], "test": text[test_start:]}

    def split_lines(self, text: str) -> dict[str, list[str]]:
        lines = [line for line in text.splitlines() if line]
        if not lines:
            raise ZooError(f"{self.source} holds no non-empty line (data.lines=true makes each line a sample)")
        longest = max(len(line) for line in lines)
        if longest + 1 > self.context:
            raise ZooError(
                f"{self.source}: its longest line holds {longest} characters, {longest + 1} symbols with "
                f"the boundary, more than data.context={self.context}; raise data.context to {longest + 1}"
            )
        sizes = self.portions(len(lines))
        if min(sizes["train"], sizes["test"], sizes["val"] if self.val_fraction else 1) < 1:
            raise ZooError(
                f"{self.source}: its {len(lines)} lines split into train {sizes['train']}, val "
                f"{sizes['val']}, test {sizes['test']}, and each split needs at least one line; use "
                f"larger data.val_fraction/test_fraction or a longer file"
            )
        # Lines are independent samples, so splitting them at random (as makemore does) is safe, and it
        # keeps a file sorted by frequency or alphabet from holding out only its rare or last names.
        order = torch.randperm(len(lines), generator=torch.Generator().manual_seed(SPLIT_SEED))
        bounds = {
            "train": (0, sizes["train"]),
            "val": (sizes["train"], sizes["train"] + sizes["val"]),
            "test": (sizes["train"] + sizes["val"], len(lines)),
        }
        return {split: [lines[i] for i in sorted(order[start:end].tolist())] for split, (start, end) in bounds.items()}

    def characters(self) -> dict[str, int]:
        """The number of characters of text in each split (line mode: of its lines, without line ends)."""
        return {
            split: len(text) if isinstance(text, str) else sum(map(len, text))
            for split, text in self.split_texts().items()
        }

    def describe(self) -> dict:
        """Plain values, stored in checkpoints: enough to encode a prompt and decode a sample."""
        self.load()
        return {
            "name": self.name,
            "task": self.task,
            "model_inputs": self.model_inputs,
            "context": self.context,
            "lines": self.lines,
            "path": self.path,
            "vocabulary": self.vocabulary.to_dict(),
            "characters": self.characters(),
        }

    def prepare_data(self) -> None:
        """Check the corpus and the settings now, so that bad input stops the run before any training."""
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        for split, text in self.split_texts().items():
            if isinstance(text, list):  # line mode
                x, y = line_samples(text, self.vocabulary, self.context)
            else:
                block = self.vocabulary.encode(text)
                if split == "train":
                    x, y = cut(block, WindowLoader(block, self.context, self.batch_size, False).starts(), self.context)
                else:
                    x, y = evaluation_windows(block, self.context)
                self.blocks[split] = block.to(device)
            self.splits[split] = (x.to(device), y.to(device))

    def check_matches(self, saved: dict) -> None:
        """The text must give the vocabulary the model was trained with: a changed file (or another Python
        version's reference docs) could give other ids to the same characters."""
        trained = Vocabulary.from_dict(saved["vocabulary"]) if "vocabulary" in saved else None
        if trained is not None and trained != self.vocabulary:
            raise ZooError(
                f"{self.source} gives a vocabulary of {len(self.vocabulary)} symbols, not the {len(trained)} this "
                f"model was trained with; evaluate and resume on the text it was trained on"
            )

    def split_sizes(self) -> dict[str, int]:
        """Samples (windows; line mode: lines) in each split, after setup; a training epoch serves as many."""
        return {split: len(targets) for split, (_, targets) in self.splits.items()}

    def predicted_symbols(self, split: str) -> int:
        """How many targets `split` holds (padding excluded): the symbols its loss is averaged over."""
        return int((self.splits[split][1] != IGNORED).sum())

    def train_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        shuffle = not overfitting(self.trainer)
        share = process_share(self.trainer, self.batch_size)
        if self.lines:
            return TensorLoader(
                *self.splits["train"], self.batch_size, shuffle=shuffle, seed=self.seed, share=share, split_batches=True
            )
        return WindowLoader(
            self.blocks["train"], self.context, self.batch_size, shuffle=shuffle, seed=self.seed, share=share
        )

    def val_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return evaluation_loader(self, "val")

    def test_dataloader(self) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return evaluation_loader(self, "test")
