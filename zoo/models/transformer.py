"""A small encoder-only transformer: patch embedding, learned positions, pre-norm blocks.

Patches are 1-D for signals and 2-D for images, so the same model reads MNIST-1D and CIFAR-10.
"""

import math

import torch
from torch import nn

from zoo.models import register
from zoo.models.layers import require_choice, require_dropout, require_positive


class Block(nn.Module):
    """Pre-norm: normalizing before each sublayer keeps the residual path an identity,
    which trains stably without warm-up tricks at this size."""

    def __init__(self, dim, heads, mlp_ratio, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


@register("transformer")
class Transformer(nn.Module):
    def __init__(self, input_shape, num_classes, dim=64, depth=4, heads=4, patch=4, mlp_ratio=2.0,
                 dropout=0.1, pool="mean"):
        super().__init__()
        require_positive(dim=dim, depth=depth, heads=heads, patch=patch)
        require_dropout(dropout)
        require_choice("pool", pool, ["cls", "mean"])
        if dim % heads:
            raise ValueError(f"model.dim={dim} must be divisible by model.heads={heads}")
        if not mlp_ratio > 0:
            raise ValueError(f"model.mlp_ratio={mlp_ratio!r} must be positive")
        spatial = tuple(input_shape[1:])
        if len(spatial) not in (1, 2):
            raise ValueError(f"model=transformer takes (channels, length) or (channels, height, width) inputs, "
                             f"not shape {tuple(input_shape)}")
        if any(size % patch for size in spatial):
            raise ValueError(f"model.patch={patch} must divide the input size {'x'.join(map(str, spatial))}")
        conv = nn.Conv1d if len(spatial) == 1 else nn.Conv2d
        self.patch_embed = conv(input_shape[0], dim, patch, stride=patch)
        tokens = math.prod(size // patch for size in spatial) + (pool == "cls")
        self.pool = pool
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (batch, tokens, dim)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        x = self.blocks(self.dropout(x + self.pos_embed))
        x = self.norm(x)
        return self.head(x[:, 0] if self.pool == "cls" else x.mean(1))
