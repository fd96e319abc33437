"""What each family reads of a table's encoded rows (zoo.data.table_files: numbers, then category codes).

A family declares `table_input`:
- "vector" (linear, mlp): the numbers and a one-hot vector of every category code, side by side: logistic
  regression and a plain MLP on the usual encoding of a table;
- "tokens" (cnn, rnn, transformer): one token of `token_dim` values per feature, the feature tokenizer of the
  FT-Transformer (Gorishniy et al., 2021): a number x becomes x * w + b, a category its own embedding, each column
  with its own weights. The tokens are handed on as (token_dim, features), a sequence the CNN convolves along
  (1-D), the GRU reads one feature a step and the transformer attends over (with model.patch=1 and a class token:
  the FT-Transformer; conf/model/for_data/table/).
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class TableInputs(nn.Module):
    """Encoded rows (batch, numeric + categorical) -> a family's input: (batch, width) or (batch, token_dim,
    features)."""

    def __init__(self, numeric: int, categories: list[int], form: str, token_dim: int) -> None:
        super().__init__()
        self.numeric, self.categories, self.form = numeric, list(categories), form
        if form == "tokens":
            self.weight = nn.Parameter(torch.randn(numeric, token_dim) / token_dim**0.5)
            self.bias = nn.Parameter(torch.zeros(numeric + len(categories), token_dim))
            self.embeddings = nn.ModuleList(nn.Embedding(count, token_dim) for count in self.categories)
            for embedding in self.embeddings:
                assert isinstance(embedding, nn.Embedding)
                nn.init.normal_(embedding.weight, std=token_dim**-0.5)

    def output_shape(self, token_dim: int) -> tuple[int, ...]:
        if self.form == "vector":
            return (self.numeric + sum(self.categories),)
        return (token_dim, self.numeric + len(self.categories))

    def forward(self, x) -> torch.Tensor:
        values, codes = x[:, : self.numeric], x[:, self.numeric :].long()
        if self.form == "vector":
            return torch.cat(
                [values, *(F.one_hot(codes[:, i], count).to(values.dtype) for i, count in enumerate(self.categories))],
                dim=1,
            )
        tokens = [values.unsqueeze(-1) * self.weight] + [
            embedding(codes[:, i]).unsqueeze(1) for i, embedding in enumerate(self.embeddings)
        ]
        return (torch.cat(tokens, dim=1) + self.bias).transpose(1, 2)


class TableModel(nn.Sequential):
    """A family's network behind the TableInputs it reads through."""

    def __init__(self, inputs: TableInputs, body: nn.Module) -> None:
        super().__init__(OrderedDict([("inputs", inputs), ("body", body)]))


def build_for_table(builder, table: dict, outputs: dict, settings: dict) -> nn.Module:
    """`builder` (a classifier's) for encoded rows: TableInputs of the form the family reads, then the family."""
    inputs = TableInputs(table["numeric"], table["categories"], builder.table_input, table["token_dim"])
    return TableModel(inputs, builder(input_shape=inputs.output_shape(table["token_dim"]), **outputs, **settings))
