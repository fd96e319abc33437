"""Learning-rate schedules, all stepped once per optimizer step and told the run's total step count."""

import math

from torch.optim.lr_scheduler import LambdaLR, OneCycleLR

# A resumed run told a new trainer.max_epochs rebuilds its schedule for the new total step count and
# goes on from its step: cosine follows the longer (or shorter) curve from there (a finished run's
# learning rate rises again: a warm restart). OneCycleLR keeps its total_steps in its state, which the
# checkpoint restores, and fails past them: a one-cycle run cannot change its length.
FIXED_LENGTH = {"zoo.training.schedules.one_cycle"}


def cosine(optimizer, total_steps: int, warmup_fraction: float = 0.05) -> LambdaLR:
    """Linear warm-up over the first `warmup_fraction` of the steps, then a cosine decay to zero."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def one_cycle(optimizer, total_steps: int, pct_start: float = 0.25) -> OneCycleLR:
    """Smith's one-cycle policy, peaking at the optimizer's own learning rate."""
    peak = [group["lr"] for group in optimizer.param_groups]
    return OneCycleLR(optimizer, max_lr=peak, total_steps=total_steps, pct_start=pct_start)


def constant(optimizer, total_steps: int) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: 1.0)
