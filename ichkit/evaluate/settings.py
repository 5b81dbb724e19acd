"""Every default number of the evaluation, in one import-light place (the CLI reads it to build
its help without importing scipy or scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass

CI_LEVEL = 0.95
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0
DEFAULT_THRESHOLD = 0.5
CALIBRATION_BINS = 10
BIN_STRATEGIES = ("quantile", "uniform")


@dataclass(frozen=True)
class EvaluationSettings:
    threshold: float | str = DEFAULT_THRESHOLD  # a number or "youden"
    level: float = CI_LEVEL
    n_boot: int = BOOTSTRAP_REPLICATES
    seed: int = BOOTSTRAP_SEED
    calibration_bins: int = CALIBRATION_BINS
    calibration_strategy: str = BIN_STRATEGIES[0]
