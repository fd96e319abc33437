"""Download torchvision data sets into zoo's data folder, on a machine that is online.

    python scripts/download_data.py mnist fashion_mnist cifar10 [--data-dir data]

Copy the folder to an offline machine and point `paths.data_dir` (or ZOO_DATA_DIR) at it.
MNIST-1D and digits need no download.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zoo.data.torchvision_sets import CIFAR10, MNIST, FashionMNIST  # noqa: E402
from zoo.errors import ZooError  # noqa: E402

DATA_SETS = {"mnist": MNIST, "fashion_mnist": FashionMNIST, "cifar10": CIFAR10}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=sorted(DATA_SETS))
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    for name in args.names:
        datamodule = DATA_SETS[name](name=name, data_dir=args.data_dir, download=True)
        try:
            datamodule.prepare_data()
        except ZooError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{name}: ready in {datamodule.folder.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
