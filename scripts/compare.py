"""python scripts/compare.py [options]: the same as zoo-compare; see `python scripts/compare.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zoo.compare.command import main

if __name__ == "__main__":
    sys.exit(main())
