"""NCCT markers of hematoma expansion, each measured by its published definition.

`expansion_signs(ct, mask)` returns a `SignResult`: a plain dict (JSON-able as it is) holding one
entry per sign and the continuous figures the signs rest on, plus `.regions`, a dict of uint8
`Volume` masks on the CT grid (one per sign with a region) that the UI draws and that stay out
of the JSON. Each sign entry:

    {"present": bool | None, "value": float | None, "threshold": float, "comparison": ">=" | "<=",
     "unit": str, "definition": "<reference>; <operational rule> (<SIGNS_VERSION>)",
     "slice": int | None, "region": {"bbox_zyx": [[z0, z1], [y0, y1], [x0, x1]], "voxels": n} | None}

`present` is None (and the result's "status" is "undetermined" with a "reason") when the mask
holds no voxel of the label or the labelled region is not acute blood on this scan. Why
operational thresholds: the papers define most signs visually; docs/readout.md states each
rule chosen, the reference it follows and what it was validated on (phantoms only).

Density signs are read on the main (largest) clot: hypodense foci are the voxels of the clot's
core (CORE_MM in from its margin, on the slices through its body: partial volume lowers the HU of
the margin and of the top and bottom slices) whose in-plane smoothed HU fall
SEGMENT_DROP_HU under the clot's hyperdense level; each focus is measured against the ring of
clot 1-3 mm around it (contrast), on its margin (step), and by how much of its outline lies on the
clot's edge (encapsulated or not). Shape signs are in shape.py.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import GeometryMismatchError
from ..image import Volume
from ..labels import IPH, LABELS
from . import shape

SIGNS_VERSION = "ichkit-signs-1"
SIGN_NAMES = ("hypodensity", "blend", "black_hole", "swirl", "island", "satellite", "barras_shape", "barras_density")

BLOOD_MEDIAN_HU = (30.0, 110.0)  # outside this the mask is not on acute blood (or the scan is not in HU)
SMOOTH_MM = 1.0  # in-plane Gaussian sigma before segmenting foci (noise, not signal)
CORE_MM = 1.0  # foci are sought this far inside the clot's margin (in-plane partial volume and blur)
SEGMENT_DROP_HU = 8.0  # focus candidates: smoothed HU this far under the clot's hyperdense level
HYPERDENSE_PERCENTILE = 75.0  # the clot's hyperdense level (foci take well under a quarter of it)
MIN_FOCUS_AREA_MM2 = 8.0  # about a 3 mm disk on one slice: the smallest focus a reader would call
RING_MM = (1.0, 3.0)  # the hyperdense clot a focus is compared with
ENCAPSULATED_MAX_TOUCH = 0.1  # at most this fraction of a focus outline on the clot's edge
EDGE_MM = CORE_MM + 1.0  # a focus voxel this close to the clot's edge touches it (the core's first millimetre)
WELL_DEFINED_STEP = 0.5  # margin step over 1 mm either side, as a fraction of the contrast

HYPODENSITY_HU = 12.0
BLEND_HU = 18.0
BLACK_HOLE_HU = 28.0
SWIRL_MAX_HU = 40.0  # hypo- or iso-attenuating to brain parenchyma (grey matter reaches ~40 HU)

DEFINITIONS = {
    "hypodensity": "Boulouis et al., JAMA Neurol 2016;73:961-8: any hypodense region strongly demarcated within "
                   f"the hematoma, no connection with the surrounding brain; operational: encapsulated focus, "
                   f"contrast >= {HYPODENSITY_HU:g} HU, well-defined margin",
    "blend": "Li et al., Stroke 2015;46:2119-23: relatively hypoattenuating area next to a hyperattenuating region, "
             f"well-defined margin, >= {BLEND_HU:g} HU difference, hypoattenuating area not encapsulated",
    "black_hole": "Li et al., Stroke 2016;47:1777-81: hypoattenuating area encapsulated within the hyperattenuating "
                  f"hematoma, well-defined border, >= {BLACK_HOLE_HU:g} HU difference",
    "swirl": "Selariu et al., BMC Neurol 2012;12:109: region of hypo- or iso-attenuation (to brain) within the "
             f"hyperattenuating hematoma; operational: encapsulated focus with mean <= {SWIRL_MAX_HU:g} HU",
    "island": "Li et al., Stroke 2017;48:3019-25: >= 3 scattered small hematomas all separate from the main "
              "hematoma, or >= 4 small hematomas some or all connected to it (bubble-/sprout-like, not lobulated)",
    "satellite": "Shimoda et al., Cerebrovasc Dis 2017;44:105-12: small hematoma completely separate from the main "
                 f"one on at least one axial slice; operational: <= {shape.PIECE_MAX_DIAMETER_MM:g} mm wide, "
                 f"<= {shape.PIECE_MAX_GAP_MM:g} mm from it",
    "barras_shape": "Barras et al., Stroke 2009;40:1325-31, shape scale 1 (round) to 5 (most irregular); operational: "
                    "1 + lobulations of the largest slice + sprouts + separate pieces, at most 5",
    "barras_density": "Barras et al., Stroke 2009;40:1325-31, density scale 1 (homogeneous) to 5 (most heterogeneous); "
                      f"operational: 1-2 without a focus >= {HYPODENSITY_HU:g} HU (2 when the clot's SD > 8 HU), "
                      "3 + (foci - 1) otherwise, at most 5",
}
DEFINITIONS = {k: f"{v} ({SIGNS_VERSION})" for k, v in DEFINITIONS.items()}
UNITS = {"hypodensity": "HU", "blend": "HU", "black_hole": "HU", "swirl": "HU", "island": "count",
         "satellite": "count", "barras_shape": "category", "barras_density": "category"}


class SignResult(dict):
    """The JSON part (this dict) and `.regions`: sign name -> uint8 mask Volume on the CT grid."""

    def __init__(self, data: dict, regions: dict[str, Volume] | None = None):
        super().__init__(data)
        self.regions = regions or {}

    def to_json(self) -> dict:
        return dict(self)


def _entry(name, present, value, threshold, comparison=">=", key_slice=None, region=None) -> dict:
    return {"present": present, "value": None if value is None else round(float(value), 2),
            "threshold": threshold, "comparison": comparison, "unit": UNITS[name], "definition": DEFINITIONS[name],
            "slice": key_slice, "region": region}


_THRESHOLDS = {"hypodensity": HYPODENSITY_HU, "blend": BLEND_HU, "black_hole": BLACK_HOLE_HU, "swirl": SWIRL_MAX_HU,
               "island": 3, "satellite": 1, "barras_shape": 3, "barras_density": 3}
_COMPARE = {"swirl": "<="}


def _undetermined(reason: str) -> SignResult:
    signs = {name: _entry(name, None, None, _THRESHOLDS[name], _COMPARE.get(name, ">=")) for name in SIGN_NAMES}
    return SignResult({"status": "undetermined", "reason": reason, "version": SIGNS_VERSION, "signs": signs,
                       "figures": None})


def _per_slice(fn, mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    return np.stack([fn(s, structure) if s.any() else s for s in mask])


def _edt_slices(mask: np.ndarray, sx: float, sy: float) -> np.ndarray:
    return np.stack([ndimage.distance_transform_edt(s, sampling=(sy, sx)) for s in mask])


def _focus_measures(hu, core, cand, focus, sx, sy, edge_dist) -> dict:
    """Contrast with the ring of clot around the focus, margin step, fraction of outline on the edge."""
    dil = lambda m, r: _per_slice(ndimage.binary_dilation, m, shape.disk(r, sx, sy))  # noqa: E731
    ero = lambda m, r: _per_slice(ndimage.binary_erosion, m, shape.disk(r, sx, sy))  # noqa: E731
    ring = dil(focus, RING_MM[1]) & ~dil(focus, RING_MM[0]) & core & ~cand
    inner = focus & ~ero(focus, 1.0)
    outer = dil(focus, 1.0) & ~focus & core  # not the clot's margin voxels (partial volume, or the focus itself)
    region_hu = float(hu[focus].mean())
    ring_hu = float(hu[ring].mean()) if ring.any() else np.nan
    step = float(hu[outer].mean() - hu[inner].mean()) if outer.any() and inner.any() else 0.0
    outline = focus & ~_per_slice(ndimage.binary_erosion, focus, np.ones((3, 3), bool))
    touch = float(np.mean(edge_dist[outline] <= EDGE_MM)) if outline.any() else 1.0
    contrast = ring_hu - region_hu
    return {"region_hu": region_hu, "contrast": contrast, "step": step, "touch": touch,
            "encapsulated": touch <= ENCAPSULATED_MAX_TOUCH,
            "well_defined": bool(np.isfinite(contrast) and step >= WELL_DEFINED_STEP * contrast),
            "slice": int(np.argmax(focus.sum(axis=(1, 2))))}


def _bbox(mask: np.ndarray, offset) -> dict | None:
    if not mask.any():
        return None
    box = []
    for axis in range(3):
        idx = np.nonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        box.append([int(idx[0] + offset[axis]), int(idx[-1] + 1 + offset[axis])])
    return {"bbox_zyx": box, "voxels": int(mask.sum())}


def _histogram(values: np.ndarray) -> dict:
    edges = np.arange(-20.0, 125.0, 5.0)
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1] - 1e-3), edges)
    return {"bin_edges_hu": edges.tolist(), "counts": counts.astype(int).tolist()}


def expansion_signs(ct: Volume, mask: Volume, label: int = IPH) -> SignResult:
    """Every NCCT expansion sign of the `label` hematoma in `mask` (see the module docstring)."""
    if not ct.same_geometry(mask):
        raise GeometryMismatchError(mask.meta.get("source"), f"mask grid {mask.shape} does not match the CT grid {ct.shape}")
    clot_full = mask.array == label
    name = LABELS[label].key if label in LABELS else f"label {label}"
    if not clot_full.any():
        return _undetermined(f"the mask has no {name} voxel")
    sx, sy, _ = ct.spacing
    pad_y, pad_x = int(np.ceil(shape.PIECE_MAX_GAP_MM / sy)) + 2, int(np.ceil(shape.PIECE_MAX_GAP_MM / sx)) + 2
    zs, ys, xs = (np.nonzero(clot_full.any(axis=a))[0] for a in ((1, 2), (0, 2), (0, 1)))
    box = (slice(zs[0], zs[-1] + 1), slice(max(ys[0] - pad_y, 0), ys[-1] + pad_y + 1),
           slice(max(xs[0] - pad_x, 0), xs[-1] + pad_x + 1))
    offset = [int(b.start) for b in box]
    clot = clot_full[box]
    hu = ct.array[box].astype(np.float32)
    median = float(np.median(hu[clot]))
    if not BLOOD_MEDIAN_HU[0] <= median <= BLOOD_MEDIAN_HU[1]:
        return _undetermined(f"the {name} region has median {median:.0f} HU, not acute blood "
                             f"({BLOOD_MEDIAN_HU[0]:g}-{BLOOD_MEDIAN_HU[1]:g} HU): wrong mask or not a CT in HU")

    main = shape.largest_component(clot, np.ones((3, 3, 3), bool))
    core = _per_slice(ndimage.binary_erosion, main, shape.disk(CORE_MM, sx, sy))
    areas = main.sum(axis=(1, 2))
    core[areas < shape.SLICE_MIN_FRACTION * areas.max()] = False  # the caps: partial volume across 5 mm slices
    sigma = (0, SMOOTH_MM / sy, SMOOTH_MM / sx)
    weight = ndimage.gaussian_filter(main.astype(np.float32), sigma)
    smooth = ndimage.gaussian_filter(np.where(main, hu, 0), sigma) / np.maximum(weight, 1e-6)
    hyper = float(np.percentile(smooth[core], HYPERDENSE_PERCENTILE)) if core.any() else median
    cand = core & (smooth < hyper - SEGMENT_DROP_HU)
    labelled, n = ndimage.label(cand, np.ones((3, 3, 3), bool))
    edge_dist = _edt_slices(main, sx, sy)
    px_area = sx * sy
    foci = []
    for i in range(1, n + 1):
        focus = labelled == i
        low = float(np.percentile(smooth[focus], 10))
        focus &= smooth < min(hyper - SEGMENT_DROP_HU, (hyper + low) / 2)  # its half-contrast contour: the edge
        if focus.sum(axis=(1, 2)).max() * px_area < MIN_FOCUS_AREA_MM2:
            continue
        m = _focus_measures(hu, core, cand, focus, sx, sy, edge_dist)
        if np.isfinite(m["contrast"]):
            foci.append((focus, m))

    signs, regions = {}, {}

    def put(sign, present, value, chosen, threshold, comparison=">="):
        region = np.zeros(clot.shape, bool)
        for f, _ in chosen:
            region |= f
        key = int(np.argmax(region.sum(axis=(1, 2)))) + offset[0] if region.any() else None
        signs[sign] = _entry(sign, bool(present), value, threshold, comparison, key, _bbox(region, offset))
        if region.any():
            full = np.zeros(ct.shape, np.uint8)
            full[box] = region
            regions[sign] = ct.with_array(full, kind=f"sign_{sign}")

    def density_sign(sign, encapsulated, threshold):
        pool = [(f, m) for f, m in foci if m["encapsulated"] == encapsulated]
        hits = [(f, m) for f, m in pool if m["well_defined"] and m["contrast"] >= threshold]
        value = max((m["contrast"] for _, m in (hits or pool)), default=0.0)
        put(sign, bool(hits), value, hits, threshold)

    density_sign("hypodensity", True, HYPODENSITY_HU)
    density_sign("blend", False, BLEND_HU)
    density_sign("black_hole", True, BLACK_HOLE_HU)
    swirl_pool = [(f, m) for f, m in foci if m["encapsulated"]]
    swirl_hits = [(f, m) for f, m in swirl_pool if m["region_hu"] <= SWIRL_MAX_HU]
    put("swirl", bool(swirl_hits), min((m["region_hu"] for _, m in swirl_pool), default=None), swirl_hits,
        SWIRL_MAX_HU, "<=")

    pieces = shape.analyse_pieces(clot, ct.spacing)
    n_small = pieces["n_pieces"] + pieces["n_sprouts"]
    island = pieces["n_pieces"] >= 3 or n_small >= 4
    put("island", island, n_small, [(pieces["pieces"] | pieces["sprouts"], None)] if island else [], 3)
    signs["island"].update(separate=pieces["n_pieces"], connected=pieces["n_sprouts"],
                           rule=">= 3 separate, or >= 4 separate + connected")
    put("satellite", pieces["n_pieces"] >= 1, pieces["n_pieces"],
        [(pieces["pieces"], None)] if pieces["n_pieces"] else [], 1)

    shape_cat = min(5, 1 + pieces["lobulations"] + n_small)
    signs["barras_shape"] = _entry("barras_shape", shape_cat >= 3, shape_cat, 3, ">=",
                                   pieces["max_area_slice"] + offset[0])
    values = hu[clot]
    n_foci = sum(1 for _, m in foci if m["well_defined"] and m["contrast"] >= HYPODENSITY_HU)
    sd = float(values.std())
    density_cat = (1 if sd <= 8.0 else 2) if n_foci == 0 else min(5, 2 + n_foci)
    put("barras_density", density_cat >= 3, density_cat,
        [(f, m) for f, m in foci if m["well_defined"] and m["contrast"] >= HYPODENSITY_HU], 3)
    for k in ("barras_shape", "barras_density"):
        signs[k]["categories"] = "1-2 regular/homogeneous, 3-5 irregular/heterogeneous (Barras 2009)"

    mean = float(values.mean())
    z = (values - mean) / sd if sd > 0 else np.zeros_like(values)
    figures = {
        "volume_ml": round(float(clot.sum()) * ct.voxel_volume_ml, 3),
        "main_volume_ml": round(float(main.sum()) * ct.voxel_volume_ml, 3),
        "hu_mean": round(mean, 2), "hu_median": round(median, 2), "hu_sd": round(sd, 2),
        "hu_cv": round(sd / mean, 4) if mean else None,
        "hu_skewness": round(float(np.mean(z**3)), 4), "hu_kurtosis": round(float(np.mean(z**4) - 3), 4),
        "hu_histogram": _histogram(values),
        "hyperdense_level_hu": round(hyper, 2),
        "sphericity": round(shape.sphericity(main, ct.spacing), 4),
        "lobulations": pieces["lobulations"], "separate_pieces": pieces["n_pieces"], "sprouts": pieces["n_sprouts"],
        "foci": [{"slice": m["slice"] + offset[0], "mean_hu": round(m["region_hu"], 1), "contrast_hu": round(m["contrast"], 1),
                  "margin_step_hu": round(m["step"], 1), "edge_fraction": round(m["touch"], 3),
                  "encapsulated": bool(m["encapsulated"]), "well_defined": bool(m["well_defined"])} for _, m in foci],
    }
    return SignResult({"status": "determined", "reason": None, "version": SIGNS_VERSION, "label": name, "signs": signs,
                       "figures": figures}, regions)


__all__ = ["SignResult", "expansion_signs", "SIGN_NAMES", "SIGNS_VERSION", "DEFINITIONS"]
