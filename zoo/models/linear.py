"""Logistic regression: the baseline row of the MNIST-1D paper."""

import math

from torch import nn

from zoo.models import register


@register("linear")
class Linear(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))

    def forward(self, x):
        return self.classifier(x)
