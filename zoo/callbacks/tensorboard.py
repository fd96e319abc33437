"""What a run's TensorBoard shows beyond the metric curves: the resolved config, the parameters of
each layer, each metric's training and validation curves on one chart (CUSTOM SCALARS), weight and bias
histograms every few epochs; the tasks' own views, the test split's confusion matrix (classification) and a text
sample after every validation (language models); and HPARAMS: each finished run's row, and the columns of every run in
the log folder (zoo.runs.hparams says what they hold, zoo.runs.hparams_tab writes them).
"""

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from matplotlib.figure import Figure

from zoo.callbacks.trackers import log_figure, takes_figures


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoard logger with SCALARS that open on the training curves. TensorBoard orders its sections
    by name, so the one-point charts go last or nowhere: Lightning's `epoch` (the x axis says as much), and the test
    split's values, which a finished run writes with its other final values (`zoo/test_acc`, HPARAMS' columns)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        kept = {key: value for key, value in metrics.items() if key != "epoch" and not key.startswith("test/")}
        if kept:
            super().log_metrics(kept, step)

    def save(self) -> None:
        """Flush; without Lightning's hparams.yaml, which holds nothing for a zoo run (its row is hparams.json)."""
        self.experiment.flush()


def tensorboard_writer(trainer: L.Trainer) -> Any:
    """The SummaryWriter of the run's TensorBoard logger, or None when it has none."""
    for logger in trainer.loggers:
        if isinstance(logger, LightningTensorBoardLogger):
            return logger.experiment
    return None


def tensorboard_logger(trainer: L.Trainer) -> LightningTensorBoardLogger | None:
    """The run's TensorBoard logger, or None when it has none."""
    return next((logger for logger in trainer.loggers if isinstance(logger, LightningTensorBoardLogger)), None)


def parameter_table(net: torch.nn.Module) -> str:
    rows = [f"| {name} | {tuple(p.shape)} | {p.numel():,} |" for name, p in net.named_parameters()]
    total = sum(p.numel() for p in net.parameters())
    return "\n".join(["| layer | shape | parameters |", "|---|---|---:|", *rows, f"| **total** | | **{total:,}** |"])


def confusion_figure(counts: torch.Tensor, class_names: list[str]) -> Figure:
    size = max(4.0, 0.5 * len(class_names) + 2)
    figure = Figure(figsize=(size, size))
    axes = figure.add_subplot()
    axes.imshow(counts.numpy(), cmap="Blues")
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = counts.max().item() / 2
    for true in ticks:
        for predicted in ticks:
            value = counts[true, predicted].item()
            axes.text(
                predicted,
                true,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    figure.tight_layout()
    return figure


class TensorBoardExtras(L.Callback):
    def __init__(self, histogram_every_n_epochs: int = 5) -> None:
        self.histogram_every_n_epochs = histogram_every_n_epochs

    def on_fit_start(self, trainer, pl_module) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        config = yaml.safe_dump(dict(pl_module.hparams), sort_keys=False)
        writer.add_text("config", "    " + config.replace("\n", "\n    "), 0)  # indented: shown as code
        writer.add_text("parameters", parameter_table(pl_module.net), 0)
        # CUSTOM SCALARS: each metric's training and validation curves on one chart, where a gap between
        # them (overfitting) shows.
        writer.add_custom_scalars(
            {"train vs val": {name: ["Multiline", [f"^train/{name}$", f"^val/{name}$"]] for name in pl_module.metrics}}
        )

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        writer = tensorboard_writer(trainer)
        epoch = trainer.current_epoch + 1
        if writer is None or (epoch % self.histogram_every_n_epochs and epoch != trainer.max_epochs):
            return
        for name, parameter in pl_module.net.named_parameters():
            writer.add_histogram(f"weights/{name}", parameter.detach().float().cpu(), trainer.global_step)


class ConfusionMatrix(L.Callback):
    """The test split's confusion matrix, as a figure in the IMAGES tab. Where several processes test,
    each counts its share of the samples and the counts are summed."""

    def __init__(self) -> None:
        self.confusion: torch.Tensor | None = None

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        classes = len(trainer.datamodule.class_names)
        self.confusion = torch.zeros(classes, classes, dtype=torch.long, device=pl_module.device)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        classes = len(trainer.datamodule.class_names)
        pairs = batch[1] * classes + outputs.argmax(dim=1)
        assert self.confusion is not None  # made at the epoch's start
        # Counted and kept on the model's device until the epoch ends, with no step that waits for the GPU
        # (moving the counts each batch would, and so would bincount, which sizes its output from the data).
        self.confusion.view(-1).index_add_(0, pairs, torch.ones_like(pairs))

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        confusion = trainer.strategy.reduce(self.confusion, reduce_op="sum")  # every process takes part
        if not takes_figures(trainer) or not trainer.is_global_zero:
            return
        figure = confusion_figure(confusion.cpu(), trainer.datamodule.class_names)
        log_figure(trainer, "test/confusion_matrix", figure, trainer.global_step)


class TextSamples(L.Callback):
    """After every validation, `length` characters sampled from `prompt` (always with the same seed, so
    the samples differ only by what the model learned) in the TEXT tab, under `samples/text`."""

    def __init__(
        self, prompt: str, length: int = 300, temperature: float = 0.8, top_k: int | None = None, seed: int = 0
    ) -> None:
        self.prompt, self.length, self.temperature, self.top_k, self.seed = prompt, length, temperature, top_k, seed

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        text = self.prompt + pl_module.generate(self.prompt, self.length, self.temperature, self.top_k, self.seed)
        # Markdown would eat the line breaks and the indentation of code: an indented block shows them as written.
        shown = "    " + text.replace("\n", "\n    ")
        writer.add_text(
            "samples/text",
            f"step {trainer.global_step}, temperature {self.temperature}:\n\n{shown}",
            trainer.global_step,
        )
