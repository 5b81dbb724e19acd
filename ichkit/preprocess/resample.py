"""Resampling onto a uniform grid (spec 1: 0.5 x 0.5 x 5 mm) and back onto a CT's native grid.

CT intensities are interpolated linearly and returned as float32 (no rounding of the blend);
labels use nearest neighbour and keep their dtype, so the label set never gains values.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..image import Volume

TARGET_SPACING_MM = (0.5, 0.5, 5.0)  # spec 1, (x, y, z)


def _interpolation(is_label: bool):
    return (sitk.sitkNearestNeighbor, None) if is_label else (sitk.sitkLinear, sitk.sitkFloat32)


def _fill_value(vol: Volume, is_label: bool, fill: float | None) -> float:
    """Outside the input: background for labels, the image minimum (air) for intensities."""
    if fill is not None:
        return float(fill)
    return 0.0 if is_label else float(vol.array.min())


def _execute(vol: Volume, reference: sitk.Image, is_label: bool, fill: float | None) -> Volume:
    interp, pixel = _interpolation(is_label)
    img = vol.to_sitk()
    out = sitk.Resample(img, reference, sitk.Transform(), interp, _fill_value(vol, is_label, fill),
                        pixel if pixel is not None else img.GetPixelID())
    return Volume.from_sitk(out, **vol.meta)


def resample(vol: Volume, spacing=TARGET_SPACING_MM, *, is_label: bool = False, fill: float | None = None) -> Volume:
    """Resample to `spacing` (x, y, z mm) keeping origin and direction and covering the same extent."""
    spacing = tuple(float(s) for s in spacing)
    size = [max(1, int(round(n * s / t))) for n, s, t in zip(vol.shape[::-1], vol.spacing, spacing)]
    ref = sitk.Image(size, sitk.sitkUInt8)
    ref.SetSpacing(spacing)
    ref.SetOrigin(vol.origin)
    ref.SetDirection(tuple(vol.direction.ravel()))
    return _execute(vol, ref, is_label, fill)


def resample_like(vol: Volume, reference: Volume, *, is_label: bool = False, fill: float | None = None) -> Volume:
    """Resample onto `reference`'s grid, e.g. a result computed at 0.5 x 0.5 x 5 mm back onto the CT."""
    ref = sitk.Image([int(n) for n in reference.shape[::-1]], sitk.sitkUInt8)
    ref.SetSpacing(reference.spacing)
    ref.SetOrigin(reference.origin)
    ref.SetDirection(tuple(np.asarray(reference.direction).ravel()))
    return _execute(vol, ref, is_label, fill)
