"""Brittleness: how fast the test accuracy falls under random noise and under the worst small change of the input, the
fast gradient sign method (FGSM, Goodfellow et al. 2015: x + eps * sign(grad_x loss)).

Sizes are in standard deviations of the data: the splits are normalized per channel with the training part's
statistics, so that is the model's own input unit, and a size means the same on every data set. Noise of standard
deviation 1 doubles the signal's variance; an FGSM step of 0.1 moves every input value by a tenth of a standard
deviation, in the direction that hurts most to first order.

Once, after testing, on the tested weights: SCALARS `zoo/robust/noise_acc`, `zoo/robust/fgsm_acc` against the size in
hundredths of a standard deviation (TensorBoard's x axis is an integer step), IMAGES `robust/accuracy` (both curves),
`robust/adversarial_examples`, the accuracies at a reference size each in HPARAMS; `compare_figure` for zoo-compare.
"""

import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure

from zoo.callbacks.tensorboard import tensorboard_writer
from zoo.callbacks.trackers import log_figure, takes_figures
from zoo.errors import ZooError
from zoo.files import write_atomically
from zoo.views.base import COUNT, INTEGER, NUMBER_AT_LEAST_0, SIZES, measuring, require, show_input


def batches(
    inputs: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(targets), batch_size):
        yield inputs[start : start + batch_size], targets[start : start + batch_size]


def accuracy(correct: torch.Tensor, total: int) -> list[float]:
    """Counts of correct answers as accuracies, divided in float32 as the test metric is, so that size 0
    gives exactly `test/acc`."""
    return (correct.float() / total).tolist()


def count_correct(net: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return (net(inputs).argmax(dim=1) == targets).sum()


def accuracy_under_noise(
    net: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    sizes: list[float],
    batch_size: int = 1024,
    seed: int = 0,
) -> list[float]:
    """The accuracy on `inputs` plus Gaussian noise of each standard deviation in `sizes` (model input
    units). One seeded draw of noise serves every size, so the curve changes only with the size and the
    same run gives the same curve."""
    generator = torch.Generator().manual_seed(seed)
    with measuring(net):
        correct = torch.zeros(len(sizes), dtype=torch.long, device=targets.device)  # no inference tensor
        for x, y in batches(inputs, targets, batch_size):
            noise = torch.randn(x.shape, generator=generator).to(x.device)
            for index, size in enumerate(sizes):
                correct[index] += count_correct(net, x + size * noise, y)
    return accuracy(correct, len(targets))


# Samples whose gradients one backward pass takes: it holds every layer's activations of all of them (a CNN's
# on 512 RGB images of 32x32 are hundreds of MiB), so the memory is that of this many, whatever the eval batch.
GRADIENT_BATCH = 128


def fgsm_directions(net: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """sign(grad_x cross_entropy(net(x), y)): the direction in which every input value raises the loss, GRADIENT_BATCH
    samples a backward pass (each sample's gradient is its own: the loss is a sum, the network in eval mode). Call it
    inside `measuring(net, grad=True)`."""
    directions = []
    for x, y in batches(inputs, targets, GRADIENT_BATCH):
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(net(x).float(), y, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, x)
        directions.append(gradient.sign())
    return torch.cat(directions)


def fgsm_accuracy(
    net: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, epsilons: list[float], batch_size: int = 1024
) -> list[float]:
    """The accuracy on FGSM's x + eps * sign(grad_x loss) for each eps in `epsilons` (model input units),
    one gradient per batch for every eps; eps 0 gives the clean accuracy."""
    with measuring(net, grad=True):
        correct = torch.zeros(len(epsilons), dtype=torch.long, device=targets.device)
        for x, y in batches(inputs, targets, batch_size):
            direction = fgsm_directions(net, x, y)
            for index, eps in enumerate(epsilons):
                correct[index] += count_correct(net, x + eps * direction, y)
    return accuracy(correct, len(targets))


def robustness_figure(
    noise_sizes: list[float],
    noise_acc: list[float],
    epsilons: list[float],
    fgsm_acc: list[float],
    chance: float | None = None,
) -> Figure:
    """Both accuracy curves against the size, in standard deviations of the data."""
    figure = Figure(figsize=(5.5, 4), dpi=80)
    axes = figure.add_subplot()
    axes.plot(noise_sizes, noise_acc, "o-", label="Gaussian noise (size = its std)")
    axes.plot(epsilons, fgsm_acc, "s-", label="FGSM (size = eps)")
    if chance is not None:
        axes.axhline(chance, color="gray", linestyle="--", linewidth=1, label="chance")
    axes.set_xlabel("size of the change (standard deviations of the data)")
    axes.set_ylabel("test accuracy")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def adversarial_figure(net: torch.nn.Module, datamodule, epsilon: float, count: int = 4) -> Figure:
    """`count` test examples before and after an FGSM step of `epsilon`, with both predictions: the first
    ones the step turns from right to wrong (then, if too few turn, the first ones it leaves right)."""
    inputs, targets = datamodule.splits["test"]
    inputs, targets = inputs[:64], targets[:64]
    with measuring(net, grad=True):
        perturbed = inputs + epsilon * fgsm_directions(net, inputs, targets)
        with torch.no_grad():
            before, after = net(inputs).argmax(dim=1), net(perturbed).argmax(dim=1)
    right = before == targets
    flipped = (right & (after != targets)).nonzero().flatten().tolist()
    kept = (right & (after == targets)).nonzero().flatten().tolist()
    chosen = (flipped + kept)[:count]
    names = datamodule.class_names
    images = inputs.dim() == 4
    named = inputs.dim() == 2 and len(datamodule.feature_names) > 0  # room under each panel for its columns' names
    figure = Figure(figsize=(7, (2.2 + 1.2 * named) * len(chosen) + 0.4), dpi=80)
    for row, index in enumerate(chosen):
        pair = [
            (inputs[index], f"clean: predicted {names[before[index]]} (true {names[targets[index]]})"),
            (perturbed[index], f"eps {epsilon:g}: predicted {names[after[index]]}"),
        ]
        first = None
        for column, (values, label) in enumerate(pair):
            axes = figure.add_subplot(len(chosen), 2, 2 * row + column + 1, sharey=None if images else first)
            first = first or axes
            show_input(axes, values, datamodule, label, reference=inputs[index] if column else None)
    figure.suptitle(f"FGSM, eps = {epsilon:g} standard deviations of the data", fontsize=10)
    figure.tight_layout()
    return figure


# The curves' scalars: beside the run's final values, after the training curves in SCALARS (zoo.runs.hparams.FINAL).
CURVES = "zoo/robust/"


def step_of(size: float) -> int:
    """A size as TensorBoard's integer x axis: hundredths of a standard deviation."""
    return round(size * 100)


class Robustness(L.Callback):
    """After testing: accuracy under Gaussian noise of each size in `noise` and under FGSM of each eps in
    `fgsm` (standard deviations of the data), as curves and a figure; a few adversarial examples at
    `reference_fgsm`; `noise_acc_<reference_noise>` and `fgsm_acc_<reference_fgsm>` in `results`."""

    def __init__(
        self,
        noise: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0),
        fgsm: Sequence[float] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2),
        reference_noise: float = 0.5,
        reference_fgsm: float = 0.1,
        examples: int = 4,
        seed: int = 0,
    ) -> None:
        require(
            noise=(noise, SIZES),
            fgsm=(fgsm, SIZES),
            reference_noise=(reference_noise, NUMBER_AT_LEAST_0),
            reference_fgsm=(reference_fgsm, NUMBER_AT_LEAST_0),
            examples=(examples, COUNT),
            seed=(seed, INTEGER),
        )
        for key, sizes, reference in (("noise", noise, reference_noise), ("fgsm", fgsm, reference_fgsm)):
            if len({step_of(s) for s in sizes}) < len(sizes):
                raise ZooError(f"{key}={list(sizes)}: give sizes that differ by at least 0.01, e.g. [0,0.1,0.5]")
            if reference not in sizes:
                raise ZooError(f"reference_{key}={reference} is not one of {key}={list(sizes)}; choose one of them")
        self.noise, self.fgsm = [float(s) for s in noise], [float(s) for s in fgsm]
        self.reference_noise, self.reference_fgsm = reference_noise, reference_fgsm
        self.examples, self.seed = examples, seed
        self.results: dict[str, float] = {}

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        datamodule, net = trainer.datamodule, pl_module.net
        if not datamodule.continuous_inputs:  # a table's category codes: no noise or gradient means anything
            return
        inputs, targets = datamodule.splits["test"]
        # The test's own precision (autocast under bf16-mixed), so that size 0 scores exactly as the test did.
        with trainer.precision_plugin.forward_context():
            noise_acc = accuracy_under_noise(net, inputs, targets, self.noise, datamodule.eval_batch_size, self.seed)
            fgsm_acc = fgsm_accuracy(net, inputs, targets, self.fgsm, datamodule.eval_batch_size)
            if (writer := tensorboard_writer(trainer)) is not None:  # accuracy against the noise's size: SCALARS
                for tag, sizes, values in (("noise_acc", self.noise, noise_acc), ("fgsm_acc", self.fgsm, fgsm_acc)):
                    for size, value in sorted(zip(sizes, values, strict=False)):
                        writer.add_scalar(CURVES + tag, value, step_of(size))
            if takes_figures(trainer):
                figure = robustness_figure(self.noise, noise_acc, self.fgsm, fgsm_acc, 1 / len(datamodule.class_names))
                log_figure(trainer, "robust/accuracy", figure, trainer.global_step)
                if self.examples:
                    figure = adversarial_figure(net, datamodule, self.reference_fgsm, self.examples)
                    log_figure(trainer, "robust/adversarial_examples", figure, trainer.global_step)
        self.results = {
            f"noise_acc_{self.reference_noise:g}": noise_acc[self.noise.index(self.reference_noise)],
            f"fgsm_acc_{self.reference_fgsm:g}": fgsm_acc[self.fgsm.index(self.reference_fgsm)],
        }


def curve(run: dict, tag: str) -> dict[float, float]:
    """A run's logged robustness curve (`tag`: fgsm_acc or noise_acc): size (standard deviations) -> accuracy."""
    events = run["events"]
    logged = next((name for name in (CURVES + tag, f"robust/{tag}") if name in events.Tags()["scalars"]), None)
    return {event.step / 100: event.value for event in events.Scalars(logged)} if logged else {}


def compare_figure(runs: list[dict], out: Path) -> Path | None:
    """zoo-compare: accuracy against FGSM's eps and against the noise's size, one line per group of runs labelled by
    what tells it apart (zoo.runs.grouping.labels), mean over seeds; one row of panels per data set. Writes
    robustness.png, or nothing when no run measured robustness."""
    from zoo.runs.grouping import data_text, group_runs, labels, order

    measured = [run for run in runs if curve(run, "fgsm_acc")]
    if not measured:
        return None
    groups = group_runs(measured)
    datasets = sorted({data_text(config) for config, _ in groups}, key=order)
    figure = Figure(figsize=(11, 4 * len(datasets)))
    for row, data in enumerate(datasets):
        members = [(config, runs) for config, runs in groups if data_text(config) == data]
        names = labels([config for config, _ in members])
        for column, (tag, title) in enumerate((("fgsm_acc", "FGSM"), ("noise_acc", "Gaussian noise"))):
            axes = figure.add_subplot(len(datasets), 2, 2 * row + column + 1)
            for (_, group), name in sorted(zip(members, names, strict=True), key=lambda pair: pair[1]):
                curves = [curve(run, tag) for run in group]
                sizes = sorted(set.intersection(*(set(c) for c in curves)))
                if sizes:
                    means = [statistics.fmean(c[size] for c in curves) for size in sizes]
                    note = f" ({len(curves)} runs)" if len(curves) > 1 else ""
                    axes.plot(sizes, means, "o-", markersize=3, label=name + note)
            axes.set_title(f"{data}: {title}")
            axes.set_xlabel(("eps" if column == 0 else "noise std") + " (standard deviations of the data)")
            axes.set_ylabel("test accuracy" + (", mean over seeds" if any(len(g) > 1 for _, g in members) else ""))
            axes.set_ylim(0, 1.02)
            axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))  # one legend a row, beside it
    figure.tight_layout()
    path = out / "robustness.png"
    write_atomically(path, lambda partial: figure.savefig(partial, format="png", dpi=80, bbox_inches="tight"))
    return path
