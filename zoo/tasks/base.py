"""What every task shares: a network, an optimizer and schedule built late, metrics averaged over
samples and logged once per epoch, and the best validation value of the monitored metric."""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import lightning as L
import torch
from torch import nn
from torchmetrics import MaxMetric, Metric, MinMetric


class WeightedMean(Metric):
    """The mean of per-batch values weighted by batch size, so a short last batch counts for what it holds.

    torchmetrics' MeanMetric would need its NaN check on (a GPU synchronization per update) to honour
    `weight`: with `nan_strategy="disable"` it silently weighs every update as 1.
    """

    full_state_update = False
    total: torch.Tensor
    weight: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: int | torch.Tensor) -> None:
        """One value and its weight, or a vector of each (several batches at once)."""
        self.total.add_((value.detach().float() * weight).sum())
        self.weight.add_(weight.sum() if isinstance(weight, torch.Tensor) else weight)

    def compute(self) -> torch.Tensor:
        return self.total / self.weight


class Fraction(Metric):
    """The fraction of samples marked true (a batch's right answers, say) over everything updated since the last
    reset: integer counts, so exact over any number of batches and processes. Accuracy was torchmetrics'
    MulticlassAccuracy, which counts the same way at half again the cost per update (55 against 35 us on a
    CPU, most of it its bookkeeping of per-class statistics that micro accuracy does not use)."""

    full_state_update = False
    hits: torch.Tensor
    count: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("hits", torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, hits: torch.Tensor) -> None:
        """The right answers of one batch, or of several batches joined."""
        self.hits.add_(hits.sum())
        self.count.add_(hits.numel())

    def compute(self) -> torch.Tensor:
        return self.hits / self.count


# Batches whose metric updates Task.add_to_metrics keeps before folding them in: a bound on what it holds.
FOLD_EVERY = 256


def joined(parts: tuple, device: torch.device) -> torch.Tensor:
    """One argument of a metric's update over several batches, joined along the first dimension: 0-d tensors stacked,
    others concatenated, numbers made a tensor."""
    first = parts[0]
    if not isinstance(first, torch.Tensor):
        return torch.tensor(parts, device=device)
    return torch.stack(parts) if first.dim() == 0 else torch.cat(parts)


class Task(L.LightningModule, ABC):
    """A subclass names itself and its data's declaration (`name`), lists the metrics it logs for every
    stage (`metrics`: their objects come from `make_metrics`, values derived from them from `derived`),
    says which validation metric chooses the best checkpoint and in which direction (`monitor`, `mode`),
    which final metrics go into the HPARAMS row (`hp_metrics`, those TensorBoard shows first at the start), which one
    ranks runs (`headline`) and whether `label_smoothing` means anything to it (`smooths_labels`), and
    implements `step(batch, stage)` and `example_input(model_inputs)`.

    `optimizer` and `scheduler` arrive half-built from the config: the optimizer still needs the
    parameters, the schedule the optimizer and the run's total number of steps. `hparams` must be plain
    Python containers: they are pickled into every checkpoint, which must open with `weights_only=True`.
    """

    name: str
    metrics: tuple[str, ...]
    monitor: str
    mode: str  # "max" or "min"
    headline: str
    hp_metrics: ClassVar[tuple[str, ...]]  # final metrics (metrics.json's keys), the headline first
    smooths_labels: ClassVar[bool] = True

    def __init__(
        self,
        net: nn.Module,
        optimizer=None,
        scheduler=None,
        label_smoothing: float = 0.0,
        hparams: dict | None = None,
        views: dict[str, L.Callback | None] | None = None,
    ) -> None:
        super().__init__()
        # The task's views and measurements (conf/task/<name>.yaml `views`, built by Hydra); a plain list, not
        # submodules: they are callbacks, not part of the model. `task.views.<name>=null` switches one off.
        self._views = [view for view in (views or {}).values() if view is not None]
        self.save_hyperparameters(hparams or {}, logger=False)
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.label_smoothing = label_smoothing
        # Each stage's metric objects, updated every step without per-update checks: each check costs a GPU
        # synchronization. (A ModuleDict cannot take "train" as a key: nn.Module has a method of that name.)
        self.stage_metrics = nn.ModuleDict(
            {f"{stage}_metrics": nn.ModuleDict(self.make_metrics()) for stage in ("train", "val", "test")}
        )
        # What `add_to_metrics` keeps for each stage until it is folded into the metric objects.
        self._unfolded: dict[str, list[dict[str, tuple]]] = {stage: [] for stage in ("train", "val", "test")}
        best = MaxMetric() if self.mode == "max" else MinMetric()
        best.persistent(True)  # kept in checkpoints, so a resumed run remembers its best
        setattr(self, self.best_attribute, best)

    # --- what a task declares ---------------------------------------------------------------------
    def make_metrics(self) -> dict[str, Metric]:
        """One stage's metric objects, by name (each is logged as `<stage>/<name>`)."""
        return {"loss": WeightedMean()}

    @classmethod
    def logged(cls, stage: str) -> tuple[str, ...]:
        """The metrics `stage` (train, val or test) logs and metrics.json holds: all of `metrics` by default."""
        return cls.metrics

    def derived(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Values computed from one stage's metrics at the end of an epoch (bits from nats, say)."""
        return {}

    @abstractmethod
    def step(self, batch, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of one batch (for the optimizer) and the network's outputs; updates the stage's metrics."""

    @classmethod
    @abstractmethod
    def example_input(cls, model_inputs: dict) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """A batch of two inputs the network must take (a tuple where it takes several tensors, as a translation
        network does): built before training to check the model fits the data."""

    def callbacks(self) -> list[L.Callback]:
        """The task's views in TensorBoard (a confusion matrix, a text sample, decision boundaries...): those
        of its config's `views`, and any a subclass adds. A view that measures something after testing puts
        it in its `results` dict (name -> float), which metrics.json and the HPARAMS row (`zoo/<name>`) show."""
        return list(self._views)

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets `_current_fx_name` (a str) around every hook it calls, dozens of times a step, and
        # nn.Module's __setattr__ first checks each value for a parameter, module or buffer: 2% of a step of the
        # paper's CNN (profiled). The name is never one of those.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # --- what follows from the declarations ------------------------------------------------------
    def metrics_of(self, stage: str) -> Mapping[str, Metric]:
        """The metric objects of `stage` (train, val or test), by name: what `step` updates."""
        return cast(Mapping[str, Metric], self.stage_metrics[f"{stage}_metrics"])

    @property
    def best_attribute(self) -> str:
        return self.monitor.replace("/", "_") + "_best"

    @classmethod
    def best_metric(cls) -> str:
        return f"{cls.monitor}_best"

    @classmethod
    def details(cls, metrics: dict[str, float]) -> dict:
        """What metrics.json holds beyond `final_metrics`, from the values logged by the end of testing (a
        forecast's measures per step of its horizon); nothing by default."""
        return {}

    @classmethod
    def final_metrics(cls) -> list[str]:
        """What metrics.json and the summary show, in order."""
        return (
            [f"train/{name}" for name in cls.logged("train")]
            + [f"val/{name}" for name in cls.logged("val")]
            + [cls.best_metric()]
            + [f"test/{name}" for name in cls.logged("test")]
        )

    def forward(self, *inputs) -> torch.Tensor:
        return self.net(*inputs)

    def add_to_metrics(self, stage: str, **updates: tuple) -> None:
        """What one batch adds to the stage's metrics: by metric name, the arguments of its `update`, each a tensor
        (0-d, or with the batch along its first dimension) or a number. They are kept, and folded in together (the
        arguments of all batches joined) at the end of the epoch or every FOLD_EVERY batches: an update costs a few
        tensor operations and torchmetrics' bookkeeping, per metric and batch (3% of a step of the paper's CNN on a
        CPU, profiled), and folding pays them once. A subclass may still call a metric's `update` itself."""
        unfolded = self._unfolded[stage]
        unfolded.append(updates)
        if len(unfolded) >= FOLD_EVERY:
            self._fold(stage)

    def _fold(self, stage: str) -> None:
        unfolded, self._unfolded[stage] = self._unfolded[stage], []
        if not unfolded:
            return
        metrics = self.metrics_of(stage)
        for name in unfolded[0]:
            arguments = zip(*(updates[name] for updates in unfolded), strict=True)
            metrics[name].update(*(joined(parts, self.device) for parts in arguments))

    def _log_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        self._fold(stage)
        values = {}
        logged = self.logged(stage)
        for name, metric in self.metrics_of(stage).items():
            if name in logged or name not in self.metrics:  # sums of a task's own, for derived(), always
                values[name] = metric.compute()
            metric.reset()
        values |= self.derived(values)
        for name in self.logged(stage):
            self.log(f"{stage}/{name}", values[name], prog_bar=stage != "test")
        return values

    # --- the training step ------------------------------------------------------------------------
    # Lightning's automatic optimization runs every step through a closure, a zero-grad hook and a
    # gradient-clipping hook, each called on every callback: profiled, a fifth of the paper CNN's CPU step.
    # The task steps its optimizer and schedule itself (the same order: forward, zero_grad, backward, step,
    # then the schedule), and leaves the step to Lightning only where the Trainer must clip gradients or
    # accumulate them (trainer.gradient_clip_val, trainer.accumulate_grad_batches), which it does only there.
    @property
    def automatic_optimization(self) -> bool:
        trainer = self._trainer
        return trainer is not None and (trainer.gradient_clip_val is not None or trainer.accumulate_grad_batches != 1)

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        raise AttributeError("a zoo task chooses its optimization itself, from the Trainer's settings")

    def training_step(self, batch, batch_idx) -> torch.Tensor:
        loss = self.step(batch, "train")[0]
        if self.automatic_optimization:
            return loss
        optimizer = self.optimizers()
        assert not isinstance(optimizer, list)  # configure_optimizers gives one
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            assert not isinstance(scheduler, list)  # and one schedule at most
            scheduler.step()
        return loss.detach()  # for the callbacks (zoo.callbacks.loop.StopOnNonFiniteLoss)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Lightning counts the steps of automatic and of manual optimization apart, and a resumed run's global
        step is the count of the mode it trains in: a checkpoint written in the other mode (by a run that clipped
        gradients, or by zoo before it stepped its own optimizer) gives both its count."""
        loops = checkpoint.get("loops", {}).get("fit_loop", {})
        automatic = loops.get("epoch_loop.automatic_optimization.optim_progress", {}).get("optimizer", {}).get("step")
        manual = loops.get("epoch_loop.manual_optimization.optim_step_progress")
        if automatic is None or manual is None:
            return
        done = max((automatic, manual), key=lambda progress: progress["total"]["completed"])
        for progress in (automatic, manual):
            for part in ("total", "current"):
                progress[part].update({key: done[part][key] for key in ("ready", "completed")})

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def validation_step(self, batch, batch_idx) -> None:
        self.step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a check of the loop, not a score of the model: forget it
            self._unfolded["val"] = []
            for metric in self.metrics_of("val").values():
                metric.reset()
            return
        values = self._log_epoch("val")
        best = getattr(self, self.best_attribute)
        best(values[self.monitor.split("/", 1)[1]])
        self.log(self.best_metric(), best.compute(), prog_bar=True)

    def test_step(self, batch, batch_idx) -> torch.Tensor:
        return self.step(batch, "test")[1]  # the outputs, for callbacks such as the confusion matrix

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        total_steps = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, total_steps=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
