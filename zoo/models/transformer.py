"""Small pre-norm transformers: an encoder over patches that classifies, and a decoder-only GPT that
models text. Both are the same blocks; the language model's attention is causal.

Patches are 1-D for signals and 2-D for images, so the classifier reads MNIST-1D and CIFAR-10.
"""

import math

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, dim = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(dim, dim=2)
        q, k, v = (t.view(batch, steps, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(batch, steps, dim))


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

    def forward(self, x) -> torch.Tensor:
        h = self.norm1(x)
        x = x + (self.attn(h) if self.causal else self.attn(h, h, h, need_weights=False)[0])
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
