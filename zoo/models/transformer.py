"""Small pre-norm transformers: an encoder over patches that classifies, a decoder-only GPT that models text, and an
encoder-decoder that translates. All are the same blocks; the language model's attention and the translation
decoder's self-attention are causal.

Patches are 1-D for signals and 2-D for images, so the classifier reads MNIST-1D and CIFAR-10.
"""

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.forecasting import Forecaster
from zoo.models.layers import conv_stem, require_choice, require_dropout, require_positive
from zoo.models.registry import register


class CausalSelfAttention(nn.Module):
    """Self-attention with nn.MultiheadAttention's weights (the same names, made in the same order with the same
    initialization, so checkpoints and seeded runs are those of nn.MultiheadAttention), run through
    scaled_dot_product_attention with is_causal=True: position t attends to positions <= t only, and PyTorch picks
    its fused kernel (flash attention on a GPU)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Queries, keys and values of `x` (batch, steps, dim), each (batch, heads, steps, head_dim)."""
        batch, steps, dim = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(dim, dim=2)
        return tuple(t.view(batch, steps, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.heads(x)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(x.shape))

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The newest position alone, `x` (batch, 1, dim), attending to the keys and values of those before it and
        itself (in eval mode): (its output, the keys and values with its own appended), a decoder's cache."""
        q, k, v = self.heads(x)
        keys, values = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)
        out = F.scaled_dot_product_attention(q, keys, values)
        return self.out_proj(out.transpose(1, 2).reshape(x.shape)), keys, values


class Block(nn.Module):
    """Pre-norm: normalizing before each sublayer keeps the residual path an identity,
    which trains stably without warm-up tricks at this size."""

    def __init__(self, dim, heads, mlp_ratio, dropout, causal=False) -> None:
        super().__init__()
        self.causal = causal
        self.norm1 = nn.LayerNorm(dim)
        self.attn: nn.Module = (
            CausalSelfAttention(dim, heads, dropout)
            if causal
            else nn.MultiheadAttention(dim, heads, dropout, batch_first=True)
        )
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x, padding: torch.Tensor | None = None) -> torch.Tensor:
        """`padding` (batch, time), True at padded positions: no position attends to them (an encoder's source)."""
        h = self.norm1(x)
        x = x + (self.attn(h) if self.causal else self.attn(h, h, h, key_padding_mask=padding, need_weights=False)[0])
        return x + self.mlp(self.norm2(x))


def check_blocks(dim, heads, mlp_ratio) -> None:
    if dim % heads:
        raise ValueError(f"model.dim={dim} must be divisible by model.heads={heads}")
    if not mlp_ratio > 0:
        raise ValueError(f"model.mlp_ratio={mlp_ratio!r} must be positive")


@register("transformer")
class Transformer(nn.Module):
    """`stem` > 0 puts a convolution of that many channels (stride 1) before the patches, so each patch is
    cut from local features rather than raw points (Xiao et al., 2021, "Early convolutions help transformers
    see better"; zoo.models.layers.conv_stem)."""

    table_input = "tokens"  # what it reads of a table's rows (zoo.models.table)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        patch: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        pool: str = "mean",
        stem: int = 32,
    ) -> None:
        super().__init__()
        require_positive(dim=dim, depth=depth, heads=heads, patch=patch)
        require_dropout(dropout)
        require_choice("pool", pool, ["cls", "mean"])
        check_blocks(dim, heads, mlp_ratio)
        spatial = tuple(input_shape[1:])
        if len(spatial) not in (1, 2):
            raise ValueError(
                f"model=transformer takes (channels, length) or (channels, height, width) inputs, "
                f"not shape {tuple(input_shape)}"
            )
        if any(size % patch for size in spatial):
            raise ValueError(f"model.patch={patch} must divide the input size {'x'.join(map(str, spatial))}")
        conv = nn.Conv1d if len(spatial) == 1 else nn.Conv2d
        self.stem, stem_shape = conv_stem(input_shape, stem) if stem else (nn.Identity(), input_shape)
        self.patch_embed = conv(stem_shape[0], dim, patch, stride=patch)
        tokens = math.prod(size // patch for size in spatial) + (pool == "cls")
        self.pool = pool
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x) -> torch.Tensor:
        x = self.patch_embed(self.stem(x)).flatten(2).transpose(1, 2)  # (batch, tokens, dim)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.blocks(self.dropout(x + self.pos_embed))
        x = self.norm(x)
        return self.head(x[:, 0] if self.pool == "cls" else x.mean(1))


@register("transformer", task="language_model")
class TransformerLM(nn.Module):
    """Decoder-only GPT: token embedding plus a learned position, causal pre-norm blocks, a final
    LayerNorm and a linear head at every position. `positions` is the size of the position table
    (None: the data's context); the model reads at most that many symbols.

    The head is not tied to the token embedding: at a character vocabulary the embedding is a small
    share of the weights, so tying would save little and would couple the input and output tables."""

    def __init__(
        self,
        vocab_size: int,
        context: int,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        positions: int | None = None,
    ) -> None:
        super().__init__()
        positions = context if positions is None else positions
        require_positive(dim=dim, depth=depth, heads=heads, positions=positions)
        require_dropout(dropout)
        check_blocks(dim, heads, mlp_ratio)
        if context > positions:
            raise ValueError(
                f"data.context={context} is longer than model.positions={positions}; "
                f"set model.positions>={context} or null (the context)"
            )
        self.token_embed = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, positions, dim))
        # GPT-2's scale: small embeddings let the first blocks start near the identity.
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, dropout, causal=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, x) -> torch.Tensor:
        x = self.token_embed(x) + self.pos_embed[:, : x.shape[1]]
        return self.head(self.norm(self.blocks(self.dropout(x))))


def sinusoids(steps: int, dim: int, device=None) -> torch.Tensor:
    """Vaswani et al.'s fixed positions (steps, dim): sines and cosines of geometrically spaced frequencies, defined
    at any position, so a translation may be longer than any seen in training."""
    position = torch.arange(steps, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(steps, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class DecoderBlock(nn.Module):
    """Pre-norm: causal self-attention over the target so far, attention to the encoder's output (cross-attention),
    then the MLP."""

    def __init__(self, dim, heads, mlp_ratio, dropout) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.cross = nn.MultiheadAttention(dim, heads, dropout, batch_first=True)
        self.norm3 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x, memory, padding, weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x + self.attn(self.norm1(x))
        return self.rest(x, memory, padding, weights)

    def rest(self, x, memory, padding, weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        looked, attention = self.cross(self.norm2(x), memory, memory, key_padding_mask=padding, need_weights=weights)
        x = x + looked
        return x + self.mlp(self.norm3(x)), attention

    def step(self, x, memory, padding, keys, values) -> tuple[torch.Tensor, ...]:
        """The newest position (batch, 1, dim) with the cache of the positions before it: (output, keys, values,
        cross-attention weights)."""
        attended, keys, values = self.attn.step(self.norm1(x), keys, values)
        x, attention = self.rest(x + attended, memory, padding, weights=True)
        assert attention is not None  # asked for
        return x, keys, values, attention


@register("transformer", task="translation")
class TransformerSeq2Seq(nn.Module):
    """The encoder-decoder of "Attention is all you need" (Vaswani et al., 2017), pre-norm: the encoder's blocks
    read the source (padding masked), the decoder's read the target so far and attend to the encoder's output. Token
    embeddings scaled by sqrt(dim) plus fixed sinusoidal positions; where source and target share one vocabulary
    they share one embedding table too. Decoding keeps each decoder block's keys and values of the output so far."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        shared_vocabulary: bool,
        dim: int = 128,
        depth: int = 3,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        require_positive(dim=dim, depth=depth, heads=heads)
        require_dropout(dropout)
        check_blocks(dim, heads, mlp_ratio)
        if dim % 2:
            raise ValueError(f"model.dim={dim} must be even (sinusoidal positions pair a sine with a cosine)")
        self.dim, self.heads = dim, heads
        self.source_embed = nn.Embedding(source_vocab, dim, padding_idx=0)
        self.target_embed = self.source_embed if shared_vocabulary else nn.Embedding(target_vocab, dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList([Block(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.encoder_norm = nn.LayerNorm(dim)
        self.decoder = nn.ModuleList([DecoderBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, target_vocab)

    has_attention = True

    def embedded(self, embed: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(embed(ids) * math.sqrt(self.dim) + sinusoids(ids.shape[1], self.dim, ids.device))

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(the encoder's output (batch, source_len, dim), padding (batch, source_len))."""
        padding = source == 0
        x = self.embedded(self.source_embed, source)
        for block in self.encoder:
            x = block(x, padding)
        return self.encoder_norm(x), padding

    def decode(self, target_in, memory, weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.embedded(self.target_embed, target_in)
        attention = None
        for index, block in enumerate(self.decoder):
            x, attention = block(x, memory[0], memory[1], weights=weights and index == len(self.decoder) - 1)
        return self.head(self.norm(x)), attention

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(target_in, self.encode(source))[0]

    def start(self, memory) -> tuple[torch.Tensor, ...]:
        """Each decoder block's cache of keys and values, empty: (batch, heads, 0, head_dim) each."""
        empty = memory[0].new_zeros(len(memory[0]), self.heads, 0, self.dim // self.heads)
        return tuple(empty for _ in range(2 * len(self.decoder)))

    def step(self, token, memory, state) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
        """One symbol further, from the cache of keys and values of those before it (their self-attention is all a
        new position needs of them): a step costs one position, not the whole output so far."""
        position = state[0].shape[2]
        x = self.target_embed(token)[:, None] * math.sqrt(self.dim)
        x = x + sinusoids(position + 1, self.dim, token.device)[-1]
        cache, attention = [], None
        for index, block in enumerate(cast(list[DecoderBlock], self.decoder)):
            x, keys, values, attention = block.step(x, memory[0], memory[1], state[2 * index], state[2 * index + 1])
            cache += [keys, values]
        return self.head(self.norm(x))[:, 0], tuple(cache), None if attention is None else attention[:, 0]


class PatchEncoder(nn.Module):
    """PatchTST's encoder: the look-back cut into patches of `patch` steps (the first value repeated in front where
    the length does not divide), each patch of every channel one token, a learned position, pre-norm blocks; the
    tokens side by side (PatchTST's flatten head) are the window's."""

    def __init__(self, channels, lookback, patch, dim, depth, heads, mlp_ratio, dropout) -> None:
        super().__init__()
        self.tokens = math.ceil(lookback / patch)
        self.pad = self.tokens * patch - lookback
        self.embed = nn.Conv1d(channels, dim, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.randn(1, self.tokens, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad, 0), mode="replicate")
        tokens = self.embed(x).transpose(1, 2)  # (batch, tokens, dim)
        return self.norm(self.blocks(self.dropout(tokens + self.pos_embed))).flatten(1)


@register("transformer", task="forecasting")
def transformer_forecaster(
    input_shape: tuple[int, ...],
    lookback: int,
    horizon: int,
    quantiles: list[float],
    covariates: dict,
    dim: int = 64,
    depth: int = 2,
    heads: int = 4,
    patch: int | None = None,
    mlp_ratio: float = 2.0,
    dropout: float = 0.1,
) -> nn.Module:
    """PatchTST (Nie et al., 2023, "A time series is worth 64 words"): patches of the look-back as tokens, then the
    quantile head (zoo.models.forecasting). `patch` None: lookback // 8 steps (at least 1), about 8 tokens."""
    patch = max(1, lookback // 8) if patch is None else patch
    require_positive(dim=dim, depth=depth, heads=heads, patch=patch)
    require_dropout(dropout)
    check_blocks(dim, heads, mlp_ratio)
    if patch > lookback:
        raise ValueError(f"model.patch={patch} is longer than data.lookback={lookback}; give a shorter patch")
    encoder = PatchEncoder(input_shape[0], lookback, patch, dim, depth, heads, mlp_ratio, dropout)
    return Forecaster(encoder, encoder.tokens * dim, lookback, horizon, quantiles, covariates)
