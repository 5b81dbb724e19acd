"""Phantoms whose classification label is planted in the image, for the demo models and tests.

HE: positives get a heterogeneous hematoma (hypodense islands inside the clot, like the swirl /
blend signs that predict expansion); negatives keep the homogeneous clot. HT: positives keep
the hematoma (haemorrhage visible somewhere in the volume), negatives have it replaced by brain
tissue. Location: the drawn hematoma centre decides deep / lobar / infratentorial (rules below).
The generator is `ichkit.phantom.make_phantom`; planting is post-processing of its output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..labels import IPH
from ..phantom import Anatomy, Phantom, make_phantom
from .models import LOCATION_CLASSES

SHAPE = (32, 256, 256)
SPACING = (1.0, 1.0, 5.0)
HE_ISLAND_HU = (25.0, 40.0)  # hypodense islands of the heterogeneous clot
HE_ISLAND_FRACTION = 0.35  # share of the clot that becomes hypodense
HE_ISLAND_SIGMA_MM = 2.5  # smoothness of the island pattern
INFRATENTORIAL_Z = -0.3  # hematoma centre below this (fraction of the brain's z semi-axis from its centre)
DEEP_RADIUS = 0.4  # in-plane normalised radius under which a supratentorial hematoma is deep


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


def location_phantom(seed: int, **kw) -> Labelled:
    ph = make_phantom(seed, **_kw({"ivh": False, "brace": bool(seed % 2), **kw}))
    return Labelled(ph, location_of(ph.params))


PLANTERS = {"he": he_phantom, "ht": ht_phantom}


def balanced_seeds(n: int, base: int) -> list[tuple[int, int]]:
    """(seed, label) pairs, labels alternating 0/1, seeds distinct per base."""
    return [(base * 100003 + i, i % 2) for i in range(n)]


__all__ = ["he_phantom", "ht_phantom", "location_phantom", "location_of", "balanced_seeds", "Labelled", "SHAPE", "SPACING"]
