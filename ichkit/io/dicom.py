"""DICOM series reading: pick the axial CT series, order slices by position, apply rescale.

Only geometry and acquisition tags are kept in `Volume.meta`; patient-identifying tags are never
copied out of the files, so nothing downstream (logs, reports) can leak them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GantryTiltError, NotCTError, NotVolumeError, SliceSpacingError, UnreadableFileError
from ..image import Volume
from ..validate import ValidationPolicy, check_size

# Tags safe to carry along (no patient identity); everything else stays in the files.
SAFE_TAGS = ("Modality", "Manufacturer", "SliceThickness", "KVP", "ConvolutionKernel", "SeriesDescription", "GantryDetectorTilt")


@dataclass
class _Slice:
    path: Path
    ds: object
    position: np.ndarray
    orientation: np.ndarray


def _read_headers(folder: Path) -> list:
    import pydicom
    from pydicom.errors import InvalidDicomError

    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    headers = []
    for f in files:
        try:
            headers.append((f, pydicom.dcmread(f, stop_before_pixels=True)))
        except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError):
            continue
    return headers


def _is_axial(orientation: np.ndarray) -> bool:
    normal = np.cross(orientation[:3], orientation[3:])
    return abs(normal[2]) > 0.8


def _pick_series(folder: Path, headers: list) -> list:
    series = defaultdict(list)
    for f, ds in headers:
        series[getattr(ds, "SeriesInstanceUID", "unknown")].append((f, ds))
    ct_series = {uid: items for uid, items in series.items() if str(getattr(items[0][1], "Modality", "")).upper() == "CT"}
    if not ct_series:
        modalities = sorted({str(getattr(items[0][1], "Modality", "?")) for items in series.values()})
        raise NotCTError(folder, f"holds no CT series (modalities: {', '.join(modalities)})")

    def rank(items):
        ds = items[0][1]
        iop = np.array(getattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
        return (_is_axial(iop), len(items))

    return max(ct_series.values(), key=rank)


def read_dicom_series(folder: str | Path, policy: ValidationPolicy | None = None) -> Volume:
    folder = Path(folder)
    policy = policy or ValidationPolicy()
    headers = _read_headers(folder)
    if not headers:
        raise UnreadableFileError(folder, "contains no readable DICOM file")
    items = _pick_series(folder, headers)
    slices = []
    for f, ds in items:
        if not hasattr(ds, "ImagePositionPatient") or not hasattr(ds, "ImageOrientationPatient"):
            raise UnreadableFileError(f, "lacks ImagePositionPatient/ImageOrientationPatient")
        slices.append(_Slice(f, ds, np.array(ds.ImagePositionPatient, float), np.array(ds.ImageOrientationPatient, float)))
    if not all(np.allclose(s.orientation, slices[0].orientation, atol=1e-3) for s in slices):
        raise SliceSpacingError(folder, "slices have different orientations")
    row, col = slices[0].orientation[:3], slices[0].orientation[3:]
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(s.position @ normal))
    if len(slices) < policy.min_slices:
        from ..errors import TooFewSlicesError

        raise TooFewSlicesError(folder, f"the CT series has {len(slices)} slice(s); at least {policy.min_slices} are needed")
    steps = np.diff([s.position for s in slices], axis=0)
    along = steps @ normal
    if (along <= 1e-3).any():
        raise SliceSpacingError(folder, "two slices share a position (duplicated slices)")
    gap = float(np.median(along))
    if np.abs(along - gap).max() > policy.slice_spacing_tolerance * gap:
        raise SliceSpacingError(folder, f"slice gaps vary from {along.min():.3g} to {along.max():.3g} mm (missing slices?)")
    shear = steps.mean(axis=0) - gap * normal
    tilted = np.linalg.norm(shear) > 1e-3 * gap or abs(float(getattr(slices[0].ds, "GantryDetectorTilt", 0) or 0)) > 1e-3
    if tilted and policy.tilt != "resample":
        raise GantryTiltError(folder, "the series was acquired with gantry tilt; rerun with tilt correction (--tilt resample) to shift slices onto an orthogonal grid")
    ds0 = slices[0].ds
    rows, cols = int(ds0.Rows), int(ds0.Columns)
    check_size(folder, (cols, rows, len(slices)))
    if int(getattr(ds0, "SamplesPerPixel", 1)) != 1:
        raise NotCTError(folder, f"has {ds0.SamplesPerPixel} samples per pixel (colour image), not a CT")
    array = np.empty((len(slices), rows, cols), dtype=np.float32)
    for k, s in enumerate(slices):
        array[k] = _pixels_hu(s.path)
        if array[k].shape != (rows, cols):
            raise NotVolumeError(s.path, "slice size differs from the rest of the series")
    spacing_rc = [float(v) for v in ds0.PixelSpacing]  # (row spacing, column spacing)
    spacing = (spacing_rc[1], spacing_rc[0], gap)
    if tilted:
        array = _detilt(array, shear, row, col, spacing)
    direction = np.stack([row, col, normal], axis=1)
    meta = {t: _plain(getattr(ds0, t)) for t in SAFE_TAGS if hasattr(ds0, t)}
    meta.update(source=str(folder), format="dicom", n_files=len(slices), tilt_corrected=bool(tilted))
    if "SliceThickness" in meta:
        meta["slice_thickness"] = float(meta["SliceThickness"])
    vol = Volume(array, spacing, slices[0].position, direction, meta)
    if np.all(array == np.round(array)) and array.min() >= -32768 and array.max() <= 32767:
        vol.array = array.astype(np.int16)
    return vol


def _pixels_hu(path: Path) -> np.ndarray:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as exc:  # decoder errors come in many types
        raise UnreadableFileError(path, f"pixel data cannot be decoded ({type(exc).__name__}: {str(exc)[:100]})") from None
    if pixels.ndim != 2:
        raise NotCTError(path, f"pixel array has shape {pixels.shape}; a CT slice is one 2D grey image")
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * slope + intercept


def _detilt(array: np.ndarray, shear: np.ndarray, row: np.ndarray, col: np.ndarray, spacing) -> np.ndarray:
    """Shift slice k in-plane by -k * shear (mm) so the grid becomes orthogonal."""
    from scipy.ndimage import shift

    per_slice = np.array([shear @ row / spacing[0], shear @ col / spacing[1]])  # voxels along x, y
    out = np.empty_like(array)
    fill = float(array.min())
    for k in range(array.shape[0]):
        dx, dy = per_slice * k
        out[k] = shift(array[k], (dy, dx), order=1, mode="constant", cval=fill)
    return out


def _plain(value):
    try:
        return float(value) if isinstance(value, (int, float)) or type(value).__name__ in ("DSfloat", "IS") else str(value)
    except (TypeError, ValueError):
        return str(value)
