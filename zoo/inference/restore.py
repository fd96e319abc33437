"""A trained model rebuilt from its checkpoint (or its run folder's) in its task, for zoo-eval and zoo-export, and a
finished run opened with its data for a notebook (zoo.open_run): the network as zoo.inference.network rebuilds it
(through zoo's model registry, from a checkpoint whose stored config may name zoo's own classes only, checked as it is
read) and the task from the run's stored config."""

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from zoo.errors import ZooError
from zoo.inference.network import open_network
from zoo.runs.checkpoint import saved_config
from zoo.tasks.base import Task


def restore(ckpt, data_dir: str | None = None) -> tuple[Path, dict, DictConfig, Task]:
    """The trained model of a checkpoint (or a run directory's), rebuilt from the settings and the data's
    description stored in it: (checkpoint file, checkpoint, the run's config, the model in eval mode)."""
    trained = open_network(ckpt)
    checkpoint = trained.checkpoint
    # Data augmentation changes training batches only: nothing here trains.
    cfg = saved_config(checkpoint, data_dir, without_augmentation=True)
    task = instantiate(cfg.task, _convert_="all")(net=trained.net, hparams=checkpoint["hyper_parameters"])
    task.load_state_dict(checkpoint["state_dict"])
    return trained.path, checkpoint, cfg, task.eval()


def open_run(run, data_dir: str | None = None) -> tuple[Any, Any]:
    """(network, data module) of a finished run (its folder, or a checkpoint): the best checkpoint's network
    in eval mode, and the run's data module set up as in training (the same splits, normalized with the
    same mean and std), from the data folder its config names unless `data_dir` gives another."""
    path, checkpoint, cfg, task = restore(run, data_dir)
    saved = checkpoint["hyper_parameters"]["dataset"]
    datamodule = instantiate(cfg.data)
    datamodule.check_matches(saved)
    datamodule.prepare_data()
    datamodule.setup("fit")
    normalization = datamodule.normalization or {}
    for key, value in normalization.items():
        if key in saved and any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(value, saved[key], strict=False)):
            raise ZooError(
                f"the data in {cfg.paths.data_dir} is not the data {path} was trained on: its training "
                f"part's {key} is {value}, the run's was {saved[key]}; give the run's data with data_dir="
            )
    return task.net.eval(), datamodule
