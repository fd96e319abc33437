"""Recurrent networks (`cell=rnn|lstm|gru`): a classifier that reads a signal's time steps or an image's
rows, and a language model that reads symbols and predicts the next one at every step."""

import torch
from torch import nn

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
