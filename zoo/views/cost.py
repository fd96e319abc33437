"""Compute cost: what a network costs to run, in FLOPs per sample and in milliseconds per sample.

The textbook claim: accuracy is bought with compute, and families differ in how much they need for the
same score. Parameters count what a network stores; FLOPs count what it does with each input (a
convolution reuses its few weights at every position, an MLP uses each weight once).

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions, two
FLOPs per multiply-add; element-wise work such as activations and norms is not counted) on a copy of the
network on the CPU, whatever the run's device: the count depends on the network and the input shape, not
on the hardware. FlopCounterMode sees only the operators it has formulas for, and some of PyTorch's fused
CPU kernels are not among them: LSTM through oneDNN (`mkldnn_rnn_layer`), nn.MultiheadAttention's fast
path in eval mode and scaled_dot_product_attention's CPU flash kernel all count 0 (torch 2.14). The
count therefore runs with those paths off, through the plain operators they fuse (`countable_kernels`).
Attention is counted in full, the masked half of a causal attention included (the plain operators
compute it).
"""

import contextlib
import copy
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.plugins import TorchSyncBatchNorm
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from zoo.files import write_atomically
from zoo.views.base import COUNT, POSITIVE_INT, POSITIVE_NUMBER, measuring, require


@contextlib.contextmanager
def countable_kernels() -> Iterator[None]:
    """Run LSTMs, GRUs and attention through the operators FlopCounterMode has formulas for."""
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            # Switching oneDNN also resets its TF32 setting, which torch warns has no Intel GPU to act on.
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH):
                yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)


def as_inputs(example) -> tuple[torch.Tensor, ...]:
    """A task's example input as the tensors the network takes (a translation network takes two)."""
    return example if isinstance(example, tuple) else (example,)


def count_flops(net: torch.nn.Module, example) -> dict[str, float]:
    """FLOPs per sample of `net` on the batch `example`: a forward pass in eval mode (`flops_forward`)
    and a training step (`flops_train_step`): a forward pass in train mode and the backward pass of a loss
    on its outputs. The optimizer's update is not counted (element-wise, and not an operator
    FlopCounterMode counts). The backward pass of a layer costs twice its forward (the gradients of its
    weights and of its input), except where its input needs no gradient (the data at the first layer, an
    RNN's zero initial state): a training step costs three forward passes less those products.

    Runs on a deep copy on the CPU with the random state put back: the network, its batch-norm
    statistics and the run's random numbers are left as they were."""
    copied = copy.deepcopy(net).cpu().float()  # the count does not depend on the precision
    # trainer.sync_batchnorm=true swapped in SyncBatchNorm, which needs its processes and a GPU: back to BatchNorm.
    copied = TorchSyncBatchNorm().revert(copied)
    inputs = tuple(x.cpu().float() if x.is_floating_point() else x.cpu() for x in as_inputs(example))
    # One thread: the count runs thousands of tiny operators (an RNN's steps), which two threads on a busy
    # 2-core machine made 25 times slower (6 s against 0.24 s for the default GRU).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), countable_kernels():
            with torch.no_grad(), FlopCounterMode(display=False) as forward:
                copied.eval()(*inputs)
            with torch.enable_grad(), FlopCounterMode(display=False) as step:
                copied.train()(*inputs).float().sum().backward()
    finally:
        torch.set_num_threads(threads)
    samples = len(inputs[0])
    return {"flops_forward": forward.get_total_flops() / samples, "flops_train_step": step.get_total_flops() / samples}


def latency_ms(
    net: torch.nn.Module,
    sample,
    calls: int = 30,
    warmup: int = 5,
    forward_context=contextlib.nullcontext,
    max_seconds: float = 2.0,
) -> float:
    """Median milliseconds of one forward pass on `sample` (a batch of one) in eval mode, on the network's
    device (waiting for the GPU before and after each call), after `warmup` calls that are not timed.
    `forward_context` is the run's precision (autocast), so a mixed-precision run is timed as it runs.
    Stops after `max_seconds` of timed calls (at least 3 of them): on a CPU whose cores other processes
    keep busy, torch's threads wait for each other and a call of the small CNN took 230 ms instead of 0.4."""
    device = next(net.parameters()).device
    inputs = tuple(x.to(device) for x in as_inputs(sample))

    def wait() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with measuring(net), forward_context():
        for _ in range(warmup):
            net(*inputs)
        times: list[float] = []
        while len(times) < calls and (len(times) < 3 or sum(times) < max_seconds):
            wait()
            start = time.perf_counter()
            net(*inputs)
            wait()
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


class ComputeCost(L.Callback):
    """FLOPs per sample, counted once at the start of fitting (`count_flops`), and the latency of one
    sample, timed once after testing on the tested weights (`latency_ms`); in metrics.json "measured" and
    the HPARAMS row as hp/flops_forward, hp/flops_train_step and hp/latency_ms."""

    def __init__(self, latency_calls: int = 30, warmup_calls: int = 5, latency_max_seconds: float = 2.0) -> None:
        require(
            latency_calls=(latency_calls, POSITIVE_INT),
            warmup_calls=(warmup_calls, COUNT),
            latency_max_seconds=(latency_max_seconds, POSITIVE_NUMBER),
        )
        self.latency_calls, self.warmup_calls = latency_calls, warmup_calls
        self.latency_max_seconds = latency_max_seconds
        self.results: dict[str, float] = {}

    @rank_zero_only
    def on_fit_start(self, trainer, pl_module) -> None:
        example = pl_module.example_input(trainer.datamodule.model_inputs)
        self.results = count_flops(pl_module.net, example)

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        # as the run's inputs reach the network: in half precision where the run trains in it (bf16-true)
        example = as_inputs(pl_module.example_input(trainer.datamodule.model_inputs))
        sample = tuple(trainer.precision_plugin.convert_input(x[:1]) for x in example)
        self.results["latency_ms"] = latency_ms(
            pl_module.net,
            sample,
            self.latency_calls,
            self.warmup_calls,
            trainer.precision_plugin.forward_context,
            self.latency_max_seconds,
        )


def compare_figure(runs: list[dict], out: Path) -> Path | None:
    """cost.png for zoo-compare: the headline test score of each group of runs (its mean over seeds) against its
    forward FLOPs per sample (log scale), one panel per task, each point labelled by what tells its group apart
    (zoo.runs.grouping.labels: the data where it differs, the family, the settings that differ). None where no run
    counted FLOPs."""
    from zoo.runs.grouping import group_runs, labels, panel_title, score_columns, task_of

    counted = [
        run for run in runs if run.get("flops_forward") and run[score_columns(task_of(run["hparams"]))[0]] is not None
    ]
    if not counted:
        return None
    tasks = sorted({task_of(run["hparams"]).name for run in counted})
    figure = Figure(figsize=(6.5, 4.6 * len(tasks)))
    for index, name in enumerate(tasks, start=1):
        axes = figure.add_subplot(len(tasks), 1, index)
        groups = group_runs([run for run in counted if task_of(run["hparams"]).name == name])
        task = task_of(groups[0][0])
        score = score_columns(task)[0]
        for number, ((_, members), text) in enumerate(zip(groups, labels([c for c, _ in groups]), strict=True)):
            x = statistics.fmean(run["flops_forward"] for run in members)
            y = statistics.fmean(run[score] for run in members)
            axes.scatter(x, y, color=f"C{number % 10}", s=30)
            note = f" ({len(members)} runs)" if len(members) > 1 else ""
            axes.annotate(text + note, (x, y), textcoords="offset points", xytext=(5, 3), fontsize=8)
        axes.set_xscale("log")
        axes.margins(x=0.25, y=0.15)  # room for the labels of the outermost points
        axes.set_xlabel("forward FLOPs per sample (log scale)")
        axes.set_ylabel(task.headline + (" (lower is better)" if task.mode == "min" else ""))
        axes.set_title(panel_title(name.replace("_", " "), [config for config, _ in groups]))
        axes.grid(alpha=0.3, which="both")
    figure.tight_layout()
    path = out / "cost.png"
    write_atomically(path, lambda partial: figure.savefig(partial, format="png", dpi=80, bbox_inches="tight"))
    return path
