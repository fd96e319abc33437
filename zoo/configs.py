"""Where zoo's configs lie, and the plain values read from them.

`conf/` sits at the top of a checkout, where users look for it; an installed wheel carries it inside the package as
zoo/conf (pyproject.toml). `CONFIG_DIR` is absolute, so the configs are found however zoo is started.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # only for annotations: omegaconf is imported where configs are read, so `import zoo` stays light
    from omegaconf import DictConfig

_PACKAGE = Path(__file__).resolve().parent
CONFIG_DIR = str(_PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf")


def plain(node: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """A config node as plain Python containers (interpolations resolved): what checkpoints store, and what zoo
    reads settings from."""
    from omegaconf import OmegaConf

    return cast(dict[str, Any], OmegaConf.to_container(node, resolve=resolve))


def is_int(value) -> bool:
    """A whole number, as a config holds it (true and false are not numbers here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A real number, as a config holds it (true and false are not numbers here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
