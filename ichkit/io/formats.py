"""File-type detection by name, shared by the CT and mask readers."""

from __future__ import annotations

from pathlib import Path

from ..atomic import recover
from ..errors import UnreadableFileError

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
SEG_SUFFIX = ".seg.nrrd"


def kind_of(path: Path) -> str:
    """'dicom' (a folder or a .dcm file), 'seg' (.seg.nrrd), 'volume' (ITK-readable), or 'unknown'."""
    name = path.name.lower()
    if path.is_dir() or name.endswith(".dcm"):
        return "dicom"
    if name.endswith(SEG_SUFFIX):
        return "seg"
    if name.endswith(VOLUME_SUFFIXES):
        return "volume"
    return "unknown"


def existing_kind(path: Path) -> str:
    """`kind_of` a file that must exist, read only once an unfinished commit of its folder is
    completed (`atomic.recover`): no reader sees a set of outputs half old and half new."""
    recover(path.parent)
    if not path.exists():
        raise UnreadableFileError(path, "does not exist")
    return kind_of(path)
