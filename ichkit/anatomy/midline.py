"""Midline shift: the septum pellucidum's distance from the skull's symmetry line.

Ideal midline: the intracranial cavity's in-plane symmetry axis (its centroid and its
anterior-posterior principal axis, the angle pooled over the slices through the cavity's body),
which the inner table of the skull fixes and mass effect does not move. Deformed midline: the
septum pellucidum, found as the strip of tissue between the two frontal horns (ventricular CSF
on both sides, row by row). The shift is measured on the slice where that septum is longest,
the level of the frontal horns and the foramen of Monro, as the median of its points' signed
distances from the ideal midline. Without a septum (horns effaced or merged) the third
ventricle, a narrow CSF slit along the midline, stands in ("landmark" says which; "septum_line"
is the deformed midline through it). No ventricles, or a scan without a brain, give
"status": "undetermined" with the reason, never a number.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import GeometryMismatchError
from ..image import Volume
from .registration import intracranial as intracranial_of

MIDLINE_VERSION = "ichkit-midline-1"
MIN_CAVITY_ML = 300.0  # less intracranial soft tissue than this: the scan does not cover the brain
BODY_FRACTION = 0.5  # slices whose cavity is at least half the largest one give the axis angle
CSF_HU = (-10.0, 16.0)  # smoothed HU of ventricular CSF (brain parenchyma is 25-40 HU)
SMOOTH_MM = 1.0
DEEP_MM = 8.0  # ventricles lie this far inside the cavity at least (cortical sulci and rim do not)
MIN_VENTRICLE_ML = 0.2  # the third ventricle holds about 0.5-1 mL, partly on one 5 mm slice
SEARCH_MM = 35.0  # septum searched within this distance of the ideal midline
SEPTUM_MAX_MM = 12.0  # widest tissue strip between the frontal horns accepted as the septum
HORN_MIN_MM = 1.5  # narrowest CSF run accepted as a frontal horn
MIN_SEPTUM_ROWS_MM = 4.0  # a septum shorter than this (A-P) is not measured
THIRD_MAX_WIDTH_MM = 8.0  # the third ventricle: a slit at most this wide across the midline,
THIRD_MIN_LENGTH_MM = 8.0  # at least this long and twice its width along it,
THIRD_SEARCH_MM = 20.0  # its middle within this distance of the ideal midline
DEFINITION = ("midline shift: perpendicular distance of the septum pellucidum from the ideal midline (skull symmetry "
              f"axis) at the level of the foramen of Monro; operational rules in docs ({MIDLINE_VERSION})")


def _undetermined(reason: str, **extra) -> dict:
    return {"status": "undetermined", "reason": reason, "shift_mm": None, "direction": None, "slice": None,
            "ideal_line": None, "septum_line": None, "definition": DEFINITION, "version": MIDLINE_VERSION, **extra}


def _ideal_axis(cavity: np.ndarray, sx: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (x, y in mm) along the A-P symmetry axis and across it, from the pooled second moments."""
    areas = cavity.sum(axis=(1, 2))
    cov = np.zeros((2, 2))
    for k in np.nonzero(areas >= BODY_FRACTION * areas.max())[0]:
        y, x = np.nonzero(cavity[k])
        pts = np.column_stack([x * sx, y * sy])
        pts -= pts.mean(axis=0)
        cov += pts.T @ pts
    w, v = np.linalg.eigh(cov)
    along = v[:, int(np.argmax(w))]
    if along[1] < 0:
        along = -along  # along +y (anterior to posterior in an axial image)
    return along, np.array([along[1], -along[0]])


def _septum_points(csf: np.ndarray, centre, across, along, sx: float, sy: float) -> list[tuple[float, float]]:
    """(x, y) mm of the septum on one slice: per row, the middle of the narrow tissue strip between two CSF runs."""
    pts = []
    for row in np.nonzero(csf.any(axis=1))[0]:
        cols = np.nonzero(csf[row])[0]
        runs = np.split(cols, np.nonzero(np.diff(cols) > 1)[0] + 1)
        runs = [r for r in runs if (r[-1] - r[0] + 1) * sx >= HORN_MIN_MM]
        best = None
        for a, b in zip(runs[:-1], runs[1:]):
            gap = (b[0] - a[-1] - 1) * sx
            if 0 < gap <= SEPTUM_MAX_MM and (best is None or gap < best[0]):
                best = (gap, (a[-1] + b[0]) / 2 * sx)
        if best is not None:
            p = np.array([best[1], row * sy])
            if abs((p - centre) @ across) <= SEARCH_MM:
                pts.append((float(p[0]), float(p[1])))
    return pts


def _third_ventricle(csf: np.ndarray, cavity: np.ndarray, across, along, sx: float, sy: float):
    """(slice, centre, signed offsets along the midline, shift) of the longest midline CSF slit, or None."""
    best = None
    for k in np.nonzero(csf.any(axis=(1, 2)))[0]:
        y, x = np.nonzero(cavity[k])
        centre = np.array([x.mean() * sx, y.mean() * sy])
        comp, n = ndimage.label(csf[k])
        for i in range(1, n + 1):
            yy, xx = np.nonzero(comp == i)
            pts = np.column_stack([xx * sx, yy * sy]) - centre
            u, v = pts @ across, pts @ along
            width, length = float(np.ptp(u)) + sx, float(np.ptp(v)) + sy
            if (width <= THIRD_MAX_WIDTH_MM and length >= max(THIRD_MIN_LENGTH_MM, 2 * width)
                    and abs(np.median(u)) <= THIRD_SEARCH_MM and (best is None or length > best[0])):
                best = (length, int(k), centre, v, float(np.median(u)))
    return None if best is None else best[1:]


def _line(points_mm: np.ndarray, k: int, ct: Volume) -> dict:
    sx, sy, _ = ct.spacing
    ends = []
    for x, y in points_mm:
        ijk = np.array([x / sx, y / sy, k])
        ends.append({"voxel_xyz": [round(float(c), 2) for c in ijk],
                     "mm_lps": [round(float(c), 2) for c in ct.index_to_physical() @ np.append(ijk, 1.0)][:3]})
    return {"start": ends[0], "end": ends[1]}


def midline_shift(ct: Volume, mask: Volume | None = None, *, intracranial: Volume | None = None) -> dict:
    """Midline shift in mm with the slice and the two lines to draw (module docstring); JSON-able.

    `mask`: hemorrhage labels, kept out of the CSF search; `intracranial`: a cavity mask the caller
    already has (the read-out computes one for the atlas), else the read-out's own (`registration.intracranial`).
    """
    if mask is not None and not ct.same_geometry(mask):
        raise GeometryMismatchError(mask.meta.get("source"), f"mask grid {mask.shape} does not match the CT grid {ct.shape}")
    sx, sy, _ = ct.spacing
    if intracranial is not None and not ct.same_geometry(intracranial):
        raise GeometryMismatchError(intracranial.meta.get("source"), "intracranial mask grid does not match the CT grid")
    cavity = (intracranial if intracranial is not None else intracranial_of(ct)).array > 0
    cavity_ml = float(cavity.sum()) * ct.voxel_volume_ml
    if cavity_ml < MIN_CAVITY_ML:
        return _undetermined(f"the scan does not cover the brain (intracranial soft tissue {cavity_ml:.0f} ml "
                             f"< {MIN_CAVITY_ML:g} ml)")
    along, across = _ideal_axis(cavity, sx, sy)

    box = tuple(slice(int(i[0]), int(i[-1]) + 1) for i in (np.nonzero(cavity.any(axis=a))[0] for a in ((1, 2), (0, 2), (0, 1))))
    smooth = ndimage.gaussian_filter(ct.array[box].astype(np.float32), (0, SMOOTH_MM / sy, SMOOTH_MM / sx))
    cand = cavity[box] & (smooth >= CSF_HU[0]) & (smooth <= CSF_HU[1])
    if mask is not None:
        cand &= mask.array[box] == 0
    for k in np.nonzero(cand.any(axis=(1, 2)))[0]:  # keep what lies deep in the cavity: not sulci or the rim
        cand[k] &= ndimage.distance_transform_edt(cavity[box][k], sampling=(sy, sx)) >= DEEP_MM
    csf = np.zeros(cavity.shape, bool)
    csf[box] = cand
    comp, n = ndimage.label(csf)
    if n:
        sizes = np.bincount(comp.ravel())[1:] * ct.voxel_volume_ml
        csf = np.isin(comp, 1 + np.nonzero(sizes >= MIN_VENTRICLE_ML)[0])
    if not csf.any():
        return _undetermined("no ventricular CSF found (ventricles effaced, filled with blood, or not in the scan)",
                             cavity_ml=round(cavity_ml, 1))

    best = None
    for k in np.nonzero(csf.any(axis=(1, 2)))[0]:
        y, x = np.nonzero(cavity[k])
        centre = np.array([x.mean() * sx, y.mean() * sy])
        pts = _septum_points(csf[k], centre, across, along, sx, sy)
        if pts and (best is None or len(pts) > len(best[1])):
            best = (int(k), pts, centre)
    if best is not None and len(best[1]) * sy >= MIN_SEPTUM_ROWS_MM:
        landmark = "septum_pellucidum"
        k, pts, centre = best
        pts = np.array(pts)
        signed = (pts - centre) @ across
        shift, ts = float(np.median(signed)), (pts - centre) @ along
    else:  # no septum between two horns (effaced or merged): the third ventricle, if one is seen
        third = _third_ventricle(csf, cavity, across, along, sx, sy)
        if third is None:
            return _undetermined("neither a septum pellucidum between two frontal horns nor a third ventricle found",
                                 cavity_ml=round(cavity_ml, 1))
        landmark = "third_ventricle"
        k, centre, ts, shift = third
        signed = np.array([shift])

    # the two lines: the ideal midline across the cavity on slice k, the deformed one over the landmark's extent
    y, x = np.nonzero(cavity[k])
    t = (np.column_stack([x * sx, y * sy]) - centre) @ along
    ideal = np.array([centre + t.min() * along, centre + t.max() * along])
    septum = np.array([centre + ts.min() * along + shift * across, centre + ts.max() * along + shift * across])
    lps = ct.direction @ np.array([across[0], across[1], 0.0]) * np.sign(shift)
    direction = None if abs(shift) < 0.05 else ("left" if lps[0] > 0 else "right")  # LPS: +x is patient left
    return {"status": "determined", "reason": None, "shift_mm": round(abs(shift), 2), "direction": direction,
            "slice": k, "landmark": landmark, "septum_points": int(len(signed)) if landmark == "septum_pellucidum" else 0, "septum_spread_mm": round(float(np.std(signed)), 2),
            "cavity_ml": round(cavity_ml, 1), "ideal_line": _line(ideal, k, ct), "septum_line": _line(septum, k, ct),
            "definition": DEFINITION, "version": MIDLINE_VERSION}


__all__ = ["midline_shift", "MIDLINE_VERSION"]
