"""scikit-learn's bundled 8x8 handwritten digits: 1797 images, no download needed."""

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from zoo.data.augment import Augmentation, ImageAugmentation
from zoo.data.base import InMemoryDataModule


class Digits(InMemoryDataModule):
    input_shape = (1, 8, 8)
    num_classes = 10
    class_names = tuple(str(digit) for digit in range(10))
    pixel_max = 16.0  # scikit-learn stores the digits as 0-16

    def __init__(self, test_fraction: float = 0.2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.test_fraction = test_fraction

    def make_augmentation(self, settings: dict) -> Augmentation:
        return ImageAugmentation(**settings, flip_allowed=False, data=self.name)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        images, labels = load_digits(return_X_y=True)
        x, x_test, y, y_test = train_test_split(
            images.reshape(-1, 1, 8, 8),
            labels,
            test_size=self.test_fraction,
            stratify=labels,
            random_state=self.split_seed,
        )
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(x_test), torch.from_numpy(y_test)
