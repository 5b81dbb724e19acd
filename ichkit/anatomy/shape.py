"""Shape of a hematoma: sphericity, lobulations, separate pieces and bubble-like sprouts.

Kept apart from the density signs (signs.py) because the island and satellite signs and the
Barras shape category all rest on the same in-plane shape analysis. Everything is measured on
the axial slices, as the published signs are read, with sizes in millimetres.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import marching_cubes, mesh_surface_area

PIECE_MAX_DIAMETER_MM = 10.0  # satellite: "no more than 10 mm in maximum diameter" (Shimoda 2017)
PIECE_MAX_GAP_MM = 20.0  # satellite: "separated from the main hematoma by no more than 20 mm"
PIECE_MIN_AREA_MM2 = 3.0  # smaller specks are noise or partial volume, not a hematoma
SLICE_MIN_FRACTION = 0.3  # slices where the main clot is under 30 % of its largest area are its caps
SPROUT_OPEN_MM = 5.0  # bulges narrower than 10 mm (a "small" hematoma, as for satellites) are sprout candidates
SPROUT_AREA_MM2 = (8.0, 60.0)  # a bubble's bulge on its slice: larger is a lobe, smaller a corner
SPROUT_MAX_ELONGATION = 2.5  # bubble-like: area <= this x the disk of its inscribed radius (a ridge is longer)
SPROUT_MAX_SLICES = 2  # a small hematoma spans one or two 5 mm slices; a ridge of the clot spans more
SPROUT_MIN_HALF_WIDTH_MM = 1.0  # survives a 1 mm erosion: a bulge, not a sliver left by the opening
LOBE_MIN_DEPTH_MM = 2.5  # a concavity of the outline at least this deep separates two lobulations


def disk(radius_mm: float, sx: float, sy: float) -> np.ndarray:
    ry, rx = max(int(radius_mm / sy), 0), max(int(radius_mm / sx), 0)
    y, x = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    return (y * sy) ** 2 + (x * sx) ** 2 <= radius_mm**2 + 1e-9


def largest_component(mask: np.ndarray, structure=None) -> np.ndarray:
    comp, n = ndimage.label(mask, structure)
    if n <= 1:
        return mask.astype(bool)
    return comp == 1 + int(np.argmax(np.bincount(comp.ravel())[1:]))


def max_diameter_mm(mask2d: np.ndarray, sx: float, sy: float) -> float:
    """Largest distance between two voxel centres of an in-plane region (plus one voxel)."""
    y, x = np.nonzero(mask2d)
    if y.size == 0:
        return 0.0
    pts = np.column_stack([x * sx, y * sy])
    if len(pts) > 400:  # the diameter is reached on the boundary
        edge = mask2d & ~ndimage.binary_erosion(mask2d)
        y, x = np.nonzero(edge)
        pts = np.column_stack([x * sx, y * sy])
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)).max()
    return float(d + max(sx, sy))


def sphericity(mask: np.ndarray, spacing) -> float:
    """pi^(1/3) (6V)^(2/3) / A on the marching-cubes surface: 1 for a ball, lower when irregular."""
    padded = np.pad(mask.astype(np.float32), 1)
    verts, faces, _, _ = marching_cubes(padded, 0.5, spacing=(spacing[2], spacing[1], spacing[0]))
    area = mesh_surface_area(verts, faces)
    volume = float(mask.sum()) * float(np.prod(spacing))
    return float(np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area) if area > 0 else 0.0


def lobulations(slice_mask: np.ndarray, sx: float, sy: float) -> int:
    """Lobes of an outline: the concavities (convex hull minus region) deeper than LOBE_MIN_DEPTH_MM.

    A round or oval outline has none; two lobes make two concavities, n lobes n. One concavity
    alone (a kidney shape) counts as one lobulation.
    """
    # deferred: scikit-image's morphology takes ~0.3 s to import and only the lobulation count needs it
    from skimage.morphology import convex_hull_image

    if slice_mask.sum() < 3:
        return 0
    hull = convex_hull_image(slice_mask)
    depth = ndimage.distance_transform_edt(hull, sampling=(sy, sx))
    gaps, n = ndimage.label(hull & ~slice_mask)
    if n == 0:
        return 0
    deepest = ndimage.maximum(depth, gaps, index=np.arange(1, n + 1))
    return int(np.count_nonzero(np.asarray(deepest) >= LOBE_MIN_DEPTH_MM))


def analyse_pieces(clot: np.ndarray, spacing) -> dict:
    """Separate small pieces and bubble/sprout-like bulges of a clot mask [z, y, x].

    On each axial slice through the body of the main clot (its largest 2D component at least
    SLICE_MIN_FRACTION of its largest area), every other 2D component within PIECE_MAX_GAP_MM of
    it and no wider than PIECE_MAX_DIAMETER_MM is a separate piece; bulges of the main component
    that an opening of SPROUT_OPEN_MM removes, at least SPROUT_MIN_HALF_WIDTH_MM thick, of
    SPROUT_AREA_MM2 on their slice, round (SPROUT_MAX_ELONGATION) and on at most SPROUT_MAX_SLICES
    slices, are connected sprouts. Pieces and sprouts are grouped across slices (one hematoma
    seen on two slices counts once). Returns masks, counts and the key slices.
    """
    sx, sy = spacing[0], spacing[1]
    nz = clot.shape[0]
    eight = np.ones((3, 3), bool)
    mains, areas = [], np.zeros(nz)
    for k in range(nz):
        main = largest_component(clot[k], eight) if clot[k].any() else np.zeros_like(clot[k], bool)
        mains.append(main)
        areas[k] = main.sum()
    body = areas >= SLICE_MIN_FRACTION * areas.max() if areas.max() > 0 else areas > 0
    pieces = np.zeros(clot.shape, bool)
    sprouts = np.zeros(clot.shape, bool)
    open_disk, thin_disk = disk(SPROUT_OPEN_MM, sx, sy), disk(SPROUT_MIN_HALF_WIDTH_MM, sx, sy)
    px_area = sx * sy
    for k in np.nonzero(body)[0]:
        main = mains[k]
        others, n = ndimage.label(clot[k] & ~main, eight)
        if n:
            gap = ndimage.distance_transform_edt(~main, sampling=(sy, sx))
            for i in range(1, n + 1):
                piece = others == i
                if (piece.sum() * px_area >= PIECE_MIN_AREA_MM2 and gap[piece].min() <= PIECE_MAX_GAP_MM
                        and max_diameter_mm(piece, sx, sy) <= PIECE_MAX_DIAMETER_MM):
                    pieces[k] |= piece
        pad = open_disk.shape[0]
        opened = ndimage.binary_opening(np.pad(main, pad), open_disk)[pad:-pad, pad:-pad]
        residue, n = ndimage.label(main & ~opened, eight)
        for i in range(1, n + 1):
            bulge = residue == i
            area = bulge.sum() * px_area
            if area < SPROUT_AREA_MM2[0] or not ndimage.binary_erosion(bulge, thin_disk).any():
                continue
            inscribed = ndimage.distance_transform_edt(bulge, sampling=(sy, sx)).max()
            if area <= SPROUT_MAX_ELONGATION * np.pi * inscribed**2:
                sprouts[k] |= bulge
    n_pieces = ndimage.label(pieces, np.ones((3, 3, 3), bool))[1]
    groups, n = ndimage.label(sprouts, np.ones((3, 3, 3), bool))
    for i in range(1, n + 1):
        g = groups == i
        per_slice = g.sum(axis=(1, 2))
        if np.count_nonzero(per_slice) > SPROUT_MAX_SLICES or per_slice.max() * px_area > SPROUT_AREA_MM2[1]:
            sprouts &= ~g
    n_sprouts = ndimage.label(sprouts, np.ones((3, 3, 3), bool))[1]
    key = int(np.argmax(areas))
    return {"pieces": pieces, "sprouts": sprouts, "n_pieces": int(n_pieces), "n_sprouts": int(n_sprouts),
            "max_area_slice": key, "lobulations": lobulations(mains[key], sx, sy)}
