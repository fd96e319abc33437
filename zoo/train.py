"""Train one model on one data set. `train(cfg)` does the work and returns the final metrics;
`main()` is the thin Hydra command line around it (`python train.py ...` or `zoo-train ...`)."""

import json
import logging
import sys
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from zoo import models
from zoo.callbacks import Throughput
from zoo.checks import check_config
from zoo.errors import ZooError
from zoo.hparams import flat_hparams, hp_metrics
from zoo.task import Classifier

# Absolute, so the configs are found however zoo is started (train.py, zoo-train, python -m zoo.train).
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
FINAL_METRICS = ["train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc"]


def quiet_lightning() -> None:
    """Keep Lightning's advertising and its warnings that do not apply to zoo out of the terminal."""

    class DropTips(logging.Filter):
        def filter(self, record):
            return "Tip:" not in record.getMessage()

    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(DropTips())
    # Lightning's own use of a deprecated torch API: nothing a zoo user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def build_network(cfg: DictConfig, datamodule) -> torch.nn.Module:
    """Build the configured model for the data's declared input, and check that a batch goes through."""
    settings = OmegaConf.to_container(cfg.model, resolve=True)
    name = settings.pop("name")
    where = f"model={name} on data={datamodule.name}"
    try:
        net = models.build(name, datamodule.input_shape, datamodule.num_classes, **settings)
    except (ValueError, TypeError) as error:
        raise ZooError(f"{where}: {error}") from None
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(2, *datamodule.input_shape))
    except RuntimeError as error:
        raise ZooError(f"{where}: the model cannot take inputs of shape {datamodule.input_shape}: "
                       f"{str(error).splitlines()[0]}") from None
    return net.train()


def build_trainer(cfg: DictConfig, throughput: Throughput) -> L.Trainer:
    callbacks = [instantiate(entry) for entry in (cfg.get("callbacks") or {}).values() if entry is not None]
    loggers = [instantiate(entry) for entry in (cfg.get("logger") or {}).values() if entry is not None]
    extra = {}
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
        if cfg.trainer.get("precision") == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            logging.getLogger(__name__).warning("this GPU has no bf16: training with 16-mixed precision instead")
            extra["precision"] = "16-mixed"
    return instantiate(cfg.trainer, callbacks=callbacks + [throughput], logger=loggers or False, **extra)


def describe_data(datamodule) -> dict:
    return {"name": datamodule.name, "input_shape": list(datamodule.input_shape),
            "num_classes": datamodule.num_classes, "class_names": list(datamodule.class_names)}


def train(cfg: DictConfig) -> dict:
    """Fit, then test the best checkpoint; write `metrics.json` in `paths.output_dir` and return its content."""
    check_config(cfg)
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    net = build_network(cfg, datamodule)
    datamodule.prepare_data()  # generate, find or download the data now, so a missing data set fails first
    hparams = OmegaConf.to_container(cfg, resolve=True)  # plain containers: safe for weights_only loading
    hparams["data"].update(describe_data(datamodule))
    task = Classifier(net, datamodule.num_classes, optimizer=instantiate(cfg.optimizer),
                      scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
                      label_smoothing=cfg.label_smoothing, hparams=hparams)
    throughput = Throughput()
    trainer = build_trainer(cfg, throughput)

    print(f"zoo: training {cfg.model.name} ({models.count_parameters(net):,} parameters) on {datamodule.name} "
          f"for {cfg.trainer.max_epochs} epochs, seed {cfg.seed}", flush=True)
    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    train_time = time.perf_counter() - start
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    trainer.test(task, datamodule=datamodule, ckpt_path=best or None, verbose=False)
    metrics.update({key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("test/")})

    result = {"model": cfg.model.name, "data": datamodule.name, "seed": cfg.seed,
              **{key: metrics.get(key) for key in FINAL_METRICS},
              "params": models.count_parameters(net), "train_time_s": train_time,
              "samples_per_s": throughput.samples_per_s, "device": trainer.strategy.root_device.type,
              "precision": str(trainer.precision), "best_checkpoint": best or None,
              "samples": {split: len(targets) for split, (_, targets) in datamodule.splits.items()}}
    log_hparams_table(trainer, flat_hparams(cfg, result["device"], result["precision"]), hp_metrics(result))
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result, output_dir)
    return result


def log_hparams_table(trainer: L.Trainer, hparams: dict, metrics: dict) -> None:
    """Write the run's row of TensorBoard's HPARAMS tab. Only a run that finished gets here, so a failed
    or interrupted run leaves no row that looks finished. Finalizing flushes it to disk at once,
    also for the last job of a multirun."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(hparams, metrics, step=trainer.global_step)
            logger.finalize("success")


def print_summary(result: dict, output_dir: Path) -> None:
    table = Table(title=f"{result['model']} on {result['data']}", show_header=False)
    table.add_row("parameters", f"{result['params']:,}")
    table.add_row("training time", f"{result['train_time_s']:.1f} s ({result['samples_per_s']:,.0f} samples/s) "
                  f"on {result['device']}, {result['precision']}")
    for key in FINAL_METRICS:
        if result[key] is not None:
            table.add_row(key, f"{result[key]:.4f}")
    table.add_row("written to", str(output_dir))
    Console().print(table)


def name_run_after_overrides(cfg: DictConfig) -> None:
    """Add the command line's overrides (model and data excepted) to the run's name, so the runs of a
    multirun can be told apart in TensorBoard."""
    if not HydraConfig.initialized():
        return
    overrides = HydraConfig.get().job.override_dirname.replace("/", "_")
    if overrides:
        cfg.run_name = f"{cfg.run_name}_{overrides}"


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    name_run_after_overrides(cfg)
    try:
        result = train(cfg)
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    return result["val/acc_best"]  # what a Hydra sweeper would optimize


if __name__ == "__main__":
    main()
