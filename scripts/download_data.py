"""Download data sets into zoo's data folder, on a machine that is online.

    python scripts/download_data.py mnist fashion_mnist cifar10 tiny_shakespeare [--data-dir data]

Copy the folder to an offline machine and point `paths.data_dir` (or ZOO_DATA_DIR) at it; a text is
trained on with the `data=text data.path=...` the script prints. MNIST-1D, digits and the default text
corpus (Python's reference docs) need no download.
"""

import argparse
import os
import shutil
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zoo.data.text import TextCorpus
from zoo.data.torchvision_sets import CIFAR10, MNIST, FashionMNIST
from zoo.errors import ZooError

DATA_SETS = {"mnist": MNIST, "fashion_mnist": FashionMNIST, "cifar10": CIFAR10}
# Plain-text corpora for data=text, saved as <data-dir>/<name>/input.txt.
TEXTS = {
    "tiny_shakespeare": "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
}


def download_text(name: str, data_dir: str) -> Path:
    """Fetch text `name` unless it is there; written under a temporary name, checked, then renamed,
    so an interrupted or failed download never leaves a file that looks complete."""
    target = Path(data_dir).resolve() / name / "input.txt"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    url = TEXTS[name]
    try:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as file:
                shutil.copyfileobj(response, file)
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
            raise ZooError(f"{name}: the download from {url} failed: {' '.join(str(error).split())[:160]}") from None
        try:
            TextCorpus(path=str(partial)).prepare_data()  # UTF-8 text, long enough for the default settings
        except ZooError as error:
            raise ZooError(f"{name}: what {url} sent is not a usable text: {error}") from None
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=sorted([*DATA_SETS, *TEXTS]))
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            if name in TEXTS:
                print(f"{name}: ready; train on it with data=text data.path={download_text(name, args.data_dir)}")
                continue
            datamodule = DATA_SETS[name](name=name, data_dir=args.data_dir, download=True)
            datamodule.prepare_data()
        except ZooError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{name}: ready in {datamodule.folder.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
