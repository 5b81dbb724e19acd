"""Heads drawn from the atlas itself: CT phantoms whose hemorrhage location is known by construction.

Every voxel of the phantom is mapped into the template by a known transform (a random affine,
i.e. head size, nod, roll and turn, plus a smooth sinusoidal warp of a few mm) and painted by
what it lands on: brain tissue by atlas region (cortical grey, white matter, deep grey nuclei,
CSF in the ventricle region and at the surface), then skull and scalp by the distance outside
the template mask. A hematoma is a lumpy blob planted in template space wholly inside the
regions of one location class and side, so the class, the side and the volume per region are
exact. The grid is a real scan's: 0.45-0.5 mm pixels on 512 x 512, 5-6 mm slices, a gantry tilt
in the direction matrix and a head holder. The registration has to recover the transform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage

from ..image import Volume
from ..labels import IPH, IVH, LABELS
from . import Anatomy, Grid, draw_brace
from ..anatomy.atlas import CLASSES, DEEP, INFRATENTORIAL, LOBAR, Atlas
from ..anatomy.location import side_of

TARGETS = tuple((c, s) for c in (DEEP, LOBAR, INFRATENTORIAL) for s in ("left", "right"))
DEEP_GREY = {"basalforebrain", "basalganglia", "basalganglia-lentiform-nucleus", "caudate", "thalamusproper"}


@dataclass(frozen=True)
class HeadDraw:
    """Ranges of the random draws (uniform) of one atlas phantom."""

    rotation_deg: tuple[float, float, float] = (12.0, 6.0, 10.0)  # max |angle| about x (nod), y (roll), z (turn)
    scale: tuple[float, float] = (0.9, 1.12)  # head size against the template, per axis
    shear: float = 0.04
    warp_mm: float = 2.5  # amplitude of each of the 3 sinusoidal warp components
    warp_wavelength_mm: tuple[float, float] = (80.0, 160.0)
    tilt_deg: float = 20.0  # max gantry tilt (direction matrix about x)
    pixel_mm: tuple[float, float] = (0.45, 0.5)
    slice_mm: tuple[float, float] = (5.0, 6.0)
    matrix: int = 512
    skull_mm: tuple[float, float] = (5.0, 7.5)
    scalp_mm: float = 4.0
    hematoma_radius_mm: tuple[float, float] = (7.0, 18.0)
    hematoma_hu: tuple[float, float] = (58.0, 78.0)
    noise_hu: float = 4.0


@dataclass
class AtlasPhantom:
    ct: Volume  # HU, int16
    labels: Volume  # uint8: IPH (and IVH when drawn)
    truth: dict  # class, side, regions_ml, ... (JSON-able)
    params: dict = field(repr=False, default_factory=dict)

    def to_template(self, points: np.ndarray) -> np.ndarray:
        """The true map of (N, 3) patient LPS mm into template LPS mm."""
        p = self.params
        d = points - p["head_centre"]
        return d @ p["matrix"].T + p["template_centre"] + _warp(d, p["warp"])


def _warp(d: np.ndarray, comps: list) -> np.ndarray:
    return sum(np.sin(d @ k + phase)[:, None] * amp for k, phase, amp in comps)


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@lru_cache(maxsize=2)
def _template_fields(atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance (mm, negative inside) to the template mask's surface on a 2 mm grid, and its world->index map."""
    m = atlas.mask.array > 0
    m = m[: m.shape[0] // 2 * 2, : m.shape[1] // 2 * 2, : m.shape[2] // 2 * 2]
    inside = m.reshape(m.shape[0] // 2, 2, m.shape[1] // 2, 2, m.shape[2] // 2, 2).mean(axis=(1, 3, 5)) >= 0.5
    sd = ndimage.distance_transform_edt(~inside, sampling=2.0) - ndimage.distance_transform_edt(inside, sampling=2.0)
    to_world = atlas.regions.index_to_physical() @ np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 2, 0.5], [0, 0, 0, 1.0]])
    return sd.astype(np.float32), np.linalg.inv(to_world)


@lru_cache(maxsize=8)
def _target_depth(atlas: Atlas, klass: str, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Depth (mm) inside the union of the target's regions within the template mask (cropped), and the crop's corner."""
    ids = [r.index for r in atlas.table.values() if r.klass == klass and r.side == side]
    target = np.isin(atlas.regions.array, ids) & (atlas.mask.array > 0)
    zyx = np.argwhere(target)
    lo, hi = np.maximum(zyx.min(axis=0) - 2, 0), zyx.max(axis=0) + 3
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    return ndimage.distance_transform_edt(target[box]).astype(np.float32), lo


def _pick_hematoma(rng, atlas: Atlas, klass: str, side: str, draw: HeadDraw) -> tuple[np.ndarray, float, list]:
    """Centre (template mm), radius and lobes (centre, rotation, semi-axes) of a blob centred deep in the target.

    The blob may reach past the target's regions (real hematomas do): the truth is counted, not assumed.
    """
    depth, corner = _target_depth(atlas, klass, side)
    r = rng.uniform(*draw.hematoma_radius_mm)
    need = min(0.6 * r + 1.0, float(depth.max()) - 0.5)
    zyx = np.argwhere(depth >= need)
    z, y, x = zyx[rng.integers(len(zyx))] + corner
    centre = (atlas.regions.index_to_physical() @ np.array([x, y, z, 1.0]))[:3]
    lobes = []
    for _ in range(int(rng.integers(1, 4))):
        off = rng.normal(size=3)
        off *= rng.uniform(0, 0.3 * r) / np.linalg.norm(off)
        axes = (r - np.linalg.norm(off)) * rng.uniform(0.7, 1.0, 3)
        lobes.append((centre + off, _rotation(*rng.uniform(-np.pi, np.pi, 3)), axes))
    return centre, r, lobes


def _in_blob(q: np.ndarray, lobes: list) -> np.ndarray:
    out = np.zeros(len(q), bool)
    for c, rot, axes in lobes:
        out |= (((q - c) @ rot / axes) ** 2).sum(axis=1) <= 1
    return out


def make_atlas_phantom(seed: int, atlas: Atlas, *, target: tuple[str, str] | None = None, holder: bool = True,
                       ivh: bool = False, draw: HeadDraw = HeadDraw()) -> AtlasPhantom:
    """One head drawn from the atlas; `target` (class, side) defaults to TARGETS[seed % 6]."""
    rng = np.random.default_rng(seed)
    klass, side = target or TARGETS[seed % len(TARGETS)]
    rot = _rotation(*np.deg2rad(rng.uniform(-1, 1, 3) * np.array(draw.rotation_deg)))
    shear = np.eye(3) + np.triu(rng.uniform(-draw.shear, draw.shear, (3, 3)), 1)
    matrix = rot @ shear @ np.diag(1 / rng.uniform(*draw.scale, 3))  # patient -> template
    warp = []
    for _ in range(3):
        k = rng.normal(size=3)
        k *= 2 * np.pi / rng.uniform(*draw.warp_wavelength_mm) / np.linalg.norm(k)
        amp = rng.normal(size=3)
        warp.append((k, rng.uniform(0, 2 * np.pi), amp * draw.warp_mm / np.linalg.norm(amp)))
    sd, sd_index = _template_fields(atlas)
    rg_index = np.linalg.inv(atlas.regions.index_to_physical())
    mask_zyx = np.argwhere(atlas.mask.array > 0)

    # grid: n x n pixels, slices tilted about x, covering the head (the brain's extent plus the skull)
    tilt = np.deg2rad(rng.uniform(-draw.tilt_deg, draw.tilt_deg))
    direction = _rotation(tilt, 0.0, 0.0)
    px, dz = rng.uniform(*draw.pixel_mm), rng.uniform(*draw.slice_mm)
    to_world = atlas.regions.index_to_physical()
    template_centre = (to_world @ np.r_[mask_zyx.mean(axis=0)[::-1], 1.0])[:3]
    brain_pts = mask_zyx[::97, ::-1] @ to_world[:3, :3].T + to_world[:3, 3]
    grid_z = (brain_pts - template_centre) @ np.linalg.inv(matrix).T @ direction[:, 2]  # heights in the grid frame
    margin = max(draw.skull_mm) + draw.scalp_mm
    nz = int(np.ceil((grid_z.max() - grid_z.min() + margin + 4.0) / dz))
    head_centre = np.array([rng.uniform(-4, 4), rng.uniform(-14, -6), 0.0])
    z_mid = (grid_z.max() + margin + grid_z.min() - 4.0) / 2  # the grid's centre, grid frame, about the head centre
    spacing = np.array([px, px, dz])
    n = draw.matrix
    origin = head_centre + direction @ (np.array([0, 0, z_mid]) - spacing * (np.array([n, n, nz]) - 1) / 2)

    # paint on a half-resolution grid (voxel pairs in-plane), slice by slice
    half = n // 2
    ij = np.stack(np.meshgrid(np.arange(half) * 2 + 0.5, np.arange(half) * 2 + 0.5, indexing="xy"), -1).reshape(-1, 2)
    step = direction @ np.diag(spacing)
    skull_mm = rng.uniform(*draw.skull_mm)
    hem_centre, hem_r, lobes = _pick_hematoma(rng, atlas, klass, side, draw)
    hem_hu = rng.uniform(*draw.hematoma_hu)
    hu = np.empty((nz, half, half), np.float32)
    lab = np.zeros((nz, half, half), np.uint8)
    reg = np.zeros((nz, half, half), np.uint8)
    base = {r.index: r.name.lower().removeprefix("left").removeprefix("right") for r in atlas.table.values()}
    deep_ids = np.array([i for i, b in base.items() if b in DEEP_GREY])
    ventricle = _index(atlas, "ventricle")
    left = np.zeros((nz, half, half), bool)  # blood voxels on the template's left (x > 0): the true side
    reach = skull_mm + draw.scalp_mm
    for k in range(nz):
        p = (origin + np.c_[ij, np.full(len(ij), k)] @ step.T).astype(np.float32)
        d = p - head_centre.astype(np.float32)
        q = d @ matrix.T.astype(np.float32) + template_centre.astype(np.float32) + _warp(d, warp).astype(np.float32)
        s = ndimage.map_coordinates(sd, (q @ sd_index[:3, :3].T + sd_index[:3, 3])[:, ::-1].T, order=1, mode="nearest")
        h = np.full(len(q), -1000.0, np.float32)
        skull = (s > 0) & (s <= skull_mm)
        h[skull] = 750.0 + 700.0 * (0.5 + 0.5 * np.cos(2 * np.pi * s[skull] / skull_mm))
        h[(s > skull_mm) & (s <= reach)] = 20.0
        lb = np.zeros(len(q), np.uint8)
        rg = np.zeros(len(q), np.uint8)
        b = np.nonzero(s <= 0)[0]
        if b.size:
            qb, sb = q[b], s[b]
            r = ndimage.map_coordinates(atlas.regions.array, (qb @ rg_index[:3, :3].T + rg_index[:3, 3])[:, ::-1].T, order=0, mode="constant", cval=0)
            hb = np.where(sb > -3.0, 38.0, 29.0).astype(np.float32)
            hb[np.isin(r, deep_ids)] = 36.0
            hb[(r == ventricle) | (sb > -1.0)] = 6.0
            near = np.nonzero(((qb - hem_centre) ** 2).sum(axis=1) <= (hem_r + 1.0) ** 2)[0]
            blood = np.zeros(len(b), bool)
            blood[near] = _in_blob(qb[near], lobes)
            hb[blood] = hem_hu
            lbb = np.where(blood, IPH, 0).astype(np.uint8)
            if ivh:
                dependent = (r == ventricle) & (qb[:, 1] > 30.0) & ~blood  # the posterior horns, where blood layers supine
                hb[dependent], lbb[dependent] = hem_hu, IVH
            h[b], lb[b], rg[b] = hb, lbb, r
            left[k].ravel()[b[blood]] = qb[blood, 0] > 0
        hu[k], lab[k], reg[k] = h.reshape(half, half), lb.reshape(half, half), rg.reshape(half, half)

    truth = _truth(atlas, lab == IPH, reg, left, 4 * px * px * dz / 1000.0, (klass, side), hem_centre)
    hu, lab = (np.repeat(np.repeat(a, 2, axis=1), 2, axis=2) for a in (hu, lab))
    params = {"seed": int(seed), "matrix": matrix, "head_centre": head_centre, "template_centre": template_centre, "warp": warp,
              "tilt_deg": float(np.rad2deg(tilt)), "pixel_mm": float(px), "slice_mm": float(dz), "slices": nz}
    if holder:
        tissue = (hu > -300).astype(np.uint8)
        rows, cols = np.nonzero(tissue.any(axis=0).any(axis=1))[0], np.nonzero(tissue.any(axis=0).any(axis=0))[0]
        g = Grid(hu.shape, tuple(spacing))
        centre = np.array([(g.x[cols[0]] + g.x[cols[-1]]) / 2, (g.y[rows[0]] + g.y[rows[-1]]) / 2, 0.0])
        outer = np.array([(g.x[cols[-1]] - g.x[cols[0]]) / 2, (g.y[rows[-1]] - g.y[rows[0]]) / 2, 0.0])
        draw_brace(rng, g, Anatomy(), 1.0, centre, outer, 0.0, tissue, hu, params)
    hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(draw.noise_hu)
    geom = dict(spacing=tuple(spacing), origin=tuple(origin), direction=direction)
    ct = Volume(np.clip(np.rint(hu), -1024, 3071).astype(np.int16), **geom, meta={"source": f"atlas phantom seed {seed}"})
    labels = Volume(lab, **geom, meta={"segments": {v: LABELS[v].key for v in (IPH, IVH) if (lab == v).any()}})
    return AtlasPhantom(ct, labels, truth, params)


def _truth(atlas: Atlas, hem: np.ndarray, reg: np.ndarray, left: np.ndarray, vox_ml: float, target, centre) -> dict:
    """Class, side and volume per region of the planted IPH, counted through the true map."""
    counts = np.bincount(reg[hem], minlength=max(atlas.table) + 1)
    class_ml = {c: 0.0 for c in CLASSES}
    for i, c in enumerate(counts):
        if i and c:
            class_ml[atlas.table[i].klass] += float(c) * vox_ml
    largest = atlas.table[int(np.argmax(counts[1:])) + 1]
    return {
        "target": list(target),
        "class": max(class_ml, key=class_ml.get),
        "side": side_of(float(left[hem].mean()), largest.side),
        "largest_region": largest.name,
        "volume_ml": round(float(hem.sum()) * vox_ml, 3),
        "regions_ml": {atlas.table[i].name: round(float(c) * vox_ml, 3) for i, c in enumerate(counts) if i and c},
        "centre_template_mm": [round(float(v), 2) for v in centre],
    }


def _index(atlas: Atlas, base_name: str) -> int:
    return next(r.index for r in atlas.table.values() if r.name.lower() == base_name)
