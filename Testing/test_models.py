"""Model registry: manifest schema, offline import with SHA-256 checks, download failures, CLI."""

import importlib.util
import json
import shutil
import zipfile

import numpy as np
import pytest

from ichkit.cli import main
from ichkit.errors import ModelError
from ichkit.models import cache, load_registry
from ichkit.models.download import download
from ichkit.segment.engines import DEMO_SEGMENTATION, default_segmentation_model
from ichkit.models.importer import import_models
from ichkit.models.registry import load_manifest, validate_manifest
from ichkit.resources import resource_path

BLAST = "models/blast-ct-v1"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: refused at once, never a real server


@pytest.fixture()
def blast_dir(shared_dir):
    folder = shared_dir / BLAST
    if not (folder / "model_1.pt").exists():
        pytest.skip(f"{folder} holds no BLAST-CT weights")
    return folder


def test_manifest_validates_and_matches_the_shared_checksums(shared_dir):
    entries = {e.id: e for e in load_manifest(resource_path("models.json"))}
    assert {"blast-ct-v1", "blast-ct-v1-single"} <= set(entries)
    assert len(entries["blast-ct-v1"].member_files()) == 12
    assert [f.name for f in entries["blast-ct-v1-single"].member_files()] == ["model_1.pt"]
    sums = dict(line.split()[::-1] for line in (shared_dir / BLAST / "SHA256SUMS").read_text().splitlines())
    for f in entries["blast-ct-v1"].files:
        assert f.sha256 == sums[f.name]
        assert f.url.startswith("https://github.com/biomedia-mira/blast-ct/raw/")
    assert "Not cleared for clinical use" in entries["blast-ct-v1"].card_text()


def test_manifest_schema_rejects_a_bad_entry():
    data = json.loads(resource_path("models.json").read_text())
    data["models"][0]["files"][0]["sha256"] = "not-a-digest"
    with pytest.raises(ModelError, match="models/0/files/0/sha256"):
        validate_manifest(data, "models.json")
    data = json.loads(resource_path("models.json").read_text())
    data["models"][1]["members"].append("model_99.pt")
    with pytest.raises(ModelError, match="members that are not among its files"):
        validate_manifest(data, "models.json")


def test_import_folder_installs_both_entries(ich_cache, blast_dir, capsys):
    assert main(["models", "import", str(blast_dir), "--no-progress"]) == 0
    assert "installed blast-ct-v1" in capsys.readouterr().out
    registry = load_registry()
    for model_id in ("blast-ct-v1", "blast-ct-v1-single"):
        paths = cache.verified_paths(registry.get(model_id))
        assert all(p.is_relative_to(ich_cache) for p in paths.values())
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["blast-ct-v1"]["installed"] and rows["blast-ct-v1-single"]["installed"]
    assert rows["blast-ct-v1"]["licence"] == "Apache-2.0" and not rows["blast-ct-v1"]["demo"]


def test_corrupted_copy_is_refused_and_nothing_installed(ich_cache, blast_dir, tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(blast_dir, copy)
    data = bytearray((copy / "model_1.pt").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model_1.pt").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="model_1.pt: SHA-256 .* does not match"):
        import_models(copy)
    assert not any(cache.is_installed(e) for e in load_registry().list() if not cache.bundled_dir(e).is_dir())
    assert not any(ich_cache.rglob("*.pt"))


def test_installed_file_corrupted_later_is_refused_at_use(ich_cache, blast_dir, tmp_path):
    archive = tmp_path / "single.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(blast_dir / "model_1.pt", "weights/model_1.pt")
    report = import_models(archive)
    assert report.installed == ["blast-ct-v1-single"] and report.incomplete["blast-ct-v1"]
    entry = load_registry().get("blast-ct-v1-single")
    path = cache.verified_paths(entry)["model_1.pt"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="refused"):
        cache.verified_paths(entry)


def test_unreachable_download_names_the_offline_import(ich_cache, monkeypatch, capsys):
    monkeypatch.setenv("ICHKIT_MODEL_MIRROR", UNREACHABLE)
    entry = load_registry().get("blast-ct-v1-single")
    with pytest.raises(ModelError, match="ich models import") as err:
        download(entry)
    assert UNREACHABLE in err.value.message
    assert not cache.is_installed(entry) and not any(ich_cache.rglob("*.pt*"))
    assert main(["models", "download", "blast-ct-v1-single", "--no-progress"]) == 2
    assert "ich models import" in capsys.readouterr().err


def test_bundled_model_counts_as_installed(ich_cache, blast_dir, tmp_path, monkeypatch):
    resources = tmp_path / "Resources"
    shutil.copytree(resource_path("models.json").parent, resources, ignore=shutil.ignore_patterns("models"))
    (resources / "models" / "blast-ct-v1-single").mkdir(parents=True)
    shutil.copy(blast_dir / "model_1.pt", resources / "models" / "blast-ct-v1-single")
    monkeypatch.setenv("ICHKIT_RESOURCES", str(resources))
    registry = load_registry()
    single = registry.get("blast-ct-v1-single")
    assert cache.is_installed(single) and not cache.is_installed(registry.get("blast-ct-v1"))
    assert cache.verified_paths(single)["model_1.pt"].is_relative_to(resources)
    assert default_segmentation_model(registry).id == "blast-ct-v1-single"


def test_remove_and_unknown_model(ich_cache, blast_dir, capsys):
    import_models(blast_dir)
    assert main(["models", "remove", "blast-ct-v1"]) == 0
    registry = load_registry()
    assert not cache.is_installed(registry.get("blast-ct-v1")) and cache.is_installed(registry.get("blast-ct-v1-single"))
    assert main(["models", "info", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_default_model_is_the_best_installed_real_one(ich_cache, blast_dir):
    registry = load_registry()
    if DEMO_SEGMENTATION not in registry:
        with pytest.raises(ModelError, match="ich models download blast-ct-v1-single"):
            default_segmentation_model(registry)
    import_models(blast_dir)
    assert default_segmentation_model(registry).id == "blast-ct-v1-single"
    cache.remove(registry.get("blast-ct-v1-single"))
    assert default_segmentation_model(registry).id == "blast-ct-v1"


def test_nnunet_results_folder_becomes_a_user_model(ich_cache, tmp_path, capsys):
    results = tmp_path / "Dataset001_ICH" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    (results / "fold_0").mkdir(parents=True)
    plans = {
        "transpose_backward": [0, 1, 2],
        "configurations": {"3d_fullres": {"spacing": [5.0, 0.5, 0.5], "normalization_schemes": ["CTNormalization"]}},
        "foreground_intensity_properties_per_channel": {"0": {"mean": 60.0, "std": 12.0, "percentile_00_5": 20.0, "percentile_99_5": 90.0}},
    }
    (results / "plans.json").write_text(json.dumps(plans))
    (results / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "IPH": 1, "IVH": 2}, "file_ending": ".nii.gz"}))
    (results / "fold_0" / "checkpoint_final.pth").write_bytes(b"not really a checkpoint")
    report = import_models(tmp_path / "Dataset001_ICH")
    (model_id,) = report.user_models
    entry = load_registry().get(model_id)
    assert entry.user and entry.architecture == "nnunet-v2" and entry.spacing == (0.5, 0.5, 5.0)
    assert entry.classes == {0: "background", 1: "IPH", 2: "IVH"}
    folder = "nnUNetTrainer__nnUNetPlans__3d_fullres"
    assert entry.members == (f"{folder}/fold_0/checkpoint_final.pth",)
    paths = cache.verified_paths(entry)
    assert set(paths) == {f"{folder}/{name}" for name in ("plans.json", "dataset.json", "fold_0/checkpoint_final.pth")}
    assert paths[f"{folder}/plans.json"].parent.name == folder  # nnU-Net reads the configuration from this name
    assert main(["models", "remove", model_id]) == 0
    assert model_id not in load_registry()


@pytest.mark.skipif(importlib.util.find_spec("ichkit.segment.blast_ct") is None, reason="BlastCTSegmenter (ichkit/segment/blast_ct.py) not written yet")
def test_segment_cli_end_to_end_on_a_small_phantom(ich_cache, blast_dir, tmp_path, capsys):
    import SimpleITK as sitk

    from ichkit.image import Volume
    from ichkit.io import load_ct
    from ichkit.phantom import make_phantom, write_phantom

    import_models(blast_dir)
    files = write_phantom(make_phantom(1, shape=(16, 64, 64), spacing=(1.0, 1.0, 1.0)), tmp_path, "tiny")
    outdir = tmp_path / "out"
    argv = ["segment", str(files["ct"]), "-o", str(outdir), "--model", "blast-ct-v1-single", "--device", "cpu", "--no-progress"]
    assert main([*argv, "--json", "--probabilities"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["provenance"]["model"] == {
        "id": "blast-ct-v1-single", "version": "0.1.1", "architecture": "deepmedic-blast-ct", "demo": False, "licence": "Apache-2.0",
    }
    written = {k: outdir / v.split("/")[-1] for k, v in record["files"].items()}
    assert set(written) == {"labels_nifti", "labels_seg_nrrd", "volumes_json", "probabilities"}
    assert all(p.exists() for p in written.values())
    grid = load_ct(files["ct"])
    labels = Volume.from_sitk(sitk.ReadImage(str(written["labels_nifti"])))  # may be empty: a toy head
    assert labels.same_geometry(grid) and set(np.unique(labels.array)) <= {0, 1, 2, 3, 4}
    probs = sitk.GetArrayFromImage(sitk.ReadImage(str(written["probabilities"])))  # [class, z, y, x]
    assert probs.shape == (5, *grid.shape) and np.allclose(probs.sum(0), 1.0, atol=1e-3)
    assert json.loads(written["volumes_json"].read_text())["provenance"]["ichkit_version"]
    assert main(argv) == 2  # outputs exist: refused without --overwrite
    assert "--overwrite" in capsys.readouterr().err
