"""Head mask without the fixation brace (spec 1, from 004), the intracranial mask and the brain mask.

Three nested masks, one place: `head_mask` (scalp included, brace dropped) contains
`intracranial_mask` (everything the skull's inner table encloses: brain, CSF, and blood of every
compartment, extra-axial included; what segmentation, read-outs and brain volumes use), which
contains `brain_mask` (its soft-tissue voxels only, bridges cut: the optional skull strip).

004's recipe on each axial slice: binarise, erode with a disk, zero the edge columns, flood-fill
to a head mask, apply it. Here the flood fill is "keep the largest 3D connected component, fill
holes slice by slice", then the erosion is undone (dilation limited to the binarised voxels), so
the head keeps its true border while a brace (thin, separated by air, reaching the image's
lateral edges) is dropped. Morphology is in-plane: slices are thick (5 mm), so the disk is 2D.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import GeometryMismatchError
from ..image import Volume

HEAD_THRESHOLD_HU = -300.0  # above: scalp, bone, brain and brace; below: air and foam cushions
ERODE_RADIUS_MM = 3.0  # removes braces and bridges thinner than about 6 mm
EDGE_COLUMNS = 8  # image columns zeroed at both lateral edges, where head holders leave the image
BONE_HU = 200.0  # the skull (diploe included) is above this
BRAIN_HU = (-20.0, 100.0)  # intracranial soft tissue: CSF, brain and acute blood
BONE_CLOSE_MM = 2.0  # closes small gaps in the skull ring (sutures, foramina) before filling it
BRAIN_OPEN_MM = 1.0  # cuts thin soft-tissue bridges through skull gaps
MIN_SKULL_ML = 5.0  # less bone than this in the head: no skull (skull-stripped input, phantom, other body part)
SCALP_MAX_MM = 8.0  # scalp and muscle over the skull are thinner than this (open-ring slices only)
RING_CLOSED_FRACTION = 0.5  # a slice whose filled ring covers less of its bone's convex hull has an open skull


def _disk(radius_mm: float, spacing) -> np.ndarray:
    """An in-plane disk structuring element of shape (1, h, w) in voxels."""
    ry, rx = (max(0, int(np.floor(radius_mm / s))) for s in (spacing[1], spacing[0]))
    y, x = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    disk = (y * spacing[1]) ** 2 + (x * spacing[0]) ** 2 <= radius_mm**2 + 1e-9
    return disk[None]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    comp, n = ndimage.label(mask)
    if n <= 1:
        return mask
    return comp == 1 + int(np.argmax(np.bincount(comp.ravel())[1:]))


def _bbox(mask: np.ndarray, pad: tuple[int, int]) -> tuple[slice, slice, slice]:
    """All slices, and the in-plane bounding box of `mask` grown by `pad` (y, x) voxels."""
    rows, cols = np.nonzero(mask.any(axis=(0, 2)))[0], np.nonzero(mask.any(axis=(0, 1)))[0]
    if rows.size == 0:
        return slice(None), slice(0, 0), slice(0, 0)
    return (slice(None), slice(max(rows[0] - pad[0], 0), rows[-1] + pad[0] + 1),
            slice(max(cols[0] - pad[1], 0), cols[-1] + pad[1] + 1))


def _fill_holes_slices(mask: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.binary_fill_holes(s) for s in mask]) if mask.size else mask


def _open_largest(mask: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """Erode, keep the largest component, dilate back inside the original mask."""
    core = _largest_component(ndimage.binary_erosion(mask, disk))
    return ndimage.binary_dilation(core, disk) & mask


def head_mask(
    vol: Volume,
    *,
    threshold_hu: float = HEAD_THRESHOLD_HU,
    erode_radius_mm: float = ERODE_RADIUS_MM,
    edge_columns: int = EDGE_COLUMNS,
    remove_brace: bool = True,
) -> Volume:
    """uint8 mask of the head (scalp included, brace and table excluded) on `vol`'s grid."""
    binary = vol.array > threshold_hu
    if remove_brace:
        disk = _disk(erode_radius_mm, vol.spacing)
        core = ndimage.binary_erosion(binary, disk)
        if edge_columns > 0:
            core[:, :, :edge_columns] = False
            core[:, :, -edge_columns:] = False
        core = _largest_component(core)
        box = _bbox(core, (disk.shape[1] // 2, disk.shape[2] // 2))  # undo the erosion near the head only
        head = np.zeros_like(binary)
        head[box] = ndimage.binary_dilation(core[box], disk) & binary[box]
    else:
        head = _largest_component(binary)
        box = _bbox(head, (0, 0))
    out = np.zeros(binary.shape, np.uint8)
    out[box] = _fill_holes_slices(head[box])
    return vol.with_array(out, kind="head_mask")


def _hull_area(bone: np.ndarray) -> float:
    """Area in pixels of the convex hull of a slice's bone pixels (their corners, as
    `convex_hull_image` draws it), from the polygon: rasterising the hull of every slice took
    0.9 of the mask's 1.6 s, and only slices with an open ring need the drawing."""
    from scipy.spatial import ConvexHull, QhullError  # deferred: only the mask needs qhull

    corners = (np.argwhere(bone)[:, None, :] + np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])).reshape(-1, 2)
    try:
        return float(ConvexHull(corners).volume)  # in 2-D, qhull's volume is the area
    except QhullError:  # all bone pixels on one line: no area beyond the pixels'
        return float(bone.sum())


def _cavity_slice(bone: np.ndarray, head: np.ndarray, spacing) -> np.ndarray:
    """What one slice's skull encloses: the filled (closed) ring; where the ring is open
    (craniectomy, skull base, vertex) the bone's convex hull plus the head deeper than
    SCALP_MAX_MM below the skin, so brain bulging through a bone defect is kept."""
    from skimage.morphology import convex_hull_image  # deferred: scikit-image is slow to import

    ring = ndimage.binary_fill_holes(bone) & ~bone
    if bone.sum() < 3:
        return ring
    if ring.sum() >= RING_CLOSED_FRACTION * _hull_area(bone):
        return ring
    hull = convex_hull_image(bone) & head
    deep = ndimage.distance_transform_edt(head, sampling=(spacing[1], spacing[0])) > SCALP_MAX_MM
    return (hull | deep) & ~bone


def _cavity(vol: Volume, head: Volume, bone_hu: float = BONE_HU, bone_close_mm: float = BONE_CLOSE_MM):
    """(box, cavity, bone mL): the skull-enclosed voxels inside the head's bounding box."""
    close = _disk(bone_close_mm, vol.spacing)
    box = _bbox(head.array > 0, (close.shape[1], close.shape[2]))  # work on the head only
    inside = head.array[box] > 0
    bone = ndimage.binary_closing((vol.array[box] >= bone_hu) & inside, close)
    bone_ml = float(bone.sum()) * float(np.prod(vol.spacing)) / 1000.0
    cavity = np.stack([_cavity_slice(b, h, vol.spacing) for b, h in zip(bone, inside)]) if bone.size else bone
    return box, cavity, bone_ml


def intracranial_mask(ct: Volume) -> Volume:
    """uint8 mask of the intracranial space: everything inside the skull's inner table.

    Per axial slice, the (closed) skull ring is filled; where it is open (craniectomy, skull base)
    see `_cavity_slice`: there the mask is a superset (it may take in facial soft tissue), never
    losing brain under a bone defect. The largest 3D component is kept. When the head holds less
    than MIN_SKULL_ML of bone (skull-stripped input, a phantom without skull, another body part)
    the mask is the head itself and meta["skull_found"] is False, so callers can say so.
    """
    head = head_mask(ct)
    box, cavity, bone_ml = _cavity(ct, head)
    out = np.zeros(ct.shape, np.uint8)
    if bone_ml < MIN_SKULL_ML or not cavity.any():
        out[:] = head.array
        return ct.with_array(out, kind="intracranial_mask", skull_found=False)
    out[box] = _largest_component(cavity)
    return ct.with_array(out, kind="intracranial_mask", skull_found=True)


def brain_mask(
    vol: Volume,
    *,
    head: Volume | None = None,
    bone_hu: float = BONE_HU,
    brain_hu: tuple[float, float] = BRAIN_HU,
    bone_close_mm: float = BONE_CLOSE_MM,
    open_mm: float = BRAIN_OPEN_MM,
) -> Volume:
    """uint8 mask of the intracranial soft tissue (brain, CSF, blood): the optional skull strip.

    The cavity is `intracranial_mask`'s (what the skull encloses); inside it, voxels in the
    `brain_hu` range, opened to cut bridges, largest component, holes filled (calcifications).
    """
    head = head if head is not None else head_mask(vol)
    box, cavity, _ = _cavity(vol, head, bone_hu, bone_close_mm)
    a = vol.array[box]
    soft = cavity & (a >= brain_hu[0]) & (a <= brain_hu[1])
    brain = _open_largest(soft, _disk(open_mm, vol.spacing)) if soft.any() else soft
    out = np.zeros(vol.shape, np.uint8)
    out[box] = _fill_holes_slices(brain)
    return vol.with_array(out, kind="brain_mask")


def apply_mask(vol: Volume, mask: Volume, fill: float | None = None) -> Volume:
    """Set voxels outside `mask` to `fill` (default: the image minimum, i.e. air)."""
    if not vol.same_geometry(mask):
        raise GeometryMismatchError(mask.meta.get("source"), f"mask grid {mask.shape} does not match the image grid {vol.shape}")
    fill = float(vol.array.min()) if fill is None else fill
    return vol.with_array(np.where(mask.array > 0, vol.array, np.asarray(fill, dtype=vol.array.dtype)))
