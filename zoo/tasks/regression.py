"""Regression: the network predicts a number (a table's numeric target, data=table). It learns the target
standardized by the training split's mean and std (the data's `target.scale`), with mean squared error; RMSE, MAE
and R-squared are measured in the target's own units. The best checkpoint has the lowest validation RMSE. Its views
(a predicted-against-true scatter, the classical baselines) come from conf/task/regression.yaml."""

from typing import ClassVar

import torch
import torch.nn.functional as F
from torchmetrics import Metric

from zoo.tasks.base import Task, WeightedMean


class ErrorSums(Metric):
    """Sums over every sample since the last reset, in the target's units: squared and absolute errors, the
    targets and their squares, and the count, from which RMSE, MAE and R-squared follow exactly over any number
    of batches and processes."""

    full_state_update = False
    sums: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("sums", torch.zeros(5, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        predicted, target = predicted.detach().double(), target.double()
        error = predicted - target
        self.sums.add_(
            torch.stack(
                [
                    (error**2).sum(),
                    error.abs().sum(),
                    target.sum(),
                    (target**2).sum(),
                    torch.tensor(float(len(target)), dtype=torch.float64, device=target.device),
                ]
            )
        )

    def compute(self) -> torch.Tensor:
        return self.sums


class Regression(Task):
    name = "regression"
    metrics = ("loss", "rmse", "mae", "r2")
    monitor, mode = "val/rmse", "min"
    headline = "test/rmse"
    hp_metrics: ClassVar[tuple[str, ...]] = ("test/rmse", "test/r2", "test/mae", "val/rmse_best", "test/loss")
    smooths_labels: ClassVar[bool] = False  # there are no classes to smooth

    def __init__(
        self,
        net,
        optimizer=None,
        scheduler=None,
        label_smoothing: float = 0.0,
        hparams: dict | None = None,
        views: dict | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler, label_smoothing, hparams, views)
        self.target_mean, self.target_std = self.hparams["dataset"]["target"]["scale"]

    def make_metrics(self) -> dict[str, Metric]:
        return {"loss": WeightedMean(), "errors": ErrorSums()}

    def derived(self, values) -> dict[str, torch.Tensor]:
        squared, absolute, total, total_squares, count = values["errors"]
        variance = total_squares - total**2 / count  # of the targets, times the count
        return {
            "rmse": (squared / count).sqrt().float(),
            "mae": (absolute / count).float(),
            "r2": (1 - squared / variance).float() if variance > 0 else torch.tensor(float("nan")),
        }

    @classmethod
    def example_input(cls, model_inputs) -> torch.Tensor:
        return torch.zeros(2, *model_inputs["input_shape"])

    def in_units(self, standardized: torch.Tensor) -> torch.Tensor:
        """Standardized values (what the network predicts and learns) in the target's own units."""
        return standardized * self.target_std + self.target_mean

    def step(self, batch, stage) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        predicted = self(x).squeeze(-1)
        loss = F.mse_loss(predicted, y)
        metrics = self.metrics_of(stage)
        metrics["loss"].update(loss, weight=len(y))
        metrics["errors"].update(self.in_units(predicted.float()), self.in_units(y))
        return loss, predicted
