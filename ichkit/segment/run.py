"""`segment_ct`: the one segmentation step every caller uses (CLI, batch, demo, Slicer, web).

A registry model predicts, then components smaller than `min_component_ml` are dropped per
label, so every entry point gives the same mask for the same scan and model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..image import Volume
from ..models import ModelEntry, load_registry
from ..progress import Progress, silent
from .engines import create_segmenter, default_segmentation_model
from .postprocess import MIN_COMPONENT_ML, Removed, drop_small_components
from .result import SegmentationResult


@dataclass
class Segmented:
    labels: Volume  # cleaned labelmap on the CT grid
    result: SegmentationResult  # the model's raw output (probabilities when asked)
    removed: Removed
    entry: object  # the registry entry that produced it


def segment_ct(ct: Volume, model=None, device: str = "cpu", *, min_component_ml: float = MIN_COMPONENT_ML,
               probabilities: bool = False, progress: Progress = silent, segmenter=None) -> Segmented:
    """Segment `ct` with `model`: a registry id, an already resolved registry entry, or None for
    the best installed one. `segmenter` lets a long-lived caller (a batch worker) reuse a loaded
    network for that entry.
    """
    if isinstance(model, ModelEntry):
        entry = model
    else:
        registry = load_registry()
        entry = registry.get(model) if model else default_segmentation_model(registry)
    segmenter = segmenter or create_segmenter(entry, device, progress, probabilities=probabilities)
    result = segmenter.predict(ct, progress)
    labels, removed = drop_small_components(result.labels, min_component_ml)
    return Segmented(labels=labels, result=result, removed=removed, entry=entry)
