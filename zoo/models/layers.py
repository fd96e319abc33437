"""Small pieces the model files share: argument checks, activations and normalization by name."""

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


def require_positive(**values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"model.{key}={value!r} must be a positive integer")


def require_dropout(dropout: float) -> None:
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"model.dropout={dropout!r} must be a number in [0, 1)")


def require_choice(key: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"model.{key}={value!r} must be one of {', '.join(map(str, choices))}")


def make_activation(name: str) -> nn.Module:
    require_choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def require_causal_norm(norm: str) -> None:
    """Batch statistics mix the positions of a sequence, so in training position t would see the
    symbols after it: a language model normalizes per position or not at all."""
    if norm == "batch":
        raise ValueError(
            "model.norm=batch lets a language model see later positions through the batch "
            "statistics; use model.norm=layer or none"
        )
    require_choice("norm", norm, ["layer", "none"])


def conv_stem(input_shape, channels: int, stride: int = 1) -> tuple[nn.Module, tuple[int, ...]]:
    """A convolution, batch norm and ReLU before a sequence model (`model.stem=<channels>`), and the input
    shape it hands on: local features for the recurrence or the attention to work on, the usual front end of a
    CRNN or of a transformer with an early convolution. Kernel 5 for signals, 3 for images; `stride` shortens
    the sequence (a recurrence over fewer steps is faster)."""
    require_positive(stem=channels, stem_stride=stride)
    spatial = tuple(input_shape[1:])
    conv, norm, kernel = (nn.Conv1d, nn.BatchNorm1d, 5) if len(spatial) == 1 else (nn.Conv2d, nn.BatchNorm2d, 3)
    stem = nn.Sequential(
        conv(input_shape[0], channels, kernel, stride=stride, padding=kernel // 2, bias=False),
        norm(channels),
        nn.ReLU(),
    )
    return stem, (channels, *((size + stride - 1) // stride for size in spatial))
