"""The one LightningModule of zoo: classification with any network the model registry builds."""

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, Metric
from torchmetrics.classification import MulticlassAccuracy


class WeightedMean(Metric):
    """The mean of per-batch values weighted by batch size, so a short last batch counts for what it holds.

    torchmetrics' MeanMetric would need its NaN check on (a GPU synchronization per update) to honour
    `weight`: with `nan_strategy="disable"` it silently weighs every update as 1.
    """

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: int) -> None:
        self.total += value.detach().float() * weight
        self.weight += weight

    def compute(self) -> torch.Tensor:
        return self.total / self.weight


class Classifier(L.LightningModule):
    """`optimizer` and `scheduler` arrive half-built from the config: the optimizer still needs the
    parameters, the schedule the optimizer and the run's total number of steps.

    `hparams` must be plain Python containers: they are pickled into every checkpoint, which must
    open with `torch.load(weights_only=True)`.
    """

    def __init__(self, net: nn.Module, num_classes: int, optimizer, scheduler=None, label_smoothing: float = 0.0,
                 hparams: dict | None = None):
        super().__init__()
        self.save_hyperparameters(hparams or {}, logger=False)
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.label_smoothing = label_smoothing
        # Metric objects, averaged over samples (not batches). They are updated every step, so without
        # per-update checks: each check costs a GPU synchronization.
        for stage in ("train", "val", "test"):
            setattr(self, f"{stage}_loss", WeightedMean())
            setattr(self, f"{stage}_acc", MulticlassAccuracy(num_classes, average="micro", validate_args=False))
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # kept in checkpoints, so a resumed run remembers its best

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, stage: str):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing if stage == "train" else 0.0)
        # Only accumulate here; the epoch's values are computed and logged once, at its end. Logging a
        # metric object every step (self.log(..., on_epoch=True)) cost as much as the CNN's forward pass.
        getattr(self, f"{stage}_loss").update(loss, weight=len(y))
        getattr(self, f"{stage}_acc").update(logits.detach().argmax(dim=1), y)
        return loss, logits

    def _log_epoch(self, stage: str) -> None:
        for name in ("loss", "acc"):
            metric = getattr(self, f"{stage}_{name}")
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=stage != "test")
            metric.reset()

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")[0]

    def on_train_epoch_end(self):
        self._log_epoch("train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def on_validation_epoch_end(self):
        if self.trainer.sanity_checking:  # a check of the loop, not a score of the model: forget it
            self.val_loss.reset()
            self.val_acc.reset()
            return
        self.val_acc_best(self.val_acc.compute())
        self._log_epoch("val")
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True)

    def test_step(self, batch, batch_idx):
        return self._step(batch, "test")[1]  # the logits, for callbacks such as the confusion matrix

    def on_test_epoch_end(self):
        self._log_epoch("test")

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        total_steps = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, total_steps=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
