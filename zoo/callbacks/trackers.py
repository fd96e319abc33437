"""What the experiment trackers beside TensorBoard receive (logger=mlflow, logger=wandb, or several at once:
`logger=[tensorboard,mlflow]`). Lightning's own loggers log the metric curves under the names TensorBoard shows;
zoo adds what they do not: the run's flat hyperparameters (those of the HPARAMS tab) when training starts, its final
metrics when it finishes, its figures as images, and the settings a tracker needs to continue a resumed run.

The loggers' configs are conf/logger/mlflow.yaml and conf/logger/wandb.yaml; their packages are the extra
zoo[trackers]."""

import importlib.util
import netrc
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from matplotlib.figure import Figure

from zoo.errors import ZooError
from zoo.runs.folder import Run, RunRecord

# The package each tracker's logger needs, by the last part of its `_target_`.
PACKAGES = {"MLFlowLogger": ("mlflow", "MLflow"), "WandbLogger": ("wandb", "Weights & Biases")}


def check_installed(logger_entries: dict) -> None:
    """One line naming the extra where a configured tracker's package is missing (Lightning would raise a
    ModuleNotFoundError from inside instantiate)."""
    for name, entry in logger_entries.items():
        if entry is None:
            continue
        package, title = PACKAGES.get(str(entry.get("_target_", "")).rsplit(".", 1)[-1], (None, None))
        if package and importlib.util.find_spec(package) is None:
            raise ZooError(
                f'logger.{name} needs {title} ("{package}"), which is not installed: pip install "zoo[trackers]" '
                f'(in a checkout: pip install -e ".[trackers]")'
            )


def has_wandb_key() -> bool:
    """Whether Weights & Biases could log in: an API key in the environment or in ~/.netrc (where `wandb login`
    writes it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def logger_settings(entry: Any, record: RunRecord, resume_step: int | None) -> dict:
    """Settings of one configured logger that come from the run's record rather than its config: the run's name and
    group where the config leaves them to zoo (null), W&B offline when no API key is configured (unless the config
    says), TensorBoard dropping what a killed run logged past its checkpoint, and a resumed run continuing its own
    MLflow and W&B runs."""
    kind = str(entry.get("_target_", "")).rsplit(".", 1)[-1]
    names = {
        # TensorBoard's and the CSV logger's folders: <save_dir>/<the run's name>, which reads data/model/overrides_time
        "TensorBoardLogger": {"name": "", "version": record.name},
        "CSVLogger": {"name": "", "version": record.name},
        "MLFlowLogger": {"experiment_name": record.group, "run_name": record.name},
        "WandbLogger": {"group": record.group, "name": record.name},
    }.get(kind, {})
    settings: dict[str, Any] = {key: value for key, value in names.items() if entry.get(key) is None}
    if kind == "WandbLogger":
        os.environ.setdefault("WANDB_SILENT", "true")  # its banner and hints: zoo says where an offline run is
        if entry.get("offline") is None:
            settings["offline"] = os.environ.get("WANDB_MODE") != "online" and not has_wandb_key()
    if resume_step is None:
        return settings
    if kind == "TensorBoardLogger":
        settings["purge_step"] = resume_step
    known = Run(record.output_dir).tracker_ids()
    if kind == "MLFlowLogger" and known.get("mlflow"):
        settings["run_id"] = known["mlflow"]
    if kind == "WandbLogger" and known.get("wandb"):
        settings |= {"id": known["wandb"], "resume": "allow"}
    return settings


def start(trainer: L.Trainer, run_folder: Path, hparams: dict) -> None:
    """At the start of fitting (the first process alone): the flat hyperparameters to each tracker, which shows
    them while the run trains (TensorBoard gets its HPARAMS row when the run finishes: zoo.training.report), and the
    trackers' run ids to the run folder."""
    ids: dict[str, str] = {}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            continue
        if isinstance(logger, MLFlowLogger):
            log_mlflow_params(logger, hparams)
            ids["mlflow"] = str(logger.run_id)
            continue
        logger.log_hyperparams(hparams)  # W&B's config takes a resumed run's new values
        if isinstance(logger, WandbLogger):
            ids["wandb"] = logger.experiment.id
    if ids:
        Run(run_folder).write_tracker_ids(ids)


def log_mlflow_params(logger: MLFlowLogger, hparams: dict) -> None:
    """MLflow keeps a parameter's first value: a resumed run logs the ones its run lacks, and a value that changed
    (a longer `trainer.max_epochs`) as the tag `resumed.<key>`."""
    logged = logger.experiment.get_run(logger.run_id).data.params
    logger.log_hyperparams({key: value for key, value in hparams.items() if key not in logged})
    for key, value in hparams.items():
        if key in logged and logged[key] != str(value)[:250]:
            logger.experiment.set_tag(logger.run_id, f"resumed.{key}", str(value))


def finish(trainer: L.Trainer, metrics: dict, step: int, best_checkpoint: str | None) -> None:
    """When the run has finished: its final metrics (the HPARAMS tab's `zoo/...`) and its best checkpoint
    (`checkpoints/best.ckpt`, as zoo-eval, zoo-predict and zoo-export open it) to each tracker."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            continue
        logger.log_metrics(metrics, step=step)
        if best_checkpoint and isinstance(logger, MLFlowLogger):
            logger.experiment.log_artifact(logger.run_id, best_checkpoint, "checkpoints")
        elif best_checkpoint and isinstance(logger, WandbLogger):
            import wandb

            artifact = wandb.Artifact(f"model-{logger.experiment.id}", type="model", metadata=metrics)
            artifact.add_file(best_checkpoint, name=Path(best_checkpoint).name)
            logger.experiment.log_artifact(artifact, aliases=["best"])
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run.finish()
            if run.offline:
                folder = run.settings.sync_dir
                print(f"zoo: the W&B run is saved offline in {folder}; upload it with: wandb sync {folder}", flush=True)


def takes_figures(trainer: L.Trainer) -> bool:
    """Whether any of the run's loggers shows figures: a view with nowhere to show one skips drawing it."""
    return any(isinstance(logger, (TensorBoardLogger, MLFlowLogger, WandbLogger)) for logger in trainer.loggers)


def log_figure(trainer: L.Trainer, tag: str, figure: Figure, step: int) -> None:
    """A view's figure to every logger that shows figures: TensorBoard's IMAGES tab under `tag`, an MLflow
    artifact `figures/<tag>/step_<step>.png`, a W&B image under `tag`."""
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger):
            logger.experiment.log_figure(logger.run_id, figure, f"figures/{tag}/step_{step:07d}.png")
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=tag, images=[figure], step=step)
    for logger in trainer.loggers:  # last: add_figure closes the figure
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, figure, step)


class LearningRate(L.Callback):
    """The learning rate of every optimizer step, as `train/lr`, for every logger. Lightning's LearningRateMonitor
    writes it only at every `trainer.log_every_n_steps`-th step (50), which a table's short run (a few steps an
    epoch, a hundred in all) reaches once or never; writing each step through Lightning's logging costs a
    millisecond or more. So each step's rate is noted (a list append), and the epoch's rates are written when it
    ends: to TensorBoard directly, to MLflow in one batch."""

    TAG = "train/lr"

    def __init__(self, logging_interval: str = "step") -> None:
        # `logging_interval`: the setting of LearningRateMonitor that the configs of runs from before it carry
        self.points: list[tuple[int, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if trainer.optimizers and (not self.points or self.points[-1][0] != step):  # once per optimizer step
            self.points.append((step, float(trainer.optimizers[0].param_groups[0]["lr"])))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        points, self.points = self.points, []
        if not points or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                for step, rate in points:
                    logger.experiment.add_scalar(self.TAG, rate, step)
            elif isinstance(logger, MLFlowLogger):
                from mlflow.entities import Metric

                now = int(time.time() * 1000)
                batch = [Metric(self.TAG, rate, now, step) for step, rate in points]
                for start in range(0, len(batch), 1000):  # MLflow takes at most 1000 metrics a call
                    logger.experiment.log_batch(logger.run_id, metrics=batch[start : start + 1000])
            else:
                for step, rate in points:
                    logger.log_metrics({self.TAG: rate}, step=step)
