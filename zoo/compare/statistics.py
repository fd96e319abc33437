"""What is noise: the statistics zoo-compare puts beside configurations measured on the same test folds. Pure
functions of the scores, tested against scipy on fixed numbers (tests/test_statistics.py).

**The interval.** Each configuration's mean over its folds gets a 95% interval from the corrected resampled t
(Nadeau and Bengio, 2003, "Inference for the generalization error"): the variance of the mean of J fold scores is
(1/J + n_test/n_train) * s^2, not s^2/J, because the folds' training sets overlap (in 5-fold cross-validation any
two share 3/4 of their rows), so their scores are correlated and the naive t interval is too narrow; Nadeau and
Bengio, and Bouckaert and Frank (2004) for repeated cross-validation, show the naive test's type I error far above
its nominal level and the corrected one's near it. With K folds n_test/n_train = 1/(K - 1) (the fold against the
rest, which trains and validates). Not a bootstrap: a bootstrap of five correlated fold scores is both too narrow
(it ignores the correlation) and unstable (five values to resample). Runs repeated over seeds on one test split are
not folds: their interval is the plain t over seeds (n_test/n_train = 0), which measures the training's noise only,
not the test sample's; the sentence says which.

**The paired test.** Two configurations scored on the same folds are compared fold by fold: the corrected resampled
paired t-test on the differences, with the same correction, two-sided; "not distinguishable from the best" means its
p-value is at least 0.05.
"""

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LEVEL = 0.95
ALPHA = 0.05


def holdout_ratio(folds: int | None) -> float:
    """n_test / n_train of K-fold cross-validation, 1/(K - 1); 0 without folds (seeds on one split: no overlap
    between training sets to correct for)."""
    return 1 / (folds - 1) if folds and folds > 1 else 0.0


@dataclass(frozen=True)
class Interval:
    """The mean of `count` scores, their standard deviation and the 95% interval of the mean (None with one
    score)."""

    mean: float
    sd: float | None
    low: float | None
    high: float | None
    count: int

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean


def interval(scores: Sequence[float], ratio: float = 0.0, level: float = LEVEL) -> Interval:
    """The corrected resampled t interval of the mean of `scores` (Nadeau and Bengio): mean +- t(J-1) *
    sqrt((1/J + ratio) * s^2). With ratio 0 it is the textbook t interval (scipy.stats.t.interval with the standard
    error of the mean)."""
    from scipy import stats

    count = len(scores)
    if count == 0:
        raise ValueError("no scores")
    mean = statistics.fmean(scores)
    if count == 1:
        return Interval(mean, None, None, None, 1)
    sd = statistics.stdev(scores)
    error = math.sqrt((1 / count + ratio) * sd**2)
    half = float(stats.t.ppf(0.5 + level / 2, count - 1)) * error
    return Interval(mean, sd, mean - half, mean + half, count)


def paired_test(a: Sequence[float], b: Sequence[float], ratio: float = 0.0) -> tuple[float, float]:
    """(t, two-sided p) of the corrected resampled paired t-test of a - b, fold by fold: t = mean(d) /
    sqrt((1/J + ratio) * var(d)). With ratio 0 it is the paired t-test (scipy.stats.ttest_rel). Differences that are
    all equal: p is 1 where they are 0, else 0 (a difference with no spread at all)."""
    from scipy import stats

    if len(a) != len(b) or len(a) < 2:
        raise ValueError("a paired test needs two equally long lists of at least 2 scores")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(differences)
    variance = statistics.variance(differences)
    if variance <= (1e-12 * max(1.0, abs(mean))) ** 2:  # equal differences, but for the rounding of floats
        return (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / math.sqrt((1 / len(differences) + ratio) * variance)
    return t, float(2 * stats.t.sf(abs(t), len(differences) - 1))


@dataclass(frozen=True)
class Ranked:
    """One configuration of a comparison: its name, interval, rank (1: best mean), the p-value of the paired test
    against the best on their common folds (None for the best, or with fewer than 2 common folds), and its verdict:
    best, tied (not distinguishable from the best), worse, or untested (too few common folds)."""

    name: str
    interval: Interval
    rank: int
    p_value: float | None
    verdict: str
    common: int  # folds shared with the best


def rank(scores: Mapping[str, Mapping], mode: str, ratio: float, alpha: float = ALPHA) -> list[Ranked]:
    """The configurations `scores` ({name: {fold: score}}) ranked by their mean (`mode` max: higher is better), each
    tested against the best on the folds both have."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode {mode!r}")
    sign = 1 if mode == "max" else -1
    intervals = {name: interval(list(folds.values()), ratio) for name, folds in scores.items() if folds}
    ordered = sorted(intervals, key=lambda name: -sign * intervals[name].mean)
    if not ordered:
        return []
    best = ordered[0]
    ranked = []
    for position, name in enumerate(ordered, start=1):
        common = sorted(set(scores[name]) & set(scores[best]), key=str)
        p_value = None
        if name == best:
            verdict = "best"
        elif len(common) < 2:
            verdict = "untested"
        else:
            _, p_value = paired_test([scores[name][k] for k in common], [scores[best][k] for k in common], ratio)
            verdict = "tied" if p_value >= alpha else "worse"
        ranked.append(Ranked(name, intervals[name], position, p_value, verdict, len(common)))
    return ranked


def listing(names: list[str]) -> str:
    """a; a and b; a, b and c."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"


def verdict(ranked: list[Ranked], folds: bool = True) -> str:
    """One sentence: the best configuration with its mean and interval, those not distinguishable from it, those
    worse, and those that could not be tested; then how that was decided. `folds`: the scores are test folds (else
    seeds on one split)."""
    if not ranked:
        return "nothing to compare."
    best = ranked[0]
    half = best.interval.half_width
    shown = number(best.interval.mean) + (f" ± {number(half)}" if half is not None else "")
    if len(ranked) == 1:
        return f"{best.name} is the only configuration ({shown})."
    parts = [f"{best.name} is best ({shown})"]
    groups = {kind: [row.name for row in ranked if row.verdict == kind] for kind in ("tied", "worse", "untested")}
    if groups["tied"]:
        verb = "is" if len(groups["tied"]) == 1 else "are"
        parts.append(f"{listing(groups['tied'])} {verb} not distinguishable from it")
    if groups["worse"]:
        parts.append(f"{listing(groups['worse'])} {'is' if len(groups['worse']) == 1 else 'are'} worse")
    if groups["untested"]:
        parts.append(f"{listing(groups['untested'])} could not be tested (fewer than 2 folds in common)")
    count = best.interval.count
    how = (
        f"mean ± 95% interval over {count} test folds; paired corrected resampled t-test against the best, 5% level"
        if folds
        else f"mean ± 95% t interval over {count} seeds on one test split, the training's noise only; paired t-test"
        f" against the best, 5% level"
    )
    return "; ".join(parts) + f" ({how})."
