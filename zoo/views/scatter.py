"""Regression's sample of its output: the test split's predictions against the true values, in the target's units."""

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure

from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.views.base import measuring


class PredictedVsTrue(L.Callback):
    """After testing (regression): every test sample's prediction against its true value, in the target's units,
    as a scatter in the IMAGES tab (`test/predicted_vs_true`), with the line where they are equal."""

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        if not takes_figures(trainer):
            return
        inputs, targets = trainer.datamodule.splits["test"]
        batch = trainer.datamodule.eval_batch_size
        with measuring(pl_module.net), torch.no_grad(), trainer.precision_plugin.forward_context():
            predicted = torch.cat(
                [pl_module.net(inputs[i : i + batch]).squeeze(-1).float() for i in range(0, len(inputs), batch)]
            )
        true, predicted = pl_module.in_units(targets.float()).cpu(), pl_module.in_units(predicted).cpu()
        figure = Figure(figsize=(5, 5))
        axes = figure.add_subplot()
        axes.scatter(true.numpy(), predicted.numpy(), s=8, alpha=0.6)
        low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
        axes.plot([low, high], [low, high], color="gray", linewidth=1, label="predicted = true")
        target = pl_module.hparams["dataset"]["target"]["name"]
        axes.set_xlabel(f"true {target}")
        axes.set_ylabel(f"predicted {target}")
        axes.set_title(f"test split, {len(true)} rows")
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        log_figure(trainer, "test/predicted_vs_true", figure, trainer.global_step)
