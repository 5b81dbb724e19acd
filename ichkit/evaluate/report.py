"""One evaluation of one or more models on the same cases: what `ich evaluate` prints and saves.

Per model: AUC with DeLong and bootstrap CIs, metrics at the threshold, Brier score and
calibration (only when the scores are probabilities); then the paired DeLong test for every pair
of models with Holm-adjusted p-values.
"""

from __future__ import annotations

from dataclasses import asdict
from itertools import combinations

import numpy as np

from .auc import bootstrap_ci, delong_ci, delong_test, delong_variance
from .calibration import brier_score, calibration_curve
from .compare import holm
from .metrics import threshold_metrics
from .settings import EvaluationSettings
from .thresholds import resolve_threshold


def is_probability(score: np.ndarray) -> bool:
    return bool(np.all((score >= 0) & (score <= 1)))


def evaluate_model(y, score, settings: EvaluationSettings, fit_on: tuple | None = None) -> dict:
    """The per-model block; `fit_on` = (y, score) of a separate set for a Youden threshold."""
    auc, var = delong_variance(y, score)
    threshold = resolve_threshold(settings.threshold, y, score, fit_on)
    prob = is_probability(score)
    return {
        "n": int(len(y)),
        "positives": int(np.sum(y == 1)),
        "auc": auc,
        "auc_se_delong": float(np.sqrt(var)),
        "auc_ci_delong": list(delong_ci(y, score, settings.level)),
        "auc_ci_bootstrap": list(bootstrap_ci(y, score, settings.n_boot, settings.level, settings.seed)),
        "threshold": threshold.to_dict(),
        "at_threshold": threshold_metrics(y, score, threshold.value, settings.level),
        "scores_are_probabilities": prob,
        "brier": brier_score(y, score) if prob else None,
        "calibration": calibration_curve(y, score, settings.calibration_bins, settings.calibration_strategy) if prob else None,
    }


def evaluate(y, scores: dict[str, np.ndarray], settings: EvaluationSettings = EvaluationSettings(), fit_on: dict | None = None) -> dict:
    """Every model, then every pair. `fit_on` maps a model name to (y, score) of a separate set."""
    fit_on = fit_on or {}
    models = {name: evaluate_model(y, s, settings, fit_on.get(name)) for name, s in scores.items()}
    pairs = [{"a": a, "b": b, **delong_test(y, scores[a], scores[b], settings.level).to_dict()} for a, b in combinations(scores, 2)]
    for row, p in zip(pairs, holm([r["p"] for r in pairs]) if pairs else []):
        row["p_holm"] = float(p)
    return {"settings": asdict(settings), "models": models, "delong_pairs": pairs}
