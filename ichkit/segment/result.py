"""What every segmentation model returns, whatever its framework."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..image import Volume


@dataclass
class SegmentationResult:
    """Labels on the CT's own grid, plus optional class probabilities.

    labels: uint8 product label values (`ichkit.labels`), same geometry as the input CT, with
        meta["segments"] = {value: name}.
    probabilities: float32, classes first, on the CT grid: channel c is the probability of
        product label value c (0 background), or None when the caller did not ask for them.
    model_id: registry id of the model (or ensemble) that produced the result.
    class_names: {product label value: the model's own class name}.
    member_voxel_ml: for an ensemble, {label key: each member's own voxel volume (mL)}, before
        any postprocessing; empty for one network.
    disagreement: for an ensemble, float32 on the CT grid: the fraction of members whose label
        differs from the ensemble's at each voxel; None for one network.
    """

    labels: Volume
    probabilities: np.ndarray | None
    model_id: str
    class_names: dict[int, str] = field(default_factory=dict)
    member_voxel_ml: dict[str, list[float]] = field(default_factory=dict)
    disagreement: Volume | None = None
