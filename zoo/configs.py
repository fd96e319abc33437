"""Where zoo's configs lie, and the plain values read from them.

`conf/` sits at the top of a checkout, where users look for it; an installed wheel carries it inside the package as
zoo/conf (pyproject.toml). `CONFIG_DIR` is absolute, so the configs are found however zoo is started.
"""

import numbers
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

_PACKAGE = Path(__file__).resolve().parent
CONFIG_DIR = str(_PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf")


def plain(node: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """A config node as plain Python containers (interpolations resolved): what checkpoints store, and what zoo
    reads settings from."""
    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=resolve))


def is_int(value) -> bool:
    """A whole number, as a config holds it (true and false are not numbers here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A real number, as a config holds it (true and false are not numbers here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
