"""Cohorts (CT + label mask per scan) -> nnU-Net v2 raw datasets, and patient-grouped folds.

Why patient grouping: the methods retrain on baseline AND follow-up scans of the same patients;
if two scans of one patient fell in different folds, validation would see a near-copy of a
training case. `patients.csv` records the patient of every case, and `write_patient_splits`
turns it into nnU-Net's `splits_final.json` so that every patient sits in exactly one fold.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...atomic import atomic_path, check_writable, write_json
from ...cohort import read_cohort
from ...errors import OptionError
from ...labels import EAH, EDEMA, IPH, IVH, LABELS
from ...parallel import map_cases
from ...progress import Progress, silent

COHORT_CSV = "cohort.csv"
PATIENTS_CSV = "patients.csv"
SPLITS_JSON = "splits_final.json"
FILE_ENDING = ".nii.gz"
ALWAYS_LABELS = (IPH, IVH)  # the spec's classes; edema and EAH join only when a mask holds them
OPTIONAL_LABELS = (EDEMA, EAH)
DATASET_NAME = re.compile(r"^Dataset\d{3}_[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Case:
    case_id: str
    patient_id: str
    scan_id: str
    ct: Path
    mask: Path


def check_dataset_dir(path: str | Path) -> Path:
    """nnU-Net finds datasets by folder name: DatasetNNN_Name (three-digit id)."""
    path = Path(path)
    if not DATASET_NAME.match(path.name):
        raise OptionError(path, "the dataset folder must be named DatasetNNN_Name (three digits, as nnU-Net requires), e.g. Dataset501_ICH")
    return path


def read_cases(source: str | Path) -> list[Case]:
    """The cohort CSV (or `cohort.csv` in a folder), read by `ichkit.cohort` as every command reads
    it; here every row needs a mask and a patient (the folds are grouped by patient)."""
    source = Path(source)
    csv_path = source / COHORT_CSV if source.is_dir() else source
    if not csv_path.is_file():
        raise OptionError(csv_path, "no cohort CSV here (columns: patient_id, scan_id, ct, mask)")
    cases, seen = [], {}
    for line, scan in enumerate(read_cohort(csv_path, require_mask=True), start=2):
        if not scan.patient_id:
            raise OptionError(csv_path, f"line {line}: scan {scan.scan_id!r} has no patient_id (the folds are grouped by patient)")
        case_id = re.sub(r"[^A-Za-z0-9_-]+", "_", scan.scan_id)
        if case_id in seen:
            raise OptionError(csv_path, f"lines {seen[case_id]} and {line}: two scan ids make the one case id {case_id!r}")
        seen[case_id] = line
        cases.append(Case(case_id, scan.patient_id, scan.scan_id, Path(scan.ct), Path(scan.mask)))
    return cases


def build_dataset(source: str | Path, out: str | Path, *, overwrite: bool = False, progress: Progress = silent,
                  workers: int = 1) -> dict:
    """Write imagesTr/, labelsTr/, dataset.json and patients.csv; every scan is validated first.

    Network classes are consecutive (nnU-Net requires it): background, IPH, IVH, then edema and
    EAH if any mask holds them. Scans are read once to validate and once to write, never all held
    in memory; `workers` processes share both passes. Returns the dataset.json content.
    """
    out = check_dataset_dir(out)
    check_writable(out / "dataset.json", overwrite)
    cases = read_cases(source)
    present: set[int] = set()
    for i, labels in enumerate(map_cases(_labels_present, cases, workers)):
        progress(i, 2 * len(cases), f"checked {cases[i].scan_id}")
        present |= labels
    unknown = present - set(ALWAYS_LABELS) - set(OPTIONAL_LABELS)
    if unknown:
        raise OptionError(source, f"masks hold label value(s) {sorted(unknown)}; the product knows 1 IPH, 2 IVH, 3 edema, 4 EAH")
    product_labels = list(ALWAYS_LABELS) + [v for v in OPTIONAL_LABELS if v in present]
    to_class = np.zeros(256, np.uint8)
    for k, v in enumerate(product_labels, start=1):
        to_class[v] = k
    jobs = [(case, out, to_class) for case in cases]
    for i, _ in enumerate(map_cases(_write_case, jobs, workers)):
        progress(len(cases) + i, 2 * len(cases), f"wrote {cases[i].case_id}")
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, **{LABELS[v].key: k for k, v in enumerate(product_labels, start=1)}},
        "numTraining": len(cases),
        "file_ending": FILE_ENDING,
        "name": out.name,
        "description": f"built by `ich dataset build` from {Path(source).name}; patient of each case in {PATIENTS_CSV}",
    }
    _write_patients(out / PATIENTS_CSV, cases)
    write_json(out / "dataset.json", dataset)
    progress(2 * len(cases), 2 * len(cases), "done")
    return dataset


def _load_case(case: Case):
    # deferred: io loads only when cases are read (`ich --help` loads this module)
    from ...io import load_ct, load_mask

    ct = load_ct(case.ct)
    return ct, load_mask(case.mask, ct, allow_empty=True)


def _labels_present(case: Case) -> set[int]:
    return set(np.unique(_load_case(case)[1].array).tolist()) - {0}


def _write_case(job) -> None:
    case, out, to_class = job
    ct, mask = _load_case(case)
    _write_image(ct.to_sitk(), out / "imagesTr" / f"{case.case_id}_0000{FILE_ENDING}")
    _write_image(ct.with_array(to_class[mask.array]).to_sitk(), out / "labelsTr" / f"{case.case_id}{FILE_ENDING}")


def _write_image(img, path: Path) -> None:
    # deferred: SimpleITK loads only when cases are written (`ich --help` loads this module)
    import SimpleITK as sitk

    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), True)


def _write_patients(path: Path, cases: list[Case]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["case_id", "patient_id", "scan_id", "ct", "mask"])
    writer.writerows([c.case_id, c.patient_id, c.scan_id, str(c.ct), str(c.mask)] for c in cases)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def read_patients(dataset_dir: str | Path) -> dict[str, str]:
    """case_id -> patient_id, from the dataset's patients.csv."""
    path = Path(dataset_dir) / PATIENTS_CSV
    if not path.is_file():
        raise OptionError(path, "missing: build the dataset with `ich dataset build` (it records each case's patient)")
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["case_id"]: r["patient_id"] for r in csv.DictReader(fh)}


def patient_folds(patients: dict[str, str], n_folds: int = 5, seed: int = 12345) -> list[dict[str, list[str]]]:
    """Cross-validation splits where all cases of one patient share a fold (shuffled, seeded)."""
    groups: dict[str, list[str]] = {}
    for case, patient in sorted(patients.items()):
        groups.setdefault(patient, []).append(case)
    if len(groups) < 2:
        raise OptionError(None, f"cross-validation needs at least 2 patients; the dataset has {len(groups)}")
    n_folds = min(n_folds, len(groups))
    order = sorted(groups)
    np.random.default_rng(seed).shuffle(order)
    fold_of = {p: i % n_folds for i, p in enumerate(order)}
    all_cases = sorted(patients)
    splits = []
    for k in range(n_folds):
        val = sorted(c for c in all_cases if fold_of[patients[c]] == k)
        splits.append({"train": [c for c in all_cases if c not in set(val)], "val": val})
    return splits


def write_patient_splits(dataset_dir: str | Path, preprocessed_dir: str | Path, n_folds: int = 5, seed: int = 12345) -> Path:
    """nnU-Net uses `splits_final.json` from the preprocessed folder when it exists."""
    return write_json(Path(preprocessed_dir) / SPLITS_JSON, patient_folds(read_patients(dataset_dir), n_folds, seed))
