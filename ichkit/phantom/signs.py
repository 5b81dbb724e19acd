"""Phantoms that carry the truth of the expansion signs and of the midline shift.

Built on `ichkit.phantom.make_phantom` (skull, scalp, optional head holder, 0.45-0.5 mm pixels,
5-6 mm slices): its clot is repainted at a drawn density with a faint texture, then one pattern is
planted (a hypodense focus, a blend half, separate small hematomas, attached bubbles) or none (a
homogeneous control). Before planting, the clot is cut to one piece per slice and shaved of bulges
narrower than the sprout rule (shape.SPROUT_OPEN_MM), so every separate piece and every bubble is a
planted one: the truth is unambiguous, and false sprouts on naturally bumpy clots are measured apart
(bench/bench_signs.py, unshaved make_phantom clots). The truth of every sign is the published rule (the operational thresholds
of signs.py) applied to the planted quantities, which are drawn at least MARGIN_HU away from each
threshold: a phantom never tests a coin toss at the threshold itself. Midline heads have their
lateral and third ventricles redrawn displaced by a known shift while the skull stays symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..image import Volume
from ..labels import IPH
from . import BRAIN, CSF, Anatomy, Grid, ellipsoid, make_phantom, rot_z
from ..anatomy.shape import SPROUT_OPEN_MM, disk, largest_component
from ..anatomy import signs as S

PATTERNS = ("control", "hypodensity", "black_hole", "swirl", "blend", "satellite", "island_separate", "island_bubbles")
SCORED_SIGNS = ("hypodensity", "blend", "black_hole", "swirl", "island", "satellite", "barras_density")
MARGIN_HU = 4.0
TEXTURE_HU = 2.0  # SD of the clot's smooth texture: a homogeneous clot is never perfectly flat
FOCUS_DEPTH_MM = 3.0  # a planted focus keeps this much clot around it (encapsulated)


@dataclass
class SignPhantom:
    ct: Volume
    labels: Volume
    truth: dict  # sign -> bool
    params: dict


def _geometry(rng, shape):
    pixel = float(rng.uniform(0.45, 0.5))
    return dict(shape=shape, spacing=(pixel, pixel, float(rng.choice([5.0, 6.0]))), brace=bool(rng.random() < 0.5))


def _tilted(rng, *vols: Volume) -> list[Volume]:
    """The same voxels under one gantry-tilted direction matrix (rotation about the L-R axis, up to 20 degrees)."""
    t = np.deg2rad(rng.uniform(-20.0, 20.0))
    rot = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])
    return [Volume(v.array, v.spacing, v.origin, rot @ v.direction, dict(v.meta)) for v in vols]


def _draw_contrast(rng, pattern, level) -> tuple[float, float]:
    """(clot level, focus level) for a focus pattern, kept MARGIN_HU from every density threshold."""
    thresholds = (S.HYPODENSITY_HU, S.BLACK_HOLE_HU)
    for _ in range(1000):
        if pattern == "hypodensity":
            level = rng.uniform(66.0, 80.0)
            focus = level - rng.uniform(S.HYPODENSITY_HU + MARGIN_HU, S.BLACK_HOLE_HU - MARGIN_HU)
        elif pattern == "black_hole":
            focus = level - rng.uniform(S.BLACK_HOLE_HU + MARGIN_HU, 45.0)
        else:  # swirl: hypo- or iso-attenuating to brain
            focus = rng.uniform(12.0, S.SWIRL_MAX_HU - MARGIN_HU)
        c = level - focus
        if all(abs(c - t) >= MARGIN_HU for t in thresholds) and abs(focus - S.SWIRL_MAX_HU) >= MARGIN_HU:
            return level, focus
    raise RuntimeError("no draw clear of the thresholds")  # unreachable with the ranges above


def _plant_focus(rng, clot, hu, spacing, level, focus_level, streaks: int) -> np.ndarray:
    """An encapsulated focus (1-2 slices): a union of `streaks` ellipses kept FOCUS_DEPTH_MM inside the clot."""
    sx, sy = spacing[0], spacing[1]
    depth = np.stack([ndimage.distance_transform_edt(s, sampling=(sy, sx)) for s in clot])
    k = int(np.argmax(depth.max(axis=(1, 2))))
    ks = [k] + ([k + 1] if k + 1 < clot.shape[0] and depth[k + 1].max() > FOCUS_DEPTH_MM + 3 and rng.random() < 0.5 else [])
    focus = np.zeros(clot.shape, bool)
    room = depth[k].max() - FOCUS_DEPTH_MM
    cy, cx = np.unravel_index(np.argmax(depth[k]), depth[k].shape)
    yy, xx = np.mgrid[: clot.shape[1], : clot.shape[2]]
    for _ in range(streaks):
        a = rng.uniform(2.5, max(2.6, min(6.0, room)))
        b = a * (rng.uniform(0.3, 0.6) if streaks > 1 else rng.uniform(0.6, 1.0))
        t = rng.uniform(0, np.pi)
        oy, ox = (rng.normal(0, 1.5, 2) / np.array([sy, sx])) if streaks > 1 else (0, 0)
        u = ((xx - cx - ox) * sx * np.cos(t) + (yy - cy - oy) * sy * np.sin(t)) / a
        v = (-(xx - cx - ox) * sx * np.sin(t) + (yy - cy - oy) * sy * np.cos(t)) / b
        for kk in ks:
            focus[kk] |= (u**2 + v**2 <= 1) & (depth[kk] >= FOCUS_DEPTH_MM)
    hu[focus] += focus_level - level
    return focus


def _plant_blend(rng, clot, hu, spacing, level, drop) -> None:
    """The part of the clot beyond a vertical plane (25-45 % of it) made hypodense: touches the margin."""
    z, y, x = np.nonzero(clot)
    t = rng.uniform(0, 2 * np.pi)
    proj = x * spacing[0] * np.cos(t) + y * spacing[1] * np.sin(t)
    part = proj >= np.quantile(proj, rng.uniform(0.55, 0.75))
    hu[z[part], y[part], x[part]] -= drop


def _plant_pieces(rng, clot, hu, labels, tissue, spacing, level, noise, n_separate, n_bubbles) -> tuple[int, int]:
    """Small hematomas on one body slice: separate (2.5-8 mm from the clot) or bubbles bulging from it."""
    sx, sy = spacing[0], spacing[1]
    areas = clot.sum(axis=(1, 2))
    body = np.nonzero(areas >= 0.6 * areas.max())[0]
    k = int(rng.choice(body))
    main = clot[k].copy()
    cy, cx = (float(c.mean()) for c in np.nonzero(main))
    yy, xx = np.mgrid[: clot.shape[1], : clot.shape[2]]
    placed = {"separate": 0, "bubble": 0}
    kinds = ["separate"] * n_separate + ["bubble"] * n_bubbles
    angles = rng.uniform(0, 2 * np.pi) + np.arange(len(kinds)) * 2 * np.pi / len(kinds)
    taken = main.copy()
    for kind, ang in zip(kinds, angles):
        for jitter in np.linspace(0, 0.5, 6):
            a = ang + jitter * rng.choice([-1, 1])
            d = np.array([np.cos(a), np.sin(a)])
            r_mm = 0.0
            while True:  # march out to the clot border along d
                py, px = cy + r_mm * d[1] / sy, cx + r_mm * d[0] / sx
                if not (0 <= int(py) < main.shape[0] and 0 <= int(px) < main.shape[1]) or not main[int(py), int(px)]:
                    break
                r_mm += 0.25
            rad = rng.uniform(1.8, 3.5) if kind == "separate" else rng.uniform(2.6, 3.8)
            out = rad + rng.uniform(2.5, 8.0) if kind == "separate" else 0.6 * rad
            py, px = cy + (r_mm + out) * d[1] / sy, cx + (r_mm + out) * d[0] / sx
            blob = ((xx - px) * sx) ** 2 + ((yy - py) * sy) ** 2 <= rad**2
            clearance = ndimage.binary_dilation(blob, disk(2.0, sx, sy))
            body_ok = bool(np.all(tissue[k][blob] == BRAIN))  # brain tissue only: not the rim, ventricles or skull
            if kind == "separate":
                ok = body_ok and not (clearance & taken).any()
            else:  # a bulge: attached, yet mostly outside the clot (not swallowed by a concavity)
                ok = (body_ok and not (clearance & (taken & ~main)).any() and (blob & main).any()
                      and (blob & ~main).sum() >= 0.55 * blob.sum())
            if ok:
                new = blob & ~main
                hu[k][new] = level + rng.normal(0, noise, int(new.sum()))
                labels[k][new] = IPH
                taken |= blob
                placed[kind] += 1
                break
    return placed["separate"], placed["bubble"]


def make_sign_phantom(seed: int, pattern: str, *, shape=(30, 512, 512), noise_hu: float = 5.0) -> SignPhantom:
    """One head with a planted sign pattern (PATTERNS) and the truth of every scored sign."""
    if pattern not in PATTERNS:
        raise ValueError(f"pattern {pattern!r} is not one of {PATTERNS}")
    rng = np.random.default_rng(seed)
    geom = _geometry(rng, shape)
    ph = make_phantom(int(rng.integers(2**31)), ivh=bool(rng.random() < 0.5), hematoma_ml=(15.0, 45.0),
                      noise_hu=noise_hu, **geom)
    ct = ph.ct.array.astype(np.float32)
    labels = ph.labels.array.copy()
    bulge = disk(SPROUT_OPEN_MM, *geom["spacing"][:2])
    for k in np.nonzero((labels == IPH).any(axis=(1, 2)))[0]:
        # one piece per slice and no bulge narrower than the sprout rule: separate pieces and bubbles are only those planted
        piece = labels[k] == IPH
        pad = bulge.shape[0]
        keep = largest_component(ndimage.binary_opening(np.pad(piece, pad), bulge)[pad:-pad, pad:-pad], np.ones((3, 3), bool))
        extra = piece & ~keep
        labels[k][extra] = 0
        ct[k][extra] = Anatomy().white_hu + rng.normal(0, noise_hu, int(extra.sum()))
    clot = labels == IPH
    zs, ys, xs = (np.nonzero(clot.any(axis=a))[0] for a in ((1, 2), (0, 2), (0, 1)))
    pad = 40
    box = (slice(zs[0], zs[-1] + 1), slice(max(ys[0] - pad, 0), ys[-1] + pad + 1), slice(max(xs[0] - pad, 0), xs[-1] + pad + 1))
    c, hu, lab, tis = clot[box], ct[box], labels[box], ph.tissue.array[box]
    level = float(rng.uniform(60.0, 78.0))
    texture = ndimage.gaussian_filter(rng.standard_normal(c.shape).astype(np.float32), (0, 6, 6))
    texture *= TEXTURE_HU / max(float(texture[c].std()), 1e-6)
    hu[c] = level + texture[c] + rng.normal(0, noise_hu, int(c.sum()))
    spacing = ph.ct.spacing
    params = {"seed": int(seed), "pattern": pattern, "clot_hu": round(level, 2), **{k: v for k, v in geom.items() if k != "shape"}}
    truth = {name: False for name in SCORED_SIGNS}
    if pattern in ("hypodensity", "black_hole", "swirl"):
        level, focus_level = _draw_contrast(rng, pattern, level)
        hu[c] += level - params["clot_hu"]
        _plant_focus(rng, c, hu, spacing, level, focus_level, streaks=3 if pattern == "swirl" else 1)
        contrast = level - focus_level
        truth.update(hypodensity=contrast >= S.HYPODENSITY_HU, black_hole=contrast >= S.BLACK_HOLE_HU,
                     swirl=focus_level <= S.SWIRL_MAX_HU, barras_density=True)
        params.update(clot_hu=round(level, 2), focus_hu=round(focus_level, 2), contrast_hu=round(contrast, 2))
    elif pattern == "blend":
        drop = float(rng.uniform(S.BLEND_HU + MARGIN_HU, 40.0))
        _plant_blend(rng, c, hu, spacing, level, drop)
        truth.update(blend=True, barras_density=True)
        params["contrast_hu"] = round(drop, 2)
    elif pattern != "control":
        n_sep, n_bub = {"satellite": (int(rng.integers(1, 3)), 0),
                        "island_separate": (int(rng.integers(3, 6)), 0),
                        "island_bubbles": [(0, int(rng.integers(4, 6))), (2, 2), (1, 3)][int(rng.integers(3))]}[pattern]
        n_sep, n_bub = _plant_pieces(rng, c, hu, lab, tis, spacing, level, noise_hu, n_sep, n_bub)
        truth.update(satellite=n_sep >= 1, island=n_sep >= 3 or n_sep + n_bub >= 4)
        params.update(separate=n_sep, bubbles=n_bub)
    ct[box], labels[box] = hu, lab
    arr = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)
    ct_vol, lab_vol = _tilted(rng, ph.ct.with_array(arr), ph.labels.with_array(labels))
    return SignPhantom(ct_vol, lab_vol, truth, params)


def make_midline_phantom(seed: int, shift_mm: float, *, shape=(30, 512, 512), noise_hu: float = 5.0,
                         lateral_ventricles: bool = True, anatomy: Anatomy = Anatomy()) -> tuple[Volume, Volume, dict]:
    """A head whose lateral and third ventricles sit `shift_mm` off the skull's symmetry plane.

    Positive shifts move them to the patient's left (+x, LPS). The original ventricles are
    painted over with white matter; the new ones are drawn where the clot is not (`lateral_ventricles=False`:
    the lateral ventricles stay effaced, only the third ventricle is drawn). Returns
    (ct, labels, truth) with truth {"shift_mm", "direction"}.
    """
    rng = np.random.default_rng(seed)
    geom = _geometry(rng, shape)
    ph = make_phantom(int(rng.integers(2**31)), ivh=False, noise_hu=noise_hu, hematoma_ml=(10.0, 40.0),
                      anatomy=anatomy, **geom)
    p = ph.params
    grid = Grid(tuple(ph.ct.shape), ph.ct.spacing)
    ct = ph.ct.array.astype(np.float32)
    tissue, clot = ph.tissue.array, ph.labels.array > 0
    s, yaw, centre = p["fov_scale"], p["yaw_deg"], np.array(p["head_centre_mm"])
    axes = np.array(p["ventricle_semi_axes_mm"])
    A = anatomy
    lateral = rot_z(yaw) @ np.array([1.0, 0.0, 0.0])
    paint = []
    for side in (-1, 1):
        off = np.array([side * A.ventricle_offset_mm[0], A.ventricle_offset_mm[1], A.ventricle_offset_mm[2]]) * s
        paint.append((centre + rot_z(yaw) @ off, axes, rot_z(yaw - side * A.ventricle_tilt_deg)))
    third = (centre + rot_z(yaw) @ (np.array([0.0, 6.0, -4.0]) * s), np.array([2.5, 10.0, 8.0]) * s, rot_z(yaw))
    for erase in (True, False):
        for c0, ax, rot in (paint if erase or lateral_ventricles else []) + ([] if erase else [third]):
            c = c0 if erase else c0 + shift_mm * lateral
            half = ax.max() + 2
            box = grid.box(c - half, c + half)
            q, _ = ellipsoid(grid, box, c, ax, rot)
            if erase:
                sel = (q <= 1.0) & (tissue[box] == CSF)
                ct[box][sel] = A.white_hu + rng.normal(0, noise_hu, int(sel.sum()))
            else:
                sel = (q <= 1.0) & ~clot[box]
                ct[box][sel] = A.csf_hu + rng.normal(0, noise_hu, int(sel.sum()))
    arr = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)
    truth = {"shift_mm": abs(float(shift_mm)), "direction": None if shift_mm == 0 else ("left" if shift_mm > 0 else "right")}
    ct_vol, lab_vol = _tilted(rng, ph.ct.with_array(arr), ph.labels)
    return ct_vol, lab_vol, truth


__all__ = ["PATTERNS", "SCORED_SIGNS", "SignPhantom", "make_sign_phantom", "make_midline_phantom"]
