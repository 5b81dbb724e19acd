"""Where each hemorrhage label lies in the atlas: volume per region, side and location class.

Every voxel of a label is mapped into the template by the registration and reads the region
under it (nearest 1 mm atlas voxel); volumes are voxel counts times the scan's voxel volume.
The class (deep / lobar / infratentorial, as in the DTViT study, plus intraventricular) is the
one holding the most volume; the side is read from the template's midsagittal plane (x = 0,
+x is the patient's left in LPS), so a scan's own head tilt does not move it.
"""

from __future__ import annotations

import numpy as np

from ..image import Volume
from ..labels import LABELS
from .atlas import CLASSES, Atlas
from .registration import Registration

VERSION = "location-1"  # bump when a definition below changes
SIDE_FRACTION = 0.8  # at least this share of the volume on one side of the midsagittal plane: that side


def _points(mask: Volume, sel: np.ndarray) -> np.ndarray:
    """(N, 3) LPS mm of the voxels where `sel` holds."""
    zyx = np.argwhere(sel)
    m = mask.index_to_physical()
    return zyx[:, ::-1].astype(np.float64) @ m[:3, :3].T + m[:3, 3]


def atlas_index(atlas: Atlas, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest atlas voxel (z, y, x) of template points, and whether it lies in the atlas field."""
    inv = np.linalg.inv(atlas.regions.index_to_physical())
    ijk = np.rint(points @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
    shape = np.array(atlas.regions.shape[::-1])
    inside = np.all((ijk >= 0) & (ijk < shape), axis=1)
    return np.where(inside[:, None], ijk, 0)[:, ::-1], inside


def region_at(atlas: Atlas, points: np.ndarray) -> np.ndarray:
    """Region index (0: none) under each template point."""
    zyx, inside = atlas_index(atlas, points)
    return np.where(inside, atlas.regions.array[zyx[:, 0], zyx[:, 1], zyx[:, 2]], 0)


def side_of(left_fraction: float, largest_side: str | None) -> str:
    if left_fraction >= SIDE_FRACTION:
        return "left"
    if left_fraction <= 1 - SIDE_FRACTION:
        return "right"
    return "midline" if largest_side is None else "bilateral"


def locate_label(mask: Volume, value: int, atlas: Atlas, reg: Registration) -> dict:
    """The location of one label of `mask` (which must hold it)."""
    sel = mask.array == value
    pts = reg.to_template(_points(mask, sel))
    regions = region_at(atlas, pts)
    vox_ml = mask.voxel_volume_ml
    counts = np.bincount(regions, minlength=max(atlas.table) + 1)
    regions_ml = {atlas.table[i].name: round(float(n) * vox_ml, 3) for i, n in sorted(enumerate(counts), key=lambda t: -t[1]) if i and n}
    zyx, inside = atlas_index(atlas, pts)
    in_brain = float(np.mean(inside & (atlas.mask.array[zyx[:, 0], zyx[:, 1], zyx[:, 2]] > 0)))
    out = {
        "label": int(value),
        "name": LABELS[value].key if value in LABELS else f"label {value}",
        "volume_ml": round(float(sel.sum()) * vox_ml, 3),
        "regions_ml": regions_ml,
        "outside_atlas_ml": round(float(counts[0]) * vox_ml, 3),
        "in_template_mask_fraction": round(in_brain, 3),
    }
    if not regions_ml:
        return {**out, "status": "undetermined", "reason": "the label maps outside every atlas region"}
    largest = atlas.table[int(np.argmax(counts[1:])) + 1]
    class_ml = {c: 0.0 for c in CLASSES}
    for i, n in enumerate(counts):
        if i and n:
            class_ml[atlas.table[i].klass] += float(n) * vox_ml
    centroid = reg.to_template(_points(mask, sel).mean(axis=0, keepdims=True))
    centroid_region = int(region_at(atlas, centroid)[0])
    left = float(np.mean(pts[:, 0] > 0))
    slices = np.bincount(np.nonzero(sel)[0], minlength=mask.shape[0])
    return {
        **out,
        "status": "determined",
        "reason": None,
        "centroid_region": atlas.table[centroid_region].name if centroid_region else None,
        "largest_region": largest.name,
        "largest_region_fraction": round(float(counts[largest.index] / counts[1:].sum()), 3),
        "class": max(class_ml, key=class_ml.get),
        "class_ml": {c: round(v, 3) for c, v in class_ml.items()},
        "side": side_of(left, largest.side),
        "left_fraction": round(left, 3),
        "centroid_template_mm": [round(float(v), 1) for v in centroid[0]],
        "slice": int(np.argmax(slices)),
    }


def locate(mask: Volume, atlas: Atlas, reg: Registration) -> dict:
    """Location of every label present in `mask`, or "undetermined" with the registration's reason."""
    head = {"version": VERSION, "atlas": atlas.version, "registration": reg.summary()}
    if not reg.ok:
        return {**head, "status": "undetermined", "reason": reg.reason, "labels": {}}
    values = [int(v) for v in np.unique(mask.array) if v]
    labels = {}
    for v in values:
        loc = locate_label(mask, v, atlas, reg)
        labels[loc["name"]] = loc
    return {**head, "status": "determined", "reason": None, "labels": labels}
