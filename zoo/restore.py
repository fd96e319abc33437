"""A trained model rebuilt from its checkpoint (or its run folder's) in its task, for zoo-eval, zoo-export and
zoo.open_run: the network as zoo.network rebuilds it (through zoo's model registry, from a checkpoint whose stored
config may name zoo's own classes only, checked as it is read) and the task from the run's stored config."""

import copy
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from zoo.network import open_network
from zoo.tasks.base import Task


def restore(ckpt, data_dir: str | None = None) -> tuple[Path, dict, DictConfig, Task]:
    """The trained model of a checkpoint (or a run directory's), rebuilt from the settings and the data's
    description stored in it: (checkpoint file, checkpoint, the run's config, the model in eval mode)."""
    trained = open_network(ckpt)
    checkpoint = trained.checkpoint
    cfg = saved_config(checkpoint, data_dir)
    if "augment" in cfg.data:  # it changes training batches only: nothing here trains
        cfg.data.augment = None
    task = instantiate(cfg.task, _convert_="all")(net=trained.net, hparams=checkpoint["hyper_parameters"])
    task.load_state_dict(checkpoint["state_dict"])
    return trained.path, checkpoint, cfg, task.eval()


def saved_config(checkpoint: dict, data_dir: str | None = None) -> DictConfig:
    """The run's own config, as stored in its checkpoint. Only where the data sets lie may be given anew:
    that belongs to the machine, not the run."""
    saved = copy.deepcopy({key: value for key, value in checkpoint["hyper_parameters"].items() if key != "dataset"})
    if data_dir:
        saved["paths"]["data_dir"] = data_dir
        if "data_dir" in saved["data"]:
            saved["data"]["data_dir"] = data_dir
    return OmegaConf.create(saved)
