"""A data set with a deliberately broken label mapping, to show that the learning tests would catch one."""

import torch

from zoo.data.mnist1d import MNIST1D


class ShuffledLabels(MNIST1D):
    """MNIST-1D whose training labels are shuffled: inputs and labels no longer belong together."""

    def load(self):
        x, y, x_test, y_test = super().load()
        shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
        return x, shuffled, x_test, y_test
