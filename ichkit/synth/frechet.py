"""Distances between real and synthetic image feature distributions: Frechet distance (the FID
when the features are Inception pool features) and the kernel inception distance (KID).

FID fits one Gaussian per set: d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) (Dowson &
Landau 1982; Heusel et al. 2017). It is biased for small samples; KID (Binkowski et al. 2018,
"Demystifying MMD GANs") is an unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, averaged
over random subsets.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

SQRTM_EPS = 1e-6  # diagonal offset when S1 S2 is singular (e.g. fewer samples than features)
IMAG_TOLERANCE = 1e-3  # largest imaginary part of the matrix root accepted as round-off
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 0


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (samples as rows) of a (n, d) feature matrix."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError("features must be (n >= 2, d)")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrt_product(cov1: np.ndarray, cov2: np.ndarray, eps: float) -> np.ndarray:
    root = linalg.sqrtm(cov1 @ cov2)
    if not np.all(np.isfinite(root)):
        offset = np.eye(cov1.shape[0]) * eps
        root = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(root):
        if np.max(np.abs(root.imag)) > IMAG_TOLERANCE:
            raise ValueError(f"matrix square root has imaginary part {np.max(np.abs(root.imag)):.3g}: covariances are not valid")
        root = root.real
    return root


def frechet_distance(mu1, cov1, mu2, cov2, eps: float = SQRTM_EPS) -> float:
    """Squared Frechet distance between N(mu1, cov1) and N(mu2, cov2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValueError("means and covariances must have matching dimensions")
    root = _sqrt_product(cov1, cov2, eps)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root))


def frechet_from_features(features1, features2) -> float:
    """Frechet distance of the Gaussians fitted to two (n, d) feature matrices (the FID on
    Inception features), exactly and without a d x d matrix root.

    With centred features X (n1 x d) and Y (n2 x d), S1 = X'X / (n1 - 1) and S2 = Y'Y / (n2 - 1),
    the non-zero eigenvalues of S1 S2 are the squared singular values of X Y' / sqrt((n1-1)(n2-1)),
    so tr (S1 S2)^(1/2) is that small matrix's nuclear norm: O(n1 n2 d) instead of O(d^3), and
    exact even when there are fewer samples than features.
    """
    x = np.asarray(features1, dtype=np.float64)
    y = np.asarray(features2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] < 2 or y.shape[0] < 2 or x.shape[1] != y.shape[1]:
        raise ValueError("features must be two (n >= 2, d) matrices with the same d")
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mu1, y - mu2
    n1, n2 = x.shape[0] - 1, y.shape[0] - 1
    trace_root = np.linalg.svd(xc @ yc.T / np.sqrt(n1 * n2), compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + (xc * xc).sum() / n1 + (yc * yc).sum() / n2 - 2 * trace_root)


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (diagonals of Kxx, Kyy excluded)."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def kernel_inception_distance(features1, features2, n_subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = KID_SEED) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD^2 over `n_subsets` random subsets of
    `subset_size` rows from each set (capped at the smaller set)."""
    f1 = np.asarray(features1, dtype=np.float64)
    f2 = np.asarray(features2, dtype=np.float64)
    size = min(subset_size, f1.shape[0], f2.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    values = np.array([
        _polynomial_mmd2(f1[rng.choice(f1.shape[0], size, replace=False)], f2[rng.choice(f2.shape[0], size, replace=False)])
        for _ in range(n_subsets)
    ])
    return float(values.mean()), float(values.std())
