"""Building a run's objects from its config: the data set, the task it declares, the network the model registry
builds for the data, the Trainer with zoo's callbacks. Everything is built from zoo's own configs and registry
through Hydra's instantiate; a setting an object refuses reaches the user as one line."""

import difflib
import inspect
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from zoo import models
from zoo.callbacks import trackers
from zoo.callbacks.checkpointing import AtomicCheckpointIO, DataDescription, RandomState
from zoo.callbacks.loop import (
    CtrlCBetweenBatches,
    HandBackResults,
    QuietLightning,
    StopOnNonFiniteLoss,
    Throughput,
    skip_unused_batch_hooks,
)
from zoo.configs import plain
from zoo.data.contract import ZooDataModule
from zoo.errors import ZooError
from zoo.registry import load_class
from zoo.runs.folder import RunRecord
from zoo.tasks.base import Task


def agreed_task(cfg: DictConfig, data) -> type[Task]:
    """The run's task class, which must be the one its data set declares (the data chooses it: its config overrides
    the task group, or zoo.training.command asks the data before Hydra composes)."""
    task: type[Task] = load_class(cfg.task._target_)
    if task.name != data.task:
        raise ZooError(
            f"data={data.name} trains task={data.task}, not task={task.name}: give task={data.task}, or leave the "
            f"task to the data"
        )
    return task


def instantiate_checked(config: DictConfig, **kwargs) -> Any:
    """Hydra's instantiate, for objects that check their own settings (a data set, a task's views): their
    ZooError, which Hydra would wrap in its multi-line report, reaches the user as its one line."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, ZooError):
            raise error.__cause__ from None
        raise


def build_named(group: str, entries) -> dict:
    """The entries of a group of named objects (`task.views`, `callbacks`), built one by one: a setting one of them
    refuses is named by its whole key (`task.views.saliency.steps=0 must be ...`). An entry set to null is off; an
    entry without a target is a preset's tweak of an object that is switched off (callbacks=none)."""
    built = {}
    for name, entry in (entries or {}).items():
        if entry is None or "_target_" not in entry:
            continue
        try:
            built[name] = instantiate_checked(entry, _convert_="all")
        except ZooError as error:
            raise ZooError(f"{group}.{name}.{error}") from None
    return built


def build_network(cfg: DictConfig, data) -> torch.nn.Module:
    """Build the configured model for what the data declares (`data.model_inputs`, for its task), and check
    that a batch goes through."""
    task = agreed_task(cfg, data)
    settings = plain(cfg.model)
    name = settings.pop("name")
    where = f"model={name} on data={data.name}"
    try:
        net = models.build(name, data.model_inputs, data.task, **settings)
    except (ValueError, TypeError) as error:
        suited = data.suited_models or [name]  # what to use instead, where the data says
        hint = "" if name in suited else f"; data={data.name} suits " + " or ".join(f"model={m}" for m in suited)
        raise ZooError(f"{where}: {error}{hint}") from None
    example = task.example_input(data.model_inputs)
    inputs = example if isinstance(example, tuple) else (example,)  # a translation network takes two tensors
    try:
        with torch.no_grad():
            net.eval()(*inputs)
    except RuntimeError as error:
        shapes = " and ".join(str(tuple(tensor.shape[1:])) for tensor in inputs)
        raise ZooError(
            f"{where}: the model cannot take inputs of shape {shapes}: {str(error).splitlines()[0]}"
        ) from None
    return net.train()


def compile_network(net: torch.nn.Module) -> None:
    """trainer.compile=true: torch.compile the network in place. Its state_dict keys stay those of the plain
    network, so its checkpoints open in zoo-eval and zoo-predict as any other. The compilation happens in the
    first training step, which zoo.callbacks.loop.Throughput times apart (metrics.json `compile_s`); evaluation in
    eval mode and the views compile their own variants when they first run."""
    # TorchInductor builds its kernels with a C++ compiler (on CPUs; Triton's launchers on GPUs): without one the
    # first step would fail deep inside torch with a page of traceback.
    compiler = os.environ.get("CXX") or next((name for name in ("g++", "c++", "clang++") if shutil.which(name)), None)
    if compiler is None or not shutil.which(compiler):
        raise ZooError(
            "trainer.compile=true needs a C++ compiler, which torch.compile builds its kernels with, and "
            "none was found (g++, c++, clang++ or $CXX): install one, or leave trainer.compile=false"
        )
    net.compile()


def build_trainer(
    cfg: DictConfig, record: RunRecord, resume_step: int | None = None, task_callbacks: Sequence[L.Callback] = ()
) -> L.Trainer:
    """The Trainer with the configured callbacks and loggers, the task's own views, and what every zoo
    run needs: atomic checkpoints, the random state and the data's description inside them, a stop on a
    non-finite loss, the throughput clock, Ctrl-C between batches, and what hands their results back to
    the process that called fit (zoo.callbacks.loop)."""
    callbacks = list(build_named("callbacks", cfg.get("callbacks")).values())
    loggers = [
        instantiate(entry, **trackers.logger_settings(entry, record, resume_step))
        for entry in (cfg.get("logger") or {}).values()
        if entry is not None
    ]
    extra: dict[str, Any] = {}
    if torch.cuda.is_available():
        # True float32 unless the config asks for TF32 (10-bit mantissa) matmuls and convolutions.
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(cfg.get("tf32", False))
        if cfg.trainer.get("precision") == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            print("zoo: this GPU has no bf16: training with 16-mixed precision instead", file=sys.stderr, flush=True)
            extra["precision"] = "16-mixed"
    # Without a ModelCheckpoint of the config's, Lightning would add its own under the logger's folder.
    if not any(isinstance(callback, ModelCheckpoint) for callback in callbacks):
        extra["enable_checkpointing"] = False
    compiled = bool(cfg.trainer.get("compile", False))
    zoo_callbacks = [
        *list(task_callbacks),
        Throughput(first_step_apart=compiled),
        RandomState(),
        DataDescription(),
        StopOnNonFiniteLoss(),
        HandBackResults(),
        QuietLightning(),
        CtrlCBetweenBatches(),
    ]
    skip_unused_batch_hooks([*callbacks, *zoo_callbacks])
    # trainer.compile is zoo's (compile_network), not a setting of Lightning's Trainer.
    lightning_settings = plain(cfg.trainer)
    lightning_settings.pop("compile", None)
    try:
        return instantiate(
            lightning_settings,
            callbacks=callbacks + zoo_callbacks,
            logger=loggers or False,
            plugins=[AtomicCheckpointIO(in_background=True)],
            **extra,
        )
    except InstantiationException as error:  # a strategy or device count Lightning refuses: its reason, one line
        if not isinstance(error.__cause__, (MisconfigurationException, ValueError)):
            raise
        raise ZooError(
            f"Lightning's Trainer refuses these trainer settings: {' '.join(str(error.__cause__).split())}"
        ) from None


def check_trainer_keys(trainer_cfg: DictConfig) -> None:
    known = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    for key in map(str, trainer_cfg):
        if key not in ("_target_", "compile") and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean trainer.{close[0]}?" if close else ""
            raise ZooError(f"trainer.{key} is not a setting of Lightning's Trainer{hint}")


def build_data(data: DictConfig, record: RunRecord) -> ZooDataModule:
    """The run's data module. A user's file or folder is the one the run's record names (absolute, so that a run
    continued from another folder reads the same file)."""
    extra = {"path": record.data_path} if record.data_path is not None and "path" in data else {}
    return instantiate_checked(data, **extra)


def build_run(cfg: DictConfig, record: RunRecord) -> tuple[ZooDataModule, torch.nn.Module, Task]:
    """(data module, network, task) of the run `cfg` describes, the data prepared (generated, found or downloaded
    now, so a missing data set fails before anything trains) and the task holding what every checkpoint stores: the
    config as the user asked it, the run's record beside it (`run`) and the data's description (`dataset`)."""
    datamodule = build_data(cfg.data, record)
    net = build_network(cfg, datamodule)
    if cfg.trainer.get("compile"):
        compile_network(net)
    datamodule.prepare_data()
    # plain containers: safe for weights_only loading
    hparams = {**plain(cfg), "run": record.to_dict(), "dataset": datamodule.describe()}
    views = build_named("task.views", cfg.task.get("views"))
    task_settings = plain(cfg.task)
    task_settings.pop("views", None)
    task = instantiate_checked(OmegaConf.create(task_settings), _convert_="all", views=views)(
        net=net,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        hparams=hparams,
    )
    return datamodule, net, task
