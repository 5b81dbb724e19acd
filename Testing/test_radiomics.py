"""The pyradiomics wrapper: pyradiomics' published brain1 baseline, the presets, the cohort runner."""

from __future__ import annotations

import ast
import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import SHARED
from ichkit.image import Volume
from ichkit.radiomics import extract, extract_cohort, params_file

CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
# shape2D is left out: its baseline was computed on a single-slice mask that is not in the data set.

# The shape baseline was written by pyradiomics 2.0.1b1 (its diagnostics_Versions_PyRadiomics);
# the marching-cubes triangulation changed after that version (the installed 3.1.4 gives the
# SurfaceArea of the still older 0.post403 baseline, 6438.8216 mm^2). pyradiomics' own feature
# test accepts 3 %; we check these to 1e-3 in test_mesh_features_differ_only_by_the_old_mesh.
MESH_CHANGED = "pyradiomics 2.0.1b1's marching-cubes table, since changed"
KNOWN_DIFFERENCES = {
    "original_shape_MeshVolume": f"{MESH_CHANGED}: the baseline is exactly half a voxel (1.98 mm^3) larger",
    "original_shape_SurfaceArea": f"{MESH_CHANGED}: 0.08 % smaller in the baseline",
    "original_shape_Sphericity": f"{MESH_CHANGED}: derived from SurfaceArea and MeshVolume",
    "original_shape_SurfaceVolumeRatio": f"{MESH_CHANGED}: derived from SurfaceArea and MeshVolume",
}
RTOL, ATOL = 1e-4, 1e-6


def _baseline(shared_dir):
    """{class: (settings, {feature: value})} for brain1, read from pyradiomics' baseline CSVs."""
    out = {}
    for cls in CLASSES:
        with open(shared_dir / "data" / "pyradiomics" / "baseline" / f"baseline_{cls}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        col = rows[0].index("brain1")
        values = {r[0]: r[col] for r in rows[1:]}
        settings = ast.literal_eval(values["diagnostics_Configuration_Settings"])
        out[cls] = (settings, {k: float(v) for k, v in values.items() if k.startswith("original_")})
    return out


@pytest.fixture(scope="module")
def brain1(shared_dir, tmp_path_factory):
    """Our wrapper's features of brain1, one extraction per feature class with that class's settings."""
    data = shared_dir / "data" / "pyradiomics"
    ct = Volume.from_sitk(sitk.ReadImage(str(data / "brain1_image.nrrd")))
    mask = Volume.from_sitk(sitk.ReadImage(str(data / "brain1_label.nrrd")))
    folder = tmp_path_factory.mktemp("brain1-params")
    baseline, ours = _baseline(shared_dir), {}
    for cls, (settings, _) in baseline.items():
        params = folder / f"{cls}.yaml"  # JSON is YAML: the baseline's own settings, verbatim
        params.write_text(json.dumps({"imageType": {"Original": {}}, "featureClass": {cls: None}, "setting": {k: v for k, v in settings.items() if v is not None}}))
        ours[cls] = extract(ct, mask, params, label=settings["label"])
    return baseline, ours


def _cases():
    """One test per baseline feature (collected even when the shared data is absent: then skipped)."""
    cases = []
    for cls in CLASSES:
        path = SHARED / "data" / "pyradiomics" / "baseline" / f"baseline_{cls}.csv"
        names = [r[0] for r in csv.reader(open(path))] if path.exists() else []
        for name in (n for n in names if n.startswith("original_")):
            reason = KNOWN_DIFFERENCES.get(name)
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            cases.append(pytest.param(cls, name, id=name, marks=marks))
    return cases


@pytest.mark.parametrize("cls, feature", _cases())
def test_brain1_matches_pyradiomics_baseline(brain1, cls, feature):
    baseline, ours = brain1
    expected = baseline[cls][1][feature]
    assert feature in ours[cls]
    assert ours[cls][feature] == pytest.approx(expected, rel=RTOL, abs=ATOL)


def test_brain1_every_baseline_feature_is_produced(brain1):
    baseline, ours = brain1
    for cls, (_, expected) in baseline.items():
        assert set(expected) == set(ours[cls]), cls


def test_mesh_features_differ_only_by_the_old_mesh(brain1):
    baseline, ours = brain1
    expected, got = baseline["shape"][1], ours["shape"]
    for name in KNOWN_DIFFERENCES:
        assert got[name] == pytest.approx(expected[name], rel=1e-3)
    half_voxel = 0.5 * 0.78125 * 0.78125 * 6.5
    assert expected["original_shape_MeshVolume"] - got["original_shape_MeshVolume"] == pytest.approx(half_voxel, rel=1e-6)


def small_head(seed=0, shape=(12, 48, 48), spacing=(1.0, 1.0, 2.0)):
    """A small CT-like volume: noisy brain at 30 HU with an irregular hematoma at about 65 HU."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    ct = rng.normal(30, 6, shape)
    z, y, x = np.indices(shape)
    blob = ((z - 6) / 3.5) ** 2 + ((y - 24) / 9) ** 2 + ((x - 22) / 7) ** 2 + ndimage.gaussian_filter(rng.normal(0, 1, shape), 2) * 2 <= 1
    ct[blob] += 35
    ct[:, :3] = -1000
    geo = Volume(ct.astype(np.int16), spacing=spacing, origin=(-24.0, -24.0, 0.0))
    return geo, geo.with_array(blob.astype(np.uint8))


def test_presets_exist_and_full_gives_at_least_1300_features():
    ct, mask = small_head()
    assert all(params_file(p).is_file() for p in ("shape", "default", "full"))
    shape = extract(ct, mask, "shape")
    assert len(shape) == 14
    full = extract(ct, mask, "full")
    assert len(full) >= 1300
    assert any(k.startswith("wavelet-HHH_glcm_") for k in full) and any(k.startswith("log-sigma-5-0-mm-3D_") for k in full)
    assert full["original_shape_VoxelVolume"] > 0


def test_cohort_csv_two_workers_with_a_failing_scan(tmp_path):
    from ichkit.io import save_volume

    rows = []
    for i in range(3):
        ct, mask = small_head(seed=i)
        rows.append({"id": f"scan{i}", "ct": str(save_volume(ct, tmp_path / f"ct{i}.nrrd")), "mask": str(save_volume(mask, tmp_path / f"mask{i}.nrrd")), "label": 1})
    rows.insert(1, {"id": "broken", "ct": rows[0]["ct"], "mask": str(tmp_path / "missing.nrrd"), "label": 1})
    rows.append({"id": "wrong-label", "ct": rows[0]["ct"], "mask": rows[0]["mask"], "label": 2})
    out = tmp_path / "features.csv"
    results = extract_cohort(rows, "shape", out=out, workers=2)
    assert [r["id"] for r in results] == ["scan0", "broken", "scan1", "scan2", "wrong-label"]
    with open(out, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["id"] for r in table] == [r["id"] for r in results]
    assert "missing.nrrd: does not exist" in table[1]["error"] and table[1]["original_shape_MeshVolume"] == ""
    assert "label 2 is not present" in table[4]["error"]
    assert all(table[i]["error"] == "" for i in (0, 2, 3))
    ct, mask = small_head(seed=2)
    single = extract(ct, mask, "shape")
    assert float(table[3]["original_shape_MeshVolume"]) == pytest.approx(single["original_shape_MeshVolume"], rel=1e-12)
    assert not list(tmp_path.glob(".features.csv.*"))  # the temporary file was renamed away


def test_ich_radiomics_command(tmp_path, capsys):
    from ichkit.cli import main
    from ichkit.io import save_volume

    ct, mask = small_head()
    ct_path, mask_path = save_volume(ct, tmp_path / "ct.nrrd"), save_volume(mask, tmp_path / "mask.nrrd")
    out = tmp_path / "one.csv"
    assert main(["radiomics", str(ct_path), str(mask_path), "--params", "shape", "-o", str(out), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 14
    assert main(["radiomics", str(ct_path), str(mask_path), "--params", "shape", "-o", str(out)]) == 2  # no --overwrite
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("id,ct,mask\na,ct.nrrd,mask.nrrd\n")
    assert main(["radiomics", "--cohort", str(cohort), "--params", "shape", "-o", str(tmp_path / "cohort_out.csv"), "--no-progress"]) == 0
    assert "1 of 1 scans extracted" in capsys.readouterr().out
    assert main(["radiomics", str(ct_path), str(mask_path), "--params", str(tmp_path / "nope.yaml")]) == 2
