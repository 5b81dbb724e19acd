"""Isotropic cubes around a region of a scan: the input grids of both latent feature sets.

The segmentation encoder sees the whole head, the autoencoder the dilated hematoma; both are a
cube of `size`^3 voxels centred on the region's bounding box and sized to hold it, in the scan's
own orientation.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import EmptyMaskError
from ..image import Volume


def cube_grid(vol: Volume, region: np.ndarray, size: int, min_spacing_mm: float = 0.0, pad: int = 0) -> sitk.Image:
    """A `size`^3 reference grid (isotropic) centred on `region`'s bounding box, which it holds
    with `pad` voxels to spare on each side (room for a later dilation)."""
    idx = np.argwhere(region)
    if idx.size == 0:
        raise EmptyMaskError(vol.meta.get("source"), "the region to crop around is empty")
    lo, hi = idx.min(0)[::-1], idx.max(0)[::-1]  # (x, y, z) voxel indices
    extent = (hi - lo + 1) * np.asarray(vol.spacing)
    spacing = max(float(extent.max()) / max(size - 2 * pad, 1), min_spacing_mm)
    image = vol.to_sitk()
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in (lo + hi) / 2]))
    direction = np.asarray(vol.direction, dtype=float).reshape(3, 3)
    origin = centre - direction @ np.full(3, (size - 1) / 2 * spacing)
    ref = sitk.Image([size] * 3, sitk.sitkUInt8)
    ref.SetSpacing([spacing] * 3)
    ref.SetOrigin(origin.tolist())
    ref.SetDirection(direction.ravel().tolist())
    return ref


def resample_to(vol: Volume, ref: sitk.Image, *, is_label: bool = False, fill: float | None = None) -> np.ndarray:
    """`vol` on the reference grid as a [z, y, x] array: linear float32, or nearest for labels."""
    interp = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    pixel = sitk.sitkUInt8 if is_label else sitk.sitkFloat32
    fill = 0.0 if is_label else (float(vol.array.min()) if fill is None else fill)
    image = vol.to_sitk() if is_label else sitk.Cast(vol.to_sitk(), sitk.sitkFloat32)
    out = sitk.Resample(image, ref, sitk.Transform(), interp, fill, pixel)
    return sitk.GetArrayFromImage(out)
