"""Reader-study statistics for synthetic images (spec section 8): inter-rater reliability of the
Likert scores (ICC(2,1)), agreement of categorical calls (Fleiss' kappa), real-vs-synthetic score
comparison (Mann-Whitney U), and how often the rater majority identifies an image's origin.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def icc_2_1(ratings) -> float:
    """ICC(2,1) of Shrout & Fleiss (1979, Psychol Bull 86:420-428): two-way random effects,
    absolute agreement, single rater. `ratings` is (targets, raters), complete.

    Raters are a random sample of possible raters and their systematic offsets count as
    disagreement, which is the reader-study question ("would another radiologist score the same?").
    """
    x = np.asarray(ratings, dtype=float)
    n, k = x.shape
    if n < 2 or k < 2 or not np.all(np.isfinite(x)):
        raise ValueError("ICC needs a complete (targets >= 2, raters >= 2) matrix of finite ratings")
    grand = x.mean()
    ss_targets = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_raters = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_error = np.sum((x - grand) ** 2) - ss_targets - ss_raters
    bms = ss_targets / (n - 1)
    jms = ss_raters / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    return float((bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n))


def category_counts(labels, categories=None) -> np.ndarray:
    """(subjects, raters) category labels -> (subjects, categories) counts for `fleiss_kappa`."""
    labels = np.asarray(labels)
    categories = np.unique(labels) if categories is None else np.asarray(categories)
    return (labels[:, :, None] == categories[None, None, :]).sum(axis=1)


def fleiss_kappa(counts) -> float:
    """Fleiss (1971, Psychol Bull 76:378-382) kappa from (subjects, categories) counts; every
    subject must be rated by the same number of raters (the row sums)."""
    c = np.asarray(counts, dtype=float)
    raters = c.sum(axis=1)
    if raters.size < 1 or not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of raters for every subject")
    r = raters[0]
    p_j = c.sum(axis=0) / c.sum()
    p_i = (np.sum(c * c, axis=1) - r) / (r * (r - 1))
    p_bar, p_e = p_i.mean(), np.sum(p_j**2)
    return float((p_bar - p_e) / (1 - p_e))


def mann_whitney(a, b) -> dict:
    """Two-sided Mann-Whitney U test of scores `a` (e.g. real images) vs `b` (synthetic).

    `effect` is U / (n_a n_b) = P(a > b) + P(a = b) / 2, the common-language effect size
    (0.5 = indistinguishable).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    return {"u": float(res.statistic), "p": float(res.pvalue), "effect": float(res.statistic / (a.size * b.size)), "n_a": a.size, "n_b": b.size}


def majority_identification(calls, truth) -> dict:
    """Share of images whose majority call matches the truth, overall and per true class.

    `calls` is (images, raters) booleans, True = "synthetic"; `truth` is (images,) booleans.
    A tie (even number of raters split evenly) counts as not identified.
    """
    calls = np.asarray(calls, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    votes = calls.sum(axis=1)
    k = calls.shape[1]
    majority_synthetic = votes * 2 > k
    majority_real = votes * 2 < k
    correct = np.where(truth, majority_synthetic, majority_real)

    def rate(mask):
        return float(correct[mask].mean()) if mask.any() else None

    return {"overall": rate(np.ones_like(truth)), "synthetic": rate(truth), "real": rate(~truth), "ties": int(np.sum(~majority_synthetic & ~majority_real))}
