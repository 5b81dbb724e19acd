"""ROI slices of the HE classifier (spec 5): the max-area axial slice and its two neighbours,
a square box around the hematoma (plus a margin), window 40/80, resized to 224 x 224.

One box (from the max-area slice, grown by `margin_mm`, made square so resizing keeps the
aspect ratio) serves all three slices: they stay aligned, and a heatmap on the ROI maps back to
the CT through the same box (`RoiStack.box`, used by `ichkit.classify.explain.backproject_roi`). A cohort becomes
an NPY image dataset with its manifest through `ichkit.classify.tasks.build_dataset(TASKS["he"], ...)`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import atomic_path
from ..errors import EmptyMaskError, TooFewSlicesError, warn
from ..image import Volume
from ..labels import IPH
from ..measure import max_area_slice
from ..preprocess.intensity import WINDOW_LEVEL_HU, WINDOW_WIDTH_HU

ROI_SIZE = 224  # spec 5: ViT input
ROI_MARGIN_MM = 10.0  # context around the hematoma's bounding box (the paper gives none; 1 cm)
MIN_HEMATOMA_SLICES = 3  # spec 1 inclusion rule for ROI classification
AIR_HU = -1000.0  # fill outside the scan when the box reaches past the image edge
MANIFEST_COLUMNS = ("patient_id", "scan_id", "slice", "label", "synthetic", "path", "guide")


@dataclass(frozen=True)
class RoiSettings:
    size: int = ROI_SIZE
    margin_mm: float = ROI_MARGIN_MM
    level: float = WINDOW_LEVEL_HU
    width: float = WINDOW_WIDTH_HU
    labels: tuple[int, ...] = (IPH,)  # mask values that are the hematoma
    min_slices: int = MIN_HEMATOMA_SLICES
    on_short: str = "error"  # "error" or "warn" when the hematoma spans fewer than min_slices


@dataclass
class RoiStack:
    images: np.ndarray  # (3, size, size) float32 in [0, 1]: Max-1, Max, Max+1
    slices: tuple[int, int, int]  # axial indices of the three images
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 on the CT slice (may reach past the edges)
    meta: dict = field(default_factory=dict)


def _short_error(source, problem):
    raise TooFewSlicesError(source, problem)


ON_SHORT: dict[str, Callable] = {"error": _short_error, "warn": warn}


def hematoma(mask: Volume, labels=(IPH,)) -> np.ndarray:
    """Boolean hematoma mask; a binary (0/1) mask counts as IPH."""
    return np.isin(mask.array, labels)


def longest_run(mask: np.ndarray) -> int:
    """Longest run of contiguous axial slices that hold hematoma."""
    has = np.count_nonzero(mask, axis=(1, 2)) > 0
    best = run = 0
    for h in has:
        run = run + 1 if h else 0
        best = max(best, run)
    return best


def square_box(slice_mask: np.ndarray, spacing_yx: tuple[float, float], margin_mm: float) -> tuple[int, int, int, int]:
    """Square box (y0, y1, x0, x1) in pixels around the region plus `margin_mm`, in mm-equal sides."""
    ys, xs = np.nonzero(slice_mask)
    cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
    half_mm = max((ys.max() - ys.min() + 1) * spacing_yx[0], (xs.max() - xs.min() + 1) * spacing_yx[1]) / 2 + margin_mm
    hy, hx = (max(1, int(np.ceil(half_mm / s))) for s in spacing_yx)
    return int(round(cy)) - hy, int(round(cy)) + hy, int(round(cx)) - hx, int(round(cx)) + hx


def crop(slice_hu: np.ndarray, box, fill: float = AIR_HU) -> np.ndarray:
    """The box's pixels; parts past the image edge are `fill`."""
    y0, y1, x0, x1 = box
    ny, nx = slice_hu.shape
    out = np.full((y1 - y0, x1 - x0), fill, np.float32)
    sy, sx = slice(max(y0, 0), min(y1, ny)), slice(max(x0, 0), min(x1, nx))
    out[sy.start - y0 : sy.stop - y0, sx.start - x0 : sx.stop - x0] = slice_hu[sy, sx]
    return out


def resize2d(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize with antialiasing (torch), float32."""
    # deferred: torch loads only when ROI slices are resized (synth and the app import this module)
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    shrink = size[0] < image.shape[0] or size[1] < image.shape[1]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False, antialias=shrink)[0, 0].numpy()


def roi_slices(ct: Volume, mask: Volume, settings: RoiSettings = RoiSettings()) -> RoiStack:
    """The three ROI images of one scan (spec 5); an empty mask is an `EmptyMaskError`."""
    source = mask.meta.get("source") or ct.meta.get("source")
    blood = hematoma(mask, settings.labels)
    if not blood.any():
        raise EmptyMaskError(source, "the mask holds no hematoma voxel, so there is no ROI to classify")
    run = longest_run(blood)
    if run < settings.min_slices:
        ON_SHORT[settings.on_short](source, f"the hematoma spans {run} contiguous slice(s); ROI classification needs >= {settings.min_slices} (spec inclusion rule)")
    top, _ = max_area_slice(blood)
    nz = ct.shape[0]
    slices = tuple(int(np.clip(i, 0, nz - 1)) for i in (top - 1, top, top + 1))
    box = square_box(blood[top], (ct.spacing[1], ct.spacing[0]), settings.margin_mm)
    lo = settings.level - settings.width / 2
    images = np.stack([
        np.clip((resize2d(crop(ct.array[z], box), (settings.size, settings.size)) - lo) / settings.width, 0.0, 1.0)
        for z in slices
    ]).astype(np.float32)
    return RoiStack(images, slices, box, {"window": [settings.level, settings.width], "margin_mm": settings.margin_mm})


def write_manifest(path: Path, rows: list[dict], columns=MANIFEST_COLUMNS) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())
    return path


def save_npy(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)
    return path


