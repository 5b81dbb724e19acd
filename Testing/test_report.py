"""`ich report`: JSON + printable HTML on phantoms with a follow-up, opened in Chromium; the
follow-up table; provenance and the demo notice; no identifiers unless asked; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ichkit.anatomy.text import readout_lines
from ichkit.cli import main
from ichkit.phantom import make_phantom, write_phantom
from ichkit.report.delta import delta_table

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# 0.5 mm pixels, 5 mm slices, a head holder; a 192 mm field of view keeps the read-out quick
GEOMETRY = dict(shape=(24, 384, 384), spacing=(0.5, 0.5, 5.0), brace=True)


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    """Baseline and a follow-up of the same head with a larger hematoma, and a scan of another grid."""
    d = tmp_path_factory.mktemp("report_in")
    base = write_phantom(make_phantom(5, **GEOMETRY), d, "base")
    follow = write_phantom(make_phantom(5, hematoma_ml=(40.0, 60.0), **GEOMETRY), d, "follow")
    other = write_phantom(make_phantom(6, shape=(20, 320, 320), spacing=(0.5, 0.5, 5.0)), d, "other")
    return {"ct": base["ct"], "mask": base["labels"], "ct2": follow["ct"], "mask2": follow["labels"], "other_ct": other["ct"]}


@pytest.fixture(scope="module")
def report(scans, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_out") / "out"
    rc = main(["report", str(scans["ct"]), "--mask", str(scans["mask"]), "--followup", str(scans["ct2"]), str(scans["mask2"]),
               "--age", "80", "--gcs", "12", "-o", str(out)])
    assert rc == 0
    return out


def test_report_json_has_scores_volumes_and_the_followup_table(report, scans):
    r = json.loads((report / "report.json").read_text())
    assert [tp["name"] for tp in r["timepoints"]] == ["baseline", "follow-up 1"]
    ich = r["scores"]["ich_score"]
    assert [i["value"] for i in ich["items"] if i["item"] in ("GCS", "age")] == [12, 80.0]
    assert ich["imaging_points"] >= 1  # IVH is drawn in every phantom here
    if ich["status"] == "incomplete":  # registration refused on this phantom: location undetermined, said why
        assert all("infratentorial" in m for m in ich["missing"])
    assert r["scores"]["bat"]["missing"][-1] == "time from onset to CT (clinical)"
    base_iph = r["timepoints"][0]["volumes"]["IPH"]
    assert base_iph["abc2_scope"].startswith("main hematoma")
    row = next(x for x in r["followup"]["rows"] if x["region"] == "IPH" and x["volume"] == "mesh_ml")
    he = r["followup"]["expansion"][0]
    assert row["values"][0] == pytest.approx(he["baseline_ml"]) and row["change_ml"][1] == pytest.approx(he["growth_ml"])
    assert he["growth_ml"] > 0
    assert r["demo"] is False and r["notice"] is None
    assert r["timepoints"][0]["mask_source"]["kind"] == "file"
    text = (report / "report.json").read_text() + (report / "report.html").read_text()
    assert str(scans["ct"].parent) not in text and "base_ct" not in text  # no paths (identifiers) unless asked


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: install Debian's chromium")
def test_report_html_opens_in_chromium_with_key_images_and_tables(report):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto((report / "report.html").as_uri())
            widths = page.eval_on_selector_all("#key-images img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) >= 2 and min(widths) > 100  # baseline and follow-up key slices decoded
            captions = page.inner_text("#key-images")
            assert "baseline: hematoma" in captions and "follow-up 1: hematoma" in captions
            for table in ("#scores", "#volumes", "#followup-volumes", "#expansion"):
                assert page.locator(f"{table} tr").count() >= 2, table
            assert "ICH score" in page.inner_text("#scores") and "BRAIN score" in page.inner_text("#scores")
            baseline = json.loads((report / "report.json").read_text())["timepoints"][0]["readout"]
            assert page.inner_text("#readout").splitlines() == readout_lines(baseline)  # the words `ich readout` prints
            assert page.locator("#demo-notice").count() == 0
            page.pdf(path=str(report / "report.pdf"))  # it prints (A4) without error
        finally:
            browser.close()
    assert (report / "report.pdf").stat().st_size > 10_000


def test_demo_mask_is_marked_and_identifiers_only_on_request(scans, tmp_path):
    """A mask from `ich segment` carries its model in `<name>_volumes.json`: a demo one marks the report."""
    seg = tmp_path / "base_seg.nii.gz"
    seg.write_bytes(scans["mask"].read_bytes())
    (tmp_path / "base_volumes.json").write_text(json.dumps({"provenance": {"model": {"id": "ich-demo-unet", "version": "0.3", "demo": True}}}))
    out = tmp_path / "out"
    assert main(["report", str(scans["ct"]), "--mask", str(seg), "--identifiers", "-o", str(out)]) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["demo"] is True and r["notice"] == "demo model, not for clinical use"
    assert r["timepoints"][0]["mask_source"] == {"kind": "model", "model_id": "ich-demo-unet", "model_version": "0.3", "demo": True,
                                                 "text": "model ich-demo-unet 0.3 (demo model, not for clinical use)"}
    assert r["timepoints"][0]["inputs"] == {"ct": str(scans["ct"]), "mask": str(seg)}
    page = (out / "report.html").read_text()
    assert 'id="demo-notice"' in page and "Demo model, not for clinical use" in page
    assert r["followup"] is None


@pytest.mark.parametrize("extra, field", [
    (["--gcs", "2"], "gcs"), (["--gcs", "16"], "gcs"), (["--age", "-1"], "age"), (["--onset-hours", "-0.5"], "onset_hours"),
])
def test_bad_clinical_input_is_one_line_exit_2_and_writes_nothing(scans, tmp_path, capsys, extra, field):
    out = tmp_path / "out"
    assert main(["report", str(scans["ct"]), "--mask", str(scans["mask"]), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {field}:") and "\n" not in err
    assert not out.exists()


def test_followup_without_a_mask_or_on_another_grid_is_refused(scans, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["report", str(scans["ct"]), "--mask", str(scans["mask"]), "-o", str(out)]
    assert main([*base, "--followup", str(scans["other_ct"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--followup" in err and "\n" not in err
    assert main([*base, "--followup", str(scans["other_ct"]), str(scans["mask"])]) == 2  # baseline mask on another grid
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "differs from the CT" in err
    assert not any(out.glob("*")) if out.exists() else True


def test_report_request_is_the_command_line_ich_report_checks(tmp_path):
    """A front end's `ReportRequest` becomes a command line that `ich report` parses back into the same request."""
    from ichkit.app.report import ReportRequest
    from ichkit.cli import build_parser
    from ichkit.cli.report_cmd import request_of
    from ichkit.errors import OptionError
    from ichkit.scores import Clinical

    request = ReportRequest(Path("ct.nii.gz"), Path("m.nii.gz"), Path("out"), ((Path("ct2.nii.gz"), Path("m2.nii.gz")),),
                            Clinical(age=80.0, gcs=12, onset_hours=1.5, anticoagulant="warfarin", recurrent_ich=False),
                            identifiers=True, overwrite=True)
    argv = request.argv()
    assert argv[4:10] == ["report", "ct.nii.gz", "--mask", "m.nii.gz", "-o", "out"] and "--dicom-sr" not in argv
    assert request_of(build_parser().parse_args(argv[3:])) == request
    with pytest.raises(OptionError, match="--followup takes a CT and its mask"):
        ReportRequest("ct.nii.gz", "m.nii.gz", "out", (("ct2.nii.gz",),))
    with pytest.raises(OptionError, match="--dicom-sr needs the CT as a DICOM series folder"):
        ReportRequest(tmp_path / "ct.nii.gz", "m.nii.gz", "out", dicom_sr=True)


def test_an_existing_report_is_kept_without_overwrite(report, scans, capsys):
    before = (report / "report.html").read_bytes()
    assert main(["report", str(scans["ct"]), "--mask", str(scans["mask"]), "-o", str(report)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (report / "report.html").read_bytes() == before


def _m(iph: float, ivh: float | None = None) -> dict:
    out = {"IPH": {"mesh_ml": iph, "voxel_ml": iph * 1.01, "abc2_ml": iph * 1.2}}
    if ivh is not None:
        out["IVH"] = {"mesh_ml": ivh, "voxel_ml": ivh, "abc2_ml": ivh}
    return out


def test_delta_table_over_two_followups():
    signs = {"status": "determined", "signs": {"blend": {"present": True}, "swirl": {"present": False}}}
    t = delta_table(["baseline", "6 h", "24 h"], [_m(20.0), _m(24.0, 0.5), _m(28.0, 2.0)],
                    [{"signs": signs, "midline": {"status": "determined", "shift_mm": 2.5, "direction": "left"}}, None, None])
    iph = next(r for r in t["rows"] if r["region"] == "IPH" and r["volume"] == "mesh_ml")
    assert iph["values"] == [20.0, 24.0, 28.0] and iph["change_ml"] == [None, 4.0, 8.0]
    assert iph["change_rel"] == [None, pytest.approx(0.2), pytest.approx(0.4)]
    ivh = next(r for r in t["rows"] if r["region"] == "IVH" and r["volume"] == "mesh_ml")
    assert ivh["values"] == [0.0, 0.5, 2.0] and ivh["change_rel"] == [None, None, None]  # no relative change from 0
    (first, second) = t["expansion"]
    assert (first["expansion"], first["by_relative"]) == (False, False)  # +4 mL, +20 %
    assert (second["expansion"], second["by_absolute"], second["by_relative"]) == (True, True, True)  # +8 mL, +40 %
    assert first["new_ivh"] is True and first["revised_expansion"] is True
    assert t["signs"][0]["present"] == ["blend"] and t["signs"][1]["status"] == "undetermined"
    assert t["midline"][0]["shift_mm"] == 2.5 and t["midline"][2]["reason"] == "no read-out"


def test_batch_writes_a_report_per_scan_on_request(scans, tmp_path):
    import csv

    from ichkit.batch import RunConfig, read_cohort, run_cohort
    from ichkit.batch.scan_task import TaskConfig, read_status, scan_dir

    cohort = tmp_path / "cohort.csv"
    with open(cohort, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scan_id", "ct", "mask", "age", "gcs", "onset_hours"])
        w.writerow(["a", scans["ct"], scans["mask"], "72", "14", "1.5"])
        w.writerow(["b", scans["ct"], scans["mask"], "72", "2", ""])  # a GCS of 2 fails this scan only
    rows = read_cohort(cohort)
    summary = run_cohort(rows, tmp_path / "out", RunConfig(task=TaskConfig(radiomics=None, report=True)))
    assert (summary["done"], summary["failed"]) == (1, 1)
    a, b = (read_status(tmp_path / "out", s) for s in rows)
    assert {"report.json", "report.html", "result.json"} <= set(a["outputs"])
    r = json.loads((scan_dir(tmp_path / "out", rows[0]) / "report.json").read_text())
    assert [i["value"] for i in r["scores"]["ich_score"]["items"] if i["item"] in ("GCS", "age")] == [14, 72.0]
    assert r["scores"]["bat"]["items"][2]["points"] == 2  # 1.5 h < 2.5 h
    assert (b["state"], b["code"]) == ("failed", "bad_option") and b["reason"].startswith("gcs:")


def test_batch_config_digest_is_unchanged_without_the_report():
    """Runs finished before the report option existed stay complete (no silent redo of a cohort)."""
    import hashlib
    from dataclasses import asdict

    from ichkit.batch.scan_task import TaskConfig

    old = {k: v for k, v in asdict(TaskConfig()).items() if k not in ("report", "readout")}  # the optional outputs, off
    assert TaskConfig().digest() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    assert TaskConfig(report=True).digest() != TaskConfig().digest()


def test_real_readout_fills_the_ich_score_location(ich_cache, tmp_path):
    """With the atlas (bundled with ichkit), an infratentorial clot planted in the atlas gives the
    ICH score's infratentorial point through the real read-out, and the score is complete."""
    from ichkit.anatomy.atlas import load_atlas
    from ichkit.phantom.atlas import HeadDraw, make_atlas_phantom
    from ichkit.io import save_labelmap, save_volume

    p = make_atlas_phantom(2, load_atlas(), target=("infratentorial", "left"), draw=HeadDraw(matrix=256, pixel_mm=(0.9, 1.0)))
    ct, mask = save_volume(p.ct, tmp_path / "ct.nii.gz"), save_labelmap(p.labels, tmp_path / "mask.nii.gz")
    assert main(["report", str(ct), "--mask", str(mask), "--age", "85", "--gcs", "4", "-o", str(tmp_path / "out")]) == 0
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert r["timepoints"][0]["readout"]["location"]["labels"]["IPH"]["class"] == "infratentorial"
    ich = r["scores"]["ich_score"]
    items = {i["item"]: i for i in ich["items"]}
    assert items["infratentorial origin"]["value"] is True and items["infratentorial origin"]["points"] == 1
    assert ich["status"] == "complete" and ich["total"] == sum(i["points"] for i in ich["items"]) >= 4  # GCS 4: 2, age 85: 1


def _sr_numbers(path: Path) -> dict[tuple[str, str], float]:
    """(group tracking identifier, measurement name or method) -> value of a TID 1500 SR."""
    import pydicom

    out = {}
    for item in pydicom.dcmread(path).ContentSequence:
        for group in getattr(item, "ContentSequence", []) if item.ConceptNameCodeSequence[0].CodeValue == "126010" else []:
            ident = next(c.TextValue for c in group.ContentSequence if c.ValueType == "TEXT" and c.ConceptNameCodeSequence[0].CodeMeaning == "Tracking Identifier")
            for num in (c for c in group.ContentSequence if c.ValueType == "NUM"):
                methods = [m.ConceptCodeSequence[0].CodeValue for m in getattr(num, "ContentSequence", []) if m.ConceptNameCodeSequence[0].CodeMeaning == "Measurement Method"]
                out[(ident, methods[0] if methods else num.ConceptNameCodeSequence[0].CodeValue)] = float(num.MeasuredValueSequence[0].NumericValue)
    return out


def test_dicom_sr_of_a_dicom_ct(tmp_path, capsys):
    import numpy as np
    import pydicom
    from dicom_factory import head_like, write_series

    from ichkit.io import load_ct, save_labelmap
    from ichkit.report import TimePoint, build_report
    from ichkit.report.dicom_sr import dicom_sr_bytes
    from ichkit.scores import Clinical
    from ichkit.segment.source import MaskSource

    folder = write_series(tmp_path / "ct", head_like((8, 64, 64)).astype(np.int16))
    for f in folder.glob("*.dcm"):  # the factory omits the frame of reference a real CT carries
        ds = pydicom.dcmread(f)
        ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.1"
        ds.save_as(f)
    ct = load_ct(folder)
    lab = np.zeros(ct.shape, np.uint8)
    lab[3:6, 28:36, 28:36] = 1
    mask = save_labelmap(ct.with_array(lab), tmp_path / "mask.nii.gz")
    out = tmp_path / "out"
    assert main(["report", str(folder), "--mask", str(mask), "--dicom-sr", "-o", str(out)]) == 0
    r = json.loads((out / "report.json").read_text())
    numbers = _sr_numbers(out / "report_sr.dcm")
    for key in ("mesh_ml", "voxel_ml", "abc2_ml"):
        assert numbers[("IPH", key)] == pytest.approx(r["timepoints"][0]["volumes"]["IPH"][key], rel=1e-6)
    assert not any(ident == "clinical scores" for ident, _ in numbers)  # incomplete scores are not written

    readout = {"location": {"status": "determined", "labels": {"IPH": {"class": "deep"}}}, "signs": None, "midline": None}
    report = build_report([TimePoint("baseline", ct, ct.with_array(lab), MaskSource("ich-demo-unet", demo=True), readout)], Clinical(age=85, gcs=4))
    (tmp_path / "sr.dcm").write_bytes(dicom_sr_bytes(report, folder))
    assert _sr_numbers(tmp_path / "sr.dcm")[("clinical scores", "ich_score")] == report["scores"]["ich_score"]["total"] == 3
    assert pydicom.dcmread(tmp_path / "sr.dcm").SeriesDescription == "ICH report (demo model, not for clinical use)"

    nifti_out = tmp_path / "nifti_out"
    assert main(["report", str(tmp_path / "mask.nii.gz"), "--mask", str(mask), "--dicom-sr", "-o", str(nifti_out)]) == 2
    assert "--dicom-sr needs the CT as a DICOM series" in capsys.readouterr().err and not nifti_out.exists()


def test_key_images_outline_the_signs_regions_and_draw_the_midline():
    import base64
    import io

    import numpy as np
    from PIL import Image

    from ichkit.anatomy.signs import SignResult
    from ichkit.image import Volume
    from ichkit.report.images import MIDLINE_COLOURS, SIGN_COLOURS, timepoint_images

    ct = Volume(np.full((4, 80, 80), 30, np.int16), spacing=(0.5, 0.5, 5.0))
    labels = np.zeros(ct.shape, np.uint8)
    labels[1:3, 20:50, 20:50] = 1
    region = np.zeros(ct.shape, np.uint8)
    region[2, 30:40, 30:40] = 1
    signs = SignResult({"status": "determined", "signs": {"blend": {"present": True}}}, {"blend": ct.with_array(region)})
    line = lambda x0, y0, x1, y1: {"start": {"voxel_xyz": [x0, y0, 1]}, "end": {"voxel_xyz": [x1, y1, 1]}}  # noqa: E731
    midline = {"status": "determined", "slice": 1, "ideal_line": line(40, 5, 40, 75), "septum_line": line(44, 30, 44, 50)}
    images = timepoint_images("baseline", ct, ct.with_array(labels), {"signs": signs, "midline": midline}, key=1)
    assert [i["title"] for i in images] == ["baseline: hematoma", "baseline: blend", "baseline: midline"]

    def colours(image) -> set:
        rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(image["png"]))).convert("RGB"))
        return {tuple(c) for c in rgb.reshape(-1, 3)}

    as_rgb = lambda c: tuple(int(round(255 * v)) for v in c)  # noqa: E731
    assert as_rgb(SIGN_COLOURS["blend"]) in colours(images[1]) and images[1]["slice"] == 2
    assert {as_rgb(MIDLINE_COLOURS["ideal"]), as_rgb(MIDLINE_COLOURS["septum"])} <= colours(images[2])
