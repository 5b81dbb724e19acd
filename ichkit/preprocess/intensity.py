"""Intensity normalisation for segmentation (spec 1, nnU-Net CT scheme) and display windowing."""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from ..image import Volume

FOREGROUND_HU = -500.0  # without a mask, voxels above this are the foreground (the head, not air)
CLIP_PERCENTILES = (0.5, 99.5)  # spec 1
WINDOW_LEVEL_HU, WINDOW_WIDTH_HU = 40.0, 80.0  # spec 1: display and ROI window


def _foreground(vol: Volume, mask: Volume | None, foreground_hu: float) -> np.ndarray:
    return vol.array[mask.array > 0] if mask is not None else vol.array[vol.array > foreground_hu]


def foreground_stats(vols, masks=None, lower: float = CLIP_PERCENTILES[0], upper: float = CLIP_PERCENTILES[1],
                     foreground_hu: float = FOREGROUND_HU) -> dict[str, float]:
    """Dataset-level clip bounds, mean and std of the clipped foreground, pooled over volumes.

    nnU-Net's CT scheme takes the foreground as the labelled voxels of the training set; pass
    their masks. Feed the result to `percentile_clip_zscore(vol, **stats)`.
    """
    masks = masks if masks is not None else [None] * len(vols)
    values = np.concatenate([_foreground(v, m, foreground_hu).astype(np.float64, copy=False) for v, m in zip(vols, masks)])
    lo, hi = np.percentile(values, [lower, upper])
    clipped = np.clip(values, lo, hi)
    return {"bounds": (float(lo), float(hi)), "mean": float(clipped.mean()), "std": float(clipped.std())}


def percentile_clip_zscore(
    vol: Volume,
    lower: float = CLIP_PERCENTILES[0],
    upper: float = CLIP_PERCENTILES[1],
    mean: float | None = None,
    std: float | None = None,
    *,
    bounds: tuple[float, float] | None = None,
    mask: Volume | None = None,
    foreground_hu: float = FOREGROUND_HU,
) -> Volume:
    """Clip to the foreground's `lower`-`upper` percentiles, then z-score (float32).

    Dataset-level `bounds`, `mean` and `std` (see `foreground_stats`) replace the per-image ones;
    per-image statistics come from `mask` (or voxels above `foreground_hu`), after clipping.
    """
    if bounds is None or mean is None or std is None:
        fg = _foreground(vol, mask, foreground_hu).astype(np.float64, copy=False)
        if fg.size == 0:
            raise OptionError(vol.meta.get("source"), "no foreground voxel to compute intensity statistics from")
        bounds = bounds if bounds is not None else tuple(np.percentile(fg, [lower, upper]))
        fg = np.clip(fg, *bounds)
        mean = fg.mean() if mean is None else mean
        std = fg.std() if std is None else std
    out = (np.clip(vol.array.astype(np.float32), *bounds) - np.float32(mean)) / np.float32(max(float(std), 1e-8))
    used = {"bounds": [float(b) for b in bounds], "mean": float(mean), "std": float(std)}
    return vol.with_array(out.astype(np.float32, copy=False), normalisation=used)


_WINDOW_OUTPUTS = {
    "unit": lambda u: u.astype(np.float32, copy=False),
    "uint8": lambda u: np.rint(u * 255).astype(np.uint8),
}


def window(vol: Volume, level: float = WINDOW_LEVEL_HU, width: float = WINDOW_WIDTH_HU, out: str = "unit") -> Volume:
    """Linear window [level - width/2, level + width/2] -> [0, 1] ("unit") or 0..255 ("uint8")."""
    if out not in _WINDOW_OUTPUTS:
        raise OptionError(None, f"window output {out!r} is not one of {sorted(_WINDOW_OUTPUTS)}")
    if width <= 0:
        raise OptionError(None, f"window width must be positive, got {width}")
    unit = np.clip((vol.array.astype(np.float32) - np.float32(level - width / 2)) / np.float32(width), 0.0, 1.0)
    return vol.with_array(_WINDOW_OUTPUTS[out](unit), window={"level": float(level), "width": float(width)})
