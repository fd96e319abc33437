"""A trained network rebuilt from its checkpoint with torch alone: for the commands that only run it (zoo-predict,
zoo-generate, zoo.load), and for zoo.inference.restore, which puts it back in its task for those that test or export it.

Nothing of training is imported on the way (no Lightning, Hydra's instantiate or torchmetrics): the checkpoint is
opened safely (zoo.runs.checkpoint), the network is built through zoo's model registry from the plain values the run
stored (its family and settings, what its data declared) and takes the checkpoint's `net.` weights. The task is known
by its name, read off zoo's own task configs (zoo.registry), never imported from a name the file holds.
"""

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from zoo import models
from zoo.errors import ZooError
from zoo.registry import targets
from zoo.runs.checkpoint import load_checkpoint
from zoo.runs.export_folder import is_export_folder
from zoo.runs.folder import Run


@dataclass
class TrainedNetwork:
    path: Path  # the checkpoint file opened
    checkpoint: dict  # its content, in the current layout (zoo.runs.checkpoint.migrate)
    net: nn.Module  # in eval mode, with the checkpoint's weights
    task: str  # the task's name: classification, language_model, regression

    @property
    def dataset(self) -> dict:
        """What the data declared, as the checkpoint stores it: input shape, classes, normalization, vocabulary..."""
        return self.checkpoint["hyper_parameters"]["dataset"]


def open_network(ckpt) -> TrainedNetwork:
    """The trained network of a checkpoint, or of a run folder's (Run.checkpoint)."""
    path = checkpoint_to_open(Path(ckpt))
    checkpoint = load_checkpoint(path)
    saved = checkpoint.get("hyper_parameters") or {}
    dataset = saved.get("dataset") or {}
    if "model" not in saved or "data" not in saved or "model_inputs" not in dataset:
        raise ZooError(f"{path} was not written by zoo: it holds no model and data settings")
    task = task_name(saved, path)
    model = saved["model"]
    where = f"{path}: model={model.get('name')} on data={dataset.get('name')}"
    try:
        net = models.rebuild(model, dataset["model_inputs"], task)
    except (ValueError, TypeError) as error:
        raise ZooError(f"{where}: {error}") from None
    prefix = "net."
    weights = {key[len(prefix) :]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}
    try:
        net.load_state_dict(weights)
    except RuntimeError as error:
        reason = " ".join(str(error).split())
        raise ZooError(f"{where}: the checkpoint's weights do not fit the network: {reason[:200]}") from None
    return TrainedNetwork(path, checkpoint, net.eval(), task)


def task_name(saved: dict, path: Path) -> str:
    """The name of the task the run trained (its config's task), which must be the one its data declared."""
    target = (saved.get("task") or {}).get("_target_")
    names = {class_name: name for name, class_name in targets("task").items()}
    declared = saved["dataset"].get("task")
    if target not in names:
        raise ZooError(f"{path} names task._target_={target!r}, which is not one of zoo's tasks")
    if names[target] != declared:
        raise ZooError(f"{path}: its data trains task={declared}, not task={names[target]}")
    return names[target]


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
