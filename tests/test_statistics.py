"""What is noise (zoo.compare.statistics, zoo.compare.noise): the corrected resampled t interval and paired test
against a direct computation with scipy on fixed numbers, and the sentence on a built comparison where two families
are within noise of the best and one is clearly worse. Pure functions: fast."""

import math

import numpy as np
import pytest
from scipy import stats

from zoo.compare.noise import panels
from zoo.compare.statistics import holdout_ratio, interval, paired_test, rank, verdict

# Five folds of two configurations, fixed.
A = [0.951, 0.962, 0.940, 0.971, 0.955]
B = [0.930, 0.951, 0.935, 0.960, 0.941]


def test_without_correction_the_interval_and_the_paired_test_are_scipy_s():
    got = interval(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert (got.low, got.high) == pytest.approx((low, high), abs=1e-12)
    assert got.sd == pytest.approx(np.std(A, ddof=1)) and got.count == 5
    t, p = paired_test(A, B)
    expected = stats.ttest_rel(A, B)
    assert (t, p) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)


def test_the_corrected_resampled_t_widens_by_nadeau_and_bengio_s_factor():
    """Five folds: n_test/n_train = 1/4, the variance of the mean (1/5 + 1/4) s^2 instead of s^2/5."""
    ratio = holdout_ratio(5)
    assert ratio == 0.25 and holdout_ratio(None) == 0.0
    got = interval(A, ratio)
    half = stats.t.ppf(0.975, 4) * math.sqrt((1 / 5 + 1 / 4) * np.var(A, ddof=1))
    assert (got.low, got.high) == pytest.approx((np.mean(A) - half, np.mean(A) + half), abs=1e-12)
    assert got.half_width == pytest.approx(0.02169628, abs=1e-8)  # the fixed numbers' value, once computed
    t, p = paired_test(A, B, ratio)
    naive = stats.ttest_rel(A, B)
    corrected_t = naive.statistic * math.sqrt((1 / 5) / (1 / 5 + 1 / 4))
    assert t == pytest.approx(corrected_t, abs=1e-12)
    assert p == pytest.approx(2 * stats.t.sf(abs(corrected_t), 4), abs=1e-12)
    assert p == pytest.approx(0.033552, abs=1e-6) and naive.pvalue < p  # the naive test is overconfident


def test_equal_scores_and_a_single_score():
    assert paired_test([0.9, 0.8], [0.9, 0.8]) == (0.0, 1.0)
    assert paired_test([0.9, 0.8], [0.8, 0.7])[1] == 0.0  # a constant difference: no spread at all
    single = interval([0.9])
    assert single.low is None and single.half_width is None and single.sd is None


def run(model: str, fold: int, score: float, seed: int = 0, hgb: float | None = None) -> dict:
    """A finished run as zoo-compare reads it from its event file."""
    hparams = {
        "task": "classification",
        "data": "table",
        "data.path": "/data/cancer.csv",
        "data.target": "target",
        "model": model,
        "optimizer.lr": 0.001,
        "data.folds": 5.0,
        "data.fold": float(fold),
        "data.repeats": 1.0,
        "seed": float(seed),
    }
    return {"hparams": hparams, "test_acc": score, "classical": {"hgb": hgb} if hgb else {}, "curve": [], "metric": ""}


def test_the_verdict_names_the_best_those_within_noise_and_those_worse():
    """Gradient boosting best; mlp and cnn within noise of it (differences that change sign from fold to fold);
    linear clearly worse on every fold. The baseline's score of each fold is counted once, whatever the number of
    families that fitted it."""
    hgb = [0.965, 0.958, 0.970, 0.955, 0.962]
    mlp = [0.968, 0.950, 0.966, 0.957, 0.955]
    cnn = [0.955, 0.961, 0.972, 0.948, 0.957]
    linear = [0.900, 0.895, 0.910, 0.890, 0.905]
    runs = [
        run(model, fold, scores[fold], hgb=hgb[fold])
        for model, scores in (("mlp", mlp), ("cnn", cnn), ("linear", linear))
        for fold in range(5)
    ]
    [panel] = panels(runs)
    assert panel.scores["gradient boosting (sklearn)"] == pytest.approx(dict(enumerate(hgb)))
    assert [row.name for row in panel.ranked] == ["gradient boosting (sklearn)", "mlp", "cnn", "linear"]
    assert [row.verdict for row in panel.ranked] == ["best", "tied", "tied", "worse"]
    half = interval(hgb, 0.25).half_width
    assert panel.sentence == (
        f"gradient boosting (sklearn) is best (0.962 ± {half:.3f}); mlp and cnn are not distinguishable from it; "
        "linear is worse (mean ± 95% interval over 5 test folds; paired corrected resampled t-test against the "
        "best, 5% level)."
    )
    assert panel.title == "cancer.csv, target 'target': test acc (5-fold cross-validation)"


def test_seeds_on_one_fold_average_and_seeds_without_folds_say_so():
    runs = [run("mlp", fold, 0.9 + 0.01 * seed, seed=seed) for fold in range(5) for seed in (0, 1)]
    [panel] = panels(runs)
    assert panel.scores["mlp"] == dict.fromkeys(range(5), pytest.approx(0.905))
    assert panel.sentence.startswith("mlp is the only configuration (0.905")
    # Seeds on one split: the interval measures the training's noise only, and the sentence says so.
    runs = [
        {
            **run(model, 0, score, seed=seed),
            "hparams": {**run(model, 0, score, seed=seed)["hparams"], "data.folds": 0.0},
        }
        for model, base in (("mlp", 0.95), ("linear", 0.80))
        for seed, score in enumerate([base, base + 0.01, base - 0.005])
    ]
    [panel] = panels(runs)
    assert "over 3 seeds on one test split, the training's noise only" in panel.sentence
    assert panel.title.endswith("(one test split, over seeds)")


def test_one_run_per_configuration_is_not_a_comparison_of_noise():
    assert panels([run("mlp", 0, 0.9), run("cnn", 0, 0.8)]) == []


def test_configurations_with_too_few_common_folds_are_untested():
    ranked = rank({"a": {0: 0.9, 1: 0.92, 2: 0.91}, "b": {3: 0.5}}, "max", 0.25)
    assert [row.verdict for row in ranked] == ["best", "untested"]
    assert "b could not be tested (fewer than 2 folds in common)" in verdict(ranked)
    lower = rank({"a": {0: 3.0, 1: 3.1}, "b": {0: 2.0, 1: 2.1}}, "min", 1.0)
    assert lower[0].name == "b"  # lower is better for RMSE and bits per character
