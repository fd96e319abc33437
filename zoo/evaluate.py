"""Evaluate a saved checkpoint on its data set's test split: `zoo-eval ckpt=<path>`.

The model and data are rebuilt from the settings stored in the checkpoint (plain containers, opened
with weights_only=True), so nothing but the checkpoint file and the data set is needed.
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from zoo import models
from zoo.checkpoints import load_checkpoint, saved_config
from zoo.cli import parse_settings
from zoo.errors import ZooError
from zoo.export_folder import is_export_folder
from zoo.tasks.base import Task
from zoo.training import build_network, quiet_lightning

USAGE = ("usage: zoo-eval ckpt=<checkpoint or run directory> [data_dir=<data folder>] [output=<file.json>] "
         "[accelerator=auto|cpu|gpu]")


def checkpoint_file(path: Path) -> Path:
    """A run directory stands for its best checkpoint (the one of its own checkpoints/ that its metrics.json
    names), else its last. The folder's own file, wherever metrics.json says the run wrote it: a run folder
    copied from elsewhere opens its own checkpoint, never one the file points to."""
    if not path.is_dir():
        return path
    if is_export_folder(path):
        raise ZooError(f"{path} is a folder zoo-export wrote, not a run: load it with zoo.load or zoo-predict, "
                       f"or give the run's folder or checkpoint")
    try:
        best = json.loads((path / "metrics.json").read_text()).get("best_checkpoint")
    except (OSError, ValueError, AttributeError):  # no metrics.json (an unfinished run) or a damaged one
        best = None
    if isinstance(best, str) and (path / "checkpoints" / Path(best).name).is_file():
        return path / "checkpoints" / Path(best).name
    last = path / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ZooError(f"{path} holds no checkpoint (checkpoints/last.ckpt): give a run folder or a .ckpt file")
    return last


def restore(ckpt, data_dir: str | None = None) -> tuple[Path, dict, DictConfig, Task]:
    """The trained model of a checkpoint (or a run directory's), rebuilt from the settings and the data's
    description stored in it: (checkpoint file, checkpoint, the run's config, the model in eval mode)."""
    path = checkpoint_file(Path(ckpt))
    checkpoint = load_checkpoint(path)
    saved = checkpoint.get("hyper_parameters") or {}
    dataset = saved.get("dataset") or {}
    if "model" not in saved or "data" not in saved or not {"model_inputs", "input_shape"} & set(dataset):
        raise ZooError(f"{path} was not written by zoo: it holds no model and data settings")
    cfg = saved_config(checkpoint, data_dir)
    if "augment" in cfg.data:  # it changes training batches only: nothing here trains
        cfg.data.augment = None
    # Checkpoints from before the language models held only a classifier's declaration.
    model_inputs = dataset.get("model_inputs") or {"input_shape": dataset["input_shape"],
                                                   "num_classes": dataset["num_classes"]}
    data = SimpleNamespace(name=dataset["name"], task=dataset.get("task", "classification"),
                           model_inputs={key: tuple(value) if isinstance(value, list) else value
                                         for key, value in model_inputs.items()})
    task = instantiate(cfg.task, _convert_="all")(net=build_network(cfg, data), hparams=saved)
    task.load_state_dict(checkpoint["state_dict"])
    return path, checkpoint, cfg, task.eval()


def evaluate(ckpt: str, data_dir: str | None = None, output: str | None = None, accelerator: str = "auto") -> dict:
    """Test the checkpoint's model on its data set's test split; write and return the test metrics."""
    path, checkpoint, cfg, task = restore(ckpt, data_dir)
    quiet_lightning()
    datamodule = instantiate(cfg.data)
    datamodule.check_matches(checkpoint["hyper_parameters"]["dataset"])
    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.test(task, datamodule=datamodule, verbose=False)
    result = {"status": "evaluated", "checkpoint": str(path), "model": cfg.model.name, "data": datamodule.name,
              "seed": cfg.seed, "epoch": checkpoint.get("epoch"), "step": checkpoint.get("global_step"),
              **{key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("test/")},
              "params": models.count_parameters(task.net), "device": trainer.strategy.root_device.type}
    target = Path(output) if output else path.parent.parent / "eval_metrics.json"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as error:
        raise ZooError(f"could not write {target}: {error.strerror}; choose another output=...") from None
    print(f"zoo: {result['model']} on {result['data']} from {path}: {task.headline} {result[task.headline]:.4f}, "
          f"test/loss {result['test/loss']:.4f}; written to {target}")
    return result


def main() -> None:
    try:
        evaluate(**parse_settings("zoo-eval", sys.argv[1:], USAGE, required=("ckpt",),
                                  optional={"data_dir": None, "output": None, "accelerator": "auto"}))
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
