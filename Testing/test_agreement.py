"""Reader-study statistics and feature-distribution distances (ichkit.synth)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ichkit.synth.agreement import category_counts, fleiss_kappa, icc_2_1, majority_identification, mann_whitney
from ichkit.synth.frechet import frechet_distance, frechet_from_features, gaussian_stats, kernel_inception_distance

# Shrout & Fleiss (1979), "Intraclass correlations: uses in assessing rater reliability",
# Psychological Bulletin 86:420-428, Table 2: 6 targets rated by 4 judges. They report
# ICC(2,1) = .29; the exact value from their mean squares (BMS 11.24, JMS 32.49, EMS 1.02) is
# 0.28976.
SHROUT_FLEISS_TABLE2 = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]

# Wikipedia, "Fleiss' kappa", worked example (after Fleiss 1971, Psychol Bull 76:378-382):
# 10 subjects, 14 raters each, 5 categories; P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_icc_2_1_shrout_fleiss_table2():
    assert icc_2_1(SHROUT_FLEISS_TABLE2) == pytest.approx(0.28976, abs=1e-3)
    assert round(icc_2_1(SHROUT_FLEISS_TABLE2), 2) == 0.29


def test_icc_perfect_and_offset_raters():
    targets = np.arange(1.0, 8.0)
    assert icc_2_1(np.column_stack([targets] * 3)) == pytest.approx(1.0)
    # absolute agreement: a rater scoring every target 2 points higher lowers ICC(2,1)
    assert icc_2_1(np.column_stack([targets, targets, targets + 2])) < 0.9


def test_fleiss_kappa_wikipedia_example():
    assert fleiss_kappa(WIKIPEDIA_FLEISS_COUNTS) == pytest.approx(0.210, abs=1e-3)


def test_fleiss_kappa_from_labels_and_bounds():
    labels = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [1, 1, 1]])
    assert fleiss_kappa(category_counts(labels)) == pytest.approx(1.0)
    # counts built from per-rater labels equal the table itself
    rows = [np.repeat(np.arange(5), r) for r in WIKIPEDIA_FLEISS_COUNTS]
    np.testing.assert_array_equal(category_counts(np.array(rows), categories=np.arange(5)), WIKIPEDIA_FLEISS_COUNTS)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[1, 2], [3, 0], [1, 1]])


def test_mann_whitney_wraps_scipy():
    rng = np.random.default_rng(2)
    real = rng.integers(1, 6, 100)
    synth = rng.integers(1, 5, 100)
    res = mann_whitney(real, synth)
    ref = stats.mannwhitneyu(real, synth, alternative="two-sided")
    assert res["u"] == ref.statistic and res["p"] == pytest.approx(ref.pvalue)
    assert res["effect"] == pytest.approx(ref.statistic / 10000) and res["effect"] > 0.5


def test_majority_identification():
    truth = np.array([True, True, False, False])  # True = synthetic
    calls = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]], dtype=bool)
    r = majority_identification(calls, truth)
    assert r == {"overall": 0.75, "synthetic": 0.5, "real": 1.0, "ties": 0}
    tied = majority_identification(np.array([[1, 0], [1, 1]], dtype=bool), np.array([True, True]))
    assert tied["overall"] == 0.5 and tied["ties"] == 1


def test_frechet_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.2, 3.0, 6), rng.uniform(0.2, 3.0, 6)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(closed, abs=1e-4)


def test_frechet_general_covariance_and_identity():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + 0.1 * np.eye(5)
    mu = rng.normal(size=5)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-6)
    # rotating both Gaussians by the same orthogonal matrix leaves the distance unchanged
    b = rng.normal(size=(5, 5))
    cov2 = b @ b.T + 0.1 * np.eye(5)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    d = frechet_distance(mu, cov, mu + 1, cov2)
    assert frechet_distance(q @ mu, q @ cov @ q.T, q @ (mu + 1), q @ cov2 @ q.T) == pytest.approx(d, abs=1e-6)


def test_frechet_from_features_and_singular_covariance():
    rng = np.random.default_rng(3)
    f1 = rng.normal(size=(2000, 4))
    f2 = rng.normal(loc=1.0, scale=2.0, size=(2000, 4))
    mu1, c1 = gaussian_stats(f1)
    mu2, c2 = gaussian_stats(f2)
    assert frechet_from_features(f1, f2) == pytest.approx(frechet_distance(mu1, c1, mu2, c2))
    # population value: 4 * 1^2 + 4 * (1 + 4 - 2 * 2) = 8
    assert frechet_from_features(f1, f2) == pytest.approx(8.0, rel=0.1)
    # fewer samples than features: singular covariances still give a finite real distance
    few = rng.normal(size=(5, 16))
    assert np.isfinite(frechet_from_features(few, few + 0.5))


def _kid_brute_force(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_unbiased_mmd_and_behaviour():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 3)), rng.normal(loc=0.5, size=(12, 3))
    mean, std = kernel_inception_distance(x, y, n_subsets=1, subset_size=12)
    assert mean == pytest.approx(_kid_brute_force(x, y), rel=1e-10) and std == 0.0
    same = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), n_subsets=20, subset_size=200)
    shifted = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(loc=0.5, size=(400, 8)), n_subsets=20, subset_size=200)
    assert abs(same[0]) < 3 * same[1] + 1e-3 and shifted[0] > 10 * max(abs(same[0]), 1e-4)
    assert kernel_inception_distance(x, y, n_subsets=5, subset_size=6, seed=1) == kernel_inception_distance(x, y, n_subsets=5, subset_size=6, seed=1)
