"""Choosing the decision threshold: a fixed value, or Youden's J fitted on labelled data.

A threshold fitted on the data it is then evaluated on gives optimistic metrics (the cut point
is tuned to those very cases). Fit it on a separate set (validation fold) and pass that set as
`fit_on`; when none is given the result is marked `optimistic` so reports can say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve


@dataclass(frozen=True)
class Threshold:
    value: float
    rule: str  # "fixed" or "youden"
    fitted_on: str | None  # "separate set", "evaluated data" or None for a fixed threshold

    @property
    def optimistic(self) -> bool:
        """True when the threshold was tuned on the cases it is reported on."""
        return self.fitted_on == "evaluated data"

    def to_dict(self) -> dict:
        return {"value": self.value, "rule": self.rule, "fitted_on": self.fitted_on, "optimistic": self.optimistic}


def youden_threshold(y, score) -> float:
    """The score cut (predict positive when score >= cut) maximising sensitivity + specificity - 1.

    Among equal J the first ROC point (highest cut) wins, which is sklearn's order.
    """
    fpr, tpr, cuts = roc_curve(np.asarray(y), np.asarray(score, dtype=float), drop_intermediate=False)
    finite = np.isfinite(cuts)  # sklearn prepends +inf (predict nothing positive)
    j = (tpr - fpr)[finite]
    return float(cuts[finite][int(np.argmax(j))])


def resolve_threshold(rule: float | str, y, score, fit_on: tuple | None = None) -> Threshold:
    """A number is used as is; "youden" is fitted on `fit_on` = (y, score) when given, else on
    (y, score) themselves and marked optimistic."""
    if rule == "youden":
        if fit_on is not None:
            return Threshold(youden_threshold(*fit_on), "youden", "separate set")
        return Threshold(youden_threshold(y, score), "youden", "evaluated data")
    return Threshold(float(rule), "fixed", None)
