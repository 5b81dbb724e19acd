"""Comparing pipelines over shared blocks (folds, outcomes or datasets): Friedman omnibus test,
pairwise Wilcoxon signed-rank tests, and multiple-comparison corrections.

`scores` is a (blocks, pipelines) matrix, e.g. the AUC of each pipeline on each CV fold.
The corrections are written out here (short, and statsmodels is not a dependency).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import stats


def bonferroni(p) -> np.ndarray:
    """p * m, capped at 1: controls the family-wise error rate."""
    p = np.asarray(p, dtype=float)
    return np.minimum(p * p.size, 1.0)


def holm(p) -> np.ndarray:
    """Holm (1979) step-down: sorted p_(i) * (m - i), made monotone upward; FWER, never less
    powerful than Bonferroni."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p)
    adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini & Hochberg (1995) step-up: sorted p_(i) * m / i, made monotone downward from
    the largest; controls the false discovery rate."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


CORRECTIONS = {"bonferroni": bonferroni, "holm": holm, "bh": benjamini_hochberg}


def friedman(scores) -> dict:
    """Friedman chi-square across pipelines (columns), blocks as rows (needs >= 3 pipelines)."""
    scores = np.asarray(scores, dtype=float)
    res = stats.friedmanchisquare(*scores.T)
    return {"statistic": float(res.statistic), "p": float(res.pvalue), "blocks": scores.shape[0], "pipelines": scores.shape[1]}


def pairwise_wilcoxon(scores, names=None) -> list[dict]:
    """Two-sided Wilcoxon signed-rank test for every pair of pipelines, with the p-values
    adjusted over all pairs by each correction in `CORRECTIONS` (keys p_bonferroni, ...)."""
    scores = np.asarray(scores, dtype=float)
    names = list(names) if names is not None else [str(i) for i in range(scores.shape[1])]
    rows = []
    for i, j in combinations(range(scores.shape[1]), 2):
        res = stats.wilcoxon(scores[:, i], scores[:, j])
        rows.append({"a": names[i], "b": names[j], "statistic": float(res.statistic), "p": float(res.pvalue)})
    raw = [r["p"] for r in rows]
    for key, correct in CORRECTIONS.items():
        for row, adj in zip(rows, correct(raw)):
            row[f"p_{key}"] = float(adj)
    return rows
