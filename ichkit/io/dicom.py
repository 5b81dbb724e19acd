"""DICOM series reading: pick the CT series, order slices by position, apply rescale; correct
gantry tilt and put step-and-shoot series (two slice spacings) on a regular grid, as Slicer and
dcm2niix do, with one warning saying what was done.

Only geometry and acquisition tags are kept in `Volume.meta`; patient-identifying tags are never
copied out of the files, so nothing downstream (logs, reports) can leak them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GantryTiltError, MixedSeriesError, NotCTError, NotVolumeError, SliceSpacingError, TooFewSlicesError, UnreadableFileError, warn
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
    # deferred: pydicom (~0.15 s) loads only when a DICOM series is read
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


def _describe(uid: str, items: list) -> str:
    """One candidate series for a message: no patient identity, only acquisition tags."""
    ds = items[0][1]
    desc = str(getattr(ds, "SeriesDescription", "") or "no description")
    thick = _number(ds, "SliceThickness")
    kernel = getattr(ds, "ConvolutionKernel", None)
    kernel = "/".join(kernel) if isinstance(kernel, (list, tuple)) or type(kernel).__name__ == "MultiValue" else kernel
    return f"{uid} ({desc}, {len(items)} slices, {f'{thick:g} mm' if thick is not None else 'thickness unknown'}, kernel {kernel or 'unknown'})"


def _patient(ds) -> tuple:
    return tuple(str(getattr(ds, t, "")) for t in ("PatientID", "PatientName", "PatientBirthDate"))


def _pick_series(folder: Path, headers: list, wanted: str | None = None) -> list:
    """The CT series to read. Two patients are never mixed and never chosen between silently; two
    studies (e.g. baseline and follow-up) are refused; among one study's series the axial one with
    the most slices, then the thinnest, is taken with a warning. `wanted` (--series) picks one."""
    series = defaultdict(list)
    for f, ds in headers:
        series[str(getattr(ds, "SeriesInstanceUID", "unknown"))].append((f, ds))
    ct_series = {uid: items for uid, items in series.items() if str(getattr(items[0][1], "Modality", "")).upper() == "CT"}
    if not ct_series:
        modalities = sorted({str(getattr(items[0][1], "Modality", "?")) for items in series.values()})
        raise NotCTError(folder, f"holds no CT series (modalities: {', '.join(modalities)})")
    listing = "; ".join(_describe(uid, items) for uid, items in sorted(ct_series.items()))
    if wanted is not None:
        if wanted not in ct_series:
            raise MixedSeriesError(folder, f"has no CT series {wanted}; its CT series: {listing}")
        ct_series = {wanted: ct_series[wanted]}
    for uid, items in ct_series.items():
        if len({_patient(ds) for _, ds in items}) > 1:
            raise MixedSeriesError(folder, f"series {uid} holds slices of {len({_patient(ds) for _, ds in items})} different patients; separate their files")
    if len(ct_series) == 1:
        return next(iter(ct_series.values()))
    patients = {_patient(items[0][1]) for items in ct_series.values()}
    studies = {str(getattr(items[0][1], "StudyInstanceUID", "")) for items in ct_series.values()}
    if len(patients) > 1 or len(studies) > 1:
        what = f"{len(patients)} patients" if len(patients) > 1 else f"{len(studies)} studies of one patient"
        raise MixedSeriesError(folder, f"holds CT series of {what}: {listing}; choose one with --series UID (a cohort CSV: its series column)")

    def rank(item):
        uid, items = item
        ds = items[0][1]
        iop = np.array(getattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
        return (_is_axial(iop), len(items), -(_number(ds, "SliceThickness") or 0.0))

    uid, items = max(ct_series.items(), key=rank)
    warn(folder, f"{len(ct_series)} CT series: {listing}; read {uid} (rule: axial, then most slices, then thinnest); choose another with --series UID (a cohort CSV: its series column)")
    return items


def _check_slices(folder: Path, items: list) -> list:
    """Per-slice header checks before any pixel is decoded: one line naming the bad file."""
    slices = []
    first = None
    for f, ds in items:
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
            if getattr(ds, tag, None) in (None, ""):
                raise UnreadableFileError(f, f"lacks {tag}; a CT slice needs it to be placed in space")
        spacing, position, orientation = (_floats(f, ds, tag, n) for tag, n in (("PixelSpacing", 2), ("ImagePositionPatient", 3), ("ImageOrientationPatient", 6)))
        if not all(v > 0 for v in spacing):
            raise NotVolumeError(f, f"has PixelSpacing {spacing.tolist()}: not a real pixel size")
        row, col = orientation[:3], orientation[3:]
        if abs(np.linalg.norm(row) - 1) > 1e-2 or abs(np.linalg.norm(col) - 1) > 1e-2 or abs(row @ col) > 1e-2:
            raise NotVolumeError(f, f"has ImageOrientationPatient {orientation.round(4).tolist()}: not two perpendicular unit vectors")
        here = (int(ds.Rows), int(ds.Columns), spacing)
        first = first or here
        if here[:2] != first[:2]:
            raise NotVolumeError(f, f"is {here[0]} x {here[1]} pixels; the rest of the series is {first[0]} x {first[1]}")
        if not np.allclose(here[2], first[2], rtol=1e-3):
            raise NotVolumeError(f, f"pixel spacing {here[2][0]:g} x {here[2][1]:g} mm differs from the series' {first[2][0]:g} x {first[2][1]:g} mm")
        slices.append(_Slice(f, ds, position, orientation))
    return slices


def _number(ds, tag: str) -> float | None:
    """A numeric tag, or None when absent or unreadable (informative tags only)."""
    try:
        value = float(getattr(ds, tag))
    except (AttributeError, TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _floats(path: Path, ds, tag: str, n: int) -> np.ndarray:
    try:
        values = np.array([float(v) for v in getattr(ds, tag)], float)
    except (TypeError, ValueError):
        values = np.array([])
    if values.shape != (n,) or not np.isfinite(values).all():
        raise NotVolumeError(path, f"has {tag} {getattr(ds, tag)!s:.60}: expected {n} numbers")
    return values


def _spacing_runs(folder: Path, gaps: np.ndarray, tolerance: float) -> list[tuple[float, int]]:
    """Split slice gaps into runs of one spacing; accept a regular series or a step-and-shoot one.

    A step protocol has at most three regular runs (two or more equal gaps) of distinct spacings,
    joined directly or through one transition gap between their spacings. A spacing that comes
    back after another (5, 5, 10, 5, 5) is a missing slice, and is refused.
    """
    runs: list[list] = []
    for g in gaps:
        if runs and abs(g - runs[-1][0]) <= tolerance * runs[-1][0]:
            runs[-1][1].append(g)
            runs[-1][0] = float(np.mean(runs[-1][1]))
        else:
            runs.append([float(g), [g]])
    out = [(value, len(members)) for value, members in runs]
    regular = [v for v, n in out if n >= 2]

    def ok() -> bool:
        if len(out) == 1:
            return True
        if not 2 <= len(regular) <= 3 or out[0][1] < 2 or out[-1][1] < 2:
            return False
        if any(abs(a - b) <= tolerance * min(a, b) for i, a in enumerate(regular) for b in regular[i + 1:]):
            return False
        for k, (value, n) in enumerate(out):
            if n == 1 and not (min(out[k - 1][0], out[k + 1][0]) < value < max(out[k - 1][0], out[k + 1][0]) and out[k - 1][1] >= 2 and out[k + 1][1] >= 2):
                return False
        return True

    if not ok():
        raise SliceSpacingError(folder, f"slice gaps vary from {gaps.min():.3g} to {gaps.max():.3g} mm and do not form a regular or step series (missing slices?)")
    return out


def read_dicom_series(folder: str | Path, policy: ValidationPolicy | None = None) -> Volume:
    folder = Path(folder)
    policy = policy or ValidationPolicy()
    headers = _read_headers(folder)
    if not headers:
        raise UnreadableFileError(folder, "contains no readable DICOM file")
    slices = _check_slices(folder, _pick_series(folder, headers, policy.series))
    if not all(np.allclose(s.orientation, slices[0].orientation, atol=1e-3) for s in slices):
        raise SliceSpacingError(folder, "slices have different orientations")
    row, col = slices[0].orientation[:3], slices[0].orientation[3:]
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(s.position @ normal))
    if len(slices) < policy.min_slices:
        raise TooFewSlicesError(folder, f"the CT series has {len(slices)} slice(s); at least {policy.min_slices} are needed")
    offsets = np.array([s.position - slices[0].position for s in slices])
    along = offsets @ normal  # distance of each slice from the first, along the slice normal
    gaps = np.diff(along)
    if (gaps <= 1e-3).any():
        raise SliceSpacingError(folder, "two slices share a position (duplicated slices)")
    runs = _spacing_runs(folder, gaps, policy.slice_spacing_tolerance)
    step = min(v for v, _ in runs)
    # in-plane drift of the slices: proportional to `along` on a tilted gantry
    drift = offsets - along[:, None] * normal[None, :]
    shear = (drift.T @ along) / float(along @ along)  # mm of drift per mm along the normal
    if np.abs(drift - along[:, None] * shear).max() > 0.1 * min(float(ds) for ds in slices[0].ds.PixelSpacing):
        raise SliceSpacingError(folder, "slice positions do not lie on one line (mixed or moved slices)")
    tilted = float(np.linalg.norm(shear)) * float(along[-1]) > 1e-3 * step
    if tilted and policy.tilt != "resample":
        raise GantryTiltError(folder, "the series was acquired with gantry tilt; rerun without '--tilt refuse' to shift slices onto an orthogonal grid")
    ds0 = slices[0].ds
    rows, cols = int(ds0.Rows), int(ds0.Columns)
    check_size(folder, (cols, rows, max(len(slices), int(along[-1] / step) + 1)))
    if int(getattr(ds0, "SamplesPerPixel", 1)) != 1:
        raise NotCTError(folder, f"has {ds0.SamplesPerPixel} samples per pixel (colour image), not a CT")
    array = np.empty((len(slices), rows, cols), dtype=np.float32)
    for k, s in enumerate(slices):
        pixels = _pixels_hu(s.path)
        if pixels.shape != (rows, cols):
            raise NotVolumeError(s.path, f"pixel data is {pixels.shape[0]} x {pixels.shape[1]}; the series is {rows} x {cols}")
        array[k] = pixels
    spacing_rc = [float(v) for v in ds0.PixelSpacing]  # (row spacing, column spacing)
    spacing = (spacing_rc[1], spacing_rc[0], step)
    done = []
    if tilted:
        array = _detilt(array, along, shear, row, col, spacing)
        done.append(f"gantry tilt of {np.degrees(np.arctan(np.linalg.norm(shear))):.1f} deg corrected (slices shifted in-plane onto an orthogonal grid)")
    if len(runs) > 1:
        array, n_before = _regrid(array, along, step), len(slices)
        spacings = " and ".join(f"{v:.3g} mm ({n} gaps)" for v, n in runs if n > 1)
        done.append(f"slice spacings {spacings} resampled linearly onto a regular {step:.3g} mm grid ({n_before} -> {array.shape[0]} slices)")
    if done:
        warn(folder, "; ".join(done))
    direction = np.stack([row, col, normal], axis=1)
    meta = {t: _plain(getattr(ds0, t)) for t in SAFE_TAGS if hasattr(ds0, t)}
    meta.update(source=str(folder), format="dicom", n_files=len(slices), tilt_corrected=bool(tilted), z_resampled=len(runs) > 1)
    meta["stored_dtype"] = f"{'int' if int(getattr(ds0, 'PixelRepresentation', 0)) else 'uint'}{int(getattr(ds0, 'BitsAllocated', 16))}"
    thickness = [t for t in (_number(s.ds, "SliceThickness") for s in slices) if t is not None]
    if thickness:
        meta["slice_thickness"] = max(thickness)
    vol = Volume(array, spacing, slices[0].position, direction, meta)
    if np.all(array == np.round(array)) and array.min() >= -32768 and array.max() <= 32767:
        vol.array = array.astype(np.int16)
    return vol


def _pixels_hu(path: Path) -> np.ndarray:
    # deferred: pydicom (~0.15 s) loads only when a DICOM series is read
    import pydicom

    log = logging.getLogger("pydicom")
    level, log.level = log.level, logging.CRITICAL + 1  # pydicom logs each decoder failure with a traceback
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as exc:  # decoder errors come in many types
        reason = " ".join(str(exc).split()).split("plugins:")[-1].strip()[:140]
        raise UnreadableFileError(path, f"pixel data cannot be decoded ({reason or type(exc).__name__})") from None
    finally:
        log.level = level
    if pixels.ndim != 2:
        raise NotCTError(path, f"pixel array has shape {pixels.shape}; a CT slice is one 2D grey image")
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * slope + intercept


def _detilt(array: np.ndarray, along: np.ndarray, shear: np.ndarray, row: np.ndarray, col: np.ndarray, spacing) -> np.ndarray:
    """Shift each slice in-plane by its drift (`along` x `shear` mm) so the grid becomes orthogonal."""
    per_mm = np.array([shear @ row / spacing[0], shear @ col / spacing[1]])  # voxels along x, y per mm
    out = np.empty_like(array)
    fill = float(array.min())
    for k in range(array.shape[0]):
        dx, dy = per_mm * along[k]
        out[k] = _shift_bilinear(array[k], dy, dx, fill)
    return out


def _shift_bilinear(image: np.ndarray, dy: float, dx: float, fill: float) -> np.ndarray:
    """out[i, j] = image[i - dy, j - dx], bilinear, `fill` outside: scipy's shift (order 1, mode
    'grid-constant') from four slices of a padded copy, several times faster on 512 x 512."""
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = np.float32(dy - iy), np.float32(dx - ix)
    py, px = abs(iy) + 1, abs(ix) + 1
    padded = np.pad(image, ((py, py), (px, px)), constant_values=fill)
    h, w = image.shape

    def window(a: int, b: int) -> np.ndarray:  # image shifted by (a, b) whole pixels
        return padded[py - a:py - a + h, px - b:px - b + w]

    top = (1 - fx) * window(iy, ix) + fx * window(iy, ix + 1)
    bottom = (1 - fx) * window(iy + 1, ix) + fx * window(iy + 1, ix + 1)
    return (1 - fy) * top + fy * bottom


def _regrid(array: np.ndarray, along: np.ndarray, step: float) -> np.ndarray:
    """Linear interpolation between neighbouring slices onto positions 0, step, 2 step, ..."""
    n = int(np.floor(along[-1] / step + 1e-3)) + 1
    target = np.minimum(np.arange(n) * step, along[-1])
    upper = np.clip(np.searchsorted(along, target, side="right"), 1, len(along) - 1)
    w = ((target - along[upper - 1]) / (along[upper] - along[upper - 1])).astype(np.float32)[:, None, None]
    return (1 - w) * array[upper - 1] + w * array[upper]


def _plain(value):
    try:
        return float(value) if isinstance(value, (int, float)) or type(value).__name__ in ("DSfloat", "IS") else str(value)
    except (TypeError, ValueError):
        return str(value)
