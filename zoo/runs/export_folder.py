"""An export folder (`zoo-export`): the network's weights in `model.safetensors` and what rebuilds it in
`config.json`, plain JSON values (the family's registry name and settings, the data's description with its
input normalization), so it loads without the checkpoint, without Lightning and without running anything a
file names: `zoo.load(folder)`, `zoo-predict ckpt=folder`. model.onnx and model.pt2 lie beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.files import write_text_atomically
from zoo.registry import task_names

if TYPE_CHECKING:  # only for annotations: imported where used, so that the module stays light
    from torch import nn


CONFIG = "config.json"
WEIGHTS = "model.safetensors"
VERSION = 1  # of config.json's layout; a zoo that reads another version says so


def require_export_extra(*modules: str) -> None:
    """One line naming the extra to install where a module of zoo[export] is missing."""
    import importlib.util

    def installed(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ValueError:  # imported once and then taken away (sys.modules[module] = None)
            return False

    missing = [module for module in modules if not installed(module)]
    if missing:
        raise ZooError(
            f"exported models need {', '.join(missing)}, which is not installed: install zoo's export "
            f'extra, pip install "zoo[export]" (in a checkout: pip install -e ".[export]")'
        )


def is_export_folder(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG).is_file() and not (path / "checkpoints").is_dir()


def read_config(folder: Path) -> dict:
    """config.json, checked: its version, its task and the values a network is rebuilt from."""
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ZooError(f"{folder / CONFIG} is not readable JSON: {' '.join(str(error).split())[:150]}") from None
    if not isinstance(config, dict) or config.get("format") != "zoo-export":
        raise ZooError(f'{folder / CONFIG} was not written by zoo-export (it has no "format": "zoo-export")')
    if config.get("version") != VERSION:
        raise ZooError(
            f"{folder / CONFIG} has layout version {config.get('version')!r}; this zoo reads version "
            f"{VERSION}: export the checkpoint again with this zoo"
        )
    model, data = config.get("model"), config.get("data")
    if (
        config.get("task") not in task_names()
        or not isinstance(model, dict)
        or not isinstance(model.get("name"), str)
        or not isinstance(data, dict)
        or not isinstance(data.get("model_inputs"), dict)
    ):
        raise ZooError(
            f"{folder / CONFIG} is damaged: it needs a known task ({', '.join(task_names())}), "
            f"model.name and data.model_inputs"
        )
    return config


def described_network(config: dict, source: Path) -> nn.Module:
    """The network config.json describes, built through zoo's model registry (no weights yet)."""
    from zoo import models

    try:
        return models.rebuild(config["model"], config["data"]["model_inputs"], config["task"])
    except (ValueError, TypeError) as error:
        raise ZooError(f"{source / CONFIG}: {error}") from None


def load_network(folder: Path) -> tuple[nn.Module, dict]:
    """(network in eval mode with the folder's weights, config.json's content)."""
    config = read_config(folder)
    require_export_extra("safetensors")
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    if not (folder / WEIGHTS).is_file():
        formats = ", ".join(sorted(path.name for path in folder.glob("model.*"))) or "no model file"
        raise ZooError(
            f"{folder} holds {formats} but no {WEIGHTS}; export the checkpoint with "
            f"format=safetensors to load it in zoo"
        )
    net = described_network(config, folder)
    try:
        load_model(net, folder / WEIGHTS, strict=True, device="cpu")
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ZooError(
            f"{folder / WEIGHTS} does not fit model={config['model']['name']} as config.json "
            f"describes it: {' '.join(str(error).split())[:150]}"
        ) from None
    return net.eval(), config


def write_config(folder: Path, config: dict) -> None:
    write_text_atomically(
        folder / CONFIG, json.dumps({"format": "zoo-export", "version": VERSION, **config}, indent=2) + "\n"
    )
