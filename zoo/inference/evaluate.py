"""Evaluate a saved checkpoint on its data set's test split: `zoo-eval ckpt=<path>`.

The model and data are rebuilt from the settings stored in the checkpoint (plain containers, opened
with weights_only=True), so nothing but the checkpoint file and the data set is needed.
"""

import json
import sys
from pathlib import Path

import lightning as L
from hydra.utils import instantiate

from zoo import models
from zoo.callbacks.loop import quiet_lightning
from zoo.errors import ZooError
from zoo.files import write_text_atomically
from zoo.inference.arguments import parse_settings
from zoo.inference.restore import restore
from zoo.runs.folder import Run

USAGE = (
    "usage: zoo-eval ckpt=<checkpoint or run directory> [data_dir=<data folder>] [output=<file.json>] "
    "[accelerator=auto|cpu|gpu]"
)


def evaluate(ckpt: str, data_dir: str | None = None, output: str | None = None, accelerator: str = "auto") -> dict:
    """Test the checkpoint's model on its data set's test split; write and return the test metrics."""
    path, checkpoint, cfg, task = restore(ckpt, data_dir)
    quiet_lightning()
    datamodule = instantiate(cfg.data)
    datamodule.check_matches(checkpoint["hyper_parameters"]["dataset"])
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.test(task, datamodule=datamodule, verbose=False)
    result = {
        "status": "evaluated",
        "checkpoint": str(path),
        "model": cfg.model.name,
        "data": datamodule.name,
        "seed": cfg.seed,
        "epoch": checkpoint.get("epoch"),
        "step": checkpoint.get("global_step"),
        **{key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("test/")},
        "params": models.count_parameters(task.net),
        "device": trainer.strategy.root_device.type,
    }
    run = Run.holding(path)
    target = Path(output) if output else run.eval_metrics_file if run else path.with_name(f"{path.stem}_eval.json")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(target, json.dumps(result, indent=2) + "\n")
    except OSError as error:
        raise ZooError(f"could not write {target}: {error.strerror}; choose another output=...") from None
    print(
        f"zoo: {result['model']} on {result['data']} from {path}: {task.headline} {result[task.headline]:.4f}, "
        f"test/loss {result['test/loss']:.4f}; written to {target}"
    )
    return result


def main() -> None:
    try:
        evaluate(
            **parse_settings(
                "zoo-eval",
                sys.argv[1:],
                USAGE,
                required=("ckpt",),
                optional={"data_dir": None, "output": None, "accelerator": "auto"},
            )
        )
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
