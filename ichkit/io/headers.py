"""Header checks done before ITK reads a file, because ITK hides what is wrong.

ITK turns a voxel spacing of 0 into 1 mm (NIfTI) and zero-fills a plain `.nii` (or a `.nii.gz`
payload) shorter than its header says; for MetaImage it prints to stderr and blames a missing
file. So NIfTI, NRRD and MetaImage headers are read here, and the voxel spacing and the amount of
pixel data are compared with what the header promises.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib
from pathlib import Path

import nrrd
import numpy as np
from nrrd.reader import _determine_datatype

from ..errors import NotVolumeError, UnreadableFileError
from ..validate import check_size

_AXES = "xyz"
_MET_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4, "MET_LONG": 4, "MET_ULONG": 4,
              "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def check_header(path: Path) -> None:
    """Raise `NotVolumeError` for a spacing that is 0 or not a number, `ImageTooLargeError` for a
    header beyond the size limit, `UnreadableFileError` for pixel data shorter than the header
    says. Formats not parsed here are left to ITK."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti(path)
    elif name.endswith((".nrrd", ".nhdr")) and not name.endswith(".seg.nrrd"):
        _check_nrrd(path)
    elif name.endswith((".mha", ".mhd")):
        _check_metaimage(path)


def _check_spacing(path: Path, spacing, field: str) -> None:
    for axis, s in zip(_AXES, spacing):
        if not (np.isfinite(s) and s != 0):
            raise NotVolumeError(path, f"header voxel spacing along {axis} is {s:g} ({field}): not a real geometry "
                                 "(other readers silently assume 1 mm); fix the header or re-export the CT")


def _check_length(path: Path, have: int, need: int) -> None:
    if have < need:
        raise UnreadableFileError(path, f"holds {have} bytes of pixel data but its header says {need}: truncated file")


def _gzip_size(path: Path) -> int:
    """Decompress once: proves integrity (ITK reads a truncated .gz as zeros) and gives the length."""
    total = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 24):
                total += len(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise UnreadableFileError(path, f"truncated or corrupt gzip data ({exc.__class__.__name__})") from None
    return total


def _check_nifti(path: Path) -> None:
    # deferred: nibabel (~0.2 s) loads only when a NIfTI header is checked
    import nibabel as nib

    gz = path.name.lower().endswith(".gz")
    size = _gzip_size(path) if gz else path.stat().st_size
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            block = f.read(540)
        klass = nib.Nifti2Header if len(block) >= 4 and int.from_bytes(block[:4], "little") in (540, 0x1C020000) else nib.Nifti1Header
        with warnings.catch_warnings():  # nibabel warns about odd extensions; ITK decides below
            warnings.simplefilter("ignore")
            header = klass.from_fileobj(io.BytesIO(block), check=False)
        dims = [int(d) for d in header["dim"]]
        pixdim = [float(p) for p in header["pixdim"]]
        bitpix, offset = int(header["bitpix"]), int(header["vox_offset"])
    except Exception:  # noqa: BLE001 - not a NIfTI header: let ITK name the problem
        return
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0:
        return
    _check_spacing(path, pixdim[1:1 + min(ndim, 3)], "NIfTI pixdim")
    check_size(path, [max(d, 1) for d in dims[1:ndim + 1]])
    voxels = int(np.prod([max(d, 1) for d in dims[1:ndim + 1]], dtype=np.int64))
    _check_length(path, size - offset, voxels * bitpix // 8)


def _check_nrrd(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            header = nrrd.read_header(f)
            header_end = f.tell()
    except Exception:  # noqa: BLE001 - a broken NRRD header: ITK's message names the field
        return
    if "space directions" in header:
        dirs = np.asarray(header["space directions"], dtype=float)
        spatial = [row for row in dirs if not np.isnan(row).all()]
        _check_spacing(path, [float(np.linalg.norm(r)) for r in spatial], "NRRD space directions")
    elif "spacings" in header:
        _check_spacing(path, [float(s) for s in header["spacings"]], "NRRD spacings")
    if header.get("encoding", "raw") != "raw" or "byte skip" in header or "line skip" in header:
        return
    check_size(path, header["sizes"])
    try:
        need = int(np.prod(header["sizes"], dtype=np.int64)) * _determine_datatype(header).itemsize
    except Exception:  # noqa: BLE001 - an unknown type: ITK refuses it with its own message
        return
    data_file = header.get("data file") or header.get("datafile")
    if data_file is None:
        _check_length(path, path.stat().st_size - header_end, need)
    elif isinstance(data_file, str) and (path.parent / data_file).is_file():
        _check_length(path.parent / data_file, (path.parent / data_file).stat().st_size, need)


def _check_metaimage(path: Path) -> None:
    fields, header_end = {}, 0
    with open(path, "rb") as f:
        for raw in f:
            header_end += len(raw)
            key, _, value = raw.decode("latin-1").partition("=")
            fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile" or header_end > 65536:
                break
    try:
        spacing = [float(s) for s in fields.get("ElementSpacing", fields.get("ElementSize", "")).split()]
        sizes = [int(s) for s in fields["DimSize"].split()]
    except (KeyError, ValueError):
        return
    if spacing:
        _check_spacing(path, spacing, "MetaImage ElementSpacing")
    check_size(path, sizes)
    nbytes = _MET_BYTES.get(fields.get("ElementType", ""))
    if nbytes is None or fields.get("CompressedData", "False").lower() == "true" or "HeaderSize" in fields:
        return
    need = int(np.prod(sizes, dtype=np.int64)) * nbytes * int(fields.get("ElementNumberOfChannels", "1") or 1)
    data_file = fields.get("ElementDataFile", "")
    if data_file == "LOCAL":
        _check_length(path, path.stat().st_size - header_end, need)
    elif data_file and " " not in data_file and (path.parent / data_file).is_file():
        _check_length(path.parent / data_file, (path.parent / data_file).stat().st_size, need)
