"""Validation of CTs and masks: one named error per problem, warnings for inclusion rules.

Gantry tilt: corrected by default (`tilt="resample"`): the DICOM reader shifts each slice
in-plane onto an orthogonal grid (no interpolation across slices), as scanner consoles, Slicer
and dcm2niix do, and warns once; `tilt="refuse"` refuses such series instead.
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
    tilt: str = "resample"  # or "refuse"
    series: str | None = None  # SeriesInstanceUID to read from a DICOM folder holding several
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
    _check_not_display_values(vol, path, lo, hi)
    thickness = float(vol.meta.get("slice_thickness", vol.spacing[2]))
    if thickness > policy.max_slice_thickness_mm:
        warn(path, f"slice thickness {thickness:g} mm exceeds {policy.max_slice_thickness_mm:g} mm (the methods' inclusion rule)")


def _check_not_display_values(vol: Volume, path, lo: float, hi: float) -> None:
    """Refuse the two common non-HU exports: 8-bit windowed images and stored values without the
    rescale intercept. A head CT's median voxel is air, so the intercept is found from the
    histogram: stored values put the brain peak near 1000-1100 with nothing at HU air (-1000)."""
    a = vol.array
    stored = str(vol.meta.get("stored_dtype", a.dtype))
    if stored in ("uint8", "int8"):
        raise HURangeError(path, f"holds 8-bit values ({stored}, {lo:g}..{hi:g}): a windowed display export, which cannot hold "
                           "Hounsfield units (air -1000, bone > 1000); load the original 16-bit CT")
    if lo >= 0 and hi == 255 and np.mean(a == 255) > 1e-3 and np.mean(a == 0) > 0.01:
        raise HURangeError(path, f"values 0..255 with {100 * np.mean(a == 255):.1f}% saturated at 255: a windowed display export "
                           "(8-bit grey levels), not Hounsfield units; load the original CT")
    middle = a[a.shape[0] // 2]
    if np.count_nonzero((middle > lo) & (middle < -50)) > 1e-3 * middle.size:
        return  # Hounsfield air beside any padding value: the usual case, decided on one slice
    fill = a == lo
    body = a[~fill] if np.mean(fill) > 0.05 else a  # drop a padding / fill value: not part of the scan
    if body.size == 0 or float(body.min()) < -50:
        return
    if float(np.median(body)) > 500:
        raise HURangeError(path, f"no negative values and median {float(np.median(body)):g}: raw stored values without rescale intercept, not HU")
    counts, edges = np.histogram(body, bins=50, range=(800, 1300))
    peak = float(edges[int(np.argmax(counts))] + 5)

    def share(lo_, hi_):
        return float(np.mean((body >= peak + lo_) & (body < peak + hi_)))

    brain = share(-40, 40)
    if 980 <= peak <= 1120 and brain > 0.02 and brain > 3 * max(share(120, 200), share(-200, -120)):
        low = body[body < 400]
        air = f"{np.bincount((np.clip(low, 0, None) // 10).astype(np.int64)).argmax() * 10 + 5:g} (air) and " if low.size else ""
        raise HURangeError(path, f"values {lo:g}..{hi:g} peak at {air}{peak:g} (brain), where Hounsfield units put air at -1000 "
                           "and brain near 30: stored values without the rescale intercept; apply it (usually HU = value - 1024) "
                           "or export the CT in HU")


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
