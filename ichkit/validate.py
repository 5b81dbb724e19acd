"""Validation of CTs and masks: one named error per problem, warnings for inclusion rules.

Gantry tilt: refused by default (`tilt="refuse"`); with `tilt="resample"` the DICOM reader
shifts each slice in-plane onto an orthogonal grid (no interpolation across slices), which is
what scanner consoles do when they "de-tilt" a series.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import (
    EmptyMaskError,
    GeometryMismatchError,
    HURangeError,
    ImageTooLargeError,
    NonBinaryMaskError,
    NonFiniteError,
    NotVolumeError,
    TooFewSlicesError,
    warn,
)
from .image import Volume

MAX_VOXELS = 1024 * 1024 * 1024  # 1 Gi voxels: 8x a 1024x1024x128 scan
MAX_DIM = 4096


@dataclass(frozen=True)
class ValidationPolicy:
    """Thresholds of the checks; defaults follow the methods' inclusion rules."""

    min_slices: int = 3
    max_slice_thickness_mm: float = 5.0  # spec 1: slice thickness <= 5 mm (warning above)
    tilt: str = "refuse"  # or "resample"
    hu_min: float = -4000.0
    hu_max: float = 40000.0
    slice_spacing_tolerance: float = 0.05  # relative deviation allowed between slice gaps


def check_size(path, size) -> None:
    size = tuple(int(s) for s in size)
    if any(s > MAX_DIM for s in size) or int(np.prod(size, dtype=np.int64)) > MAX_VOXELS:
        raise ImageTooLargeError(path, f"size {size} exceeds the limit ({MAX_DIM} per axis, {MAX_VOXELS} voxels)")


def validate_ct(vol: Volume, path: str | Path, policy: ValidationPolicy | None = None) -> None:
    """Raise the named error for the first problem found; warn on inclusion-rule violations."""
    policy = policy or ValidationPolicy()
    a = vol.array
    if a.ndim != 3:
        raise NotVolumeError(path, f"has {a.ndim} dimensions; a CT volume must be 3D")
    if min(a.shape) < 1 or sorted(a.shape)[1] < 16:
        raise NotVolumeError(path, f"has shape {a.shape} (z, y, x): not a 3D scan")
    if a.shape[0] < policy.min_slices:
        raise TooFewSlicesError(path, f"has {a.shape[0]} slice(s); at least {policy.min_slices} are needed")
    if not all(s > 0 and np.isfinite(s) for s in vol.spacing):
        raise NotVolumeError(path, f"has invalid voxel spacing {vol.spacing}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        n = int((~np.isfinite(a)).sum())
        raise NonFiniteError(path, f"holds {n} NaN or infinite voxel(s)")
    lo, hi = float(a.min()), float(a.max())
    if lo < policy.hu_min or hi > policy.hu_max:
        raise HURangeError(path, f"values {lo:g}..{hi:g} are outside {policy.hu_min:g}..{policy.hu_max:g} HU")
    if hi - lo < 50:
        raise HURangeError(path, f"values span only {lo:g}..{hi:g}: looks normalised or blank, not Hounsfield units")
    if lo >= 0 and float(np.median(a)) > 500:
        raise HURangeError(path, f"no negative values and median {float(np.median(a)):g}: raw stored values without rescale intercept, not HU")
    thickness = float(vol.meta.get("slice_thickness", vol.spacing[2]))
    if thickness > policy.max_slice_thickness_mm:
        warn(path, f"slice thickness {thickness:g} mm exceeds {policy.max_slice_thickness_mm:g} mm (the methods' inclusion rule)")


def validate_mask(mask: Volume, ct: Volume | None, path: str | Path, *, binary: bool = False, allow_empty: bool = False) -> None:
    """Check a mask against its CT: same grid, non-empty, binary when required, known labels."""
    a = mask.array
    if a.ndim != 3:
        raise NotVolumeError(path, f"has {a.ndim} dimensions; a mask must be 3D")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise NonFiniteError(path, "holds NaN or infinite values")
        if not np.all(a == np.round(a)):
            raise NonBinaryMaskError(path, "holds fractional values; a label mask must be integer")
    if ct is not None and not mask.same_geometry(ct):
        raise GeometryMismatchError(path, _geometry_difference(mask, ct))
    values = np.unique(a)
    if not allow_empty and (values.size == 1 and values[0] == 0):
        raise EmptyMaskError(path, "has no foreground voxel")
    if binary and not set(values.tolist()) <= {0, 1}:
        raise NonBinaryMaskError(path, f"holds label values {values.tolist()[:8]}; a binary (0/1) mask is needed")
    if values.min() < 0:
        raise NonBinaryMaskError(path, f"holds negative label values ({values.min()})")


def _geometry_difference(mask: Volume, ct: Volume) -> str:
    if mask.shape != ct.shape:
        return f"size {mask.shape[::-1]} differs from the CT's {ct.shape[::-1]} (x, y, z)"
    if not np.allclose(mask.spacing, ct.spacing, rtol=1e-3, atol=1e-3):
        return f"spacing {tuple(round(s, 4) for s in mask.spacing)} differs from the CT's {tuple(round(s, 4) for s in ct.spacing)}"
    if not np.allclose(mask.origin, ct.origin, atol=1e-2):
        return f"origin {tuple(round(o, 2) for o in mask.origin)} differs from the CT's {tuple(round(o, 2) for o in ct.origin)}"
    return "direction differs from the CT's"
