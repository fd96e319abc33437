"""What a run tells: the line it starts with, and at its end the row of TensorBoard's HPARAMS tab and the summary
table."""

from pathlib import Path

import lightning as L
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from zoo.callbacks.tensorboard import tensorboard_logger
from zoo.runs.hparams import write_row
from zoo.runs.hparams_tab import update_experiment, write_session


def precision_used(trainer: L.Trainer, cfg: DictConfig) -> str:
    """The trainer's precision, marked `+tf32` where float32 matmuls and convolutions ran as TF32."""
    tf32 = trainer.strategy.root_device.type == "cuda" and bool(cfg.get("tf32", False))
    return str(trainer.precision) + ("+tf32" if tf32 else "")


def measured_in(metrics: dict[str, float]) -> dict[str, float]:
    """What the run's views measured (zoo/views/: their `results`, handed back as `measured/<name>`), by name."""
    return {key.removeprefix("measured/"): value for key, value in metrics.items() if key.startswith("measured/")}


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


def log_hparams_table(trainer: L.Trainer, run: str, settings: dict, values: dict[str, float], step: int) -> None:
    """Write the run's row of TensorBoard's HPARAMS tab (its settings and final `values`) and bring the columns of
    its log folder up to date (zoo.callbacks.tensorboard). Only a run that finished gets here, so a failed or
    interrupted run leaves no row that looks finished. Finalizing flushes it to disk at once, also for the last job
    of a multirun."""
    logger = tensorboard_logger(trainer)
    if logger is None:
        return
    write_session(logger.experiment, settings, values, step)
    write_row(Path(logger.log_dir), run, settings, values)
    logger.finalize("success")
    update_experiment(Path(logger.save_dir))


def print_summary(result: dict, final_metrics: list[str], output_dir: Path, details: dict | None = None) -> None:
    """The run's summary table; `details` (the task's, zoo.tasks.base.Task.details) shows lists of values, such as
    a forecast's measures per step of its horizon, one row each."""
    table = Table(title=f"{result['model']} on {result['data']}", show_header=False)
    table.add_column()
    table.add_column(overflow="fold")  # a narrow terminal wraps a long path rather than cut it
    table.add_row("parameters", f"{result['params']:,}")
    table.add_row(
        "training time",
        f"{result['train_time_s']:.1f} s ({result['samples_per_s']:,.0f} samples/s) "
        f"on {result['device']}, {result['precision']}",
    )
    if result["compile_s"] is not None:
        table.add_row("compile", f"{result['compile_s']:.1f} s (the first training step)")
    for key in final_metrics:
        if result[key] is not None:
            table.add_row(key, f"{result[key]:.4f}")
    for key, value in result["measured"].items():
        table.add_row(key, f"{value:.4g}")
    for key, values in (details or {}).items():
        for name, row in values.items():
            shown = " ".join(f"{value:.3g}" for value in row[:12]) + (
                f" ... ({len(row)} values)" if len(row) > 12 else ""
            )
            table.add_row(f"{key}/{name}", shown)
    table.add_row("written to", str(output_dir))
    console = Console()
    if not console.is_terminal:  # a log: as wide as the table needs, so that every path reads whole
        console = Console(width=max(console.width, Console(width=1000).measure(table).maximum))
    console.print(table)
