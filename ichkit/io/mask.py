"""`load_mask`: label masks from NIfTI / NRRD / MHA and Slicer `.seg.nrrd` (segment names kept).

Slicer crops `.seg.nrrd` files to the segments' extent; such a mask is placed back onto the CT
grid when its voxels line up with the CT's (same spacing and direction, integer offset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import slicerio

from ..errors import GeometryMismatchError, LabelValueError, UnreadableFileError, warn
from ..image import Volume
from ..labels import LABELS, label_for_name
from ..validate import validate_mask
from .ct import _read_itk
from .formats import existing_kind


def _read_seg_nrrd(path: Path) -> Volume:
    try:
        seg = slicerio.read_segmentation(str(path))
    except Exception as exc:  # slicerio raises bare exceptions for corrupt headers
        raise UnreadableFileError(path, f"not a readable Slicer segmentation ({type(exc).__name__}: {str(exc)[:120]})") from None
    segments = seg.get("segments", [])
    if not segments:
        raise UnreadableFileError(path, "the segmentation has no segments")
    pairs, names, used = [], {}, set()
    for s in segments:
        label = label_for_name(s["name"])
        value = label.value if label else None
        if value is None or value in used:
            value = max([*used, *LABELS]) + 1
        used.add(value)
        pairs.append((s["name"], value))
        names[value] = s["name"]
    flat = slicerio.extract_segments(seg, pairs)
    ijk_to_lps = np.asarray(flat["ijkToLPS"], dtype=float)
    voxels = np.asarray(flat["voxels"])  # indexed [i, j, k]
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    direction = ijk_to_lps[:3, :3] / spacing
    return Volume(np.ascontiguousarray(voxels.transpose(2, 1, 0)), spacing, ijk_to_lps[:3, 3], direction, {"segments": names, "source": str(path)})


def _embed(mask: Volume, ct: Volume) -> Volume:
    """Place a cropped `.seg.nrrd` onto the CT grid if its voxel grid is a sub-grid of the CT's."""
    if mask.same_geometry(ct) or not (np.allclose(mask.spacing, ct.spacing, atol=1e-4) and np.allclose(mask.direction, ct.direction, atol=1e-4)):
        return mask
    offset_xyz = np.linalg.solve(ct.direction @ np.diag(ct.spacing), np.subtract(mask.origin, ct.origin))
    rounded = np.round(offset_xyz).astype(int)
    if not np.allclose(offset_xyz, rounded, atol=1e-3):
        return mask
    start = rounded[::-1]  # z, y, x
    stop = start + np.array(mask.shape)
    if (start < 0).any() or (stop > np.array(ct.shape)).any():
        nonzero = np.argwhere(mask.array)
        if nonzero.size == 0:
            return mask
        lo, hi = nonzero.min(0), nonzero.max(0) + 1
        if ((start + lo) < 0).any() or ((start + hi) > np.array(ct.shape)).any():
            return mask
    full = np.zeros(ct.shape, dtype=mask.array.dtype)
    src_lo = np.maximum(-start, 0)
    dst_lo = np.maximum(start, 0)
    dst_hi = np.minimum(stop, ct.shape)
    src_hi = src_lo + (dst_hi - dst_lo)
    full[tuple(slice(a, b) for a, b in zip(dst_lo, dst_hi))] = mask.array[tuple(slice(a, b) for a, b in zip(src_lo, src_hi))]
    return ct.with_array(full, segments=mask.meta.get("segments", {}), source=mask.meta.get("source"))


def load_mask(path: str | Path, ct: Volume | None = None, *, binary: bool = False, allow_empty: bool = False, extra_labels=()) -> Volume:
    """Load a label mask (uint8) and validate it against `ct` when given. Values other than the
    product's labels are refused unless listed in `extra_labels` (a value the user named)."""
    path = Path(path)
    kind = existing_kind(path)
    if kind == "seg":
        mask = _read_seg_nrrd(path)
    elif kind == "volume":
        mask = _read_itk(path)
        mask.meta["segments"] = {}
    else:
        raise UnreadableFileError(path, "unknown mask type; expected .nii(.gz), .nrrd, .seg.nrrd, .mha or .mhd")
    if ct is not None:
        if kind == "seg":
            mask = _embed(mask, ct)
        if not mask.same_geometry(ct):
            validate_mask(mask, ct, path)  # raises GeometryMismatchError with the difference
            raise GeometryMismatchError(path, "grid differs from the CT's")
    validate_mask(mask, ct, path, binary=binary, allow_empty=allow_empty)
    if mask.array.max() > 255:
        raise LabelValueError(path, f"label value {int(mask.array.max())} exceeds 255")
    check_labels(mask, path, extra_labels)
    mask.array = mask.array.astype(np.uint8)
    segments = mask.meta.get("segments") or {}
    mask.meta["segments"] = {int(v): segments.get(int(v), LABELS[int(v)].key if int(v) in LABELS else f"label {int(v)}") for v in np.unique(mask.array) if v}
    return mask


FULL_MASK = 0.99  # a hematoma never covers this share of a head CT's grid


def check_labels(mask: Volume, path: str | Path, extra_labels=()) -> None:
    """Unknown label values would be measured as nothing (a silent 0 mL): refuse them. A mask
    covering (nearly) the whole image is usable but almost surely the wrong file: warn."""
    unknown = sorted({int(v) for v in np.unique(mask.array)} - {0} - set(LABELS) - {int(v) for v in extra_labels})
    if unknown:
        known = ", ".join(f"{value} {label.key}" for value, label in LABELS.items())
        raise LabelValueError(path, f"holds label values {unknown[:8]} that are not the product's labels ({known}); map them with --label-map or name the value with --label")
    share = np.count_nonzero(mask.array) / max(mask.array.size, 1)
    if share >= FULL_MASK:
        warn(path, f"labels {share:.1%} of the image: a hematoma never fills the whole image; is this the right mask?")
