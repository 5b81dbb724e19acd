"""`ich readout` and `ich run --readout`: outputs, overwrite rules, bad input, a missing atlas."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ichkit.anatomy.atlas import load_atlas
from ichkit.anatomy.text import readout_lines
from ichkit.phantom.atlas import HeadDraw, make_atlas_phantom
from ichkit.cli import main
from ichkit.image import Volume
from ichkit.io import save_volume
from ichkit.resources import resources_dir

COARSE = HeadDraw(matrix=256, pixel_mm=(0.9, 1.0))


@pytest.fixture(scope="module")
def installed():
    """The atlas as a fresh install has it: the copy bundled with ichkit, SHA-256-checked."""
    load_atlas.cache_clear()
    return load_atlas()


@pytest.fixture(scope="module")
def scan(installed, tmp_path_factory):
    d = tmp_path_factory.mktemp("scan")
    ph = make_atlas_phantom(0, installed, draw=COARSE, ivh=True)
    save_volume(ph.ct, d / "ct.nii.gz")
    save_volume(ph.labels, d / "mask.nii.gz")
    return d / "ct.nii.gz", d / "mask.nii.gz", ph


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if not line.startswith("warning:")]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_readout_writes_json_and_key_images(scan, tmp_path, capsys):
    ct, mask, ph = scan
    out = tmp_path / "out"
    assert main(["readout", str(ct), "--mask", str(mask), "-o", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "readout.json").read_text())
    assert saved["versions"]["location"] == "location-1" and set(saved["versions"]) == {"location", "signs", "midline"}
    iph = saved["location"]["labels"]["IPH"]
    assert (iph["class"], iph["side"]) == (ph.truth["class"], ph.truth["side"]) == ("deep", "left")
    assert saved["location"]["labels"]["IVH"]["class"] == "intraventricular"
    assert saved["location"]["registration"]["dice"] >= saved["location"]["registration"]["min_dice"]
    assert printed["readout"]["location"] == saved["location"]
    assert {"location_iph.png", "location_ivh.png", "hematoma.png"} <= set(saved["images"])
    for name in saved["images"]:
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.mode == "RGB" and min(im.size) > 50
    assert not [p for p in out.iterdir() if ".part" in p.name]
    assert "ct.nii.gz" not in (out / "readout.json").read_text()  # no input paths (identifiers) in the output


def test_existing_outputs_are_kept_without_overwrite(scan, tmp_path, capsys):
    ct, mask, _ = scan
    out = tmp_path / "out"
    out.mkdir()
    (out / "readout.json").write_text("user file")
    assert main(["readout", str(ct), "--mask", str(mask), "-o", str(out)]) == 2
    assert "--overwrite" in _one_error_line(capsys) and (out / "readout.json").read_text() == "user file"
    assert main(["readout", str(ct), "--mask", str(mask), "-o", str(out), "--overwrite"]) == 0
    saved = json.loads((out / "readout.json").read_text())
    assert saved["location"]["status"] == "determined"
    lines = readout_lines(saved)  # the one rendering the report and the risk panels show too
    assert capsys.readouterr().out.splitlines()[: len(lines)] == lines and lines[-1].startswith("Midline shift: ")


def test_bad_masks_are_one_line_errors(scan, tmp_path, capsys):
    ct, _, ph = scan
    save_volume(ph.labels.with_array(np.zeros_like(ph.labels.array)), tmp_path / "empty.nii.gz")
    assert main(["readout", str(ct), "--mask", str(tmp_path / "empty.nii.gz"), "-o", str(tmp_path / "o1")]) == 2
    assert "empty.nii.gz" in _one_error_line(capsys)
    assert main(["readout", str(ct), "--mask", str(tmp_path / "absent.nii.gz")]) == 2
    assert "does not exist" in _one_error_line(capsys)
    assert not (tmp_path / "o1").exists()


def test_scan_not_covering_the_brain_is_undetermined(scan, tmp_path, capsys):
    _, _, ph = scan
    k = ph.ct.shape[0] // 2
    m = ph.ct.index_to_physical()
    top = lambda v: Volume(v.array[k:], v.spacing, m[:3, :3] @ [0, 0, k] + m[:3, 3], v.direction)  # noqa: E731
    save_volume(top(ph.ct), tmp_path / "ct.nii.gz")
    labels = ph.labels.array[k:].copy()
    labels[labels.shape[0] // 2, 100:110, 100:110] = 1  # keep some blood in the cut scan
    save_volume(top(ph.labels).with_array(labels), tmp_path / "mask.nii.gz")
    assert main(["readout", str(tmp_path / "ct.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz"), "-o", str(tmp_path / "out")]) == 0
    assert "Location: undetermined (registration quality Dice" in capsys.readouterr().out
    loc = json.loads((tmp_path / "out" / "readout.json").read_text())["location"]
    assert loc["status"] == "undetermined" and loc["labels"] == {} and "class" not in json.dumps(loc)
    assert not list((tmp_path / "out").glob("location_*.png"))


def test_missing_atlas_fails_fast_with_the_install_command(scan, tmp_path, monkeypatch, capsys):
    ct, mask, _ = scan
    monkeypatch.setenv("ICHKIT_CACHE", str(tmp_path / "empty-cache"))
    bare = tmp_path / "resources"  # an installation without the bundled atlas
    shutil.copytree(resources_dir(), bare, ignore=shutil.ignore_patterns("blast-ct-atlas"))
    monkeypatch.setenv("ICHKIT_RESOURCES", str(bare))
    load_atlas.cache_clear()
    try:
        assert main(["readout", str(ct), "--mask", str(mask), "-o", str(tmp_path / "out")]) == 2
        line = _one_error_line(capsys)
        assert "blast-ct-atlas" in line and "ich models download blast-ct-atlas" in line
        assert not (tmp_path / "out").exists()
    finally:
        load_atlas.cache_clear()


def test_run_adds_the_readout_columns(scan, tmp_path):
    ct, mask, ph = scan
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(f"scan_id,ct,mask\ns1,{ct},{mask}\n")
    assert main(["run", str(cohort), "-o", str(tmp_path / "run"), "--readout", "--radiomics", "none", "--no-progress"]) == 0
    row = next(csv.DictReader(open(tmp_path / "run" / "summary.csv")))
    assert row["state"] == "done" and row["location_status"] == "determined"
    assert (row["location_class"], row["location_side"]) == (ph.truth["class"], ph.truth["side"])
    assert float(row["registration_dice"]) >= 0.85 and row["midline_shift_mm"] != ""
    assert list((tmp_path / "run").rglob("readout.json"))
    # the run's own read-out is recognised on resume (not refused as a stranger's file)
    assert main(["run", str(cohort), "-o", str(tmp_path / "run"), "--readout", "--report", "--radiomics", "none", "--no-progress"]) == 0
    assert list((tmp_path / "run").rglob("report.html"))
    assert main(["run", str(cohort), "-o", str(tmp_path / "run"), "--readout", "--report", "--radiomics", "none", "--no-progress"]) == 0


def test_run_readout_is_plain_json_with_a_status_per_part(scan):
    from ichkit.anatomy.readout import run_readout

    _, _, ph = scan
    steps = []
    readout = run_readout(ph.ct, ph.labels, progress=lambda done, total, what="": steps.append((done, total)))
    text = json.dumps(readout)  # no numpy scalars, no arrays: JSON-able as it is
    assert set(json.loads(text)) == {"location", "signs", "midline", "versions", "slice_index"}
    for part in ("location", "signs", "midline"):
        assert "status" in readout[part] and "reason" in readout[part]
    assert readout["location"]["status"] in ("determined", "undetermined") and steps[-1] == (4, 4)
