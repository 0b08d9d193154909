"""Metrics agree with scipy / brute force, and the resampling tests behave as tests should."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from crelens import metrics as M


def _mean_of_first(y, p):
    """Mean-like metric for CI-width checks (y is the sample, p unused)."""
    return float(np.mean(y))


def _neg_mse(y, p):
    return -float(np.mean((y - p) ** 2))


# --------------------------------------------------------------------------- correlations


def test_correlations_match_scipy():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    p = 0.5 * y + rng.normal(size=200)
    assert M.pearson(y, p) == pytest.approx(stats.pearsonr(y, p)[0], abs=1e-12)
    assert M.spearman(y, p) == pytest.approx(stats.spearmanr(y, p)[0], abs=1e-12)


def test_correlations_drop_nan_pairs():
    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    p = y + rng.normal(size=50)
    y_nan, p_nan = y.copy(), p.copy()
    y_nan[[3, 7]] = np.nan
    p_nan[[10]] = np.nan
    keep = np.ones(50, bool)
    keep[[3, 7, 10]] = False
    assert M.pearson(y_nan, p_nan) == pytest.approx(stats.pearsonr(y[keep], p[keep])[0])
    assert M.spearman(y_nan, p_nan) == pytest.approx(stats.spearmanr(y[keep], p[keep])[0])


@pytest.mark.parametrize("fn", [M.pearson, M.spearman])
def test_correlations_undefined_cases_are_nan(fn):
    assert np.isnan(fn([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert np.isnan(fn([1.0, 2.0], [1.0, 2.0]))
    assert np.isnan(fn([1.0, 2.0, np.nan, 4.0], [1.0, np.nan, 3.0, 4.0]))


# --------------------------------------------------------------------------- classification


def _brute_auroc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_auroc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.integers(0, 2, size=150)
        s = rng.integers(0, 8, size=150).astype(float) + y  # heavy ties
        assert M.auroc(y, s) == pytest.approx(_brute_auroc(y, s), abs=1e-12)


def test_auroc_extremes():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    assert M.auroc(y, s) == 1.0
    assert M.auroc(y, -s) == 0.0
    assert M.auroc(y, np.ones(6)) == 0.5
    assert np.isnan(M.auroc(np.ones(6), s))


def test_macro_auroc_three_class_toy():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.6, 0.2, 0.2],
            [0.1, 0.7, 0.2],
            [0.05, 0.5, 0.45],
            [0.3, 0.3, 0.4],
            [0.5, 0.1, 0.4],
        ]
    )
    per = M.per_class_auroc(labels, probs)
    assert per == pytest.approx({0: 1.0, 1: 1.0, 2: 0.75})
    assert M.macro_auroc(labels, probs) == pytest.approx((1 + 1 + 0.75) / 3)
    named = M.per_class_auroc(labels, probs, classes=["enh", "prom", "inter"])
    assert list(named) == ["enh", "prom", "inter"]


def test_accuracy_and_macro_f1_toy():
    labels = [0, 0, 1, 1, 2, 2]
    pred = [0, 1, 1, 1, 2, 0]
    assert M.accuracy(labels, pred) == pytest.approx(4 / 6)
    # class 0: 2*1/(2+1+1)=0.5; class 1: 4/(4+1)=0.8; class 2: 2/(2+0+1)=2/3
    assert M.per_class_f1(labels, pred) == pytest.approx({0: 0.5, 1: 0.8, 2: 2 / 3})
    assert M.macro_f1(labels, pred) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # a class listed explicitly but never seen scores 0 (documented convention)
    assert M.macro_f1(labels, pred, classes=[0, 1, 2, 3]) == pytest.approx((0.5 + 0.8 + 2 / 3) / 4)
    # a class only predicted (never true) counts, with F1 0
    assert M.per_class_f1([0, 0], [0, 1]) == pytest.approx({0: 2 / 3, 1: 0.0})


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_estimate_deterministic_and_narrows():
    rng = np.random.default_rng(4)
    y = rng.normal(size=400)
    p = y + rng.normal(size=400)
    est, lo, hi = M.bootstrap_ci(M.pearson, y, p, n_boot=300, seed=7)
    assert est == pytest.approx(M.pearson(y, p))
    assert lo < est < hi
    assert M.bootstrap_ci(M.pearson, y, p, n_boot=300, seed=7) == (est, lo, hi)
    assert M.bootstrap_ci(M.pearson, y, p, n_boot=300, seed=8) != (est, lo, hi)
    _, lo_small, hi_small = M.bootstrap_ci(M.pearson, y[:50], p[:50], n_boot=300, seed=7)
    assert hi - lo < hi_small - lo_small


def test_bootstrap_ci_width_matches_normal_theory():
    rng = np.random.default_rng(5)
    n = 5000
    x = rng.normal(loc=1.0, scale=2.0, size=n)
    est, lo, hi = M.bootstrap_ci(_mean_of_first, x, x, n_boot=1000, seed=0)
    expected = 2 * 1.96 * x.std(ddof=1) / np.sqrt(n)
    assert hi - lo == pytest.approx(expected, rel=0.2)
    assert lo < est < hi


def test_bootstrap_ci_skips_nan_resamples():
    y = np.array([0] * 18 + [1] * 2)
    s = np.linspace(0, 1, 20)
    est, lo, hi = M.bootstrap_ci(M.auroc, y, s, n_boot=200, seed=0)
    assert est == 1.0 and np.isfinite(lo) and np.isfinite(hi)


def _loop(metric, idx, *arrays):
    return np.array([metric(*(a[i] for a in arrays)) for i in idx], dtype=float)


@pytest.mark.parametrize("name", ["pearson", "spearman"])
def test_vectorised_correlations_equal_the_loop(name):
    """The all-resamples path is an optimisation of the per-resample definition, nothing more."""
    metric = getattr(M, name)
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(size=120), 1)  # ties, as measured activities have
    p = y + rng.normal(size=120)
    idx = rng.integers(0, 120, size=(300, 120))
    np.testing.assert_allclose(metric.resampled(idx, y, p), _loop(metric, idx, y, p), atol=1e-12)


def test_vectorised_correlation_is_nan_on_constant_resamples():
    y, p = np.array([1.0, 1.0, 2.0, 3.0]), np.array([0.5, 0.1, 0.2, 0.9])
    idx = np.array([[0, 1, 0, 1], [0, 2, 3, 1]])
    got = M.pearson.resampled(idx, y, p)
    assert np.isnan(got[0]) and got[1] == pytest.approx(M.pearson(y[idx[1]], p[idx[1]]))


@pytest.mark.parametrize("name", ["auroc", "macro_auroc"])
def test_vectorised_auroc_equals_the_loop_with_absent_classes(name):
    rng = np.random.default_rng(4)
    n = 40
    labels = (rng.random(n) < 0.1).astype(int) if name == "auroc" else rng.integers(0, 3, n)
    scores = rng.random(n) if name == "auroc" else rng.dirichlet(np.ones(3), n)
    idx = rng.integers(0, n, size=(200, n))  # some resamples miss the rare class entirely
    loop = _loop(getattr(M, name), idx, labels, scores)
    assert np.isnan(loop).any() or name == "macro_auroc"
    np.testing.assert_allclose(getattr(M, name).resampled(idx, labels, scores), loop, atol=1e-12)


def test_bootstrap_with_nan_inputs_falls_back_to_the_definition():
    rng = np.random.default_rng(5)
    y, p = rng.normal(size=50), rng.normal(size=50)
    y[3] = np.nan
    plain = lambda a, b: M.pearson(a, b)  # noqa: E731  (no vectorised path)
    assert M.bootstrap_ci(M.pearson, y, p, n_boot=100, seed=1) == M.bootstrap_ci(plain, y, p, n_boot=100, seed=1)


# --------------------------------------------------------------------------- paired comparisons


@pytest.fixture
def regression_pair():
    rng = np.random.default_rng(6)
    y = rng.normal(size=300)
    good = y + 0.5 * rng.normal(size=300)
    bad = y + 1.5 * rng.normal(size=300)
    same = good + 1e-3 * rng.normal(size=300)
    return y, good, bad, same


def test_paired_bootstrap_detects_better_model(regression_pair):
    y, good, bad, _ = regression_pair
    res = M.paired_bootstrap(M.pearson, y, good, bad, n_boot=500, seed=0)
    assert res["delta"] == pytest.approx(M.pearson(y, good) - M.pearson(y, bad))
    assert 0 < res["low"] < res["delta"] < res["high"]
    assert res["pvalue"] == pytest.approx(2 / 501)  # no resample on the other side: floor
    flipped = M.paired_bootstrap(M.pearson, y, bad, good, n_boot=500, seed=0)
    assert flipped["delta"] == pytest.approx(-res["delta"])
    assert flipped["pvalue"] < 0.01


def test_paired_bootstrap_null_is_not_significant(regression_pair):
    y, good, _, same = regression_pair
    res = M.paired_bootstrap(M.pearson, y, good, same, n_boot=500, seed=0)
    assert res["low"] < 0 < res["high"]
    assert res["pvalue"] > 0.05
    again = M.paired_bootstrap(M.pearson, y, good, same, n_boot=500, seed=0)
    assert again == res


def test_paired_bootstrap_null_pvalues_roughly_uniform():
    rng = np.random.default_rng(9)
    pvals = []
    for _ in range(20):
        y = rng.normal(size=100)
        a = y + rng.normal(size=100)
        b = a + 0.05 * rng.normal(size=100)
        pvals.append(M.paired_bootstrap(_neg_mse, y, a, b, n_boot=200, seed=1)["pvalue"])
    pvals = np.array(pvals)
    assert np.mean(pvals < 0.05) <= 0.2
    assert 0.2 < np.median(pvals) < 0.8


def test_permutation_test(regression_pair):
    y, good, bad, same = regression_pair
    res = M.permutation_test_paired(M.pearson, y, good, bad, n_perm=300, seed=0)
    assert res["pvalue"] == pytest.approx(1 / 301)
    null = M.permutation_test_paired(M.pearson, y, good, same, n_perm=300, seed=0)
    assert null["pvalue"] > 0.05
    assert M.permutation_test_paired(M.pearson, y, good, same, n_perm=300, seed=0) == null


def test_permutation_test_with_class_probabilities():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 3, size=150)
    good = rng.dirichlet(np.ones(3), size=150)
    good[np.arange(150), labels] += 1.0
    noise = rng.dirichlet(np.ones(3), size=150)
    res = M.permutation_test_paired(M.macro_auroc, labels, good, noise, n_perm=200, seed=0)
    assert res["delta"] > 0.2 and res["pvalue"] < 0.01


# --------------------------------------------------------------------------- multiple testing


def test_holm_hand_computed():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    np.testing.assert_allclose(M.holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(M.holm([0.5, 0.9]), [1.0, 1.0])
    out = M.holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(11)
    for size in (1, 5, 37):
        p = rng.uniform(size=size) ** 3
        np.testing.assert_allclose(M.benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))
    p = np.array([0.01, 0.01, 0.2, 0.04, 0.04])  # ties
    np.testing.assert_allclose(M.benjamini_hochberg(p), stats.false_discovery_control(p, method="bh"))


def test_pvalue_validation():
    with pytest.raises(ValueError):
        M.holm([0.1, 1.5])
    with pytest.raises(ValueError):
        M.benjamini_hochberg([[0.1, 0.2]])


def test_bootstrap_ci_covers_true_correlation_at_about_nominal_rate():
    """Over repeated simulated data sets with a known ρ, the 95% CI should contain ρ ~95% of the time."""
    from crelens.metrics import bootstrap_ci, pearson

    rho, n, reps = 0.6, 150, 200
    cov = [[1.0, rho], [rho, 1.0]]
    rng = np.random.default_rng(2026)
    covered = 0
    for rep in range(reps):
        x, y = rng.multivariate_normal([0, 0], cov, size=n).T
        _, low, high = bootstrap_ci(pearson, x, y, n_boot=400, seed=rep)
        covered += low <= rho <= high
    # binomial sd at p=0.95, 200 reps ≈ 0.015; the percentile bootstrap under-covers slightly
    assert 0.88 <= covered / reps <= 0.99
