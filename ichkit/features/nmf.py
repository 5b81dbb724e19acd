"""NMF reduction of each feature set to 128 dimensions (spec 4), built as scikit-learn steps so
that inside cross-validation every step (imputer, non-negative scaling, NMF) is fitted on the
training fold only and merely applied to the held-out rows: no leakage.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import NMF
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from .settings import BenchmarkSettings


class CappedNMF(TransformerMixin, BaseEstimator):
    """NMF to `n_components`, capped by the rows and columns it is fitted on (NNDSVD needs
    n_components <= min(rows, columns); the shape set has only 14 columns)."""

    def __init__(self, n_components: int = 128, max_iter: int = 500, random_state: int = 0):
        self.n_components = n_components
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        k = min(self.n_components, *np.shape(X))
        self.nmf_ = NMF(n_components=k, init="nndsvda", max_iter=self.max_iter, random_state=self.random_state).fit(X)
        return self

    def transform(self, X):
        return self.nmf_.transform(X)


def set_reducer(s: BenchmarkSettings) -> Pipeline:
    """One feature set -> NMF components: impute (median), shift/scale to [0, 1] (clipped, since
    held-out rows may fall outside the training range and NMF needs non-negative input), NMF."""
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("shift", MinMaxScaler(clip=True)),
        ("nmf", CappedNMF(s.nmf_components, s.nmf_max_iter, s.seed)),
    ])


def reducer(columns: dict[str, np.ndarray], s: BenchmarkSettings) -> ColumnTransformer:
    """Each set's columns (indices into the feature matrix) reduced on its own, then concatenated."""
    return ColumnTransformer([(name, set_reducer(s), idx) for name, idx in columns.items()])
