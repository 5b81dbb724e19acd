"""Overlap, surface distance and volume agreement of a predicted mask with the true one.

Conventions (the ones nnU-Net and MONAI report): both masks empty is a perfect match (Dice and
IoU 1, HD95 0); HD95 is the larger of the two directed 95th-percentile distances between the
masks' surface voxels, in mm, and undefined (NaN) when only one mask is empty; the relative
volume error is undefined (NaN) when the true volume is 0. Summaries skip NaN and say how many
values they used.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt

HD_PERCENTILE = 95


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    total = int(pred.sum()) + int(true.sum())
    return 2.0 * int(np.logical_and(pred, true).sum()) / total if total else 1.0


def iou(pred: np.ndarray, true: np.ndarray) -> float:
    union = int(np.logical_or(pred, true).sum())
    return int(np.logical_and(pred, true).sum()) / union if union else 1.0


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~binary_erosion(mask, border_value=0)


def hd95_mm(pred: np.ndarray, true: np.ndarray, spacing_zyx) -> float:
    """Symmetric 95th-percentile Hausdorff distance between the masks' surfaces (mm)."""
    pred, true = pred.astype(bool), true.astype(bool)
    if not pred.any() and not true.any():
        return 0.0
    if not pred.any() or not true.any():
        return float("nan")
    a, b = _surface(pred), _surface(true)
    to_b = distance_transform_edt(~b, sampling=spacing_zyx)[a]
    to_a = distance_transform_edt(~a, sampling=spacing_zyx)[b]
    return float(max(np.percentile(to_b, HD_PERCENTILE), np.percentile(to_a, HD_PERCENTILE)))


def mask_agreement(pred: np.ndarray, true: np.ndarray, spacing_zyx, voxel_ml: float) -> dict[str, float]:
    """Dice, IoU, HD95 (mm), true and predicted volume (ml), and the volume error |pred - true| in ml
    and in % of the true volume (its sign, the bias, is what a Bland-Altman plot shows)."""
    true_ml = float(true.sum()) * voxel_ml
    pred_ml = float(pred.sum()) * voxel_ml
    return {
        "dice": dice(pred, true),
        "iou": iou(pred, true),
        "hd95_mm": hd95_mm(pred, true, spacing_zyx),
        "true_ml": true_ml,
        "pred_ml": pred_ml,
        "abs_volume_error_ml": abs(pred_ml - true_ml),
        "rel_volume_error_pct": 100.0 * abs(pred_ml - true_ml) / true_ml if true_ml else float("nan"),
    }


def mean_sd(values) -> tuple[float, float, int]:
    """Mean and sample SD of the finite values, and how many there were (SD NaN below two)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)
