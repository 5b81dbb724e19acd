"""`load_ct`: one loader for DICOM series folders, NIfTI, NRRD/NHDR and MHA/MHD, output in HU."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import NotCTError, NotVolumeError, UnreadableFileError
from ..image import Volume
from ..validate import MAX_VOXELS, ValidationPolicy, check_size, validate_ct
from .dicom import read_dicom_series
from .formats import existing_kind, kind_of
from .headers import check_header


def read_header(path: str | Path) -> sitk.ImageFileReader:
    """Read only the header of an ITK-readable file (cheap size and type checks before pixels)."""
    path = Path(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise UnreadableFileError(path, f"cannot read the image header ({_itk_reason(exc)})") from None
    return reader


def _itk_reason(exc: Exception) -> str:
    """ITK's messages repeat the path and the C++ location: keep only what went wrong."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    teem = [ln for ln in lines if ln.startswith("[nrrd]")]
    if teem:  # NRRD errors nest; the innermost (last) line says what is wrong
        return teem[-1].split(":", 1)[-1].strip()[:160]
    text = " ".join(lines)
    if "Unable to determine ImageIO reader" in text:
        return "not a recognised image format, or the file is corrupt"
    text = text.split("Description:")[-1].split(".cxx:")[-1]
    text = re.sub(r"\S*(sitk|itk)::ERROR:\s*(\w+\(0x[0-9a-f]+\):\s*)?", "", text)
    text = re.sub(r"\S+/\S+", "", text)  # drop file paths, the caller names the file
    return " ".join(text.split()).strip(" :")[:160] or "unknown reason"


def _read_itk(path: Path) -> Volume:
    check_header(path)
    reader = read_header(path)
    dim = reader.GetDimension()
    size = reader.GetSize()
    ncomp = reader.GetNumberOfComponents()
    if ncomp > 1:
        raise NotCTError(path, f"has {ncomp} components per voxel (RGB or vector image), a CT has one")
    if dim == 4 and size[3] == 1:
        size = size[:3]
    elif dim != 3:
        raise NotVolumeError(path, f"is {dim}D with size {size}; a CT volume must be 3D")
    check_size(path, size)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise UnreadableFileError(path, f"pixel data cannot be read ({_itk_reason(exc)})") from None
    if img.GetDimension() == 4:
        img = img[:, :, :, 0]
    return Volume.from_sitk(img, source=str(path), format=kind_of(path))


def load_ct(path: str | Path, policy: ValidationPolicy | None = None) -> Volume:
    """Load a CT in HU with its geometry and validate it (raises a named `ICHError`)."""
    path = Path(path)
    policy = policy or ValidationPolicy()
    kind = existing_kind(path)
    if kind == "dicom":
        vol = read_dicom_series(path, policy)
    elif kind in ("volume", "seg"):
        vol = _read_itk(path)
    else:
        raise UnreadableFileError(path, "unknown file type; expected a DICOM folder, .nii(.gz), .nrrd, .nhdr, .mha or .mhd")
    if not np.issubdtype(vol.array.dtype, np.number):
        raise NotCTError(path, f"has non-numeric voxels ({vol.array.dtype})")
    vol.meta.setdefault("stored_dtype", str(vol.array.dtype))  # before conversion: 8-bit data cannot be HU
    vol.array = vol.array.astype(np.float32, copy=False) if vol.array.dtype.kind == "f" else vol.array.astype(np.int16 if _fits_int16(vol.array) else np.float32, copy=False)
    validate_ct(vol, path, policy)
    return vol


def load_cohort_ct(row: Mapping) -> Volume:
    """The CT of a cohort row (`cohort.Scan.as_row`): its `series` picks one series of a DICOM folder."""
    return load_ct(row["ct"], ValidationPolicy(series=row.get("series") or None))


def _fits_int16(a: np.ndarray) -> bool:
    return a.dtype.kind in "iu" and a.size > 0 and a.min() >= -32768 and a.max() <= 32767


__all__ = ["load_ct", "read_header", "MAX_VOXELS"]
