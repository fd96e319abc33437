"""Classification: cross-entropy over the data's classes and accuracy; the best checkpoint has the highest
validation accuracy. Its views (the confusion matrix and the measurements of zoo/views/) come from
conf/task/classification.yaml."""

from typing import ClassVar

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from zoo.tasks.base import Fraction, Task, WeightedMean


class Classification(Task):
    name = "classification"
    metrics = ("loss", "acc")
    monitor, mode = "val/acc", "max"
    headline = "test/acc"
    hp_metrics: ClassVar[tuple[str, ...]] = ("test/acc", "val/acc_best", "test/loss")

    def make_metrics(self) -> dict[str, Metric]:
        return {"loss": WeightedMean(), "acc": Fraction()}

    @classmethod
    def example_input(cls, model_inputs) -> torch.Tensor:
        return torch.zeros(2, *model_inputs["input_shape"])

    def step(self, batch, stage) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing if stage == "train" else 0.0)
        # Only accumulate here; the epoch's values are computed and logged once, at its end. Logging a
        # metric object every step (self.log(..., on_epoch=True)) cost as much as the CNN's forward pass.
        self.add_to_metrics(stage, loss=(loss.detach(), len(y)), acc=(logits.detach().argmax(dim=1) == y,))
        return loss, logits
