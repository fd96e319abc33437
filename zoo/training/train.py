"""Train one model on one data set: `train(cfg)` builds the run's objects from its config (zoo.training.build), fits
them (or continues `cfg.resume`), tests the best checkpoint, reports (zoo.training.report) and returns the final
metrics, which the run folder's metrics.json holds too (zoo.runs.folder). The command line around it is
zoo.training.command; from Python, zoo.train."""

import signal

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from zoo import models
from zoo.callbacks import trackers
from zoo.callbacks.loop import quiet_lightning
from zoo.errors import ZooError
from zoo.registry import register_resolvers
from zoo.runs.checkpoint import load_checkpoint
from zoo.runs.folder import Run, RunRecord
from zoo.runs.hparams import flat_hparams, hp_metrics
from zoo.training.build import build_run, build_trainer, check_trainer_keys
from zoo.training.distributed import check_processes
from zoo.training.failures import Interrupted, readable_errors, readable_write_errors
from zoo.training.report import budget, log_hparams_table, measured_in, precision_used, print_summary, processes


def train(cfg: DictConfig, record: RunRecord) -> dict:
    """Fit the run `cfg` asks for (or continue the one `record` resumed from), then test the best checkpoint; write
    `metrics.json` into the run folder and return its content. `cfg` is read, never written: what the run derives
    (its name, group, absolute paths) comes from `record` (zoo.training.job makes it)."""
    register_resolvers()  # what the configs ask of zoo's registry (the doors register them too)
    check_trainer_keys(cfg.trainer)
    trackers.check_installed(cfg.get("logger") or {})
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, net, task = build_run(cfg, record)
    resume = record.resumed_from
    resume_step = None
    if resume:
        saved = load_checkpoint(resume)
        datamodule.check_matches(saved["hyper_parameters"].get("dataset", {}))
        resume_step = saved["global_step"]
    trainer = build_trainer(cfg, record, resume_step, task.callbacks())
    check_processes(trainer, datamodule)
    run = Run(record.output_dir)
    # Where several processes train together, the first one alone prints and writes the run's files.
    rank_zero = trainer.is_global_zero
    # The HPARAMS row's settings: the trackers get them now, TensorBoard's HPARAMS tab when the run has finished.
    settings = flat_hparams(cfg, trainer.strategy.root_device.type, precision_used(trainer, cfg), trainer.world_size)
    if rank_zero:
        with readable_write_errors():
            run.write_record(record)
            datamodule.write_run_files(run.folder)
            trackers.start(trainer, run.folder, settings)
        verb = f"resuming from step {resume_step}:" if resume else "training"
        print(
            f"zoo: {verb} {cfg.model.name} ({models.count_parameters(net):,} parameters) on {datamodule.name} "
            f"for {budget(trainer)}{processes(trainer)}, seed {cfg.seed}",
            flush=True,
        )

    try:
        with readable_errors(datamodule):
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except SystemExit:  # Lightning's answer to Ctrl-C: it stopped fit and exits
        # The run is ending: a further Ctrl-C would only cut the writing of its status or the interpreter's shutdown.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if rank_zero:
            run.write_metrics("interrupted", epoch=trainer.current_epoch, step=trainer.global_step)
        raise Interrupted(
            f"stopped at epoch {trainer.current_epoch}, step {trainer.global_step}. {run.resume_hint()}"
        ) from None
    except ZooError as error:
        if rank_zero:
            run.write_metrics("failed", error=str(error), epoch=trainer.current_epoch, step=trainer.global_step)
        raise ZooError(f"{error}. {run.resume_hint(suggest_resume=False)}") from None
    # Read from callback_metrics, where zoo's callbacks put them (zoo.callbacks.loop.HandBackResults), before testing
    # resets them: under ddp_spawn the callbacks of this process never ran.
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    measured = measured_in(metrics)
    best = (
        trainer.checkpoint_callback.best_model_path if isinstance(trainer.checkpoint_callback, ModelCheckpoint) else ""
    )
    with readable_errors(datamodule):
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=True)
    tested = {key: float(value) for key, value in trainer.callback_metrics.items()}
    metrics.update({key: value for key, value in tested.items() if key.startswith("test/")})
    measured |= measured_in(tested)

    result = {
        "status": "finished",
        "task": task.name,
        "model": cfg.model.name,
        "data": datamodule.name,
        "seed": cfg.seed,
        **{key: metrics.get(key) for key in task.final_metrics()},
        **(details := task.details(tested)),
        "params": models.count_parameters(net),
        "train_time_s": metrics["zoo/train_time_s"],
        "samples_per_s": metrics["zoo/samples_per_s"],
        "compile_s": metrics["zoo/first_step_s"] if cfg.trainer.get("compile") else None,
        "device": trainer.strategy.root_device.type,
        "processes": trainer.world_size,
        "precision": precision_used(trainer, cfg),
        "best_checkpoint": best or None,
        "samples": datamodule.split_sizes(),
        "measured": measured,
    }
    if rank_zero:
        with readable_write_errors():
            final, step = hp_metrics(result, task.hp_metrics), int(metrics["zoo/global_step"])
            log_hparams_table(trainer, record.name, settings, final, step)
            trackers.finish(trainer, final, step, result["best_checkpoint"])
            run.write_metrics(**result)
        print_summary(result, task.final_metrics(), run.folder, details)
    return result
