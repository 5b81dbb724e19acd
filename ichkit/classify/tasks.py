"""The three classification tasks: what a sample is, how a scan becomes samples, how sample
probabilities become one patient probability. One registry; train, predict and the dataset
builder look tasks up here.

Sample files are NPY arrays in [0, 1] listed in a manifest CSV (patient_id, scan_id, slice,
label, synthetic, path, guide; location adds `location`: class index, or -1 on slices without
ICH). `guide` names a uint8 NPY on the sample's grid, 1 within 10 mm of the hematoma, written
for samples whose scan has a hematoma in its mask: what Grad-CAM guidance trains the heatmap
onto (`ichkit.classify.guidance`); empty where there is none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import check_writable, write_json
from ..cohort import read_cohort
from ..errors import OptionError, TableError
from ..image import Volume
from ..io import load_cohort_ct, load_mask
from ..labels import IPH
from ..progress import Progress, silent
from .explain import near_lesion
from .guidance import guide_map
from .inputs import SliceSettings, VolumeSettings, resize_inplane, slice_inputs, volume_input, volume_layout
from .roi import MANIFEST_COLUMNS, RoiSettings, crop, resize2d, roi_slices, save_npy, write_manifest

DATASET_JSON = "dataset.json"  # the task and input settings of a built dataset
LOCATION_CLASSES = ("deep", "lobar", "infratentorial")  # spec 7
ICH_SLICE_MIN_MM2 = 20.0  # a slice counts as ICH for DTViT training when it holds this much hematoma


@dataclass(frozen=True)
class Task:
    name: str
    classes: dict[str, tuple[str, ...]]  # head -> class names
    targets: dict[str, str]  # head -> manifest column
    default_arch: str
    needs_mask: bool
    samples: Callable  # (ct, mask, settings, label) -> list of (slice index, array, extra columns)
    settings: type
    samples_need_mask: bool = True  # building a dataset reads each scan's mask (HT's volume does not)
    cam_head: str = "label"  # the head Grad-CAM explains: its class 1 when binary, else the (predicted / true) class
    columns: tuple[str, ...] = MANIFEST_COLUMNS
    description: str = ""
    title: str = ""  # how the front ends name the task


def _near(ct: Volume, mask: Volume | None) -> np.ndarray | None:
    """The 10 mm-dilated hematoma on the CT grid (float 0/1), None without one."""
    if mask is None or not (mask.array == IPH).any():
        return None
    return near_lesion(mask.array == IPH, ct.spacing).astype(np.float32)


def _he_samples(ct: Volume, mask: Volume, s: RoiSettings, label: int):
    stack = roi_slices(ct, mask, s)
    near = _near(ct, mask)
    return [(z, stack.images[k], {"guide": guide_map(resize2d(crop(near[z], stack.box, 0.0), (s.size, s.size)))})
            for k, z in enumerate(stack.slices)]


def _ht_samples(ct: Volume, mask, s: VolumeSettings, label: int):
    near = _near(ct, mask)
    guide = {} if near is None else {"guide": guide_map(volume_layout(ct.with_array(near), s))}
    return [(-1, volume_input(ct, s).array, guide)]


def _location_samples(ct: Volume, mask: Volume, s: SliceSettings, label: int):
    """Every slice: ICH (hematoma area >= ICH_SLICE_MIN_MM2) with the scan's location, else normal;
    ICH slices carry the guide map."""
    images, _ = slice_inputs(ct, s)
    area = np.count_nonzero(mask.array == IPH, axis=(1, 2)) * ct.spacing[0] * ct.spacing[1]
    near = _near(ct, mask)
    guides = guide_map(resize_inplane(ct.with_array(near), s.size).array) if near is not None else None
    return [(z, images[z], {"label": int(a >= ICH_SLICE_MIN_MM2), "location": int(label) if a >= ICH_SLICE_MIN_MM2 else -1,
                            **({"guide": guides[z]} if a >= ICH_SLICE_MIN_MM2 else {})})
            for z, a in enumerate(area)]


TASKS: dict[str, Task] = {
    "he": Task("he", {"label": ("no expansion", "expansion")}, {"label": "label"}, "vit_he", True, _he_samples, RoiSettings,
               description="hematoma expansion from ROI slices (ViT, spec 5)", title="Hematoma expansion"),
    "ht": Task("ht", {"label": ("no transformation", "haemorrhagic transformation")}, {"label": "label"}, "ctnet_ht", False,
               _ht_samples, VolumeSettings, samples_need_mask=False, description="haemorrhagic transformation from the whole NCCT (CTNet, spec 6)",
               title="Hemorrhagic transformation"),
    "location": Task("location", {"ich": ("normal", "ICH"), "location": LOCATION_CLASSES}, {"ich": "label", "location": "location"},
                     "dtvit_location", False, _location_samples, SliceSettings, cam_head="location", columns=MANIFEST_COLUMNS + ("location",),
                     description="ICH vs normal and hematoma location from slices (DTViT, spec 7)", title="Location"),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise OptionError(None, f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def build_dataset(task: Task, scans: list[dict], outdir: str | Path, settings=None, *,
                  load: Callable[[dict], tuple[Volume, Volume | None]], progress: Progress = silent, overwrite: bool = False) -> list[dict]:
    """A cohort -> one NPY per sample plus `manifest.csv` (paths relative to `outdir`).

    `scans` rows carry patient_id, scan_id, label (optionally synthetic); `load(row)` gives the
    row's (CT, mask), so any cohort layout (phantoms in memory, files on disk) fits.
    """
    settings = settings or task.settings()
    outdir = Path(outdir)
    manifest = check_writable(outdir / "manifest.csv", overwrite)
    rows = []
    for i, scan in enumerate(scans):
        progress(i, len(scans), scan["scan_id"])
        ct, mask = load(scan)
        for k, (z, array, extra) in enumerate(task.samples(ct, mask, settings, int(scan["label"]))):
            rel = f"samples/{scan['scan_id']}_{k:03d}.npy"
            save_npy(outdir / rel, array.astype(np.float32))
            guide = extra.pop("guide", None)
            if guide is not None:
                extra["guide"] = f"samples/{scan['scan_id']}_{k:03d}_guide.npy"
                save_npy(outdir / extra["guide"], guide)
            rows.append({"patient_id": scan["patient_id"], "scan_id": scan["scan_id"], "slice": z, "label": int(scan["label"]),
                         "synthetic": int(scan.get("synthetic", 0)), "path": rel, **extra})
    write_manifest(manifest, rows, task.columns)
    write_json(outdir / DATASET_JSON, {"task": task.name, "settings": asdict(settings)})
    progress(len(scans), len(scans), "done")
    return rows


def cohort_scans(task: Task, cohort_csv: str | Path, outcome: str) -> list[dict]:
    """`build_dataset` rows from a cohort CSV: each scan's class from column `outcome` (location
    classes by name or index); the mask is required where the task reads one."""
    names = task.classes[task.cam_head]
    scans = []
    for scan in read_cohort(cohort_csv, require_mask=task.samples_need_mask):
        if outcome not in scan.extra:
            raise TableError(cohort_csv, f"has no column {outcome!r} (the class of each scan; ct, mask, label, scan_id, patient_id, timepoint, series mean other things)")
        value = str(scan.extra[outcome]).strip()
        label = names.index(value) if value in names else int(value) if value.isdigit() else -1
        if not 0 <= label < len(names):
            raise TableError(cohort_csv, f"scan {scan.scan_id}: {outcome} {value!r} is not one of {', '.join(names)} or 0-{len(names) - 1}")
        scans.append({"patient_id": scan.patient_id or scan.scan_id, "scan_id": scan.scan_id, "label": label,
                      "ct": scan.ct, "mask": scan.mask, "series": scan.series})
    return scans


def load_scan(row: dict) -> tuple[Volume, Volume | None]:
    """`load` for `build_dataset` on `cohort_scans` rows: the CT and its mask, if any."""
    ct = load_cohort_ct(row)
    return ct, (load_mask(row["mask"], ct) if row.get("mask") else None)


def settings_from(task: Task, saved: dict | None):
    """The task's input settings as saved with a dataset or model (tuples restored)."""
    saved = saved or {}
    return task.settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})


# ---- sample probabilities -> one result per scan -------------------------------------------

def mean_probability(probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """HE (spec 5): the patient probability is the mean over the three ROI slices."""
    return {head: p.mean(axis=0) for head, p in probs.items()}


def ich_weighted_location(probs: dict[str, np.ndarray], ich_class: int = 1) -> dict[str, np.ndarray]:
    """Location: P(ICH) of the scan is its most likely ICH slice; the location is the average of
    the slices' location probabilities weighted by their P(ICH)."""
    w = probs["ich"][:, ich_class]
    ich = probs["ich"][int(np.argmax(w))]
    location = (probs["location"] * w[:, None]).sum(axis=0) / max(float(w.sum()), 1e-8)
    return {"ich": ich, "location": location}


AGGREGATE: dict[str, Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]] = {
    "he": mean_probability,
    "ht": mean_probability,  # one sample per scan
    "location": ich_weighted_location,
}
