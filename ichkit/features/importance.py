"""Feature-group importance of a fitted pipeline: group permutation importance.

002 reports SHAP feature-group importance. The `shap` package cannot be installed beside 3D
Slicer's Python package (it requires the unrelated PyPI package also named `slicer`), so the
product measures what the group SHAP plot conveys by permutation: shuffle all columns of one
feature set together (rows permuted jointly, so the set keeps its internal structure) on held-out
data and record the AUC lost (Breiman 2001; Fisher et al. 2019, model reliance).
"""

from __future__ import annotations

import numpy as np

from ..evaluate.auc import auc


def group_permutation_importance(model, X, y, groups: dict[str, np.ndarray], repeats: int, seed: int = 0) -> dict[str, float]:
    """Group -> mean AUC drop over `repeats` joint permutations of the group's columns."""
    rng = np.random.default_rng(seed)
    base = auc(y, model.predict_proba(X)[:, 1])
    out = {}
    for name, cols in groups.items():
        drops = []
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[:, cols] = X[rng.permutation(len(X))][:, cols]
            drops.append(base - auc(y, model.predict_proba(shuffled)[:, 1]))
        out[name] = float(np.mean(drops))
    return out
