"""The synthetic head phantom: deterministic, anatomically plausible, exact ground truth."""

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from ichkit.errors import OutputExistsError
from ichkit.phantom import BRACE, BRAIN, CSF, SCALP, SKULL, make_phantom, write_phantom, write_phantom_cohort

SMALL = dict(shape=(32, 256, 256), spacing=(1.0, 1.0, 5.0))  # the full 256 mm FOV at a quarter of the voxels
TINY = dict(shape=(12, 96, 96), spacing=(2.0, 2.0, 10.0))


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(3, **SMALL)


@pytest.fixture(scope="module")
def braced():
    return make_phantom(3, brace=True, **SMALL)


def test_same_seed_same_phantom_other_seed_other_phantom(phantom):
    again = make_phantom(3, **SMALL)
    assert np.array_equal(again.ct.array, phantom.ct.array)
    assert np.array_equal(again.labels.array, phantom.labels.array)
    assert again.params == phantom.params and again.volumes_ml == phantom.volumes_ml
    other = make_phantom(4, **SMALL)
    assert not np.array_equal(other.labels.array, phantom.labels.array)
    assert other.params["seed"] == 4


def test_geometry_and_types(phantom):
    ct, lab = phantom.ct, phantom.labels
    assert ct.shape == (32, 256, 256) and ct.array.dtype == np.int16 and lab.array.dtype == np.uint8
    assert ct.spacing == (1.0, 1.0, 5.0) and np.array_equal(ct.direction, np.eye(3))
    assert ct.same_geometry(lab) and ct.same_geometry(phantom.tissue)
    centre = ct.index_to_physical() @ np.array([*(np.array(ct.shape[::-1]) - 1) / 2, 1.0])
    assert np.allclose(centre[:3], 0.0)  # the FOV is centred on the origin
    json.dumps(phantom.params)
    assert set(np.unique(lab.array)) == {0, 1, 2}


def test_volumes_are_voxel_counts(phantom):
    vox = phantom.ct.voxel_volume_ml
    assert phantom.volumes_ml["IPH"] == pytest.approx(np.count_nonzero(phantom.labels.array == 1) * vox)
    assert phantom.volumes_ml["IVH"] == pytest.approx(np.count_nonzero(phantom.labels.array == 2) * vox)
    assert phantom.volumes_ml["IPH"] == pytest.approx(phantom.params["hematoma_target_ml"], rel=0.1)
    assert 5.0 * 0.9 <= phantom.volumes_ml["IPH"] <= 60.0


def test_intensities_by_tissue(phantom):
    ct, t, lab = phantom.ct.array.astype(float), phantom.tissue.array, phantom.labels.array
    assert 50 <= ct[lab == 1].mean() <= 90
    assert 50 <= ct[lab == 2].mean() <= 80
    assert 25 <= ct[(t == BRAIN) & (lab == 0)].mean() <= 45
    assert 0 <= ct[(t == CSF) & (lab == 0)].mean() <= 10
    assert 700 <= ct[t == SKULL].mean() <= 1500 and ct[t == SKULL].min() >= 650
    assert ct[t == 0].mean() == pytest.approx(-1000, abs=2)


def test_hematoma_is_one_clot_inside_the_brain(phantom):
    iph = phantom.labels.array == 1
    assert ndimage.label(iph, np.ones((3, 3, 3)))[1] == 1
    assert np.all(phantom.tissue.array[iph] == BRAIN)
    grown = ndimage.binary_dilation(iph, np.ones((1, 5, 5), bool))  # 2 mm in-plane
    assert not np.any(grown & (phantom.tissue.array == SKULL))


def test_head_leaves_air_around_it(phantom):
    ct = phantom.ct.array
    border = np.concatenate([ct[:, 0].ravel(), ct[:, -1].ravel(), ct[:, :, 0].ravel(), ct[:, :, -1].ravel()])
    assert border.max() < -900
    head = np.isin(phantom.tissue.array, (SCALP, SKULL, BRAIN, CSF))
    assert 0.2 < head.mean() < 0.6


def test_brace_present_only_when_asked(phantom, braced):
    assert not np.any(phantom.tissue.array == BRACE)
    assert np.array_equal(phantom.ct.array >= 300, phantom.tissue.array == SKULL)
    brace = braced.tissue.array == BRACE
    assert brace.any() and np.all(braced.ct.array[brace] >= 300)
    assert brace[:, :, 0].any() and brace[:, :, -1].any()  # leaves the image laterally
    head = np.isin(braced.tissue.array, (SCALP, SKULL, BRAIN, CSF))
    assert not np.any(ndimage.binary_dilation(head, np.ones((1, 7, 7), bool)) & brace)  # air gap >= 3 mm
    assert np.array_equal(braced.labels.array, phantom.labels.array)


def test_no_ivh_option():
    ph = make_phantom(1, ivh=False, **TINY)
    assert ph.volumes_ml["IVH"] == 0.0 and not np.any(ph.labels.array == 2)
    assert ph.params["fov_scale"] == pytest.approx(192 / 256)


def test_write_phantom_round_trip_and_refusal(tmp_path):
    ph = make_phantom(0, **TINY)
    paths = write_phantom(ph, tmp_path, "case")
    assert {p.name for p in paths.values()} == {"case_ct.nii.gz", "case_labels.nii.gz", "case.json"}
    ct = sitk.ReadImage(str(paths["ct"]))
    assert np.array_equal(sitk.GetArrayFromImage(ct), ph.ct.array)
    assert np.allclose(ct.GetOrigin(), ph.ct.origin) and np.allclose(ct.GetSpacing(), ph.ct.spacing)
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(paths["labels"]))), ph.labels.array)
    assert json.loads(paths["json"].read_text())["volumes_ml"] == ph.volumes_ml
    with pytest.raises(OutputExistsError):
        write_phantom(ph, tmp_path, "case")
    write_phantom(ph, tmp_path, "case", overwrite=True)


def test_cohort(tmp_path):
    calls = []
    rows = write_phantom_cohort(tmp_path, 2, seed=7, progress=lambda d, t, w="": calls.append((d, t)), **TINY)
    with open(tmp_path / "cohort.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["patient_id", "scan_id", "ct", "mask", "IPH_ml", "IVH_ml"]
    assert [r["patient_id"] for r in table] == ["phantom_000", "phantom_001"]
    assert all((tmp_path / r["ct"]).exists() and (tmp_path / r["mask"]).exists() for r in table)
    assert float(table[1]["IPH_ml"]) == pytest.approx(rows[1]["IPH_ml"])
    assert calls[-1] == (2, 2)
    again = write_phantom_cohort(tmp_path / "again", 1, seed=7, **TINY)
    assert again[0]["IPH_ml"] == rows[0]["IPH_ml"]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OutputExistsError):
        write_phantom_cohort(tmp_path, 3, seed=7, **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # refused before writing anything


def test_cli(tmp_path, monkeypatch, capsys):
    import ichkit.cli as cli

    monkeypatch.setattr(cli, "COMMANDS", ["phantom"])  # only this command's module is needed here
    out = tmp_path / "ph"
    assert cli.main(["phantom", str(out), "--n", "1", "--seed", "2", "--brace", "--no-ivh", "--json", "--no-progress"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["phantoms"][0]["IVH_ml"] == 0.0 and (out / "phantom_000_ct.nii.gz").exists()
    assert cli.main(["phantom", str(out), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
