"""Train one model on one data set. `train(cfg)` does the work and returns the final metrics;
`main()` is the thin Hydra command line around it (`python train.py ...` or `zoo-train ...`)."""

import contextlib
import difflib
import errno
import inspect
import json
import logging
import os
import shutil
import sys
import warnings
import zlib
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from zoo import CONFIG_DIR, models
from zoo.callbacks import CtrlCBetweenBatches, HandBackResults, StopOnNonFiniteLoss, Throughput
from zoo.checkpoints import AtomicCheckpointIO, DataDescription, RandomState, load_checkpoint
from zoo.checks import check_config
from zoo.data.base import process_share
from zoo.errors import ZooError
from zoo.hparams import flat_hparams, hp_metrics
from zoo.multirun import FailedJob
from zoo.resume import requeued_checkpoint, resumed_config
from zoo.tasks.base import Task


CLASSIFICATION = "zoo.tasks.classification.Classification"  # conf/train.yaml's default task


def quiet_lightning() -> None:
    """Keep Lightning's advertising and its warnings that do not apply to zoo out of the terminal."""

    class DropTips(logging.Filter):
        def filter(self, record):
            # Its TF32 advice too: zoo's own switch is tf32=true (see conf/train.yaml).
            return "Tip:" not in record.getMessage() and "set_float32_matmul_precision" not in record.getMessage()

    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(DropTips())
    # Lightning's own use of a deprecated torch API: nothing a zoo user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    # zoo logs its metrics once per epoch; only the learning-rate curve follows log_every_n_steps.
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging")
    # A non-finite loss stops the run with zoo's own message (StopOnNonFiniteLoss).
    warnings.filterwarnings("ignore", message=r"Encountered `nan` values in tensor")
    # On several processes zoo logs what torchmetrics computed over all of them already.
    warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('[^']*', ..., sync_dist=True\)`")


class QuietLightning(L.Callback):
    """quiet_lightning() in every process that trains: those ddp_spawn starts begin with Python's defaults."""

    def setup(self, trainer, pl_module, stage):
        quiet_lightning()


def task_class(cfg: DictConfig, data) -> type[Task]:
    """The run's task, which must be the one its data set declares."""
    task = hydra.utils.get_class(cfg.task._target_)
    if task.name != data.task:
        raise ZooError(f"data={data.name} trains task={data.task}, not task={task.name}; "
                       f"leave task to the data (drop task={task.name})")
    return task


def take_the_datas_task(cfg: DictConfig, data) -> None:
    """A data set that learns its task from its content (data=table: classes or a quantity, `data.task=auto`) puts
    that task's config (conf/task/<task>.yaml) in place of the default, classification. Another task chosen on the
    command line stays, and must agree (task_class)."""
    if "task" in cfg.data and data.task != "classification" and cfg.task._target_ == CLASSIFICATION:
        cfg.task = OmegaConf.load(Path(CONFIG_DIR) / "task" / f"{data.task}.yaml")


def build(config: DictConfig, **kwargs):
    """Hydra's instantiate, for objects that check their own settings (a data set, a task's views): their
    ZooError, which Hydra would wrap in its multi-line report, reaches the user as its one line."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, ZooError):
            raise error.__cause__ from None
        raise


def build_network(cfg: DictConfig, data) -> torch.nn.Module:
    """Build the configured model for what the data declares (`data.model_inputs`, for its task), and check
    that a batch goes through."""
    task = task_class(cfg, data)
    settings = OmegaConf.to_container(cfg.model, resolve=True)
    name = settings.pop("name")
    where = f"model={name} on data={data.name}"
    try:
        net = models.build(name, data.model_inputs, data.task, **settings)
    except (ValueError, TypeError) as error:
        suited = getattr(data, "suited_models", None) or [name]  # what to use instead, where the data says
        hint = "" if name in suited else f"; data={data.name} suits " + " or ".join(f"model={m}" for m in suited)
        raise ZooError(f"{where}: {error}{hint}") from None
    example = task.example_input(data.model_inputs)
    try:
        with torch.no_grad():
            net.eval()(example)
    except RuntimeError as error:
        raise ZooError(f"{where}: the model cannot take inputs of shape {tuple(example.shape[1:])}: "
                       f"{str(error).splitlines()[0]}") from None
    return net.train()


def compile_network(net: torch.nn.Module) -> None:
    """trainer.compile=true: torch.compile the network in place. Its state_dict keys stay those of the plain
    network, so its checkpoints open in zoo-eval and zoo-predict as any other. The compilation happens in the
    first training step, which zoo.callbacks.Throughput times apart (metrics.json `compile_s`); evaluation in
    eval mode and the views compile their own variants when they first run."""
    # TorchInductor builds its kernels with a C++ compiler (on CPUs; Triton's launchers on GPUs): without one the
    # first step would fail deep inside torch with a page of traceback.
    compiler = os.environ.get("CXX") or next((name for name in ("g++", "c++", "clang++") if shutil.which(name)), None)
    if compiler is None or not shutil.which(compiler):
        raise ZooError("trainer.compile=true needs a C++ compiler, which torch.compile builds its kernels with, and "
                       "none was found (g++, c++, clang++ or $CXX): install one, or leave trainer.compile=false")
    net.compile()


def build_trainer(cfg: DictConfig, resume_step: int | None = None,
                  task_callbacks: list[L.Callback] = ()) -> L.Trainer:
    """The Trainer with the configured callbacks and loggers, the task's own views, and what every zoo
    run needs: atomic checkpoints, the random state and the data's description inside them, a stop on a
    non-finite loss, the throughput clock, Ctrl-C between batches, and what hands their results back to
    the process that called fit (zoo.callbacks)."""
    # An entry without a target is a preset's tweak of a callback that is switched off (callbacks=none).
    callbacks = [instantiate(entry) for entry in (cfg.get("callbacks") or {}).values()
                 if entry is not None and "_target_" in entry]
    loggers = []
    for entry in (cfg.get("logger") or {}).values():
        if entry is None:
            continue
        if resume_step is not None and entry._target_.endswith("TensorBoardLogger"):
            # TensorBoard drops what the killed run logged past the checkpoint: no duplicate steps.
            loggers.append(instantiate(entry, purge_step=resume_step))
        else:
            loggers.append(instantiate(entry))
    extra = {}
    if torch.cuda.is_available():
        # True float32 unless the config asks for TF32 (10-bit mantissa) matmuls and convolutions.
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(cfg.get("tf32", False))
        if cfg.trainer.get("precision") == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            logging.getLogger(__name__).warning("this GPU has no bf16: training with 16-mixed precision instead")
            extra["precision"] = "16-mixed"
    # Without a ModelCheckpoint of the config's, Lightning would add its own under the logger's folder.
    if not any(isinstance(callback, ModelCheckpoint) for callback in callbacks):
        extra["enable_checkpointing"] = False
    compiled = bool(cfg.trainer.get("compile", False))
    zoo_callbacks = list(task_callbacks) + [Throughput(first_step_apart=compiled), RandomState(), DataDescription(),
                                            StopOnNonFiniteLoss(), HandBackResults(), QuietLightning(),
                                            CtrlCBetweenBatches()]
    # trainer.compile is zoo's (compile_network), not a setting of Lightning's Trainer.
    lightning_settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    lightning_settings.pop("compile", None)
    try:
        return instantiate(lightning_settings, callbacks=callbacks + zoo_callbacks,
                           logger=loggers or False, plugins=[AtomicCheckpointIO()], **extra)
    except InstantiationException as error:  # a strategy or device count Lightning refuses: its reason, one line
        if not isinstance(error.__cause__, (MisconfigurationException, ValueError)):
            raise
        raise ZooError(f"Lightning's Trainer refuses these trainer settings: {' '.join(str(error.__cause__).split())}"
                       ) from None


def precision_used(trainer: L.Trainer, cfg: DictConfig) -> str:
    """The trainer's precision, marked `+tf32` where float32 matmuls and convolutions ran as TF32."""
    tf32 = trainer.strategy.root_device.type == "cuda" and bool(cfg.get("tf32", False))
    return str(trainer.precision) + ("+tf32" if tf32 else "")


def check_trainer_keys(trainer_cfg: DictConfig) -> None:
    known = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    for key in trainer_cfg:
        if key not in ("_target_", "compile") and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean trainer.{close[0]}?" if close else ""
            raise ZooError(f"trainer.{key} is not a setting of Lightning's Trainer{hint}")


def train(cfg: DictConfig) -> dict:
    """Fit (or continue `cfg.resume`), then test the best checkpoint; write `metrics.json` in
    `paths.output_dir` and return its content."""
    absolute_paths(cfg)
    check_config(cfg)
    check_trainer_keys(cfg.trainer)
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build(cfg.data)
    take_the_datas_task(cfg, datamodule)
    net = build_network(cfg, datamodule)
    if cfg.trainer.get("compile"):
        compile_network(net)
    datamodule.prepare_data()  # generate, find or download the data now, so a missing data set fails first
    hparams = OmegaConf.to_container(cfg, resolve=True)  # plain containers: safe for weights_only loading
    hparams["dataset"] = datamodule.describe()
    task = build(cfg.task, _convert_="all")(
        net=net, optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None, hparams=hparams)
    resume = cfg.get("resume")
    resume_step = None
    if resume:
        saved = load_checkpoint(resume)
        datamodule.check_matches(saved["hyper_parameters"].get("dataset", {}))
        resume_step = saved["global_step"]
    trainer = build_trainer(cfg, resume_step, task.callbacks())
    check_processes(trainer, datamodule)
    output_dir = Path(cfg.paths.output_dir)
    # Where several processes train together, the first one alone prints and writes the run's files.
    rank_zero = trainer.is_global_zero
    if rank_zero:
        with readable_write_errors():
            output_dir.mkdir(parents=True, exist_ok=True)
            datamodule.write_run_files(output_dir)

    verb = f"resuming from step {resume_step}:" if resume else "training"
    if rank_zero:
        print(f"zoo: {verb} {cfg.model.name} ({models.count_parameters(net):,} parameters) on {datamodule.name} "
              f"for {budget(trainer)}{processes(trainer)}, seed {cfg.seed}", flush=True)
    try:
        with readable_write_errors(), readable_lightning_errors(datamodule), errors_of_spawned_processes():
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except SystemExit:  # Lightning's answer to Ctrl-C: it stopped fit and exits
        if rank_zero:
            write_status(output_dir, "interrupted", epoch=trainer.current_epoch, step=trainer.global_step)
        raise Interrupted(f"stopped at epoch {trainer.current_epoch}, step {trainer.global_step}. "
                          f"{resume_hint(output_dir)}") from None
    except ZooError as error:
        if rank_zero:
            write_status(output_dir, "failed", error=str(error), epoch=trainer.current_epoch,
                         step=trainer.global_step)
        raise ZooError(f"{error}. {resume_hint(output_dir, suggest_resume=False)}") from None
    # Read from callback_metrics, where zoo's callbacks put them (zoo.callbacks.HandBackResults), before testing
    # resets them: under ddp_spawn the callbacks of this process never ran.
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    measured = measured_in(metrics)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    with readable_write_errors(), readable_lightning_errors(datamodule), errors_of_spawned_processes():
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=True)
    tested = {key: float(value) for key, value in trainer.callback_metrics.items()}
    metrics.update({key: value for key, value in tested.items() if key.startswith("test/")})
    measured |= measured_in(tested)

    result = {"status": "finished", "task": task.name, "model": cfg.model.name, "data": datamodule.name,
              "seed": cfg.seed, **{key: metrics.get(key) for key in task.final_metrics()},
              "params": models.count_parameters(net), "train_time_s": metrics["zoo/train_time_s"],
              "samples_per_s": metrics["zoo/samples_per_s"],
              "compile_s": metrics["zoo/first_step_s"] if cfg.trainer.get("compile") else None,
              "device": trainer.strategy.root_device.type,
              "processes": trainer.world_size, "precision": precision_used(trainer, cfg),
              "best_checkpoint": best or None, "samples": datamodule.split_sizes(), "measured": measured}
    if rank_zero:
        with readable_write_errors():
            log_hparams_table(trainer, flat_hparams(cfg, result["device"], result["precision"], trainer.world_size),
                              hp_metrics(result, task.hp_metrics), step=int(metrics["zoo/global_step"]))
            write_status(output_dir, **result)
        print_summary(result, task.final_metrics(), output_dir)
    return result


def measured_in(metrics: dict[str, float]) -> dict[str, float]:
    """What the run's views measured (zoo/views/: their `results`, handed back as `measured/<name>`), by name."""
    return {key.removeprefix("measured/"): value for key, value in metrics.items() if key.startswith("measured/")}


def check_processes(trainer: L.Trainer, datamodule) -> None:
    """Refuse, before anything trains, what several processes cannot do: a batch that does not divide among
    them, and a multirun whose jobs Lightning would start processes for by running the command line again
    (its `ddp` does: each process would run the whole sweep, Lightning issue 11300)."""
    process_share(trainer, datamodule.batch_size)
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    if (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
            and isinstance(launcher, _SubprocessScriptLauncher)
            and not trainer.strategy.cluster_environment.creates_processes_externally):
        raise SweepStopped(f"a multirun (-m) cannot train its jobs on {trainer.world_size} processes with "
                           f"Lightning's ddp strategy, which starts them by running the command line again, sweep "
                           f"and all; use trainer.strategy=ddp_spawn, or have SLURM start them (hydra/launcher=slurm)")


def processes(trainer: L.Trainer) -> str:
    """How many processes train, where more than one does."""
    if trainer.world_size == 1:
        return ""
    return f" on {trainer.world_size} processes ({trainer.num_nodes} node{'s' * (trainer.num_nodes > 1)})"


def budget(trainer: L.Trainer) -> str:
    """What the run trains for, in Lightning's terms: epochs, steps, or whichever comes first."""
    epochs = f"{trainer.max_epochs} epochs" if trainer.max_epochs not in (None, -1) else ""
    steps = f"{trainer.max_steps} steps" if trainer.max_steps not in (None, -1) else ""
    return " or ".join(part for part in (epochs, steps) if part) or "ever (stop it with Ctrl-C)"


def absolute_paths(cfg: DictConfig) -> None:
    """The run's folders as absolute paths, in its config and so in its checkpoints: a resume from
    another working directory writes into the run's own TensorBoard folder and reads its own data."""
    for key in ("log_dir", "data_dir"):
        cfg.paths[key] = str(Path(cfg.paths[key]).resolve())
    if cfg.data.get("path"):  # a text corpus given as a file, relative to where the run started
        cfg.data.path = str(Path(cfg.data.path).expanduser().resolve())


class Interrupted(ZooError):
    """The user stopped the run (Ctrl-C)."""


class SweepStopped(ZooError):
    """An error that would fail every job of a multirun alike: the sweep stops at its first job."""


def resume_hint(output_dir: Path, suggest_resume: bool = True) -> str:
    last = output_dir / "checkpoints" / "last.ckpt"
    if not last.exists():
        return "No checkpoint was written yet"
    if not suggest_resume:
        return f"The last good checkpoint is kept: {last}"
    return f"The last good checkpoint is {last}; continue with: python train.py resume={output_dir}"


def write_status(output_dir: Path, status: str, **info) -> None:
    """metrics.json: the final metrics of a finished run, or what stopped an unfinished one."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps({"status": status, **info}, indent=2) + "\n")


@contextlib.contextmanager
def readable_lightning_errors(datamodule):
    """A Trainer setting Lightning refuses once it sees the data (a fraction of a single batch, say): one line."""
    try:
        yield
    except MisconfigurationException as error:
        print(file=sys.stderr)  # Lightning leaves its progress bar mid-line: the error starts a line of its own
        raise ZooError(f"Lightning cannot train with these settings: {' '.join(str(error).split())} "
                       f"(val and test batches hold data.eval_batch_size={datamodule.eval_batch_size} samples, "
                       f"training batches data.batch_size={datamodule.batch_size})") from None


@contextlib.contextmanager
def errors_of_spawned_processes():
    """A ZooError raised in a process that ddp_spawn started reaches this one as torch's report of that
    process's traceback: its one line again."""
    try:
        yield
    except torch.multiprocessing.ProcessRaisedException as error:
        kind, _, message = str(error).strip().splitlines()[-1].partition(": ")
        if not kind.startswith("zoo."):
            raise
        raise ZooError(message) from None


@contextlib.contextmanager
def readable_write_errors():
    """A full disk or a folder zoo may not write: one line naming the path, not a logger's traceback."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR):
            raise
        raise ZooError(f"could not write {error.filename or 'a file'}: {error.strerror}; free some space or "
                       f"choose another paths.log_dir") from None


def log_hparams_table(trainer: L.Trainer, hparams: dict, metrics: dict, step: int) -> None:
    """Write the run's row of TensorBoard's HPARAMS tab. Only a run that finished gets here, so a failed
    or interrupted run leaves no row that looks finished. Finalizing flushes it to disk at once,
    also for the last job of a multirun."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(hparams, metrics, step=step)
            logger.finalize("success")


def print_summary(result: dict, final_metrics: list[str], output_dir: Path) -> None:
    table = Table(title=f"{result['model']} on {result['data']}", show_header=False)
    table.add_row("parameters", f"{result['params']:,}")
    table.add_row("training time", f"{result['train_time_s']:.1f} s ({result['samples_per_s']:,.0f} samples/s) "
                  f"on {result['device']}, {result['precision']}")
    if result["compile_s"] is not None:
        table.add_row("compile", f"{result['compile_s']:.1f} s (the first training step)")
    for key in final_metrics:
        if result[key] is not None:
            table.add_row(key, f"{result[key]:.4f}")
    for key, value in result["measured"].items():
        table.add_row(key, f"{value:.4g}")
    table.add_row("written to", str(output_dir))
    Console().print(table)


def name_run_after_overrides(cfg: DictConfig) -> None:
    """Add the command line's overrides (model and data excepted) to the run's name, so the runs of a
    multirun can be told apart in TensorBoard. A name longer than a folder's name may be (255 bytes on most
    file systems) keeps its start and ends with a checksum of the whole, which still tells runs apart."""
    if not HydraConfig.initialized():
        return
    overrides = HydraConfig.get().job.override_dirname.replace("/", "_")
    if overrides:
        name = f"{cfg.run_name}_{overrides}"
        if len(name.encode()) > 200:
            name = name.encode()[:190].decode(errors="ignore") + f"..{zlib.crc32(name.encode()):08x}"
        cfg.run_name = name


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig):
    """One job. In a multirun a failing job reports and returns (a FailedJob), so the other jobs still run;
    zoo.multirun.FailureSummary then lists the failures and makes the command exit non-zero."""
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        if not cfg.get("resume") and (last := requeued_checkpoint(Path(HydraConfig.get().runtime.output_dir))):
            print(f"zoo: requeued by SLURM: continuing from {last}", flush=True)
            cfg.resume = str(last)
        if cfg.get("resume"):
            cfg = resumed_config(cfg, HydraConfig.get().overrides.task)
        else:
            name_run_after_overrides(cfg)
        result = train(cfg)
    except ZooError as error:
        label = "interrupted" if isinstance(error, Interrupted) else "error"
        print(f"{label}: {error}", file=sys.stderr, flush=True)
        if multirun and not isinstance(error, (Interrupted, SweepStopped)):
            return FailedJob(str(error), cfg.task._target_)
        sys.exit(130 if isinstance(error, Interrupted) else 2)
    except Exception as error:
        if not multirun:
            raise
        logging.getLogger(__name__).exception("the job failed")  # the traceback goes to the job's log file
        return FailedJob(f"{type(error).__name__}: {error}", cfg.task._target_)
    # What a Hydra sweeper optimizes (hparams_search=...); its direction is the task's `mode` (max for accuracy).
    return result[hydra.utils.get_class(cfg.task._target_).best_metric()]


if __name__ == "__main__":
    from zoo.cli import main

    main()
