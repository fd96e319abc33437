"""Two-class points in the plane, after TensorFlow Playground (playground.tensorflow.org, src/dataset.ts).

Small enough to watch a decision boundary form: each sample is a point (x, y), and the model sees the
features of it that `features` chooses, as Playground's input column does (x, y, x², y², xy, sin x,
sin y), so that a linear model given x² and y² can draw a circle. The points are drawn on the spot
from `generator_seed` (the same settings, the same points; nothing is cached), shuffled, and half of
them test, Playground's default ratio; validation is carved from the training half as for every data set.

`noise` is on Playground's 0 to 0.5 scale. For `circle` and `xor` it moves the point at which the label
is read (the point itself stays): near the boundary some labels flip. For `gauss` it widens the two
clouds, for `spiral` and `moons` it moves the points themselves.
"""

import math

import numpy as np
import torch

from zoo.data.base import InMemoryDataModule
from zoo.errors import ZooError

# name -> the feature of points (N, 2). Names the command line takes without quotes (Hydra would read
# x^2 as a syntax error and sin(x) as a function call); Playground's spelling in brackets where it differs.
FEATURES = {
    "x": lambda p: p[:, 0],
    "y": lambda p: p[:, 1],
    "x2": lambda p: p[:, 0] ** 2,
    "y2": lambda p: p[:, 1] ** 2,
    "xy": lambda p: p[:, 0] * p[:, 1],
    "sinx": lambda p: torch.sin(p[:, 0]),
    "siny": lambda p: torch.sin(p[:, 1]),
}
PLAYGROUND_SPELLING = {"x2": "x^2", "y2": "y^2", "sinx": "sin(x)", "siny": "sin(y)"}


def circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Half the points within radius 2.5, half on the ring from 3.5 to 5; class 1 inside radius 2.5."""
    inner = n // 2
    radius = np.concatenate([rng.uniform(0, 2.5, inner), rng.uniform(3.5, 5, n - inner)])
    angle = rng.uniform(0, 2 * math.pi, n)
    points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    moved = points + rng.uniform(-5, 5, (n, 2)) * noise
    return points, np.linalg.norm(moved, axis=1) < 2.5


def xor(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Uniform in the square [-5, 5]², pushed 0.3 off the axes; class 1 where x and y have the same sign."""
    points = rng.uniform(-5, 5, (n, 2))
    points += np.where(points > 0, 0.3, -0.3)
    moved = points + rng.uniform(-5, 5, (n, 2)) * noise
    return points, moved[:, 0] * moved[:, 1] >= 0


def gauss(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds, class 1 around (2, 2) and class 0 around (-2, -2); the variance grows from
    0.5 (noise 0) to 4 (noise 0.5)."""
    std = math.sqrt(0.5 + 7 * noise)
    ones = n // 2
    centers = np.concatenate([np.full((ones, 2), 2.0), np.full((n - ones, 2), -2.0)])
    return centers + rng.normal(0, std, (n, 2)), np.arange(n) < ones


def spiral(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of 1.75 turns out to radius 5; class 1 starts upwards, class 0 downwards."""
    ones = n // 2
    arms = []
    for count, turn in ((ones, 0.0), (n - ones, math.pi)):
        step = np.arange(count) / count
        radius, angle = 5 * step, 1.75 * 2 * math.pi * step + turn
        arms.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
    points = np.concatenate(arms) + rng.uniform(-1, 1, (n, 2)) * noise
    return points, np.arange(n) < ones


def moons(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two moons, stretched from about [-1, 2] x [-0.5, 1] to [-5, 5] x [-2.5, 2.5]; its
    Gaussian noise has standard deviation `noise` moon radii. Class 0 is the upper moon, 1 the lower."""
    from sklearn.datasets import make_moons  # here: scikit-learn's import costs every run 0.65 s, toy or not

    points, labels = make_moons(n_samples=n, noise=noise, random_state=int(rng.integers(2**31)))
    return (points - [0.5, 0.25]) * 10 / 3, labels == 1


SHAPES = {"circle": circle, "xor": xor, "gauss": gauss, "spiral": spiral, "moons": moons}
CLASS_NAMES = {
    "circle": ["outside", "inside"],
    "xor": ["opposite signs", "same sign"],
    "gauss": ["around (-2,-2)", "around (2,2)"],
    "spiral": ["second arm", "first arm"],
    "moons": ["upper moon", "lower moon"],
}


def feature_list(features) -> list[str]:
    """The chosen features, checked: one line naming the choices when one is unknown."""
    if isinstance(features, str):  # data.features=xy: one feature, not the letters x and y
        features = [features]
    features = [str(name) for name in (features or [])]
    choices = ", ".join(
        name + (f" ({PLAYGROUND_SPELLING[name]})" if name in PLAYGROUND_SPELLING else "") for name in FEATURES
    )
    if not features:
        raise ZooError(f"data.features is empty; choose some of {choices}, e.g. data.features=[x,y,x2,y2]")
    for name in features:
        if name not in FEATURES:
            raise ZooError(f"data.features: {name!r} is not a feature; choose from {choices}")
    if len(set(features)) < len(features):
        raise ZooError(f"data.features={features} names a feature twice")
    return features


class Toy(InMemoryDataModule):
    """Playground's 2-D data. Besides the model's inputs, it keeps the raw points of every split
    (`points`, after setup) and turns any points into the model's inputs (`inputs`), so that a view
    can evaluate the model over the whole `plane`."""

    num_classes = 2
    # The square the points lie in, as Playground draws it: what a decision boundary view shows.
    plane = (-6.0, 6.0)
    suited_models = ("linear", "mlp")

    def __init__(
        self,
        shape: str = "circle",
        noise: float = 0.0,
        samples: int = 500,
        features=("x", "y"),
        test_fraction: float = 0.5,
        generator_seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if shape not in SHAPES:
            raise ZooError(f"data.shape={shape!r} is not a shape; choose one of {', '.join(SHAPES)}")
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= 0.5:
            raise ZooError(f"data.noise={noise!r} must be a number from 0 to 0.5 (Playground's scale)")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 8:
            raise ZooError(f"data.samples={samples!r} must be an integer of at least 8")
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
            raise ZooError(f"data.test_fraction={test_fraction!r} must be a number between 0 and 1")
        self.shape, self.noise, self.samples = shape, float(noise), samples
        self.test_fraction, self.generator_seed = float(test_fraction), generator_seed
        self.feature_names = feature_list(features)
        self.input_shape = (len(self.feature_names),)
        self.class_names = CLASS_NAMES[shape]
        self.points: dict[str, torch.Tensor] = {}

    def features(self, points: torch.Tensor) -> torch.Tensor:
        """The chosen features of points (N, 2), not yet normalized: (N, number of features)."""
        points = torch.as_tensor(points, dtype=torch.float32)
        return torch.stack([FEATURES[name](points) for name in self.feature_names], dim=1)

    def inputs(self, points: torch.Tensor) -> torch.Tensor:
        """What the model takes for points (N, 2): their features, normalized as the splits were (after setup)."""
        assert self.normalization is not None, "setup() first"
        mean, std = (torch.tensor(self.normalization[key]) for key in ("mean", "std"))
        return (self.features(points) - mean) / std

    def generate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All `samples` points (N, 2) and their labels, shuffled: the same for the same settings."""
        rng = np.random.default_rng(self.generator_seed)
        points, labels = SHAPES[self.shape](rng, self.samples, self.noise)
        order = rng.permutation(self.samples)
        return torch.tensor(points[order], dtype=torch.float32), torch.tensor(labels[order], dtype=torch.long)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        points, labels = self.generate()
        test = round(self.samples * self.test_fraction)
        self._train_points, self.points["test"] = points[test:], points[:test]
        return self.features(points[test:]), labels[test:], self.features(points[:test]), labels[:test]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        super().setup(stage)
        for split, index in self.indices.items():
            self.points[split] = self._train_points[index]
