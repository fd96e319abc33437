"""A trained model rebuilt from its checkpoint (or its run folder's), for zoo-eval, zoo-predict, zoo-generate,
zoo-export and zoo.open_run: the network through zoo's model registry and the task from the run's stored config,
which may name zoo's own classes only (checked as the checkpoint is read: zoo.checkpoints.load_checkpoint)."""

import copy
from pathlib import Path
from types import SimpleNamespace

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from zoo.build import build_network
from zoo.checkpoints import load_checkpoint
from zoo.errors import ZooError
from zoo.export_folder import is_export_folder
from zoo.run import Run
from zoo.tasks.base import Task


def restore(ckpt, data_dir: str | None = None) -> tuple[Path, dict, DictConfig, Task]:
    """The trained model of a checkpoint (or a run directory's), rebuilt from the settings and the data's
    description stored in it: (checkpoint file, checkpoint, the run's config, the model in eval mode)."""
    path = checkpoint_to_open(Path(ckpt))
    checkpoint = load_checkpoint(path)
    saved = checkpoint.get("hyper_parameters") or {}
    dataset = saved.get("dataset") or {}
    if "model" not in saved or "data" not in saved or "model_inputs" not in dataset:
        raise ZooError(f"{path} was not written by zoo: it holds no model and data settings")
    cfg = saved_config(checkpoint, data_dir)
    if "augment" in cfg.data:  # it changes training batches only: nothing here trains
        cfg.data.augment = None
    data = SimpleNamespace(
        name=dataset["name"],
        task=dataset["task"],
        suited_models=None,
        model_inputs={
            key: tuple(value) if isinstance(value, list) else value for key, value in dataset["model_inputs"].items()
        },
    )
    task = instantiate(cfg.task, _convert_="all")(net=build_network(cfg, data), hparams=saved)
    task.load_state_dict(checkpoint["state_dict"])
    return path, checkpoint, cfg, task.eval()


def saved_config(checkpoint: dict, data_dir: str | None = None) -> DictConfig:
    """The run's own config, as stored in its checkpoint. Only where the data sets lie may be given anew:
    that belongs to the machine, not the run."""
    saved = copy.deepcopy({key: value for key, value in checkpoint["hyper_parameters"].items() if key != "dataset"})
    if data_dir:
        saved["paths"]["data_dir"] = data_dir
        if "data_dir" in saved["data"]:
            saved["data"]["data_dir"] = data_dir
    return OmegaConf.create(saved)


def checkpoint_to_open(path: Path) -> Path:
    """The checkpoint a path means: a run folder's (Run.checkpoint), or the file itself."""
    if not path.is_dir():
        return path
    if is_export_folder(path):
        raise ZooError(
            f"{path} is a folder zoo-export wrote, not a run: load it with zoo.load or zoo-predict, "
            f"or give the run's folder or checkpoint"
        )
    return Run(path).checkpoint()
