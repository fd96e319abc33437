"""A text's ids as a language model's samples: windows cut from one block (character mode), or one line each
(line mode), and the loader that draws each epoch's windows."""

import math
from collections.abc import Iterator

import torch
from torch.utils.data import SequentialSampler

from zoo.data.loaders import EpochPermutation, own_share
from zoo.data.vocabulary import BOUNDARY, IGNORED, UNKNOWN, Vocabulary


class WindowLoader:
    """Training batches of (x, y) windows cut from one block of ids, y being x shifted by one symbol.

    Each epoch draws from (seed, epoch) an offset in [0, context) and an order: the block is cut into
    non-overlapping windows from that offset, so a character does not sit at the same place of its window
    every epoch, and a resumed run sees the batches it would have seen. The number of windows is the same at every
    offset, so the length of an epoch is too. Windows are gathered by indexing the block where it lies
    (on the training device), a batch at a time. Where several processes train together, each takes its
    `share` of every batch (zoo.data.base.process_share).
    """

    def __init__(
        self,
        block: torch.Tensor,
        context: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        share: tuple[int, int] = (0, 1),
    ) -> None:
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
        if not isinstance(self.sampler, EpochPermutation):  # not shuffled
            return torch.arange(self.windows) * self.context
        generator = self.sampler.generator()
        offset = int(torch.randint(self.context, (), generator=generator))
        return offset + torch.randperm(self.windows, generator=generator) * self.context

    def __iter__(self) -> Iterator:
        starts = self.starts().to(self.block.device)
        for i in range(len(self)):
            yield cut(
                self.block, own_share(starts[i * self.batch_size : (i + 1) * self.batch_size], self.share), self.context
            )


def cut(block: torch.Tensor, starts: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows of `block` that start at `starts`: the inputs, and the targets one symbol later."""
    chunk = block[starts[:, None] + torch.arange(context + 1, device=block.device)]
    return chunk[:, :-1], chunk[:, 1:]


def evaluation_windows(block: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of `block` that predict every symbol but the first exactly once, each with at least half a
    context of history where the block allows it (the strided evaluation of GPT-2's perplexities).

    The windows start every `stride = context // 2` symbols (at least 1). The first window scores all its
    positions; every later one scores only its last `stride` positions, whose inputs follow at least
    `context - stride` symbols of the window, the symbols the previous window scored. Their targets are
    IGNORED elsewhere, so each symbol of the block but the first is the target exactly once, in order. The
    last window is padded past the block's end (inputs with UNKNOWN, targets with IGNORED). A context of 64
    scores each character after at least 33 characters of history (but the first window's), where windows
    cut end to end gave a character at the start of a window none.
    """
    predicted = max(0, len(block) - 1)
    stride = max(1, context // 2)
    count = 1 + max(0, math.ceil((predicted - context) / stride))
    size = (count - 1) * stride + context
    x = torch.full((size,), UNKNOWN, dtype=torch.long)
    y = torch.full((size,), IGNORED, dtype=torch.long)
    x[:predicted], y[:predicted] = block[:predicted], block[1:]
    index = torch.arange(count)[:, None] * stride + torch.arange(context)
    x, y = x[index], y[index]
    y[1:, : context - stride] = IGNORED  # scored by the window before
    return x, y


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
