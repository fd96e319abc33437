"""Recurrent networks (`cell=rnn|lstm|gru`): a classifier that reads a signal's time steps or an image's
rows, and a language model that reads symbols and predicts the next one at every step."""

import torch
from torch import nn

from zoo.models.forecasting import Forecaster
from zoo.models.layers import conv_stem, require_choice, require_dropout, require_positive
from zoo.models.registry import register

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@register("rnn")
class RNN(nn.Module):
    """`pool` says what reaches the classifier: the final hidden state of each direction (`last`),
    the mean of all outputs (`mean`), or all outputs side by side (`flatten`, as in the MNIST-1D paper).
    `stem` > 0 puts a convolution of that many channels, stride `stem_stride`, before the recurrence
    (zoo.models.layers.conv_stem); 0 reads the raw inputs, as the MNIST-1D paper's GRU does."""

    table_input = "tokens"  # what it reads of a table's rows (zoo.models.table)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        cell: str = "gru",
        dim: int = 64,
        depth: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pool: str = "flatten",
        stem: int = 64,
        stem_stride: int = 2,
    ) -> None:
        super().__init__()
        require_choice("cell", cell, CELLS)
        require_choice("pool", pool, ["last", "mean", "flatten"])
        require_positive(dim=dim, depth=depth)
        require_dropout(dropout)
        if len(input_shape) not in (2, 3):
            raise ValueError(
                f"model=rnn takes (channels, length) or (channels, height, width) inputs, "
                f"not shape {tuple(input_shape)}"
            )
        self.stem, input_shape = conv_stem(input_shape, stem, stem_stride) if stem else (nn.Identity(), input_shape)
        steps = input_shape[1]
        features = input_shape[0] * (input_shape[2] if len(input_shape) == 3 else 1)
        directions = 2 if bidirectional else 1
        self.pool = pool
        self.rnn = CELLS[cell](
            features,
            dim,
            num_layers=depth,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if depth > 1 else 0.0,
        )
        width = dim * directions * (steps if pool == "flatten" else 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x) -> torch.Tensor:
        x = self.stem(x)
        if x.dim() == 4:  # (batch, channels, rows, cols) -> one step per row
            x = x.permute(0, 2, 1, 3).flatten(2)
        else:  # (batch, channels, length) -> one step per time point
            x = x.transpose(1, 2)
        out, hidden = self.rnn(x)
        if self.pool == "last":
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h, c)
            directions = 2 if self.rnn.bidirectional else 1
            features = hidden[-directions:].transpose(0, 1).flatten(1)
        elif self.pool == "mean":
            features = out.mean(1)
        else:
            features = out.flatten(1)
        return self.head(features)


@register("rnn", task="language_model")
class RNNLM(nn.Module):
    """Embedded symbols through a unidirectional recurrence, a linear readout at every step (the
    classic char-RNN). A bidirectional recurrence would read the symbols it is asked to predict."""

    def __init__(
        self,
        vocab_size: int,
        context: int,
        cell: str = "lstm",
        dim: int = 320,
        depth: int = 1,
        embed: int = 64,
        dropout: float = 0.1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if bidirectional:
            raise ValueError(
                f"model.bidirectional={bidirectional!r} would let a language model read the "
                f"symbols it predicts; use model.bidirectional=false"
            )
        require_choice("cell", cell, CELLS)
        require_positive(dim=dim, depth=depth, embed=embed)
        require_dropout(dropout)
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = CELLS[cell](embed, dim, num_layers=depth, batch_first=True, dropout=dropout if depth > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, vocab_size))

    def forward(self, x) -> torch.Tensor:
        return self.head(self.rnn(self.embed(x))[0])


def reverse_each(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first `lengths` steps in reverse order, the padding after them left in place (batch, time, ...)."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


class Attention(nn.Module):
    """Where a decoder output looks in the source: softmax over the source positions (padding excluded) of a score,
    Bahdanau et al.'s `additive` one, v . tanh(W q + U k), or Luong et al.'s `dot` product q . k."""

    def __init__(self, dim: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.query, self.key = nn.Linear(dim, dim, bias=False), nn.Linear(dim, dim)
            self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, queries, keys, padding) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (batch, steps, dim), keys (batch, source_len, dim) -> contexts and weights (batch, steps, keys)."""
        if self.kind == "dot":
            scores = queries @ keys.transpose(1, 2)
        else:
            scores = self.score(torch.tanh(self.query(queries)[:, :, None] + self.key(keys)[:, None])).squeeze(-1)
        weights = scores.masked_fill(padding[:, None], float("-inf")).softmax(-1)
        return weights @ keys, weights


@register("rnn", task="translation")
class RNNSeq2Seq(nn.Module):
    """A GRU encoder-decoder (Cho et al., 2014). The encoder reads the source in both directions (`bidirectional`;
    each direction its own stack of `depth` layers, each reading its own direction of the real symbols, so padding
    never reaches them); its final states, joined, start the decoder. Without attention that one vector is all the
    decoder knows of the source. With `attention=additive|dot` every decoder output also looks at all the encoder's
    outputs (Luong et al., 2015's global attention, with Bahdanau et al.'s additive score or the dot product) and
    reads their weighted mean beside its own state before the readout. Training runs the decoder over the whole
    target at once (teacher forcing). Shared vocabularies share one embedding table."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        shared_vocabulary: bool,
        cell: str = "gru",
        dim: int = 128,
        depth: int = 1,
        embed: int = 64,
        dropout: float = 0.1,
        bidirectional: bool = True,
        attention: str = "additive",
    ) -> None:
        super().__init__()
        if cell not in ("gru", "rnn"):
            raise ValueError(f"model.cell={cell!r}: the translation RNN takes one state per layer, gru or rnn")
        require_choice("attention", attention, ["none", "additive", "dot"])
        require_positive(dim=dim, depth=depth, embed=embed)
        require_dropout(dropout)
        between = dropout if depth > 1 else 0.0
        self.source_embed = nn.Embedding(source_vocab, embed, padding_idx=0)
        self.target_embed = self.source_embed if shared_vocabulary else nn.Embedding(target_vocab, embed, padding_idx=0)
        self.directions = nn.ModuleList(
            [
                CELLS[cell](embed, dim, num_layers=depth, batch_first=True, dropout=between)
                for _ in range(2 if bidirectional else 1)
            ]
        )
        read = dim * len(self.directions)
        self.bridge = nn.Sequential(nn.Linear(read, dim), nn.Tanh())  # the encoder's final states -> the decoder's
        self.keys = nn.Linear(read, dim)
        self.decoder = CELLS[cell](embed, dim, num_layers=depth, batch_first=True, dropout=between)
        self.attention = None if attention == "none" else Attention(dim, attention)
        self.combine = nn.Sequential(nn.Linear(2 * dim, dim), nn.Tanh()) if self.attention is not None else None
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, target_vocab)
        self.depth = depth

    @property
    def has_attention(self) -> bool:
        return self.attention is not None

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(keys (batch, source_len, dim), padding (batch, source_len), the decoder's first state (batch, dim))."""
        padding = source == 0
        lengths = (~padding).sum(1)
        embedded = self.dropout(self.source_embed(source))
        outputs = [self.directions[0](embedded)[0]]
        if len(self.directions) > 1:
            outputs.append(reverse_each(self.directions[1](reverse_each(embedded, lengths))[0], lengths))
        read = torch.cat(outputs, dim=-1)
        last = (lengths - 1).clamp_min(0)
        final = torch.cat([outputs[0][torch.arange(len(source)), last]] + [out[:, 0] for out in outputs[1:]], dim=-1)
        return self.keys(read), padding, self.bridge(final)

    def start(self, memory) -> tuple[torch.Tensor, ...]:
        final = memory[2]
        return (final[:, None].expand(-1, self.depth, -1).contiguous(),)

    def readout(self, outputs, memory) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.attention is None or self.combine is None:
            return self.head(self.dropout(outputs)), None
        contexts, weights = self.attention(outputs, memory[0], memory[1])
        return self.head(self.dropout(self.combine(torch.cat([outputs, contexts], dim=-1)))), weights

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        memory = self.encode(source)
        hidden = self.start(memory)[0].transpose(0, 1).contiguous()
        outputs = self.decoder(self.dropout(self.target_embed(target_in)), hidden)[0]
        return self.readout(outputs, memory)[0]

    def step(self, token, memory, state) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor | None]:
        output, hidden = self.decoder(self.target_embed(token)[:, None], state[0].transpose(0, 1).contiguous())
        logits, weights = self.readout(output, memory)
        return logits[:, 0], (hidden.transpose(0, 1),), None if weights is None else weights[:, 0]


class RecurrentEncoder(nn.Module):
    """A recurrence over the look-back's steps; its final hidden state (of each direction) is the window's."""

    def __init__(self, channels: int, cell: str, dim: int, depth: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.directions = 2 if bidirectional else 1
        self.rnn = CELLS[cell](
            channels,
            dim,
            num_layers=depth,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if depth > 1 else 0.0,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.rnn(x.transpose(1, 2))[1]
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h, c)
        return hidden[-self.directions :].transpose(0, 1).flatten(1)


@register("rnn", task="forecasting")
def rnn_forecaster(
    input_shape: tuple[int, ...],
    lookback: int,
    horizon: int,
    quantiles: list[float],
    covariates: dict,
    cell: str = "gru",
    dim: int = 64,
    depth: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    """A GRU (or LSTM, RNN) encoder over the look-back, one step per time point with every channel's value, and a
    direct multi-step head on its final state (the encoder of DeepAR and MQ-RNN, without their decoders): every step
    of the horizon at once, none fed back (zoo.models.forecasting)."""
    require_choice("cell", cell, CELLS)
    require_positive(dim=dim, depth=depth)
    require_dropout(dropout)
    encoder = RecurrentEncoder(input_shape[0], cell, dim, depth, bidirectional, dropout)
    return Forecaster(encoder, dim * encoder.directions, lookback, horizon, quantiles, covariates)
