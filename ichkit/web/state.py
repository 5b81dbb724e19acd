"""The workstation's state and actions, free of trame and slicer so tests need no browser.

A `Session` holds the case being read: the CT, the current mask (as segmented, then as edited),
where the mask came from, its measurements, the imaging read-out (with its signs' regions), the
clinician's inputs, the classifiers' results with their Grad-CAM heatmaps and, with a follow-up
scan, the expansion verdict. The risk panel itself is `ichkit.app.riskpanel.risk_panel`'s JSON.
The app turns user events into these actions and shows `panel()`; the scene only mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..app.measurements import measure_dict, verdict_dict, verdict_text
from ..app.predict import TASKS, heatmap_paths
from ..app.riskpanel import parse_clinical_fields, risk_panel
from ..app.segment import EnsembleOutput
from ..anatomy.signs import expansion_signs
from ..segment.source import MaskSource
from ..errors import ICHError, OutputExistsError
from ..image import Volume
from ..labels import LABELS
from ..measure import HEMORRHAGE_LABELS, TOTAL_KEY
from .uncertainty import interval_caption, interval_texts

# the rows of the volume panel: every product label, then the hemorrhage total the methods measure
PANEL_REGIONS = tuple(lab.key for lab in LABELS.values()) + (TOTAL_KEY,)
REGION_TITLES = {TOTAL_KEY: "total hemorrhage (" + " + ".join(LABELS[v].key for v in HEMORRHAGE_LABELS) + ")"}
PANEL_VOLUMES = ("mesh_ml", "voxel_ml", "abc2_ml")
MIDLINE_LINES = ("ideal_line", "septum_line")  # the read-out's midline lines (LPS mm end points)
OVERWRITE_BOX = "replace existing files"  # the Save section's checkbox, named in the refusal


@dataclass
class Scan:
    """One CT with its mask; `original` is the mask as loaded or segmented, before any edit."""

    ct: Volume
    path: Path
    labels: Volume | None = None
    original: Volume | None = None
    source: MaskSource | None = None
    measurements: dict[str, dict] = field(default_factory=dict)
    prediction: dict | None = None  # `ich predict --json`'s result
    risk_errors: dict[str, str] = field(default_factory=dict)  # task -> why it has no result
    heatmaps: dict[str, Path] = field(default_factory=dict)  # task -> Grad-CAM NIfTI on the CT grid
    risk_labels: Volume | None = None  # the mask the risks were predicted on
    readout: dict | None = None  # `ich readout --json`'s "readout"
    sign_regions: dict[str, Volume] = field(default_factory=dict)  # the signs present -> their voxels
    readout_labels: Volume | None = None  # the mask the read-out read
    ensemble: EnsembleOutput | None = None  # the networks' volume ranges and disagreement map, when N > 1 made the mask

    @property
    def name(self) -> str:
        return case_name(self.path)

    @property
    def edited(self) -> bool:
        return self.labels is not None and self.original is not None and not np.array_equal(self.labels.array, self.original.array)

    @property
    def has_risk(self) -> bool:
        return self.prediction is not None or bool(self.risk_errors)

    @property
    def risk_stale(self) -> bool:
        """The mask changed since the prediction (HE reads it), so the risks may no longer hold."""
        return self.has_risk and _changed(self.labels, self.risk_labels)

    @property
    def readout_stale(self) -> bool:
        """The mask changed since the read-out (signs, location and scores read it)."""
        return self.readout is not None and _changed(self.labels, self.readout_labels)

    def set_risk(self, result: dict, errors: dict[str, str], labels: Volume | None) -> None:
        """`ich predict`'s result (and why tasks have none: a failed command, a blocked HE)."""
        self.prediction, self.risk_errors, self.heatmaps, self.risk_labels = result, errors, heatmap_paths(result), labels

    def set_readout(self, readout: dict, labels: Volume) -> None:
        """The read-out and, once per read-out, the voxels of each sign present (the JSON keeps
        only their boxes; ~0.3 s, so not on every redraw)."""
        signs = (readout.get("signs") or {}).get("signs") or {}
        present = {k for k, e in signs.items() if isinstance(e, dict) and e.get("present")}
        regions = expansion_signs(self.ct, labels).regions if present else {}
        self.readout, self.readout_labels = readout, labels
        self.sign_regions = {k: v for k, v in regions.items() if k in present and v.array.any()}

    def set_mask(self, labels: Volume, source: MaskSource, ensemble: EnsembleOutput | None = None) -> None:
        self.labels, self.original, self.source, self.ensemble = labels, labels, source, ensemble
        self.measurements = measure_dict(labels)

    def overlays(self) -> list[str]:
        """What the read-out draws over the slice views (the app draws exactly these)."""
        lines = [k for k in MIDLINE_LINES if ((self.readout or {}).get("midline") or {}).get(k)]
        return [f"{k.replace('_', ' ')} region" for k in sorted(self.sign_regions)] + [f"midline {k.split('_')[0]} line" for k in lines]

    def edit(self, labels: Volume) -> None:
        self.labels = labels
        self.measurements = measure_dict(labels)


def _changed(labels: Volume | None, used: Volume | None) -> bool:
    if labels is used:
        return False
    return labels is None or used is None or not np.array_equal(labels.array, used.array)


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
    reading: bool = False  # while `ich readout` runs
    clinical: dict[str, str] = field(default_factory=dict)  # the risk panel's form, as typed
    show_demo: bool = False  # "show demo model outputs" ticked
    status: str = "Load a CT to start."
    warnings: list[str] = field(default_factory=list)  # about the scans loaded (e.g. thick slices)
    errors: dict[str, str] = field(default_factory=dict)  # control -> why its last action failed

    def load(self, ct: Volume, path: str | Path, labels: Volume | None = None, *, mask_path: str | Path = "", followup: bool = False,
             warnings: list[str] = ()) -> Scan:
        """A new baseline replaces the whole case: follow-up, warnings and errors of the last one go."""
        scan = Scan(ct=ct, path=Path(path))
        if labels is not None:
            scan.set_mask(labels, MaskSource.of_mask(mask_path))
        if followup:
            self.followup = scan
            self.warnings = [w for w in self.warnings if not w.startswith("follow-up")] + [f"follow-up: {w}" for w in warnings]
        else:
            self.baseline, self.followup, self.errors, self.clinical = scan, None, {}, {}
            self.warnings = list(warnings)
        self.status = f"Loaded {scan.name}" + (" (follow-up)" if followup else "")
        return scan

    def fail(self, control: str, exc: Exception) -> None:
        """Show why `control`'s action failed next to it, in the page's words."""
        self.errors = {**self.errors, control: page_text(exc)}

    def clear_error(self, control: str) -> None:
        self.errors = {k: v for k, v in self.errors.items() if k != control}

    def verdict(self) -> dict | None:
        """The HE verdict, once both scans have masks."""
        if not (self.baseline and self.followup and self.baseline.labels is not None and self.followup.labels is not None):
            return None
        return verdict_dict(self.baseline.measurements, self.followup.measurements)

    def risk_panel(self) -> tuple[dict, dict[str, str]]:
        """`risk_panel` of the baseline as it is now, and the clinical fields' errors (a bad field
        counts as unknown, so the rest still scores)."""
        scan = self.baseline
        clinical, errors = parse_clinical_fields(self.clinical)
        if scan is None:
            return risk_panel({}, None, clinical, None, show_demo=self.show_demo), errors
        return risk_panel(scan.measurements, scan.readout, clinical, scan.prediction, errors=scan.risk_errors or None,
                          show_demo=self.show_demo), errors

    def shown_heatmaps(self, panel: dict | None = None) -> dict[str, Path]:
        """Task -> heatmap of the classifiers shown: a hidden demo model's heatmap is its output too."""
        if self.baseline is None:
            return {}
        rows = _classifiers(panel or self.risk_panel()[0])
        return {t: p for t, p in self.baseline.heatmaps.items() if not any(r["task"] == t and r["hidden"] for r in rows)}

    def panel(self) -> dict[str, Any]:
        """Everything the side panel shows, as plain JSON for the trame state."""
        scan = self.baseline
        riskpanel, clinical_errors = self.risk_panel()
        shown = self.shown_heatmaps(riskpanel)
        titles = {r["task"]: r["title"] for r in _classifiers(riskpanel)}
        return {
            "case": scan.name if scan else "",
            "has_ct": scan is not None,
            "has_mask": bool(scan and scan.labels is not None),
            "rows": volume_rows(scan.measurements, interval_texts(scan.ensemble)) if scan else [],
            "ensemble": {"members": scan.ensemble.members, "caption": interval_caption(scan.ensemble),
                         "has_map": scan.ensemble.disagreement is not None} if scan and scan.ensemble else None,
            "source": scan.source.text() if scan and scan.source else "",
            "demo": bool(scan and scan.source and scan.source.demo),
            "edited": bool(scan and scan.edited),
            "followup": self.followup.name if self.followup else "",
            "followup_pending": bool(self.followup and self.followup.labels is None),
            "verdict": verdict_text(self.verdict()),
            "risk_panel": riskpanel,
            "clinical_errors": clinical_errors,
            "has_risk": bool(scan and scan.has_risk),
            "risk_stale": bool(scan and scan.risk_stale),
            "has_readout": bool(scan and scan.readout is not None),
            "readout_stale": bool(scan and scan.readout_stale),
            "overlays": scan.overlays() if scan else [],
            "cam_tasks": [{"title": titles.get(t, t), "value": t} for t in TASKS if t in shown],
            "predicting": self.predicting,
            "reading": self.reading,
            "status": self.status,
            "warnings": self.warnings,
            "errors": self.errors,
            "progress": None if self.progress is None else round(100 * self.progress),
        }


def _classifiers(panel: dict) -> list[dict]:
    return next(s["rows"] for s in panel["sections"] if s["id"] == "classifiers")


def volume_rows(measurements: dict[str, dict], intervals: dict[str, str] | None = None) -> list[dict]:
    """One row per label and the hemorrhage total: mesh / voxel / ABC/2 in mL, 0 when absent, and
    an ensemble's range across its networks where it has one ("" otherwise)."""
    return [
        {"region": key, "title": REGION_TITLES.get(key, key), **{v: round(float(measurements.get(key, {}).get(v, 0.0)), 2) for v in PANEL_VOLUMES},
         "interval": (intervals or {}).get(key, "")}
        for key in PANEL_REGIONS
    ]


def page_text(exc: Exception) -> str:
    """An error as the page says it: the file's name (not its folder) and the page's own controls
    (the refusal to overwrite names the checkbox, not the command line's flag)."""
    if not isinstance(exc, ICHError):
        return str(exc)
    name = Path(exc.path).name if exc.path else ""
    problem = f"already exists: tick '{OVERWRITE_BOX}' to replace it" if isinstance(exc, OutputExistsError) else exc.problem
    return f"{name}: {problem}" if name else problem
