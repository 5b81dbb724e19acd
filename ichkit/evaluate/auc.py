"""AUC, its DeLong variance and test, and CIs (DeLong and stratified bootstrap).

DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837-845) give the covariance of correlated
AUCs from the structural components V10 (one per positive) and V01 (one per negative). Sun & Xu
(2014, IEEE Signal Processing Letters 21:1389-1393) obtain them from midranks in O(n log n)
instead of the O(m n) pairwise Mann-Whitney kernel; that is what `delong_covariance` does.
Ties count 1/2, so the AUC equals the Mann-Whitney U / (m n) and the trapezoidal ROC area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .settings import BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, CI_LEVEL

BOOTSTRAP_BLOCK_VALUES = 4_000_000  # scores ranked at once (~32 MB of float64)


@dataclass(frozen=True)
class DeLongTest:
    """Paired DeLong test of AUC_a == AUC_b on the same cases (two-sided)."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _split(y, scores) -> tuple[np.ndarray, np.ndarray]:
    """Scores as (k, n) rows, split into positives (k, m) and negatives (k, n0)."""
    y = np.asarray(y)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    if scores.shape[1] != y.shape[0]:
        raise ValueError(f"{scores.shape[1]} scores for {y.shape[0]} labels")
    pos = y == 1
    if pos.all() or not pos.any():
        raise ValueError("AUC needs both classes")
    return scores[:, pos], scores[:, ~pos]


def structural_components(y, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (k,), V10 (k, m) and V01 (k, n) of k score rows, via midranks (Sun & Xu 2014).

    V10[i] is the fraction of negatives ranked below positive i (ties 1/2); V01[j] the fraction
    of positives ranked above negative j.
    """
    x, z = _split(y, scores)
    m, n = x.shape[1], z.shape[1]
    tx = stats.rankdata(x, axis=1)
    tz = stats.rankdata(z, axis=1)
    t = stats.rankdata(np.concatenate([x, z], axis=1), axis=1)
    auc = (t[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (t[:, :m] - tx) / n
    v01 = 1.0 - (t[:, m:] - tz) / m
    return auc, v10, v01


def delong_covariance(y, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their DeLong covariance matrix (k, k): S10/m + S01/n."""
    auc, v10, v01 = structural_components(y, scores)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return auc, s10 / v10.shape[1] + s01 / v01.shape[1]


def auc(y, score) -> float:
    return float(structural_components(y, score)[0][0])


def delong_variance(y, score) -> tuple[float, float]:
    """(AUC, DeLong variance) of one score."""
    a, cov = delong_covariance(y, score)
    return float(a[0]), float(cov[0, 0])


def _normal_ci(centre: float, se: float, level: float, low: float, high: float) -> tuple[float, float]:
    half = stats.norm.ppf(0.5 + level / 2) * se
    return float(max(low, centre - half)), float(min(high, centre + half))


def delong_ci(y, score, level: float = CI_LEVEL) -> tuple[float, float]:
    """Wald interval AUC +- z * SE_DeLong, clipped to [0, 1] (as pROC does)."""
    a, var = delong_variance(y, score)
    return _normal_ci(a, np.sqrt(var), level, 0.0, 1.0)


def delong_test(y, score_a, score_b, level: float = CI_LEVEL) -> DeLongTest:
    """Two-sided test of equal AUC for two scores of the same cases (correlated ROC curves)."""
    a, cov = delong_covariance(y, np.vstack([score_a, score_b]))
    diff = float(a[0] - a[1])
    se = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
    if se == 0.0:  # identical rankings: no evidence of a difference
        z, p = 0.0, 1.0
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    lo, hi = _normal_ci(diff, se, level, -1.0, 1.0)
    return DeLongTest(float(a[0]), float(a[1]), diff, se, float(z), p, lo, hi)


def bootstrap_aucs(y, score, n_boot: int = BOOTSTRAP_REPLICATES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """AUCs of `n_boot` stratified resamples: positives and negatives are resampled separately,
    so every replicate keeps the class counts (and both classes). Replicates are ranked in
    blocks of about `BOOTSTRAP_BLOCK_VALUES` values to bound memory on large test sets."""
    x, z = _split(y, score)
    x, z = x[0], z[0]
    m, n = x.size, z.size
    rng = np.random.default_rng(seed)
    block = max(1, BOOTSTRAP_BLOCK_VALUES // (m + n))
    out = []
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        bx = x[rng.integers(0, m, size=(rows, m))]
        bz = z[rng.integers(0, n, size=(rows, n))]
        ranks = stats.rankdata(np.concatenate([bx, bz], axis=1), axis=1)
        out.append((ranks[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n))
    return np.concatenate(out)


def bootstrap_ci(y, score, n_boot: int = BOOTSTRAP_REPLICATES, level: float = CI_LEVEL, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile interval of the stratified bootstrap AUCs; the same seed gives the same CI."""
    aucs = bootstrap_aucs(y, score, n_boot, seed)
    lo, hi = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
