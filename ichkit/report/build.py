"""The report as data: one JSON-able dict that the HTML page, a front end or a DICOM SR can
render. Images are built apart (`report_images`) because they are arrays, not JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from .. import __version__
from ..anatomy.text import SLICE_INDEX
from ..errors import EmptyMaskError, ModelError, warn
from ..image import Volume
from ..labels import IPH, LABELS
from ..measure import TOTAL_KEY, measure
from ..models.registry import DEMO_NOTICE
from ..scores import Clinical, compute_scores
from ..segment.source import MaskSource
from .delta import delta_table, midline_summary, signs_present

SCHEMA = "ichkit-report-1"
READOUT_PARTS = ("location", "signs", "midline")


@dataclass
class TimePoint:
    """One scan of the patient with its mask, where the mask came from and its read-out."""

    name: str  # "baseline", "follow-up 1", ...
    ct: Volume
    labels: Volume
    source: MaskSource  # MaskSource.of_mask(path), or .from_model(model_record(entry)) for a mask made here
    readout: dict | None = None  # run_readout(ct, labels); signs may carry .regions (masks)
    inputs: dict = field(default_factory=dict)  # file paths; only reported with identifiers=True


def source_record(source: MaskSource, identifiers: bool) -> dict:
    """The mask's source as the report records it; a user's file is named only with `identifiers`."""
    shown = source if identifiers else replace(source, path="")
    model = source.model() or {}
    return {"kind": source.kind, "model_id": model.get("id"), "model_version": model.get("version"), "demo": source.demo, "text": shown.text()}


def run_readout_safely(ct: Volume, labels: Volume) -> dict:
    """The read-out; without the atlas, the location is undetermined with the reason and the
    signs and midline (which need no atlas) are still measured; with no hemorrhage voxel every
    part is undetermined. The report's volumes are never lost to a missing atlas."""
    # deferred: the read-out's registration stack is not needed to render a stored report
    from ..anatomy.midline import midline_shift
    from ..anatomy.readout import run_readout
    from ..anatomy.signs import expansion_signs

    try:
        return run_readout(ct, labels)
    except EmptyMaskError as exc:
        return {part: {"status": "undetermined", "reason": exc.message} for part in READOUT_PARTS}
    except ModelError as exc:
        warn(None, f"location not available: {exc.message}")
        return {"location": {"status": "undetermined", "reason": exc.message},
                "signs": expansion_signs(ct, labels), "midline": midline_shift(ct, labels), "slice_index": SLICE_INDEX}


def _plain(obj):
    """JSON-safe copy of a read-out: arrays (region masks) are drawn in the images, not stored."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if not isinstance(v, (np.ndarray, Volume))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def build_report(timepoints: list[TimePoint], clinical: Clinical = Clinical(), *, identifiers: bool = False) -> dict:
    """Volumes, read-out and scores of the baseline, the follow-up table when there are
    follow-ups, provenance and the demo notice. No file path unless `identifiers`."""
    measures = [measure(tp.labels).to_dict() for tp in timepoints]
    readouts = [_plain(tp.readout) if tp.readout is not None else None for tp in timepoints]
    demo = any(tp.source.demo for tp in timepoints)
    points = []
    for tp, m, r in zip(timepoints, measures, readouts):
        points.append({
            "name": tp.name,
            "mask_source": source_record(tp.source, identifiers),
            "scan": {"shape_zyx": list(tp.ct.shape), "spacing_mm": list(tp.ct.spacing)},
            "volumes": m,
            "readout": r,
            "signs_present": signs_present((r or {}).get("signs")),
            "midline": midline_summary((r or {}).get("midline")),
            **({"inputs": {k: str(v) for k, v in tp.inputs.items()}} if identifiers else {}),
        })
    return {
        "schema": SCHEMA,
        "ichkit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "demo": demo,
        "notice": DEMO_NOTICE if demo else None,
        "identifiers": identifiers,
        "clinical": clinical.to_dict(),
        "scores": compute_scores(measures[0], readouts[0], clinical),
        "timepoints": points,
        "followup": delta_table([tp.name for tp in timepoints], measures, readouts) if len(timepoints) > 1 else None,
    }


def key_slice(measures: dict) -> int | None:
    """The IPH label's largest slice, else the hemorrhage's, else None."""
    region = measures.get(LABELS[IPH].key) or measures.get(TOTAL_KEY)
    return int(region["max_area_slice"]) if region else None
