"""A multilayer perceptron: `depth` hidden layers of `dim` units over the flattened input."""

import math

from torch import nn

from zoo.models import register
from zoo.models.layers import make_activation, require_choice, require_dropout, require_positive

NORMS = {"none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


@register("mlp")
class MLP(nn.Module):
    def __init__(self, input_shape, num_classes, dim=256, depth=2, dropout=0.1, norm="batch",
                 activation="relu"):
        super().__init__()
        require_positive(dim=dim, depth=depth)
        require_dropout(dropout)
        require_choice("norm", norm, NORMS)
        layers = [nn.Flatten()]
        width = math.prod(input_shape)
        for _ in range(depth):
            layers.append(nn.Linear(width, dim))
            if NORMS[norm] is not None:
                layers.append(NORMS[norm](dim))
            layers += [make_activation(activation), nn.Dropout(dropout)]
            width = dim
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
