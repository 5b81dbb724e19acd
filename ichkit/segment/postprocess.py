"""Mask clean-up after inference: drop connected components too small to be a lesion.

DeepMedic-style networks leave specks (notably at the skull base); removing components below a
volume threshold, per label, removes most of them without touching the hematoma itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # keeps `ich --help` free of SimpleITK/scipy: the CLI reads MIN_COMPONENT_ML
    from ..image import Volume

MIN_COMPONENT_ML = 0.1  # smaller than any hematoma worth measuring, larger than typical specks
FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # 26-neighbourhood: diagonal contact joins parts


@dataclass
class Removed:
    """What the clean-up took away, per label value (for the provenance sidecar)."""

    components: dict[int, int] = field(default_factory=dict)
    volume_ml: dict[int, float] = field(default_factory=dict)


def drop_small_components(
    labels: "Volume",
    min_component_ml: float = MIN_COMPONENT_ML,
    per_label_ml: dict[int, float] | None = None,
) -> tuple["Volume", Removed]:
    """Set to background every connected component smaller than its label's threshold (mL)."""
    # deferred: scipy loads only when components are dropped (`ich --help` reads MIN_COMPONENT_ML here)
    from scipy import ndimage

    out = labels.array.copy()
    removed = Removed()
    thresholds = per_label_ml or {}
    for value in (int(v) for v in np.unique(out) if v):
        min_voxels = thresholds.get(value, min_component_ml) / labels.voxel_volume_ml
        components, count = ndimage.label(out == value, structure=FULL_CONNECTIVITY)
        sizes = np.bincount(components.ravel(), minlength=count + 1)
        small = np.flatnonzero(sizes < min_voxels)
        small = small[small > 0]
        if small.size:
            out[np.isin(components, small)] = 0
            removed.components[value] = int(small.size)
            removed.volume_ml[value] = float(sizes[small].sum() * labels.voxel_volume_ml)
    return labels.with_array(out), removed
