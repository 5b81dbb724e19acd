"""The measurements and the expansion verdict as the panels, tables and exports show them."""

from __future__ import annotations

import numpy as np

from ..measure.expansion import expansion_verdict
from ..image import Volume
from ..measure import measure


def measure_dict(labels: Volume, margin: int = 1) -> dict[str, dict]:
    """`measure(labels).to_dict()` computed on the mask's in-plane bounding box.

    Why: the panels re-measure after every stroke and a 512 x 512 scan is mostly background. The
    numbers are the same: the mesh volume does not depend on the crop, slices keep their index
    (z is not cropped) and the crop's origin keeps the centroid in place.
    """
    ys, xs = np.nonzero(labels.array.any(axis=0))
    if ys.size == 0:
        return {}
    y0, x0 = max(int(ys.min()) - margin, 0), max(int(xs.min()) - margin, 0)
    y1, x1 = int(ys.max()) + 1 + margin, int(xs.max()) + 1 + margin
    origin = (labels.index_to_physical() @ [x0, y0, 0, 1.0])[:3]
    crop = Volume(labels.array[:, y0:y1, x0:x1], labels.spacing, origin, labels.direction, labels.meta)
    return measure(crop).to_dict()


def verdict_dict(baseline: dict, followup: dict) -> dict:
    return expansion_verdict(baseline, followup).to_dict()


def verdict_text(verdict: dict | None) -> str:
    if verdict is None:
        return ""
    rel = verdict["relative_growth"]
    rel_text = f", {100 * rel:+.0f} %" if rel is not None else ""
    head = "EXPANSION" if verdict["expansion"] else "no expansion"
    text = f"{head}: IPH {verdict['baseline_ml']:.1f} -> {verdict['followup_ml']:.1f} mL ({verdict['growth_ml']:+.1f} mL{rel_text})"
    if verdict["revised_expansion"] is not None:
        text += f"; revised (with IVH): {'yes' if verdict['revised_expansion'] else 'no'}"
    return text
