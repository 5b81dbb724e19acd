"""Synthetic head NCCT phantoms with exact ground truth: the toolkit's test and demo data.
This module draws the head phantom; its siblings plant classifier labels (classify.py), draw
heads from the atlas (atlas.py) and plant expansion signs and midline shifts (signs.py).

Why a phantom: the product must be testable and demonstrable without patient data. A phantom
is an axial head CT in HU (air, scalp, skull, brain with grey/white contrast, CSF rim, two lateral
ventricles, an irregular intraparenchymal hematoma, optional intraventricular blood and an
optional fixation-brace arc) whose label volumes are known exactly (voxel count x voxel volume).

Anatomy is built in physical millimetres about the in-plane field-of-view centre, at adult size
for a 256 mm field of view; smaller fields of view shrink the whole head (hematoma volumes by
the cube of that factor) so that small test phantoms keep the same look. Everything is computed
on the bounding box of the structure being drawn, so one 512x512x32 phantom takes well under 2 s.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..atomic import atomic_path, check_writable, write_json
from ..image import Volume
from ..io import save_labelmap, save_volume
from ..labels import IPH, IVH, LABELS
from ..parallel import map_cases
from ..progress import Progress, silent

# tissue codes of `Phantom.tissue` (ground truth for the head and brain masks)
AIR, SCALP, SKULL, BRAIN, CSF, BRACE = 0, 1, 2, 3, 4, 5
TISSUES = {AIR: "air", SCALP: "scalp", SKULL: "skull", BRAIN: "brain", CSF: "csf", BRACE: "brace"}

STANDARD_FOV_MM = 256.0  # in-plane field of view at which the head has adult size
HU_RANGE = (-1024, 3071)  # the 12-bit CT range the phantom is stored in


@dataclass(frozen=True)
class Anatomy:
    """Sizes (mm, at adult size) and intensities (HU) of a phantom; the random draws jitter them."""

    brain_semi_axes_mm: tuple[float, float, float] = (66.0, 84.0, 90.0)  # x (L-R), y (A-P), z
    head_jitter: float = 0.06  # relative jitter of the brain semi-axes
    max_yaw_deg: float = 5.0
    head_centre_y_mm: float = -8.0  # the head sits anterior of the FOV centre, leaving room behind
    head_centre_z_frac: float = 0.38  # head centre height as a fraction of the z field of view
    csf_rim_mm: float = 1.0
    grey_mm: float = 4.0
    skull_mm: float = 6.0
    scalp_mm: float = 4.0
    air_hu: float = -1000.0
    scalp_hu: float = 20.0
    skull_table_hu: float = 1450.0  # inner and outer tables
    skull_diploe_hu: float = 750.0
    grey_hu: float = 38.0
    white_hu: float = 29.0
    csf_hu: float = 6.0
    ventricle_semi_axes_mm: tuple[float, float, float] = (7.0, 28.0, 16.0)
    ventricle_offset_mm: tuple[float, float, float] = (10.0, -2.0, 14.0)  # |x| from midline, y, z above centre
    ventricle_tilt_deg: float = 12.0  # anterior horns converge: the butterfly
    ventricle_scale: tuple[float, float] = (0.8, 1.25)
    hematoma_hu: tuple[float, float] = (58.0, 76.0)  # range of the mean; voxels are kept in 50-90
    hematoma_hu_clip: tuple[float, float] = (50.0, 90.0)
    hematoma_lobes: tuple[int, int] = (2, 4)  # number of random ellipsoids in the union
    hematoma_margin_mm: float = 4.0  # minimum distance to the inner skull surface and the ventricles
    ivh_hu: tuple[float, float] = (55.0, 75.0)
    ivh_fill: tuple[float, float] = (0.3, 0.7)  # posterior (dependent) fraction of a ventricle's length
    brace_hu: tuple[float, float] = (350.0, 700.0)
    brace_gap_mm: float = 6.0  # air between the scalp and the brace
    brace_thickness_mm: float = 4.0
    brace_top_frac: float = 0.75  # the brace spans the lower slices up to this fraction


@dataclass
class Phantom:
    ct: Volume  # HU, int16
    labels: Volume  # uint8: 0 background, 1 IPH, 2 IVH
    volumes_ml: dict[str, float]  # exact: voxel count x voxel volume, per label key
    params: dict  # the seed and every random draw (JSON-serialisable)
    tissue: Volume = field(repr=False, default=None)  # uint8 tissue codes (TISSUES), for mask tests


class Grid:
    """Physical coordinates (mm, about the FOV centre) of the voxel centres, per axis."""

    def __init__(self, shape, spacing):
        nz, ny, nx = shape
        self.shape, self.spacing = shape, spacing
        self.x = (np.arange(nx) - (nx - 1) / 2) * spacing[0]
        self.y = (np.arange(ny) - (ny - 1) / 2) * spacing[1]
        self.z = (np.arange(nz) - (nz - 1) / 2) * spacing[2]
        self.origin = (self.x[0], self.y[0], self.z[0])

    def box(self, lo, hi) -> tuple[slice, slice, slice]:
        """Index slices [z, y, x] of the voxels whose centres lie in the (x, y, z) box [lo, hi]."""
        return tuple(
            slice(int(np.searchsorted(c, lo[a], "left")), int(np.searchsorted(c, hi[a], "right")))
            for a, c in ((2, self.z), (1, self.y), (0, self.x))
        )

    def coords(self, box, centre=(0.0, 0.0, 0.0)):
        """Broadcastable (Z, Y, X) coordinates relative to `centre` inside `box`."""
        return (
            (self.z[box[0]] - centre[2])[:, None, None].astype(np.float32),
            (self.y[box[1]] - centre[1])[None, :, None].astype(np.float32),
            (self.x[box[2]] - centre[0])[None, None, :].astype(np.float32),
        )


def ellipsoid(grid: Grid, box, centre, semi_axes, rotation):
    """Normalised squared radius q (q <= 1 inside) and |grad q| of a rotated ellipsoid on `box`.

    `rotation` columns are the ellipsoid's axes in (x, y, z); q - 1 over |grad q| approximates
    the signed distance to the surface in mm, which is what the shells are thresholded on.
    """
    z, y, x = grid.coords(box, centre)
    q = np.zeros(np.broadcast_shapes(z.shape, y.shape, x.shape), np.float32)
    g = np.zeros_like(q)
    for axis in range(3):
        r = rotation[:, axis].astype(np.float32)
        u = x * r[0] + y * r[1] + z * r[2]
        a = np.float32(semi_axes[axis])
        q += (u / a) ** 2
        g += (u / a**2) ** 2
    return q, 2.0 * np.sqrt(g)


def rot_z(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _round(v):
    return [round(float(x), 3) for x in v] if np.ndim(v) else round(float(v), 3)


def _fov_scale(shape, spacing) -> float:
    return min(1.0, shape[2] * spacing[0] / STANDARD_FOV_MM, shape[1] * spacing[1] / STANDARD_FOV_MM)


def make_phantom(
    seed: int = 0,
    *,
    shape: tuple[int, int, int] = (32, 512, 512),
    spacing: tuple[float, float, float] = (0.5, 0.5, 5.0),
    brace: bool = False,
    ivh: bool = True,
    hematoma_ml: tuple[float, float] = (5.0, 60.0),
    noise_hu: float = 5.0,
    anatomy: Anatomy = Anatomy(),
) -> Phantom:
    """Draw one phantom; the same seed and arguments always give the same voxels.

    `shape` is [z, y, x]; `spacing` is (x, y, z) mm. The hematoma volume is drawn uniformly from
    `hematoma_ml` (scaled by the cube of the FOV factor for fields of view under 256 mm); the
    ground-truth volume reported is the voxel count actually labelled.
    """
    rng = np.random.default_rng(seed)
    A = anatomy
    grid = Grid(tuple(int(s) for s in shape), tuple(float(s) for s in spacing))
    s = _fov_scale(grid.shape, grid.spacing)
    params: dict = {"seed": int(seed), "shape": list(grid.shape), "spacing": list(grid.spacing), "fov_scale": _round(s),
                    "ivh": bool(ivh), "brace": bool(brace)}

    # head: brain ellipsoid plus shells at approximate distances (csf rim, skull, scalp)
    brain_axes = np.array(A.brain_semi_axes_mm) * s * (1 + rng.uniform(-A.head_jitter, A.head_jitter, 3))
    yaw = rng.uniform(-A.max_yaw_deg, A.max_yaw_deg)
    rot = rot_z(yaw)
    z_lo = grid.z[0] - grid.spacing[2] / 2
    centre = np.array([0.0, A.head_centre_y_mm * s, z_lo + A.head_centre_z_frac * grid.shape[0] * grid.spacing[2]])
    outer = (A.skull_mm + A.scalp_mm) * s
    half = _rotated_half_extent(brain_axes + outer, yaw)
    hbox = grid.box(centre - half, centre + half)
    q, g = ellipsoid(grid, hbox, centre, brain_axes, rot)
    d = (q - 1.0) / np.maximum(g, 1e-6)  # mm from the inner skull surface, negative inside
    del q, g
    params.update(brain_semi_axes_mm=_round(brain_axes), yaw_deg=_round(yaw), head_centre_mm=_round(centre))

    tissue = np.full(grid.shape, AIR, np.uint8)
    hu = np.full(grid.shape, A.air_hu, np.float32)
    t_h, hu_h = tissue[hbox], hu[hbox]  # views: writing them writes the full arrays
    skull_in, skull_out = 0.0, A.skull_mm * s
    in_brain = d <= 0
    t_h[in_brain] = BRAIN
    hu_h[in_brain] = np.where(d[in_brain] > -A.grey_mm * s, A.grey_hu, A.white_hu)
    rim = in_brain & (d > -A.csf_rim_mm * s)
    t_h[rim], hu_h[rim] = CSF, A.csf_hu
    skull = (d > skull_in) & (d <= skull_out)
    t_h[skull] = SKULL
    phase = 2 * np.pi * (d[skull] - skull_in) / (skull_out - skull_in)  # dense tables, spongy diploe
    hu_h[skull] = A.skull_diploe_hu + (A.skull_table_hu - A.skull_diploe_hu) * (0.5 + 0.5 * np.cos(phase))
    scalp = (d > skull_out) & (d <= outer)
    t_h[scalp], hu_h[scalp] = SCALP, A.scalp_hu

    labels = np.zeros(grid.shape, np.uint8)
    ventricles = _draw_ventricles(rng, grid, A, s, centre, yaw, tissue, hu, params)
    if ivh:
        _draw_ivh(rng, A, ventricles, hu, labels, params)
    _draw_hematoma(rng, grid, A, s, hbox, d, ventricles, hematoma_ml, hu, labels, params)
    if brace:
        draw_brace(rng, grid, A, s, centre, brain_axes + outer, yaw, tissue, hu, params)

    params["noise_hu"] = float(noise_hu)
    hu += rng.standard_normal(grid.shape, dtype=np.float32) * np.float32(noise_hu)
    ct_array = np.clip(np.rint(hu), *HU_RANGE).astype(np.int16)

    geom = dict(spacing=grid.spacing, origin=grid.origin, direction=np.eye(3))
    ct = Volume(ct_array, **geom, meta={"source": f"phantom seed {seed}"})
    lab = Volume(labels, **geom, meta={"segments": {IPH: LABELS[IPH].key, IVH: LABELS[IVH].key}})
    vox_ml = ct.voxel_volume_ml
    volumes = {LABELS[v].key: round(float(np.count_nonzero(labels == v)) * vox_ml, 6) for v in (IPH, IVH)}
    return Phantom(ct, lab, volumes, params, Volume(tissue, **geom, meta={"tissues": TISSUES}))


def _rotated_half_extent(axes, yaw_deg) -> np.ndarray:
    """Half extent (x, y, z) of an ellipsoid rotated about z: its bounding box."""
    t = np.deg2rad(yaw_deg)
    a, b, c = axes
    return np.array([np.hypot(a * np.cos(t), b * np.sin(t)), np.hypot(a * np.sin(t), b * np.cos(t)), c])


def _draw_ventricles(rng, grid, A, s, centre, yaw, tissue, hu, params) -> list[dict]:
    """Two lateral ventricles as tilted ellipsoids (anterior horns converging), filled with CSF."""
    scale = rng.uniform(*A.ventricle_scale)
    axes = np.array(A.ventricle_semi_axes_mm) * s * scale
    out = []
    for side in (-1, 1):
        off = np.array([side * A.ventricle_offset_mm[0], A.ventricle_offset_mm[1], A.ventricle_offset_mm[2]]) * s
        c = centre + rot_z(yaw) @ off
        rot = rot_z(yaw - side * A.ventricle_tilt_deg)  # columns: x (lateral), y (A->P), z axes
        half = _rotated_half_extent(axes, yaw - side * A.ventricle_tilt_deg)
        box = grid.box(c - half, c + half)
        q, _ = ellipsoid(grid, box, c, axes, rot)
        inside = q <= 1
        tissue[box][inside], hu[box][inside] = CSF, A.csf_hu
        z, y, x = grid.coords(box, c)
        v = (x * rot[0, 1] + y * rot[1, 1] + z * rot[2, 1]) / axes[1]  # -1 anterior .. 1 posterior
        out.append({"box": box, "inside": inside, "v": v, "centre": c, "axes": axes, "rot": rot})
    params.update(ventricle_scale=_round(scale), ventricle_semi_axes_mm=_round(axes))
    return out


def _draw_ivh(rng, A, ventricles, hu, labels, params) -> None:
    """Blood layering in the posterior (dependent, supine) part of one or both ventricles."""
    sides = [[0], [1], [0, 1]][int(rng.integers(3))]
    fill = rng.uniform(*A.ivh_fill)
    level = rng.uniform(*A.ivh_hu)
    for i in sides:
        vent = ventricles[i]
        blood = vent["inside"] & (vent["v"] >= 1 - 2 * fill)
        labels[vent["box"]][blood] = IVH
        hu[vent["box"]][blood] = level
    params.update(ivh_sides=["right", "left"] if sides == [0, 1] else [["right", "left"][sides[0]]],
                  ivh_fill=_round(fill), ivh_hu=_round(level))


def _draw_hematoma(rng, grid, A, s, hbox, d, ventricles, hematoma_ml, hu, labels, params) -> None:
    """An irregular blob: a union of random ellipsoids, rippled, thresholded to the drawn volume.

    The threshold is the quantile of the shape field that gives the drawn voxel count, inside the
    brain kept `hematoma_margin_mm` away from the skull and the ventricles; the largest connected
    piece is kept, so the label is one clot.
    """
    target_ml = rng.uniform(*hematoma_ml) * s**3
    r_eq = (3 * target_ml * 1000 / (4 * np.pi)) ** (1 / 3)
    margin = A.hematoma_margin_mm * s
    reach = 1.6 * r_eq  # how far the blob extends from its centre
    head_centre = np.array(params["head_centre_mm"])
    room = np.maximum(np.array(params["brain_semi_axes_mm"]) - reach - margin, 0.0)
    z_room = (grid.z[0] + reach, grid.z[-1] - reach)
    for _ in range(200):  # rejection sampling of a centre away from skull, ventricles and the FOV ends
        u = rng.normal(size=3)
        p = head_centre + rot_z(params["yaw_deg"]) @ (room * u / np.linalg.norm(u) * rng.uniform() ** (1 / 3))
        near_vent = any(np.sum((v["rot"].T @ (p - v["centre"]) / (v["axes"] + reach + margin)) ** 2) <= 1 for v in ventricles)
        if not near_vent and z_room[0] <= p[2] <= z_room[1]:
            break

    lobes = int(rng.integers(A.hematoma_lobes[0], A.hematoma_lobes[1] + 1))
    half = np.full(3, 2.2 * r_eq)
    box = grid.box(p - half, p + half)
    box = tuple(slice(max(b.start, h.start), min(b.stop, h.stop)) for b, h in zip(box, hbox))
    field = None
    for _ in range(lobes):
        c = p + rng.normal(0.0, 0.35 * r_eq, 3)
        q, _ = ellipsoid(grid, box, c, r_eq * rng.uniform(0.6, 1.3, 3), _random_rotation(rng))
        field = q if field is None else np.minimum(field, q)
    z, y, x = grid.coords(box, p)
    ripple = np.zeros_like(field)
    for _ in range(3):  # low-frequency ripples make the border irregular
        k = rng.normal(size=3)
        k *= 2 * np.pi / (np.linalg.norm(k) * rng.uniform(0.8, 2.0) * r_eq)
        ripple += np.sin(x * k[0] + y * k[1] + z * k[2] + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    field *= 1 + 0.12 * ripple

    hb = tuple(slice(b.start - h.start, b.stop - h.start) for b, h in zip(box, hbox))
    safe = d[hb] <= -margin
    for v in ventricles:  # keep clear of the ventricles (IVH is drawn there, as its own label)
        qv, _ = ellipsoid(grid, box, v["centre"], v["axes"] + margin, v["rot"])
        safe &= qv > 1
    candidates = field[safe]
    n = int(round(target_ml / (np.prod(grid.spacing) / 1000)))
    n = min(max(n, 1), candidates.size)
    thr = np.partition(candidates, n - 1)[n - 1] if n else -np.inf
    blob = safe & (field <= thr)
    comp, ncomp = ndimage.label(blob)
    if ncomp > 1:
        blob = comp == 1 + int(np.argmax(np.bincount(comp.ravel())[1:]))

    mean = rng.uniform(*A.hematoma_hu)
    core = 1 - np.clip(field / max(float(thr), 1e-6), 0, 1)  # denser clot centre
    blood = mean + 10 * (core - 0.5) + 4 * ripple
    hu[box][blob] = np.clip(blood[blob], *A.hematoma_hu_clip)
    labels[box][blob] = IPH
    params.update(hematoma_target_ml=_round(target_ml), hematoma_centre_mm=_round(p), hematoma_lobes=lobes,
                  hematoma_mean_hu=_round(mean))


def draw_brace(rng, grid, A, s, centre, outer_axes, yaw, tissue, hu, params) -> None:
    """A head-holder arc behind the head, across the lower slices, leaving the image laterally.

    The arc is an ellipse band centred on the head, wider than the FOV so that it crosses the
    lateral image edges, and tall enough to clear the head's bounding box by `brace_gap_mm`.
    """
    half = _rotated_half_extent(outer_axes, yaw)
    thick = A.brace_thickness_mm * s
    ax = 0.575 * grid.shape[2] * grid.spacing[0]  # 1.15 x the half FOV
    by = (half[1] + A.brace_gap_mm * s + thick / 2) / np.sqrt(1 - (half[0] / ax) ** 2)
    x = grid.x[None, :]
    y = (grid.y - centre[1])[:, None]
    q = (x / ax) ** 2 + (y / by) ** 2
    dist = (q - 1) / (2 * np.sqrt((x / ax**2) ** 2 + (y / by**2) ** 2) + 1e-9)
    band = (np.abs(dist) <= thick / 2) & (y > 0)
    top = max(1, int(round(A.brace_top_frac * grid.shape[0])))
    level = rng.uniform(*A.brace_hu)
    tissue[:top][:, band] = BRACE
    hu[:top][:, band] = level
    params.update(brace_hu=_round(level), brace_slices=top)


def write_phantom(phantom: Phantom, outdir: str | Path, name: str, *, overwrite: bool = False) -> dict[str, Path]:
    """Write `<name>_ct.nii.gz`, `<name>_labels.nii.gz` and `<name>.json` (volumes and draws).

    Every file is checked before any is written, so a refusal leaves nothing half-done.
    """
    outdir = Path(outdir)
    paths = {"ct": outdir / f"{name}_ct.nii.gz", "labels": outdir / f"{name}_labels.nii.gz", "json": outdir / f"{name}.json"}
    for p in paths.values():
        check_writable(p, overwrite)
    save_volume(phantom.ct, paths["ct"], overwrite=overwrite)
    save_labelmap(phantom.labels, paths["labels"], overwrite=overwrite)
    write_json(paths["json"], {"name": name, "volumes_ml": phantom.volumes_ml, "params": phantom.params})
    return paths


COHORT_COLUMNS = ("patient_id", "scan_id", "ct", "mask", "IPH_ml", "IVH_ml")


def _write_cohort_member(job) -> dict:
    outdir, name, seed, overwrite, kwargs = job
    ph = make_phantom(seed, **kwargs)
    paths = write_phantom(ph, outdir, name, overwrite=overwrite)
    return {"patient_id": name, "scan_id": f"{name}_ct", "ct": paths["ct"].name, "mask": paths["labels"].name,
            "IPH_ml": ph.volumes_ml["IPH"], "IVH_ml": ph.volumes_ml["IVH"]}


def write_phantom_cohort(
    outdir: str | Path,
    n: int,
    seed: int = 0,
    *,
    progress: Progress = silent,
    overwrite: bool = False,
    prefix: str = "phantom",
    workers: int = 1,
    **phantom_kwargs,
) -> list[dict]:
    """Write `n` phantoms `<prefix>_000`.. and `cohort.csv` (paths relative to `outdir`).

    Each phantom's seed is spawned from `seed`, so cohorts of different sizes share their first
    members; `workers` processes draw and write them (the same files for any count). Returns
    the CSV rows.
    """
    outdir = Path(outdir)
    names = [f"{prefix}_{i:03d}" for i in range(n)]
    csv_path = outdir / "cohort.csv"
    for name in names:  # refuse before writing anything
        for suffix in ("_ct.nii.gz", "_labels.nii.gz", ".json"):
            check_writable(outdir / f"{name}{suffix}", overwrite)
    check_writable(csv_path, overwrite)
    seeds = [int(ss.generate_state(1)[0]) for ss in np.random.SeedSequence(seed).spawn(n)]
    jobs = [(outdir, name, sub_seed, overwrite, phantom_kwargs) for name, sub_seed in zip(names, seeds)]
    rows = []
    for i, row in enumerate(map_cases(_write_cohort_member, jobs, workers)):
        progress(i, n, row["patient_id"])
        rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COHORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(csv_path) as tmp:
        tmp.write_text(buf.getvalue())
    progress(n, n, "done")
    return rows


__all__ = ["Anatomy", "Phantom", "make_phantom", "write_phantom", "write_phantom_cohort", "TISSUES", "COHORT_COLUMNS"]
