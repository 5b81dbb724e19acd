"""Phantoms whose classification label is planted in the image, for the demo models and tests.

HE: positives get a heterogeneous hematoma (hypodense islands inside the clot, like the swirl /
blend signs that predict expansion); negatives keep the homogeneous clot. HT: positives keep
the hematoma (haemorrhage visible somewhere in the volume), negatives have it replaced by brain
tissue. Location: the drawn hematoma centre decides deep / lobar / infratentorial (rules below);
every location phantom gets a posterior fossa under the tentorium level (petrous ridges, fourth
ventricle), so that a slice shows whether it lies below the tentorium: `make_phantom` draws no
infratentorial anatomy, and without it a slice below the lateral ventricles looks the same at any
height (a slice classifier then scored infratentorial at chance, AUC 0.52).
The generator is `ichkit.phantom.make_phantom`; planting is post-processing of its output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..labels import IPH
from . import BRAIN, CSF, SKULL, Anatomy, Phantom, make_phantom, rot_z
from ..classify.tasks import LOCATION_CLASSES

SHAPE = (32, 256, 256)
SPACING = (1.0, 1.0, 5.0)
HE_ISLAND_HU = (25.0, 40.0)  # hypodense islands of the heterogeneous clot
HE_ISLAND_FRACTION = 0.35  # share of the clot that becomes hypodense
HE_ISLAND_SIGMA_MM = 2.5  # smoothness of the island pattern
INFRATENTORIAL_Z = -0.3  # hematoma centre below this (fraction of the brain's z semi-axis from its centre)
DEEP_RADIUS = 0.4  # in-plane normalised radius under which a supratentorial hematoma is deep
PETROUS_HU = 1200.0  # the petrous ridges: dense bone between the middle and posterior fossae
PETROUS_MM = 5.0  # ridge thickness
# ridge ends and the fourth ventricle, in brain semi-axes about the head centre (x lateral, y posterior)
PETROUS_ENDS = ((0.8, 0.25), (0.2, -0.1))
FOURTH_VENTRICLE = ((0.0, 0.3), (8.0, 5.0))  # centre (semi-axes) and semi-axes (mm, at adult size)


@dataclass(frozen=True)
class Labelled:
    phantom: Phantom
    label: int  # HE / HT label, or the location class index


def _kw(kw: dict) -> dict:
    return {"shape": SHAPE, "spacing": SPACING, **kw}


def he_phantom(seed: int, label: int, **kw) -> Labelled:
    ph = make_phantom(seed, **_kw(kw))
    if label:
        rng = np.random.default_rng(seed + 7919)
        blood = ph.labels.array == IPH
        sigma = [HE_ISLAND_SIGMA_MM / s for s in (ph.ct.spacing[2], ph.ct.spacing[1], ph.ct.spacing[0])]
        field = ndimage.gaussian_filter(rng.standard_normal(blood.shape).astype(np.float32), sigma)
        inside = field[blood]
        islands = np.zeros_like(blood)
        islands[blood] = inside >= np.quantile(inside, 1 - HE_ISLAND_FRACTION)
        level = rng.uniform(*HE_ISLAND_HU)
        noise = rng.normal(0, ph.params["noise_hu"], int(islands.sum()))
        ph.ct.array[islands] = np.rint(level + noise).astype(ph.ct.array.dtype)
    return Labelled(ph, int(label))


def ht_phantom(seed: int, label: int, **kw) -> Labelled:
    ph = make_phantom(seed, **_kw({"ivh": False, **kw}))
    if not label:
        rng = np.random.default_rng(seed + 104729)
        blood = ph.labels.array == IPH
        anatomy = Anatomy()
        ph.ct.array[blood] = np.rint(anatomy.white_hu + rng.normal(0, ph.params["noise_hu"], int(blood.sum()))).astype(ph.ct.array.dtype)
        ph.labels.array[blood] = 0
    return Labelled(ph, int(label))


def location_of(params: dict) -> int:
    """deep (0), lobar (1) or infratentorial (2) from the drawn hematoma and head geometry."""
    d = (np.array(params["hematoma_centre_mm"]) - np.array(params["head_centre_mm"])) / np.array(params["brain_semi_axes_mm"])
    if d[2] < INFRATENTORIAL_Z:
        return LOCATION_CLASSES.index("infratentorial")
    return LOCATION_CLASSES.index("deep" if np.hypot(d[0], d[1]) < DEEP_RADIUS else "lobar")


def _segment_distance(x, y, a, b):
    """Distance (mm) of points (x, y) to the segment a-b."""
    d = np.subtract(b, a)
    t = np.clip(((x - a[0]) * d[0] + (y - a[1]) * d[1]) / float(d @ d), 0, 1)
    return np.hypot(x - a[0] - t * d[0], y - a[1] - t * d[1])


def draw_posterior_fossa(ph: Phantom) -> None:
    """Petrous ridges and a fourth ventricle on the brain slices under the tentorium level, the
    hematoma left untouched (its label and HU stay exact)."""
    p = ph.params
    centre, axes, s = np.array(p["head_centre_mm"]), np.array(p["brain_semi_axes_mm"]), p["fov_scale"]
    rot = rot_z(p["yaw_deg"])[:2, :2]
    sx, sy, sz = ph.ct.spacing
    nz, ny, nx = ph.ct.shape
    z = np.asarray(ph.ct.origin)[2] + np.arange(nz) * sz
    below = np.flatnonzero(z < centre[2] + INFRATENTORIAL_Z * axes[2])
    if not below.size:
        return
    gx, gy = np.meshgrid(ph.ct.origin[0] + np.arange(nx) * sx - centre[0], ph.ct.origin[1] + np.arange(ny) * sy - centre[1])
    u, v = (rot.T @ np.stack([gx.ravel(), gy.ravel()])).reshape(2, ny, nx)  # head frame: lateral, posterior
    (a, b), ((vx, vy), (rx, ry)) = PETROUS_ENDS, FOURTH_VENTRICLE
    ridge = _segment_distance(np.abs(u), v, np.multiply(a, axes[:2]), np.multiply(b, axes[:2])) <= PETROUS_MM * s / 2  # both sides
    ventricle = ((u - vx * axes[0]) / (rx * s)) ** 2 + ((v - vy * axes[1]) / (ry * s)) ** 2 <= 1
    rng = np.random.default_rng(p["seed"] + 15485863)
    for k in below:
        brain = np.isin(ph.tissue.array[k], (BRAIN, CSF)) & (ph.labels.array[k] == 0)
        for where, hu, code in ((ridge & brain, PETROUS_HU, SKULL), (ventricle & brain & ~ridge, Anatomy().csf_hu, CSF)):
            ph.ct.array[k][where] = np.rint(hu + rng.normal(0, p["noise_hu"], int(where.sum()))).astype(ph.ct.array.dtype)
            ph.tissue.array[k][where] = code


def location_phantom(seed: int, **kw) -> Labelled:
    ph = make_phantom(seed, **_kw({"ivh": False, "brace": bool(seed % 2), **kw}))
    draw_posterior_fossa(ph)
    return Labelled(ph, location_of(ph.params))


PLANTERS = {"he": he_phantom, "ht": ht_phantom}


def balanced_seeds(n: int, base: int) -> list[tuple[int, int]]:
    """(seed, label) pairs, labels alternating 0/1, seeds distinct per base."""
    return [(base * 100003 + i, i % 2) for i in range(n)]


__all__ = ["he_phantom", "ht_phantom", "location_phantom", "location_of", "balanced_seeds", "Labelled", "SHAPE", "SPACING"]
