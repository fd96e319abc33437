"""Decoding a translation network, greedily or by beam search: the one place that turns a trained encoder-decoder
into output sentences, for the translation task's metrics and views, zoo-generate and zoo-predict
(as Hugging Face's `generate()` is one mixin for every model; zoo's language models sample in zoo.models.sampling).

What a translation network of the zoo offers (the builders registered for task="translation"), every tensor batch
first, a sentence's ids padded at the end with 0 (zoo.data.pairs_files):

- `forward(source, target_in)`: every position's next-symbol logits (batch, time, target_vocab) under teacher
  forcing, `target_in` being the target behind its start symbol;
- `encode(source)`: the memory the decoder reads, a tuple of tensors;
- `start(memory)`: the decoder's first state, a tuple of tensors;
- `step(token, memory, state)`: one decoder step from the last output symbol (batch,): its logits (batch, vocab),
  the next state, and where it looked in the source (batch, source_len), or None for a network without attention.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from zoo.data.pairs_files import END, PAD, START


class EncoderDecoder(Protocol):
    """What decoding asks of a translation network (the module docstring says what each returns)."""

    training: bool

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]: ...

    def start(self, memory: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]: ...

    def step(
        self, token: torch.Tensor, memory: tuple[torch.Tensor, ...], state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]: ...

    def train(self, mode: bool = True) -> Any: ...


@dataclass
class Decoded:
    """Each sentence's output ids (without the start and end symbols), its attention (output steps x source
    positions, or None) and its score (the sum of its symbols' log-probabilities)."""

    ids: list[list[int]]
    attention: list[torch.Tensor | None]
    scores: list[float]


def reordered(tensors: tuple[torch.Tensor, ...], index: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(tensor.index_select(0, index) for tensor in tensors)


def decode(
    net: EncoderDecoder, source: torch.Tensor, max_len: int, beam: int = 1, length_penalty: float = 1.0
) -> Decoded:
    """Translate a batch of sources (batch, source_len) into at most `max_len` symbols each: the likeliest symbol
    at every step (`beam` 1), or beam search keeping the `beam` likeliest partial translations of each source, the
    finished ones ranked by their log-probability divided by length ** `length_penalty` (0: not normalized; 1: per
    symbol). Runs without gradients in eval mode, and leaves the net in the mode it found it in."""
    if beam < 1:
        raise ValueError(f"beam={beam} must be a positive integer (1: greedy)")
    if max_len < 1:
        raise ValueError(f"max_len={max_len} must be a positive integer")
    was_training = net.training
    net.train(False)
    try:
        with torch.no_grad():
            if beam == 1:
                return greedy(net, source, max_len)
            return beam_search(net, source, max_len, beam, length_penalty)
    finally:
        net.train(was_training)


def trimmed(rows: torch.Tensor, max_len: int) -> list[list[int]]:
    """Each row's ids up to its end symbol, `max_len` of them at most (a translation that never ended)."""
    out = []
    for row in rows.tolist():
        out.append(row[: row.index(END)] if END in row[: max_len + 1] else [i for i in row if i != PAD][:max_len])
    return out


def stacked_attention(steps: list, lengths: list[int]) -> list[torch.Tensor | None]:
    if not steps or steps[0] is None:
        return [None] * len(lengths)
    maps = torch.stack(steps, dim=1).float().cpu()  # (batch, steps, source_len)
    return [maps[i, : length + 1] for i, length in enumerate(lengths)]  # the end symbol's step too


def greedy(net: EncoderDecoder, source: torch.Tensor, max_len: int) -> Decoded:
    memory = net.encode(source)
    state = net.start(memory)
    token = torch.full((len(source),), START, dtype=torch.long, device=source.device)
    finished = torch.zeros(len(source), dtype=torch.bool, device=source.device)
    outputs, attention, scores = [], [], torch.zeros(len(source), device=source.device)
    for _ in range(max_len + 1):  # max_len symbols, then the end symbol
        logits, state, looked = net.step(token, memory, state)
        log_probabilities = logits.float().log_softmax(-1)
        token = log_probabilities.argmax(-1).masked_fill(finished, PAD)
        scores += log_probabilities.gather(1, token[:, None])[:, 0].masked_fill(finished, 0.0)
        outputs.append(token)
        attention.append(looked)
        finished |= token == END
        if bool(finished.all()):
            break
    ids = trimmed(torch.stack(outputs, dim=1), max_len)
    return Decoded(ids, stacked_attention(attention, [len(row) for row in ids]), scores.tolist())


def beam_search(net: EncoderDecoder, source: torch.Tensor, max_len: int, beam: int, length_penalty: float) -> Decoded:
    batch, device = len(source), source.device
    memory = reordered(net.encode(source), torch.arange(batch, device=device).repeat_interleave(beam))
    state = net.start(memory)
    token = torch.full((batch * beam,), START, dtype=torch.long, device=device)
    # Only the first of each source's beams is alive at first: the others would repeat it.
    scores = torch.full((batch, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(batch * beam, dtype=torch.bool, device=device)
    history = torch.zeros(batch * beam, 0, dtype=torch.long, device=device)
    looks: torch.Tensor | None = None
    offsets = (torch.arange(batch, device=device) * beam)[:, None]
    for _ in range(max_len + 1):
        logits, state, looked = net.step(token, memory, state)
        log_probabilities = logits.float().log_softmax(-1)
        # A finished translation goes on with padding, at no cost: it keeps its place and its score.
        log_probabilities[finished] = float("-inf")
        log_probabilities[finished, PAD] = 0.0
        vocab = log_probabilities.shape[-1]
        candidates = (scores.view(-1, 1) + log_probabilities).view(batch, beam * vocab)
        scores, chosen = candidates.topk(beam, dim=1)
        rows = (offsets + torch.div(chosen, vocab, rounding_mode="floor")).view(-1)
        token = (chosen % vocab).view(-1)
        state = reordered(state, rows)
        history = torch.cat([history[rows], token[:, None]], dim=1)
        if looked is not None:
            step_looks = looked.float()[rows][:, None]
            looks = step_looks if looks is None else torch.cat([looks[rows], step_looks], dim=1)
        finished = finished[rows] | (token == END)
        if bool(finished.all()):
            break
    candidates_ids = trimmed(history, max_len)
    lengths = torch.tensor([len(ids) + 1 for ids in candidates_ids], dtype=torch.float, device=device)
    ranked = scores.view(-1) / lengths**length_penalty
    best = (offsets[:, 0] + ranked.view(batch, beam).argmax(dim=1)).tolist()
    ids = [candidates_ids[i] for i in best]
    attention: list[torch.Tensor | None] = (
        [looks[i, : len(candidates_ids[i]) + 1].cpu() for i in best] if looks is not None else [None] * batch
    )
    return Decoded(ids, attention, scores.view(-1)[best].tolist())
