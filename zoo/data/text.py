"""Character-level text for language modelling: every position of a window predicts the next symbol.

The default corpus is Python's own reference documentation, `pydoc_data.topics` (about 465k characters,
the exact text depends on the Python version), so it works offline with nothing to download; `data.path`
takes any UTF-8 text file instead (`scripts/download_data.py tiny_shakespeare` fetches one).

Character mode cuts one long text into windows. The splits are contiguous blocks, train first, then
validation, then test, so no window straddles two of them. Line mode (`data.lines=true`, makemore's
list of names) makes each non-empty line one sample, framed by a boundary symbol.
"""

import math
import os
import sys
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import SequentialSampler

from zoo.data.base import TensorLoader, evaluation_loader, process_share
from zoo.data.order import EpochPermutation, own_share
from zoo.errors import ZooError

UNKNOWN, BOUNDARY = 0, 1  # ids of the unknown symbol and (line mode only) of the boundary symbol
UNKNOWN_SYMBOL = "\ufffd"  # "�", Unicode's REPLACEMENT CHARACTER: what the unknown id decodes to
IGNORED = -1  # the target of a padded position: nothing to predict there (the loss's ignore_index)
SPLITS = ("train", "val", "test")
SPLIT_SEED = 0  # line mode's assignment of lines to splits: fixed, so every run is measured on the same lines


class Vocabulary:
    """Symbols and their ids: 0 is the unknown symbol, 1 the boundary in line mode, then the training
    characters in sorted order. A character never seen in training encodes as 0 and decodes as
    UNKNOWN_SYMBOL; so does UNKNOWN_SYMBOL itself. In line mode "\\n" encodes as the boundary (it
    separates names in a prompt) and the boundary decodes as "\\n"."""

    def __init__(self, characters: str, lines: bool = False):
        # Line mode's texts hold no "\n" (it splits them); dropping it anyway keeps ids unique.
        dropped = {UNKNOWN_SYMBOL, "\n"} if lines else {UNKNOWN_SYMBOL}
        self.characters = "".join(sorted(set(characters) - dropped))
        self.lines = bool(lines)
        self.symbols = [UNKNOWN_SYMBOL] + (["\n"] if self.lines else []) + list(self.characters)
        self.ids = {symbol: i for i, symbol in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.ids.get(character, UNKNOWN) for character in text], dtype=torch.long)

    def decode(self, ids) -> str:
        """`ids`: a 1-D tensor or a list of ids. A padding target (-1) or any other id outside the
        vocabulary is an error, not a character."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        outside = [i for i in ids if not 0 <= i < len(self.symbols)]
        if outside:
            raise ValueError(f"id {outside[0]} is not in the vocabulary of {len(self.symbols)} symbols")
        return "".join(self.symbols[i] for i in ids)

    def to_dict(self) -> dict:
        """Plain Python values: checkpoints that hold it open with torch.load(weights_only=True)."""
        return {"characters": self.characters, "lines": self.lines}

    @classmethod
    def from_dict(cls, saved: dict) -> "Vocabulary":
        return cls(saved["characters"], saved["lines"])


def reference_docs() -> str:
    """Python's reference documentation as one text: `pydoc_data.topics`, its topics in sorted order."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise ZooError(f"this Python ({sys.executable}) lacks pydoc_data, the default text corpus; "
                       f"give data.path=<a UTF-8 text file>") from None
    return "".join(topics[key] for key in sorted(topics))


def read_text(path: str) -> str:
    """The text of a UTF-8 file, without a byte order mark and with Windows line ends made "\\n"."""
    file = Path(path)
    if not file.exists():
        raise ZooError(f"data.path={path}: no such file; give a UTF-8 text file (scripts/download_data.py "
                       f"tiny_shakespeare fetches one), or leave data.path out for Python's own docs")
    if not file.is_file():
        raise ZooError(f"data.path={path} is not a file; give a UTF-8 text file")
    try:
        data = file.read_bytes()
    except OSError as error:
        raise ZooError(f"data.path={path} cannot be read: {error.strerror}") from None
    if not data:
        raise ZooError(f"data.path={path} is empty; give a file with text in it")
    nul = data.find(b"\0")
    if nul >= 0:
        raise ZooError(f"data.path={path} is not text: it holds a NUL byte at offset {nul}; give a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ZooError(f"data.path={path} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset "
                       f"{error.start} cannot be decoded ({error.reason}); convert it first, e.g. "
                       f"iconv -f latin1 -t utf-8") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


class WindowLoader:
    """Training batches of (x, y) windows cut from one block of ids, y being x shifted by one symbol.

    Each epoch draws from (seed, epoch) an offset in [0, context) and an order: the block is cut into
    non-overlapping windows from that offset, so a character does not sit at the same place of its window
    every epoch, and a resumed run sees the batches it would have seen. The number of windows is the same at every
    offset, so the length of an epoch is too. Windows are gathered by indexing the block where it lies
    (on the training device), a batch at a time. Where several processes train together, each takes its
    `share` of every batch (zoo.data.base.process_share).
    """

    def __init__(self, block: torch.Tensor, context: int, batch_size: int, shuffle: bool, seed: int = 0,
                 share: tuple[int, int] = (0, 1)):
        self.block, self.context, self.batch_size, self.shuffle = block, context, batch_size, shuffle
        self.share = share
        # A window takes context + 1 characters (inputs and targets); the last start must fit at offset context - 1.
        self.windows = max(0, (len(block) - context) // context)
        self.drop_last = shuffle and self.windows > batch_size  # as TensorLoader does
        # Lightning calls set_epoch on the sampler before each epoch; a SequentialSampler tells it the order is fixed.
        self.sampler = EpochPermutation(self.windows, seed) if shuffle else SequentialSampler(range(self.windows))
        self.batch_sampler = None

    def __len__(self) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        return rounding(self.windows / self.batch_size)

    def starts(self) -> torch.Tensor:
        """Where this epoch's windows start in the block, in the order they are served."""
        if not self.shuffle:
            return torch.arange(self.windows) * self.context
        generator = self.sampler.generator()
        offset = int(torch.randint(self.context, (), generator=generator))
        return offset + torch.randperm(self.windows, generator=generator) * self.context

    def __iter__(self):
        starts = self.starts().to(self.block.device)
        for i in range(len(self)):
            yield cut(self.block, own_share(starts[i * self.batch_size:(i + 1) * self.batch_size], self.share),
                      self.context)


def cut(block: torch.Tensor, starts: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows of `block` that start at `starts`: the inputs, and the targets one symbol later."""
    chunk = block[starts[:, None] + torch.arange(context + 1, device=block.device)]
    return chunk[:, :-1], chunk[:, 1:]


def evaluation_windows(block: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows from the start of `block`, in order, that predict every symbol but the
    first exactly once; the last window is padded (inputs with UNKNOWN, targets with IGNORED)."""
    predicted = max(0, len(block) - 1)
    size = math.ceil(predicted / context) * context
    x = torch.full((size,), UNKNOWN, dtype=torch.long)
    y = torch.full((size,), IGNORED, dtype=torch.long)
    x[:predicted], y[:predicted] = block[:predicted], block[1:]
    return x.view(-1, context), y.view(-1, context)


def line_samples(lines: list[str], vocabulary: Vocabulary, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One row per line: x = [boundary] + line, y = line + [boundary], padded to `context`
    (x with the boundary, y with IGNORED)."""
    lengths = torch.tensor([len(line) for line in lines], dtype=torch.long)
    ids = vocabulary.encode("".join(lines))
    row = torch.repeat_interleave(torch.arange(len(lines)), lengths)
    column = torch.arange(len(ids)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    x = torch.full((len(lines), context), BOUNDARY, dtype=torch.long)
    y = torch.full((len(lines), context), IGNORED, dtype=torch.long)
    x[row, column + 1] = ids
    y[row, column] = ids
    y[torch.arange(len(lines)), lengths] = BOUNDARY
    return x, y


class TextCorpus(L.LightningDataModule):
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

    def __init__(self, name: str = "text", data_dir: str = "data", path: str | None = None, lines: bool = False,
                 context: int = 64, batch_size: int = 64, eval_batch_size: int = 256, val_fraction: float = 0.05,
                 test_fraction: float = 0.05, seed: int = 0):
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
        return (f"data.path={self.path}" if self.path
                else f"the default corpus (pydoc_data.topics of Python {sys.version.split()[0]})")

    @property
    def vocabulary(self) -> Vocabulary:
        self.load()
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
            raise ZooError(f"data.val_fraction + data.test_fraction = {self.val_fraction + self.test_fraction:g} "
                           f"leaves nothing to train on; keep their sum below 1")

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
        texts = self.split_lines(text) if self.lines else self.split_characters(text)
        self._vocabulary = Vocabulary("".join(texts["train"]), self.lines)
        self.texts = texts

    def split_characters(self, text: str) -> dict[str, str]:
        sizes = self.portions(len(text))
        # A training window and the room to shift it take 2 x context; evaluation needs one full window.
        needed = {"train": 2 * self.context, "val": self.context + 1 if self.val_fraction else 0,
                  "test": self.context + 1}
        for split in SPLITS:
            if sizes[split] < needed[split]:
                fix = ("a smaller data.context, smaller data.val_fraction/test_fraction" if split == "train" else
                       f"a smaller data.context, a larger data.{split}_fraction")
                raise ZooError(f"{self.source}: its {len(text)} characters split into train {sizes['train']}, "
                               f"val {sizes['val']}, test {sizes['test']}, but with data.context={self.context} "
                               f"{split} needs at least {needed[split]}; use {fix} or a longer text")
        val_start, test_start = sizes["train"], sizes["train"] + sizes["val"]
        return {"train": text[:val_start], "val": text[val_start:test_start], "test": text[test_start:]}

    def split_lines(self, text: str) -> dict[str, list[str]]:
        lines = [line for line in text.splitlines() if line]
        if not lines:
            raise ZooError(f"{self.source} holds no non-empty line (data.lines=true makes each line a sample)")
        longest = max(len(line) for line in lines)
        if longest + 1 > self.context:
            raise ZooError(f"{self.source}: its longest line holds {longest} characters, {longest + 1} symbols with "
                           f"the boundary, more than data.context={self.context}; raise data.context to {longest + 1}")
        sizes = self.portions(len(lines))
        if min(sizes["train"], sizes["test"], sizes["val"] if self.val_fraction else 1) < 1:
            raise ZooError(f"{self.source}: its {len(lines)} lines split into train {sizes['train']}, val "
                           f"{sizes['val']}, test {sizes['test']}, and each split needs at least one line; use "
                           f"larger data.val_fraction/test_fraction or a longer file")
        # Lines are independent samples, so splitting them at random (as makemore does) is safe, and it
        # keeps a file sorted by frequency or alphabet from holding out only its rare or last names.
        order = torch.randperm(len(lines), generator=torch.Generator().manual_seed(SPLIT_SEED))
        bounds = {"train": (0, sizes["train"]), "val": (sizes["train"], sizes["train"] + sizes["val"]),
                  "test": (sizes["train"] + sizes["val"], len(lines))}
        return {split: [lines[i] for i in sorted(order[start:end].tolist())] for split, (start, end) in bounds.items()}

    def characters(self) -> dict[str, int]:
        """The number of characters of text in each split (line mode: of its lines, without line ends)."""
        self.load()
        return {split: len(text) if isinstance(text, str) else sum(map(len, text))
                for split, text in self.texts.items()}

    def describe(self) -> dict:
        """Plain values, stored in checkpoints: enough to encode a prompt and decode a sample."""
        self.load()
        return {"name": self.name, "task": self.task, "model_inputs": self.model_inputs, "context": self.context,
                "lines": self.lines, "path": self.path, "vocabulary": self.vocabulary.to_dict(),
                "characters": self.characters()}

    def prepare_data(self) -> None:
        """Check the corpus and the settings now, so that bad input stops the run before any training."""
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.load()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        for split, text in self.texts.items():
            if self.lines:
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
            raise ZooError(f"{self.source} gives a vocabulary of {len(self.vocabulary)} symbols, not the {len(trained)} this "
                           f"model was trained with; evaluate and resume on the text it was trained on")

    def write_run_files(self, folder) -> None:
        """Nothing: the run's config names the text, and its splits are fixed blocks of it."""

    def split_sizes(self) -> dict[str, int]:
        """Samples (windows; line mode: lines) in each split, after setup; a training epoch serves as many."""
        return {split: len(targets) for split, (_, targets) in self.splits.items()}

    def predicted_symbols(self, split: str) -> int:
        """How many targets `split` holds (padding excluded): the symbols its loss is averaged over."""
        return int((self.splits[split][1] != IGNORED).sum())

    def train_dataloader(self):
        # Lightning's overfit_batches means the same batches every epoch; it can only unshuffle a DataLoader.
        shuffle = not (self.trainer is not None and self.trainer.overfit_batches > 0)
        share = process_share(self.trainer, self.batch_size)
        if self.lines:
            return TensorLoader(*self.splits["train"], self.batch_size, shuffle=shuffle, seed=self.seed, share=share,
                                split_batches=True)
        return WindowLoader(self.blocks["train"], self.context, self.batch_size, shuffle=shuffle, seed=self.seed,
                            share=share)

    def val_dataloader(self):
        return evaluation_loader(self, "val")

    def test_dataloader(self):
        return evaluation_loader(self, "test")
