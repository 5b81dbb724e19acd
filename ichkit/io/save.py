"""Writing volumes and labelmaps atomically: NIfTI / NRRD / MHA and Slicer `.seg.nrrd`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicerio

from ..atomic import atomic_path, check_writable
from ..image import Volume
from ..labels import LABELS


def save_volume(vol: Volume, path: str | Path, *, overwrite: bool = False, compress: bool = True) -> Path:
    """Any ITK-writable format, chosen by the file name."""
    path = check_writable(path, overwrite)
    with atomic_path(path) as tmp:
        sitk.WriteImage(vol.to_sitk(), str(tmp), useCompression=compress)
    return path


def save_labelmap(labels: Volume, path: str | Path, *, names: dict[int, str] | None = None, overwrite: bool = False) -> Path:
    """A labelmap as NIfTI/NRRD, or as a Slicer `.seg.nrrd` with segment names and colours."""
    path = Path(path)
    if not path.name.lower().endswith(".seg.nrrd"):
        return save_volume(labels.with_array(labels.array.astype(np.uint8)), path, overwrite=overwrite)

    check_writable(path, overwrite)
    names = names or labels.meta.get("segments") or {}
    ijk_to_lps = labels.index_to_physical()
    seg = slicerio.create_segmentation(labels.shape[::-1], ijk_to_lps)
    seg["voxels"] = np.ascontiguousarray(labels.array.astype(np.uint8).transpose(2, 1, 0))
    for value in sorted(int(v) for v in np.unique(labels.array) if v):
        lab = LABELS.get(value)
        seg["segments"].append(
            {
                "id": f"Segment_{value}",
                "labelValue": value,
                "layer": 0,
                "name": names.get(value, lab.key if lab else f"label {value}"),
                "color": list(lab.color) if lab else [0.5, 0.5, 0.5],
            }
        )
    with atomic_path(path, suffix=".seg.nrrd") as tmp:
        slicerio.write_segmentation(str(tmp), seg)
    return path
