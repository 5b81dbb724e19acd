"""Correction tools that act on a whole label at once, so turning an AI mask into ground truth
takes a few clicks instead of many strokes: grow a hematoma from a seed within a HU range, fill
the slices between two drawn ones, remove small islands.

Pure numpy / scipy on [z, y, x] arrays (tested without a browser); the app applies the result to
the segment being edited as one undoable change.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import ICHError

BLOOD_HU = (50.0, 100.0)  # acute blood (about 50-90 HU); from 50, above grey matter (about 35-45 HU) and its noise
GROW_MAX_ML = 150.0  # a grown region larger than this leaked out of the clot: refused
ISLAND_MIN_ML = 0.05  # islands under this volume are noise


def _ml(voxels: int, spacing) -> float:
    return voxels * float(np.prod(spacing)) / 1000.0


def grow(ct: np.ndarray, seed: tuple[int, int, int], spacing, hu=BLOOD_HU, max_ml: float = GROW_MAX_ML) -> np.ndarray:
    """The 3D region of voxels within `hu` connected (6-neighbours) to `seed` [z, y, x].

    Refused when the seed lies outside the range, or when the region exceeds `max_ml` (it leaked
    through a gap into bone or the other hemisphere): a size guard, not a silent flood.
    """
    low, high = hu
    z, y, x = seed
    if not low <= ct[z, y, x] <= high:
        raise ICHError(None, f"the point clicked is {ct[z, y, x]:.0f} HU, outside the {low:g}-{high:g} HU range: click inside the clot")
    inside = (ct >= low) & (ct <= high)
    regions, _ = ndimage.label(inside)
    region = regions == regions[z, y, x]
    volume = _ml(int(region.sum()), spacing)
    if volume > max_ml:
        raise ICHError(None, f"growing from this point takes {volume:.0f} mL (> {max_ml:g} mL): the range leaks beyond the clot; narrow it")
    return region


def fill_between_slices(mask: np.ndarray) -> np.ndarray:
    """Each empty slice between two drawn ones gets the interpolation of its neighbours' shapes
    (signed distance, linear in z), as Slicer's "fill between slices" does for parallel contours."""
    drawn = np.nonzero(mask.any(axis=(1, 2)))[0]
    out = mask.copy()
    for a, b in zip(drawn, drawn[1:]):
        if b - a < 2:
            continue
        da, db = _signed_distance(mask[a]), _signed_distance(mask[b])
        for k in range(a + 1, b):
            t = (k - a) / (b - a)
            out[k] = (1 - t) * da + t * db <= 0
    return out


def _signed_distance(slice2d: np.ndarray) -> np.ndarray:
    """Negative inside, positive outside (pixels)."""
    return ndimage.distance_transform_edt(~slice2d) - ndimage.distance_transform_edt(slice2d)


def remove_islands(mask: np.ndarray, spacing, min_ml: float = ISLAND_MIN_ML) -> np.ndarray:
    """The mask without its 3D connected pieces (26-neighbours) under `min_ml`."""
    regions, n = ndimage.label(mask, np.ones((3, 3, 3), bool))
    if n == 0:
        return mask.copy()
    sizes = np.bincount(regions.ravel())
    keep = np.array([False] + [_ml(int(s), spacing) >= min_ml for s in sizes[1:]])
    return keep[regions]
