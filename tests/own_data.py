"""A user's own data as tests write it: a messy folder of images (mixed formats, sizes and modes, hidden and stray
files) and a table of customers (numeric and categorical columns, missing values, a class and a quantity)."""

import numpy as np
import pandas as pd
from PIL import Image

CLASSES = {"cat": (210, 60, 40), "dog": (40, 70, 200), "fox": (60, 190, 60)}
FORMATS = [
    ("png", "RGB"),
    ("jpg", "RGB"),
    ("bmp", "RGB"),
    ("webp", "RGB"),
    ("gif", "P"),
    ("png", "L"),
    ("png", "RGBA"),
    ("png", "I;16"),
    ("png", "P"),
    ("jpg", "L"),
]


def picture(rng, colour, height, width, mode) -> Image.Image:
    """A noisy patch of the class's colour, in the given Pillow mode."""
    pixels = (rng.normal(0, 25, (height, width, 3)) + colour).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if mode == "I;16":
        return Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    return image.convert(mode)


def write_folder(root, per_class=12, seed=0):
    rng = np.random.default_rng(seed)
    for name, colour in CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            suffix, mode = FORMATS[i % len(FORMATS)]
            height, width = rng.integers(12, 70, 2)
            picture(rng, colour, int(height), int(width), mode).save(root / name / f"{name}_{i}.{suffix}")
    (root / ".DS_Store").write_bytes(b"\0\1junk")
    (root / "cat" / "notes.txt").write_text("taken in the garden")
    (root / "dog" / "Thumbs.db").write_bytes(b"\0" * 16)
    return root


def customers(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """An id, two numeric and three categorical columns (one of them codes stored as numbers), some missing; a
    class to predict (churn) and a quantity (spend), both following from the features."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": [f"c{i:04d}" for i in range(rows)],
            "age": rng.integers(18, 80, rows).astype(float),
            "income": rng.normal(50, 15, rows),
            "city": rng.choice(["paris", "rome", "oslo"], rows),
            "member": rng.choice([True, False], rows),
            "zip": rng.choice([75001, 10001, 50123], rows),
        }
    )
    frame.loc[rng.random(rows) < 0.15, "income"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "city"] = None
    score = (frame.age - 50) / 8 + (frame.city == "rome") * 2.0 - frame.member * 1.5
    frame["churn"] = np.where(score + rng.normal(0, 0.5, rows) > 0, "yes", "no")
    frame["spend"] = 3 * frame.age + 40 * (frame.city == "oslo") + frame.income.fillna(50) + rng.normal(0, 5, rows)
    return frame


def sales(stores: int = 3, months: int = 60, seed: int = 0) -> pd.DataFrame:
    """A panel of monthly sales per store in long format: a trend, a yearly season and noise at each store's own
    scale, a price known ahead that lowers sales (future), visitors observed only (past), a region per store
    (static)."""
    rng = np.random.default_rng(seed)
    frames = []
    for store in range(stores):
        t = np.arange(months)
        level = 50 * 4**store
        price = 10 + rng.normal(0, 1, months).round(1)
        season = 0.3 * np.sin(2 * np.pi * t / 12 + store)
        sales = level * (1 + 0.01 * t + season - 0.03 * (price - 10)) * (1 + rng.normal(0, 0.03, months))
        frames.append(
            pd.DataFrame(
                {
                    "store": f"s{store}",
                    "date": pd.date_range("2015-01-01", periods=months, freq="MS").strftime("%Y-%m-%d"),
                    "sales": sales.round(2),
                    "price": price,
                    "visitors": (sales / 3 + rng.normal(0, 2, months)).round(1),
                    "region": ["north", "south"][store % 2],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def beats(rows: int = 90, steps: int = 32, seed: int = 0) -> pd.DataFrame:
    """Series to classify in the wide layout: an id, one column a step (t0, t1, ...) and a label. Three shapes (a
    sine, a square wave, a ramp), each shifted in time and scaled at random, with noise: only their shape over time
    tells them apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps) / steps
    shapes = {
        "sine": lambda phase: np.sin(2 * np.pi * (2 * t + phase)),
        "square": lambda phase: np.sign(np.sin(2 * np.pi * (2 * t + phase))),
        "ramp": lambda phase: 2 * ((2 * t + phase) % 1) - 1,
    }
    labels = [list(shapes)[i % len(shapes)] for i in range(rows)]
    values = np.stack([rng.uniform(0.5, 2) * shapes[label](rng.random()) for label in labels])
    values += rng.normal(0, 0.2, values.shape)
    frame = pd.DataFrame(values.round(4), columns=[f"t{i}" for i in range(steps)])
    frame.insert(0, "id", [f"b{i:03d}" for i in range(rows)])
    frame["label"] = labels
    return frame
