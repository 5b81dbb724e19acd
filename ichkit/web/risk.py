"""The risk panel's backend: `ich predict --task all` in a child process (its rows and heatmaps
are read by `ichkit.app.predict`), and the heatmap checked onto the CT grid.

Why the CLI in a child: it is what `ich predict` and the Slicer module run (same demo models,
same intervals), and the three classifiers hold the CPU for seconds. HE reads ROI slices around
the hematoma, so it needs a mask with IPH voxels; HT and location read the whole CT and get no
mask, so a missing or empty mask blocks HE alone (`he_blocker`) instead of the whole command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..app.jobs import Job
from ..app.predict import PredictRequest
from ..classify.roi import hematoma, roi_slices
from ..errors import ICHError
from ..image import Volume
from ..io import save_labelmap

CAM_VISIBLE_FROM = 0.2  # heat below this share of the map's maximum is not drawn (it would only dim the CT)


def he_blocker(ct: Volume, labels: Volume | None) -> str | None:
    """Why HE cannot run on this mask, in the backend's own words; None when it can.

    `roi_slices` raises its `EmptyMaskError` before any image work, so asking it is cheap.
    """
    mask = labels if labels is not None else ct.with_array(np.zeros(ct.shape, np.uint8))
    if hematoma(mask).any():
        return None
    try:
        roi_slices(ct, mask)
    except ICHError as exc:
        return f"{exc.problem} (segment or load a mask first)" if labels is None else exc.problem
    return None


def load_heatmap(path: str | Path, ct: Volume, what: str = "Grad-CAM heatmap") -> Volume:
    """A map a command wrote (a heatmap, a disagreement map), checked to lie on the CT's grid (it is shown over the CT)."""
    heat = Volume.from_sitk(sitk.ReadImage(str(path), sitk.sitkFloat32))
    if not heat.same_geometry(ct):
        raise ICHError(path, f"the {what} is not on the CT's grid")
    return heat


def heated_slices(heat: Volume, visible_from: float) -> list[int]:
    """1-based axial slices holding heat at or above `visible_from` x the map's maximum."""
    peak = heat.array.reshape(heat.shape[0], -1).max(axis=1)
    top = float(peak.max()) if peak.size else 0.0
    return [] if top <= 0 else [int(k) + 1 for k in np.nonzero(peak >= visible_from * top)[0]]


def heat_note(heated: list[int], shown: int) -> str:
    """What the overlay shows on the slice on screen, and where its heat is (slices in runs)."""
    if not heated:
        return "the heatmap has no heat on any slice"
    runs, start = [], heated[0]
    for prev, k in zip(heated, heated[1:] + [None]):
        if k != prev + 1:
            runs.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = k
    where = f"heat on slice{'s' if len(heated) > 1 else ''} {', '.join(runs)}"
    return f"heat on this slice ({where})" if shown in heated else f"no heat on slice {shown}: {where}"


@dataclass
class RiskJob:
    """One running `ich predict --task all` on a CT and (when HE can run) its current mask."""

    ct: Volume
    ct_path: Path
    labels: Volume | None
    outdir: Path
    blocked: dict[str, str] = field(default_factory=dict)  # task -> why it was not run
    job: Job | None = field(default=None, repr=False)

    def start(self) -> "RiskJob":
        self.outdir = Path(self.outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        why = he_blocker(self.ct, self.labels)
        mask_path = None
        if why:
            self.blocked["he"] = why
        else:  # the mask as edited now, not as loaded
            mask_path = save_labelmap(self.labels, self.outdir / "mask.nii.gz", overwrite=True)
        self.job = Job(PredictRequest(self.ct_path, self.outdir / "out", mask_path).argv()).start()
        return self

    def poll(self) -> list[tuple[str, Any]]:
        return self.job.poll()

    def cancel(self) -> None:
        self.job.cancel()
