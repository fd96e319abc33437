"""Text from any language model of the zoo: sample one symbol at a time, each fed back as input."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # only for annotations
    from zoo.data.vocabulary import Vocabulary


def sample_text(
    net: nn.Module,
    vocabulary: Vocabulary,
    context: int,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """`length` characters after the text `prompt`, sampled on the net's device from a generator seeded with
    `seed`: the same seed gives the same text. A character the training text lacks is refused (ZooError)."""
    device = next(net.parameters()).device
    ids = generate(
        net,
        vocabulary.encode_prompt(prompt).to(device),
        length,
        context,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator(device=device).manual_seed(seed),
        start=vocabulary.start,
    )
    return vocabulary.decode(ids.cpu())


def generate(
    net: nn.Module,
    prompt: torch.Tensor,
    length: int,
    context: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    start: int | None = None,
) -> torch.Tensor:
    """`length` symbol ids that continue `prompt` (a 1-D LongTensor of ids, not empty).

    The net sees at most the last `context` symbols, the longest sequence it was trained on. The logits
    of the next symbol are divided by `temperature` (0 means greedy: always the most likely symbol) and,
    with `top_k`, restricted to the k most likely. Draws come from `generator`, so a seeded generator
    gives the same text every time. Runs without gradients, with the net in eval mode, and leaves the net
    in the mode it found it in.

    `start`: the id that begins every training sample, where samples are separate lines (makemore's
    names): the net then sees only the ids since the last `start`, as in training.
    """
    if prompt.dim() != 1 or len(prompt) == 0:
        raise ValueError(f"the prompt must be a non-empty 1-D tensor of symbol ids, not shape {tuple(prompt.shape)}")
    if length < 0:
        raise ValueError(f"length={length} must be zero or more")
    if context < 1:
        raise ValueError(f"context={context} must be a positive integer")
    if temperature < 0:
        raise ValueError(f"temperature={temperature} must be zero (greedy) or positive")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} must be a positive integer or None")
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            ids = prompt.to(next(net.parameters()).device, torch.long)
            for _ in range(length):
                seen = ids[-context:]
                if start is not None and (seen == start).any():
                    seen = seen[int((seen == start).nonzero()[-1]) :]
                logits = net(seen.unsqueeze(0))[0, -1]
                if temperature == 0:
                    following = logits.argmax().unsqueeze(0)
                else:
                    logits = logits / temperature
                    if top_k is not None:
                        kth = torch.topk(logits, min(top_k, len(logits))).values[-1]
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    following = torch.multinomial(logits.softmax(-1), 1, generator=generator)
                ids = torch.cat([ids, following])
    finally:
        net.train(was_training)
    return ids[len(prompt) :]
