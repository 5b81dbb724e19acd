"""nnU-Net v2 engine: dataset building, a real (tiny) training with resume, both inference paths,
and the embedded demo model.

The smoke training runs for real on CPU on four small phantoms (16 x 64 x 64 voxels); it is
shared by the tests of this module (module-scoped fixture), about a minute on two cores.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from ichkit.cli import main
from ichkit.errors import GeometryMismatchError, OptionError
from ichkit.labels import IPH, IVH
from ichkit.phantom import make_phantom, write_phantom_cohort
from ichkit.segment.training.dataset import build_dataset, patient_folds, read_cases, read_patients

SMALL = dict(shape=(16, 64, 64), spacing=(2.0, 2.0, 5.0))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 2.0 * np.logical_and(a, b).sum() / total if total else 1.0


def _cohort(tmp, n=4, same_patient=(0, 1)):
    """Phantom cohort where scans `same_patient` are one patient's baseline and follow-up."""
    write_phantom_cohort(tmp / "cohort", n, seed=3, **SMALL)
    path = tmp / "cohort" / "cohort.csv"
    rows = list(csv.DictReader(open(path)))
    for i in same_patient:
        rows[i]["patient_id"] = "patient_A"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=rows[0].keys())
        w.writeheader()
        w.writerows(rows)
    return path


def test_dataset_build_layout_and_patient_grouping(tmp_path):
    csv_path = _cohort(tmp_path, n=5)
    out = tmp_path / "Dataset950_Test"
    assert main(["dataset", "build", str(csv_path), "-o", str(out), "--no-progress"]) == 0
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["labels"] == {"background": 0, "IPH": 1, "IVH": 2}
    assert ds["channel_names"] == {"0": "CT"} and ds["numTraining"] == 5 and ds["file_ending"] == ".nii.gz"
    cases = sorted(p.name.removesuffix("_0000.nii.gz") for p in (out / "imagesTr").iterdir())
    assert cases == sorted(p.name.removesuffix(".nii.gz") for p in (out / "labelsTr").iterdir())
    assert len(cases) == 5
    # labels on the CT grid, with the product values mapped to consecutive classes
    import SimpleITK as sitk

    img = sitk.ReadImage(str(out / "imagesTr" / f"{cases[0]}_0000.nii.gz"))
    lab = sitk.ReadImage(str(out / "labelsTr" / f"{cases[0]}.nii.gz"))
    assert img.GetSize() == lab.GetSize() and img.GetSpacing() == lab.GetSpacing()
    assert set(np.unique(sitk.GetArrayFromImage(lab))) <= {0, 1, 2}
    # patient grouping: baseline and follow-up of patient_A never straddle folds
    patients = read_patients(out)
    assert sum(p == "patient_A" for p in patients.values()) == 2
    splits = patient_folds(patients, n_folds=5)
    assert len(splits) == 4  # four patients -> at most four folds
    assert sorted(c for s in splits for c in s["val"]) == sorted(patients)
    for s in splits:
        val_patients = {patients[c] for c in s["val"]}
        assert not val_patients & {patients[c] for c in s["train"]}


def test_dataset_build_refuses_bad_input(tmp_path, capsys):
    csv_path = _cohort(tmp_path, n=2)
    with pytest.raises(OptionError, match="DatasetNNN_Name"):
        build_dataset(csv_path, tmp_path / "not_a_dataset_name")
    # a mask on another grid is named, with the file
    other = make_phantom(1, shape=(16, 64, 48), spacing=(2.0, 2.0, 5.0))
    from ichkit.io import save_labelmap

    save_labelmap(other.labels, tmp_path / "cohort" / "phantom_001_labels.nii.gz", overwrite=True)
    with pytest.raises(GeometryMismatchError, match="phantom_001_labels"):
        build_dataset(csv_path, tmp_path / "Dataset951_Bad")
    (tmp_path / "bad.csv").write_text("patient_id,ct\nA,x.nii.gz\n")
    assert main(["dataset", "build", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "Dataset952_X"), "--no-progress"]) == 2
    assert "needs the column(s) ct and mask" in capsys.readouterr().err
    # the one cohort reader: Excel's byte-order mark is skipped; a row without a patient is named
    rows = csv_path.read_text(encoding="utf-8").splitlines()
    (tmp_path / "bom.csv").write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")
    assert [c.scan_id for c in read_cases(tmp_path / "bom.csv")] == [c.scan_id for c in read_cases(csv_path)]
    header = rows[0].split(",")
    nobody = rows[1].split(",")
    nobody[header.index("patient_id")] = ""
    (tmp_path / "nobody.csv").write_text("\n".join([rows[0], ",".join(nobody)]) + "\n")
    with pytest.raises(OptionError, match="line 2: .* has no patient_id"):
        read_cases(tmp_path / "nobody.csv")


def test_umamba_needs_cuda_and_mamba(tmp_path, capsys):
    assert main(["train", "segment", str(tmp_path / "Dataset953_X"), "--arch", "umamba", "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "U-Mamba needs" in err and "mamba-ssm" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Build a 4-phantom dataset, train 1 epoch, then resume to epoch 2 (both through the CLI)."""
    tmp = tmp_path_factory.mktemp("smoke")
    csv_path = _cohort(tmp, n=4)
    dataset = tmp / "Dataset954_Smoke"
    assert main(["dataset", "build", str(csv_path), "-o", str(dataset), "--no-progress"]) == 0
    common = ["train", "segment", str(dataset), "--preset", "smoke", "--device", "cpu", "-o", str(tmp / "work"), "--no-progress", "--json"]
    return tmp, dataset, common


def test_smoke_training_and_resume(smoke, capsys):
    tmp, dataset, common = smoke
    assert main(common + ["--epochs", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["epochs_done"] == 1 and first["resumed_from_epoch"] == 0
    fold = tmp / "work" / "nnUNet_results" / dataset.name / "nnUNetTrainerICH_smoke__nnUNetPlans_smoke__3d_fullres" / "fold_0"
    assert torch.load(fold / "checkpoint_final.pth", weights_only=False)["current_epoch"] == 1
    # the patient-grouped split is the one nnU-Net used
    splits = json.loads((tmp / "work" / "nnUNet_preprocessed" / dataset.name / "splits_final.json").read_text())
    assert splits == patient_folds(read_patients(dataset))
    assert main(common + ["--epochs", "2"]) == 2  # an existing checkpoint is never silently overwritten
    assert "--resume" in capsys.readouterr().err
    assert main(common + ["--epochs", "2", "--resume"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["resumed_from_epoch"] == 1 and second["epochs_done"] == 2
    assert torch.load(fold / "checkpoint_final.pth", weights_only=False)["current_epoch"] == 2
    assert (fold / "torchscript" / "network.pt").is_file() and (fold / "torchscript" / "preprocessing.json").is_file()
    assert main(common + ["--fold", "7"]) == 2  # 3 patients make 3 folds; nnU-Net would silently split at random
    assert "make 3 folds" in capsys.readouterr().err


def test_kill_9_during_training_then_resume_continues(smoke, capsys):
    """SIGKILL a training process once it has written a checkpoint; --resume picks up from there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    tmp, dataset, common = smoke
    work = tmp / "killed"
    args = [a if a != str(tmp / "work") else str(work) for a in common]
    child = subprocess.Popen([sys.executable, "-m", "ichkit", *args, "--epochs", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = work / "nnUNet_results" / dataset.name / "nnUNetTrainerICH_smoke__nnUNetPlans_smoke__3d_fullres" / "fold_0" / "checkpoint_latest.pth"
    deadline = time.monotonic() + 600
    while not latest.is_file() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert child.poll() is None, "the training ended before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = torch.load(latest, weights_only=False)["current_epoch"]
    assert done >= 1
    assert main(args + ["--epochs", str(done + 1), "--resume"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["resumed_from_epoch"] == done and out["epochs_done"] == done + 1


def test_lean_path_matches_nnunet_predictor(smoke):
    from ichkit.segment.lean import LeanSegmenter
    from ichkit.segment.nnunet_predict import NnUNetSegmenter

    tmp, dataset, _ = smoke
    model_dir = tmp / "work" / "nnUNet_results" / dataset.name / "nnUNetTrainerICH_smoke__nnUNetPlans_smoke__3d_fullres"
    if not (model_dir / "fold_0" / "torchscript" / "network.pt").is_file():
        pytest.skip("smoke training did not run")
    ct = make_phantom(99, **SMALL).ct
    for tta in (False, True):
        ref = NnUNetSegmenter(model_dir, tta=tta).predict(ct).labels
        lean = LeanSegmenter(model_dir / "fold_0" / "torchscript", tta=tta, nnunet_windows=True).predict(ct).labels
        assert lean.same_geometry(ct) and lean.array.dtype == np.uint8
        # (nnU-Net's CPU predictor accumulates in float16, the lean path in float32: near-ties of
        # this barely trained network may differ, hence Dice rather than identity)
        for value in (IPH, IVH):
            assert dice(ref.array == value, lean.array == value) >= 0.99


def test_export_turns_back_into_an_nnunet_model_folder(smoke, tmp_path):
    """plans.json and dataset.json travel with the export; the traced weights rebuild nnU-Net's checkpoint."""
    from ichkit.segment.training.export import nnunet_model_folder
    from ichkit.segment.nnunet_predict import NnUNetSegmenter

    tmp, dataset, _ = smoke
    model_dir = tmp / "work" / "nnUNet_results" / dataset.name / "nnUNetTrainerICH_smoke__nnUNetPlans_smoke__3d_fullres"
    if not (model_dir / "fold_0" / "torchscript" / "network.pt").is_file():
        pytest.skip("smoke training did not run")
    rebuilt = nnunet_model_folder(model_dir / "fold_0" / "torchscript", tmp_path / "rebuilt")
    trained = torch.load(model_dir / "fold_0" / "checkpoint_final.pth", weights_only=False)["network_weights"]
    weights = torch.load(rebuilt / "fold_all" / "checkpoint_final.pth", weights_only=False)["network_weights"]
    assert weights.keys() == trained.keys() and all(torch.equal(weights[k], trained[k]) for k in trained)
    ct = make_phantom(99, **SMALL).ct
    ref = NnUNetSegmenter(model_dir).predict(ct).labels.array
    assert np.array_equal(NnUNetSegmenter(rebuilt).predict(ct).labels.array, ref)


def test_demo_model_is_shipped_and_registered(ich_cache):
    """The embedded demo model: <= 10 MB, sha256 as registered, segments a phantom on its grid."""
    from ichkit.models import load_registry
    from ichkit.segment.engines import create_segmenter
    from ichkit.models.checksum import sha256_file
    from ichkit.resources import resource_path

    entry = load_registry().get("ich-demo-phantom")
    assert entry.demo and entry.task == "segmentation" and entry.architecture == "nnunet-torchscript"
    assert "not for clinical use" in entry.card_text().lower()
    for f in entry.files:
        assert f.url.startswith("resources://")
        path = resource_path(f.url.removeprefix("resources://"))
        assert path.stat().st_size == f.size and sha256_file(path) == f.sha256
    assert entry.size <= 10 * 1024 * 1024
    segmenter = create_segmenter(entry)  # installs from the resources into the (private) cache
    seed = int(np.random.SeedSequence(1).spawn(1)[0].generate_state(1)[0])  # held out (training: cohort seed 0)
    ph = make_phantom(seed)
    result = segmenter.predict(ph.ct)
    assert result.labels.same_geometry(ph.ct) and result.model_id == "ich-demo-phantom"
    assert dice(result.labels.array == IPH, ph.labels.array == IPH) >= 0.6


def test_demo_model_reaches_the_acceptance_dice(ich_cache):
    """One held-out phantom (cohort seed 1, never trained on); bench/eval_demo_model.py runs all 20.
    The default path (body crop, one whole-volume pass) gives the mask of nnU-Net's whole-field windows."""
    from ichkit.models import load_registry
    from ichkit.segment.engines import create_segmenter

    segmenter = create_segmenter(load_registry().get("ich-demo-phantom"))
    seed = int(np.random.SeedSequence(1).spawn(1)[0].generate_state(1)[0])
    ph = make_phantom(seed)
    labels = segmenter.predict(ph.ct).labels.array
    assert dice(labels == IPH, ph.labels.array == IPH) >= 0.9
    assert dice(labels == IVH, ph.labels.array == IVH) >= 0.9
    iph_ml = np.count_nonzero(labels == IPH) * ph.ct.voxel_volume_ml
    assert abs(iph_ml - ph.volumes_ml["IPH"]) <= 0.05 * ph.volumes_ml["IPH"]
    segmenter.nnunet_windows = True
    windows = segmenter.predict(ph.ct).labels.array
    for value in (IPH, IVH):
        assert dice(labels == value, windows == value) >= 0.99


def test_body_box_covers_the_head_with_a_margin():
    from ichkit.image import Volume
    from ichkit.segment.lean import body_box

    hu = np.full((10, 40, 50), -1000.0, np.float32)
    hu[3:6, 10:20, 5:45] = 40.0
    ct = Volume(hu, spacing=(1.0, 2.0, 5.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))
    assert body_box(ct, margin_mm=4.0) == (slice(2, 7), slice(8, 22), slice(1, 49))
    assert body_box(ct.with_array(np.full_like(hu, -1000.0))) is None
