"""Metrics at a threshold: confusion matrix, accuracy, sensitivity, specificity, PPV, NPV, F1,
each proportion with a Wilson score interval (good coverage even for small n or p near 0/1,
where the Wald interval fails; Wilson 1927, JASA 22:209-212)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .settings import CI_LEVEL


def wilson_ci(k: int, n: int, level: float = CI_LEVEL) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval for k successes in n trials; (None, None) when n == 0."""
    if n == 0:
        return None, None
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def confusion(y, score, threshold: float) -> dict[str, int]:
    """Counts with 'positive' meaning score >= threshold."""
    y = np.asarray(y) == 1
    pred = np.asarray(score, dtype=float) >= threshold
    return {
        "tp": int(np.sum(pred & y)),
        "fp": int(np.sum(pred & ~y)),
        "tn": int(np.sum(~pred & ~y)),
        "fn": int(np.sum(~pred & y)),
    }


# metric -> (numerator, denominator) over the confusion counts
_PROPORTIONS = {
    "accuracy": (("tp", "tn"), ("tp", "tn", "fp", "fn")),
    "sensitivity": (("tp",), ("tp", "fn")),
    "specificity": (("tn",), ("tn", "fp")),
    "ppv": (("tp",), ("tp", "fp")),
    "npv": (("tn",), ("tn", "fn")),
}


def threshold_metrics(y, score, threshold: float, level: float = CI_LEVEL) -> dict:
    """Confusion counts, the five proportions with Wilson CIs, and F1 (no CI: not a proportion).

    An undefined proportion (e.g. PPV with no predicted positive) is None, not 0.
    """
    counts = confusion(y, score, threshold)
    out = {"threshold": float(threshold), "confusion": counts}
    for name, (num, den) in _PROPORTIONS.items():
        k = sum(counts[c] for c in num)
        n = sum(counts[c] for c in den)
        lo, hi = wilson_ci(k, n, level)
        out[name] = {"value": k / n if n else None, "ci_low": lo, "ci_high": hi, "k": k, "n": n}
    f1_den = 2 * counts["tp"] + counts["fp"] + counts["fn"]
    out["f1"] = {"value": 2 * counts["tp"] / f1_den if f1_den else None}
    return out
