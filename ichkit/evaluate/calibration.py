"""Calibration curve and Brier score for predicted probabilities in [0, 1].

Quantile bins hold about the same number of cases (stable estimates when predictions crowd near
0); uniform bins are the classic reliability diagram. Empty bins are dropped.
"""

from __future__ import annotations

import numpy as np

from .settings import BIN_STRATEGIES, CALIBRATION_BINS

# strategy -> bin edges from (probabilities, number of bins)
BIN_EDGES = {
    "quantile": lambda prob, n_bins: np.quantile(prob, np.linspace(0, 1, n_bins + 1)),
    "uniform": lambda prob, n_bins: np.linspace(0.0, 1.0, n_bins + 1),
}


def brier_score(y, prob) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome."""
    y = np.asarray(y, dtype=float)
    prob = np.asarray(prob, dtype=float)
    return float(np.mean((prob - y) ** 2))


def calibration_curve(y, prob, n_bins: int = CALIBRATION_BINS, strategy: str = BIN_STRATEGIES[0]) -> dict:
    """Per non-empty bin: mean predicted probability, observed positive fraction and count.

    Bins are right-closed except the first, which also holds its lower edge (as sklearn).
    """
    y = np.asarray(y, dtype=float)
    prob = np.asarray(prob, dtype=float)
    edges = BIN_EDGES[strategy](prob, n_bins)
    idx = np.searchsorted(edges[1:-1], prob, side="left")
    count = np.bincount(idx, minlength=n_bins)
    pred_sum = np.bincount(idx, weights=prob, minlength=n_bins)
    obs_sum = np.bincount(idx, weights=y, minlength=n_bins)
    keep = count > 0
    return {
        "strategy": strategy,
        "edges": edges.tolist(),
        "mean_predicted": (pred_sum[keep] / count[keep]).tolist(),
        "observed_fraction": (obs_sum[keep] / count[keep]).tolist(),
        "count": count[keep].tolist(),
    }
