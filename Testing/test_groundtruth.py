"""Ground truth saved by annotators: nnU-Net layout, provenance, and what `ich train segment` checks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ichkit.errors import OptionError, OutputExistsError
from ichkit.app.groundtruth import save_ground_truth
from ichkit.segment.source import MaskSource
from ichkit.io import load_ct, load_mask
from ichkit.labels import EDEMA, IPH, IVH
from ichkit.phantom import make_phantom
from ichkit.segment.training.dataset import check_dataset_dir, patient_folds, read_patients

SMALL = {"shape": (8, 64, 64), "spacing": (4.0, 4.0, 5.0)}


def test_cases_accumulate_in_the_layout_ich_dataset_build_writes(tmp_path):
    dataset = tmp_path / "Dataset901_Reviewed"
    for i, seed in enumerate((0, 1, 2)):
        ph = make_phantom(seed, **SMALL)
        paths = save_ground_truth(ph.ct, ph.labels, dataset, f"ICH_{i:03d}", ct_path=f"/data/p{i}.nii.gz",
                                  source=MaskSource("blast-ct-v1-single", "1.0.0"), edited=i == 1,
                                  measurements={"IPH": {"mesh_ml": 1.0}}, patient_id=f"P{i // 2}")
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["labels"] == {"background": 0, "IPH": 1, "IVH": 2} and info["numTraining"] == 3
    assert info["file_ending"] == ".nii.gz" and info["channel_names"] == {"0": "CT"}
    assert read_patients(dataset) == {"ICH_000": "P0", "ICH_001": "P0", "ICH_002": "P1"}
    assert {tuple(sorted(f["val"])) for f in patient_folds(read_patients(dataset), 2)} == {("ICH_000", "ICH_001"), ("ICH_002",)}
    record = json.loads(paths["provenance"].read_text())
    assert record["model"]["id"] == "blast-ct-v1-single" and record["edited"] is False and record["created"] and record["input"] == "/data/p2.nii.gz"
    assert json.loads((dataset / "provenance" / "ICH_001.json").read_text())["edited"] is True
    ct = load_ct(paths["image"])
    assert np.array_equal(ct.array, ph.ct.array)
    assert np.array_equal(load_mask(paths["label"], ct).array, ph.labels.array)
    check_dataset_dir(dataset)


def test_new_label_extends_the_classes_and_overwrite_is_explicit(tmp_path):
    dataset = tmp_path / "Dataset902_X"
    ph = make_phantom(0, **SMALL)
    labels = ph.labels.array.copy()
    labels[labels == IVH] = EDEMA
    save_ground_truth(ph.ct, ph.labels.with_array(labels), dataset, "A")
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["labels"] == {"background": 0, "IPH": 1, "IVH": 2, "edema": 3}
    written = load_mask(dataset / "labelsTr" / "A.nii.gz").array
    assert set(np.unique(written)) == {0, IPH, 3}
    with pytest.raises(OutputExistsError):
        save_ground_truth(ph.ct, ph.labels, dataset, "A")
    save_ground_truth(ph.ct, ph.labels, dataset, "A", overwrite=True)
    rows = list(csv.DictReader((dataset / "patients.csv").open()))
    assert [r["case_id"] for r in rows] == ["A"]
    with pytest.raises(OptionError):
        save_ground_truth(ph.ct, ph.labels, tmp_path / "not_a_dataset", "A")
