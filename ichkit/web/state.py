"""The workstation's state and actions, free of trame and slicer so tests need no browser.

A `Session` holds the case being read: the CT, the current mask (as segmented, then as edited),
where the mask came from, its measurements, the classifiers' risks with their Grad-CAM heatmaps
and, with a follow-up scan, the expansion verdict.
The app turns user events into these actions and shows `panel()`; the scene only mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..app.measurements import measure_dict, verdict_dict, verdict_text
from ..app.source import MaskSource
from ..image import Volume
from ..labels import IPH, IVH, LABELS

PANEL_REGIONS = (LABELS[IPH].key, LABELS[IVH].key)  # the rows of the volume panel
PANEL_VOLUMES = ("mesh_ml", "voxel_ml", "abc2_ml")


@dataclass
class Scan:
    """One CT with its mask; `original` is the mask as loaded or segmented, before any edit."""

    ct: Volume
    path: Path
    labels: Volume | None = None
    original: Volume | None = None
    source: MaskSource | None = None
    measurements: dict[str, dict] = field(default_factory=dict)
    risk: list[dict] = field(default_factory=list)  # `app.predict.risk_rows`, one per task
    heatmaps: dict[str, Path] = field(default_factory=dict)  # task -> Grad-CAM NIfTI on the CT grid
    risk_labels: Volume | None = None  # the mask the risks were predicted on

    @property
    def name(self) -> str:
        return case_name(self.path)

    @property
    def edited(self) -> bool:
        return self.labels is not None and self.original is not None and not np.array_equal(self.labels.array, self.original.array)

    @property
    def risk_stale(self) -> bool:
        """The mask changed since the prediction (HE reads it), so the risks may no longer hold."""
        if not self.risk or self.labels is self.risk_labels:
            return False
        if self.labels is None or self.risk_labels is None:
            return True
        return not np.array_equal(self.labels.array, self.risk_labels.array)

    def set_risk(self, rows: list[dict], heatmaps: dict[str, Path], labels: Volume | None) -> None:
        self.risk, self.heatmaps, self.risk_labels = rows, heatmaps, labels

    def set_mask(self, labels: Volume, source: MaskSource) -> None:
        self.labels, self.original, self.source = labels, labels, source
        self.measurements = measure_dict(labels)

    def edit(self, labels: Volume) -> None:
        self.labels = labels
        self.measurements = measure_dict(labels)


def case_name(path: str | Path) -> str:
    """`/data/p01_ct.nii.gz` -> `p01_ct`; a DICOM folder gives its own name."""
    name = Path(path).name
    for suffix in (".nii.gz", ".seg.nrrd", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class Session:
    baseline: Scan | None = None
    followup: Scan | None = None
    progress: float | None = None  # 0..1 while a segmentation runs, else None
    predicting: bool = False  # while `ich predict` runs
    status: str = "Load a CT to start."

    def load(self, ct: Volume, path: str | Path, labels: Volume | None = None, *, mask_path: str | Path = "", followup: bool = False) -> Scan:
        scan = Scan(ct=ct, path=Path(path))
        if labels is not None:
            scan.set_mask(labels, MaskSource.from_file(mask_path))
        if followup:
            self.followup = scan
        else:
            self.baseline, self.followup = scan, None  # a new case drops the old follow-up
        self.status = f"Loaded {scan.name}" + (" (follow-up)" if followup else "")
        return scan

    def verdict(self) -> dict | None:
        """The HE verdict, once both scans have masks."""
        if not (self.baseline and self.followup and self.baseline.labels is not None and self.followup.labels is not None):
            return None
        return verdict_dict(self.baseline.measurements, self.followup.measurements)

    def panel(self) -> dict[str, Any]:
        """Everything the side panel shows, as plain JSON for the trame state."""
        scan = self.baseline
        return {
            "case": scan.name if scan else "",
            "has_ct": scan is not None,
            "has_mask": bool(scan and scan.labels is not None),
            "rows": volume_rows(scan.measurements) if scan else [],
            "source": scan.source.text() if scan and scan.source else "",
            "demo": bool(scan and scan.source and scan.source.demo),
            "edited": bool(scan and scan.edited),
            "followup": self.followup.name if self.followup else "",
            "followup_pending": bool(self.followup and self.followup.labels is None),
            "verdict": verdict_text(self.verdict()),
            "risk": scan.risk if scan else [],
            "risk_stale": bool(scan and scan.risk_stale),
            "cam_tasks": [{"title": r["title"], "value": r["task"]} for r in (scan.risk if scan else []) if r["task"] in scan.heatmaps],
            "predicting": self.predicting,
            "status": self.status,
            "progress": None if self.progress is None else round(100 * self.progress),
        }


def volume_rows(measurements: dict[str, dict]) -> list[dict]:
    """One row per panel region (IPH, IVH): mesh / voxel / ABC/2 in mL, 0 when absent."""
    return [
        {"region": key, **{v: round(float(measurements.get(key, {}).get(v, 0.0)), 2) for v in PANEL_VOLUMES}}
        for key in PANEL_REGIONS
    ]
