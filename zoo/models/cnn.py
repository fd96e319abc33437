"""A convolutional network: Conv1d for 1-D signals, Conv2d for images, chosen from the input shape.

Each block is conv -> norm -> activation -> pool; channels double from block to block unless a list
is given. The head is a global average pool (`head=gap`) or a flatten (`head=flatten`) into a linear layer.
"""

import torch
from torch import nn

from zoo.models import register
from zoo.models.layers import make_activation, require_choice, require_dropout, require_positive

LAYERS = {  # spatial dims -> (conv, batch norm, max pool, avg pool, adaptive avg pool)
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d),
}


@register("cnn")
class CNN(nn.Module):
    def __init__(self, input_shape, num_classes, dim=32, depth=3, channels=None, kernel=5, stride=1,
                 norm="batch", pool="max", head="gap", dropout=0.0, activation="relu"):
        super().__init__()
        if len(input_shape) - 1 not in LAYERS:
            raise ValueError(f"model=cnn takes (channels, length) or (channels, height, width) inputs, "
                             f"not shape {tuple(input_shape)}")
        channels = list(channels) if channels else [dim * 2**i for i in range(depth)]
        kernels = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel] * len(channels)
        if len(kernels) != len(channels):
            raise ValueError(f"model.kernel has {len(kernels)} entries but there are {len(channels)} conv layers")
        require_positive(dim=dim, depth=depth, stride=stride, **{f"kernel[{i}]": k for i, k in enumerate(kernels)},
                         **{f"channels[{i}]": c for i, c in enumerate(channels)})
        require_dropout(dropout)
        require_choice("norm", norm, ["batch", "none"])
        require_choice("pool", pool, ["max", "avg", "none"])
        require_choice("head", head, ["gap", "flatten"])
        conv, batch_norm, max_pool, avg_pool, global_pool = LAYERS[len(input_shape) - 1]

        layers, size, width = [], min(input_shape[1:]), input_shape[0]
        for out, k in zip(channels, kernels):
            layers.append(conv(width, out, k, stride=stride, padding=k // 2, bias=norm == "none"))
            size = (size + 2 * (k // 2) - k) // stride + 1  # never below 1, thanks to the padding
            if norm == "batch":
                layers.append(batch_norm(out))
            layers.append(make_activation(activation))
            if pool != "none" and size >= 2:  # stop pooling once the feature map is a single point
                layers.append((max_pool if pool == "max" else avg_pool)(2))
                size //= 2
            width = out
        self.features = nn.Sequential(*layers)
        if head == "gap":
            self.head = nn.Sequential(global_pool(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, num_classes))
        else:
            with torch.no_grad():
                flat = self.features(torch.zeros(1, *input_shape)).numel()
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
