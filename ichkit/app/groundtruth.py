"""Ground truth for training: a reviewed mask, with where it came from, added to an nnU-Net dataset.

Annotators refine a model's mask (in Slicer or the web workstation) and save it here; the folder
is then what `ich train segment` takes. The layout is the one `ich dataset build` writes:
imagesTr/CASE_0000.nii.gz, labelsTr/CASE.nii.gz (consecutive network classes), dataset.json and
patients.csv, plus provenance/CASE.json (`app.segment.provenance`, the record every mask carries):
the model that made the mask, whether a person edited it, when, and the measurements, so a
dataset can always say which labels a person checked.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, check_writable, write_json
from ..errors import OptionError
from ..image import Volume
from ..io import save_labelmap, save_volume
from ..labels import LABELS
from ..segment.training.dataset import ALWAYS_LABELS, FILE_ENDING, OPTIONAL_LABELS, PATIENTS_CSV, check_dataset_dir
from ..segment.source import MaskSource
from .segment import provenance

CHANNEL = "_0000"  # nnU-Net's suffix for the first (only) image channel
PATIENT_COLUMNS = ("case_id", "patient_id", "scan_id", "ct", "mask")
VALUE_OF_KEY = {lab.key: value for value, lab in LABELS.items()}


def _dataset_json(dataset: Path) -> dict:
    path = dataset / "dataset.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"channel_names": {"0": "CT"}, "labels": {"background": 0, **{LABELS[v].key: k for k, v in enumerate(ALWAYS_LABELS, 1)}},
            "numTraining": 0, "file_ending": FILE_ENDING, "name": dataset.name,
            "description": "ground truth saved by annotators (ichkit.app.groundtruth); provenance per case in provenance/"}


def _classes(dataset_json: dict, labels: np.ndarray, dataset: Path) -> dict[str, int]:
    """The dataset's product-label -> network-class map, extended by labels this mask adds."""
    classes = dict(dataset_json["labels"])
    for value in sorted(set(np.unique(labels).tolist()) - {0}):
        if value not in ALWAYS_LABELS + OPTIONAL_LABELS:
            raise OptionError(dataset, f"the mask holds label value {value}; the product knows 1 IPH, 2 IVH, 3 edema, 4 EAH")
        classes.setdefault(LABELS[value].key, max(classes.values()) + 1)
    return classes


def _patients(dataset: Path, row: dict) -> str:
    path = dataset / PATIENTS_CSV
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8"))) if path.is_file() else []
    rows = [r for r in rows if r["case_id"] != row["case_id"]] + [row]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PATIENT_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def save_ground_truth(
    ct: Volume,
    labels: Volume,
    dataset: str | Path,
    case_id: str,
    *,
    ct_path: str | Path = "",
    source: MaskSource | None = None,
    edited: bool = False,
    measurements: dict | None = None,
    patient_id: str | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Add (or with `overwrite`, replace) one case; returns the paths written.

    `patient_id` (default: the case) goes to patients.csv, which keeps cross-validation folds
    patient-grouped when baseline and follow-up of one patient are both saved.
    """
    dataset = check_dataset_dir(dataset)
    paths = {
        "image": dataset / "imagesTr" / f"{case_id}{CHANNEL}{FILE_ENDING}",
        "label": dataset / "labelsTr" / f"{case_id}{FILE_ENDING}",
        "provenance": dataset / "provenance" / f"{case_id}.json",
    }
    for path in paths.values():
        check_writable(path, overwrite)
    info = _dataset_json(dataset)
    classes = _classes(info, labels.array, dataset)
    to_class = np.zeros(256, np.uint8)
    for key, k in classes.items():
        to_class[VALUE_OF_KEY.get(key, 0)] = k
    save_volume(ct, paths["image"], overwrite=overwrite)
    save_labelmap(labels.with_array(to_class[labels.array]), paths["label"], overwrite=overwrite)
    write_json(paths["provenance"], provenance(source.model() if source else None, ct_path, case=case_id, mask=source.path if source else "",
                                               edited=bool(edited), measurements=measurements or {}))
    patients = _patients(dataset, {"case_id": case_id, "patient_id": patient_id or case_id, "scan_id": case_id,
                                   "ct": str(ct_path), "mask": str(paths["label"])})
    with atomic_path(dataset / PATIENTS_CSV) as tmp:
        tmp.write_text(patients)
    info.update(labels=classes, numTraining=len(list((dataset / "labelsTr").glob(f"*{FILE_ENDING}"))))
    write_json(dataset / "dataset.json", info)
    return paths
