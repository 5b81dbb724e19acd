"""The workstation's pure state and actions (no browser, no trame, no render window)."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest

from ichkit.errors import OptionError, OutputExistsError
from ichkit.io import load_ct, load_mask
from ichkit.labels import IPH
from ichkit.measure import measure
from ichkit.phantom import make_phantom, write_phantom
from ichkit.web import access, job, risk
from ichkit.web.export import export_scan, save_ground_truth
from ichkit.web.report import key_slice, overlay_rgb
from ichkit.app import jobs, predict, segment
from ichkit.app.measurements import measure_dict
from ichkit.app.source import MaskSource
from ichkit.models.registry import DEMO_NOTICE as DEMO_WARNING
from ichkit.web.state import Session, case_name

SMALL = {"shape": (16, 128, 128), "spacing": (2.0, 2.0, 5.0)}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webstate")
    out = {}
    for name, seed in (("base", 0), ("follow", 3)):
        files = write_phantom(make_phantom(seed, **SMALL), folder, name)
        ct = load_ct(files["ct"])
        out[name] = (files, ct, load_mask(files["labels"], ct))
    return out


def _session(cases) -> Session:
    files, ct, labels = cases["base"]
    session = Session()
    session.load(ct, files["ct"], labels, mask_path=files["labels"])
    return session


def test_panel_shows_the_mask_volumes(cases):
    session = _session(cases)
    panel = session.panel()
    truth = json.loads(cases["base"][0]["json"].read_text())["volumes_ml"]
    rows = {r["region"]: r for r in panel["rows"]}
    assert rows["IPH"]["voxel_ml"] == pytest.approx(truth["IPH"], abs=0.01)
    assert rows["IVH"]["voxel_ml"] == pytest.approx(truth["IVH"], abs=0.01)
    assert panel["case"] == "base_ct" and panel["has_mask"] and not panel["edited"] and panel["verdict"] == ""
    assert panel["source"] == "mask file base_labels.nii.gz"


def test_cropped_measurement_equals_full_measurement(cases):
    labels = cases["base"][2]
    full, cropped = measure(labels).to_dict(), measure_dict(labels)
    assert full.keys() == cropped.keys()
    for region in full:
        for key, value in full[region].items():
            if isinstance(value, str):  # abc2_scope
                assert value == cropped[region][key], (region, key)
            else:
                assert np.allclose(value, cropped[region][key]), (region, key)


def test_edit_updates_volumes_and_edited_flag(cases):
    session = _session(cases)
    scan = session.baseline
    before = scan.measurements["IPH"]["voxel_ml"]
    grown = scan.labels.array.copy()
    z = key_slice(scan)
    grown[z, 10:20, 10:20] = IPH
    scan.edit(scan.labels.with_array(grown))
    assert scan.measurements["IPH"]["voxel_ml"] == pytest.approx(before + 100 * scan.ct.voxel_volume_ml)
    assert session.panel()["edited"]
    scan.edit(scan.original)  # undo
    assert not session.panel()["edited"]


def test_followup_gives_a_verdict(cases):
    session = _session(cases)
    files, ct, labels = cases["follow"]
    session.load(ct, files["ct"], labels, mask_path=files["labels"], followup=True)
    text = session.panel()["verdict"]
    assert text.startswith(("EXPANSION", "no expansion")) and "IPH" in text
    session.load(*cases["base"][1:2], cases["base"][0]["ct"])  # a new baseline drops the follow-up
    assert session.followup is None


def test_export_writes_four_files_and_refuses_to_overwrite(cases, tmp_path):
    session = _session(cases)
    scan = session.baseline
    scan.source = MaskSource("ich-demo-phantom", "0.2", demo=True)
    paths = export_scan(scan, tmp_path)
    assert sorted(p.name for p in paths.values()) == ["base_ct_report.html", "base_ct_seg.nii.gz", "base_ct_seg.seg.nrrd", "base_ct_volumes.csv"]
    back = load_mask(paths["seg.nrrd"], scan.ct)
    assert np.array_equal(back.array, scan.labels.array) and back.meta["segments"][IPH] == "IPH"
    assert np.array_equal(load_mask(paths["nii.gz"], scan.ct).array, scan.labels.array)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert {r["region"] for r in rows} >= {"IPH", "IVH"} and rows[0]["source"] == "ich-demo-phantom"
    report = paths["html"].read_text()
    assert DEMO_WARNING.capitalize() in report and "ich-demo-phantom" in report and "data:image/png;base64," in report
    with pytest.raises(OutputExistsError):
        export_scan(scan, tmp_path)
    export_scan(scan, tmp_path, overwrite=True)


def test_ground_truth_in_nnunet_layout_with_provenance(cases, tmp_path):
    session = _session(cases)
    scan = session.baseline
    scan.source = MaskSource("blast-ct-v1-single", "1.0.0")
    edited = scan.labels.array.copy()
    edited[edited == 2] = 0
    scan.edit(scan.labels.with_array(edited))
    paths = save_ground_truth(scan, tmp_path / "Dataset900_ICH", "ICH_001")
    assert paths["image"].relative_to(tmp_path).as_posix() == "Dataset900_ICH/imagesTr/ICH_001_0000.nii.gz"
    assert paths["label"].relative_to(tmp_path).as_posix() == "Dataset900_ICH/labelsTr/ICH_001.nii.gz"
    record = json.loads(paths["provenance"].read_text())
    assert record["source"]["model_id"] == "blast-ct-v1-single" and record["edited"] is True
    assert "IVH" not in record["measurements"] and record["saved_at"]
    assert np.array_equal(load_ct(paths["image"]).array, scan.ct.array)


def test_overlay_and_key_slice(cases):
    session = _session(cases)
    scan = session.baseline
    z = key_slice(scan)
    assert z == int(np.argmax(np.count_nonzero(scan.labels.array, axis=(1, 2))))
    rgb = overlay_rgb(scan.ct.array[z], scan.labels.array[z])
    assert rgb.shape == scan.ct.array[z].shape + (3,) and rgb.dtype == np.uint8
    red = rgb[scan.labels.array[z] == IPH]
    assert (red[:, 0] > red[:, 2]).all()


def test_case_name():
    assert case_name("/d/p01_ct.nii.gz") == "p01_ct" and case_name("/d/s.seg.nrrd") == "s" and case_name("/d/DICOM1") == "DICOM1"


def test_host_and_token_rules():
    assert access.is_loopback("127.0.0.1") and access.is_loopback("localhost") and access.is_loopback("::1")
    assert not access.is_loopback("0.0.0.0") and not access.is_loopback("example.org")
    access.check_host("127.0.0.1", allow_remote=False)
    access.check_host("0.0.0.0", allow_remote=True)
    with pytest.raises(OptionError, match="--allow-remote"):
        access.check_host("0.0.0.0", allow_remote=False)
    token = access.new_token()
    assert len(token) >= 32 and token != access.new_token()
    assert access.request_allowed(token, None, token) and access.request_allowed(None, token, token)
    assert not access.request_allowed(None, None, token) and not access.request_allowed("x" + token, None, token)


def test_job_output_parsing(tmp_path):
    assert jobs.parse_progress('{"progress": 0.5, "done": 1, "total": 2, "what": "patch"}')["done"] == 1
    assert jobs.parse_progress("segment: 50%") is None and jobs.parse_progress("{not json") is None
    mask = tmp_path / "p_seg.nii.gz"
    mask.write_bytes(b"x")
    printed = json.dumps({"files": {"labels_nifti": str(mask)}, "provenance": {"model": {"id": "m", "version": "2", "demo": True}}}, indent=2)
    result = jobs.parse_result("warning: slow\n" + printed + "\n")
    assert segment.find_mask(result, tmp_path) == mask
    assert segment.model_of(result) == {"id": "m", "version": "2", "demo": True}
    assert segment.SegmentRequest("ct.nii.gz", tmp_path).argv()[-5:] == ["segment", "ct.nii.gz", "-o", str(tmp_path), "--json"]


def test_segment_job_reports_a_failure_line(tmp_path):
    """The real child process on a missing CT (or with no model installed): `failed` with the CLI's one line."""
    running = job.SegmentJob(tmp_path / "missing.nii.gz", tmp_path / "out").start()
    deadline = time.time() + 60
    events = []
    while not events and time.time() < deadline:
        events = running.poll()
        time.sleep(0.1)
    assert events and events[0][0] == "failed" and events[0][1].startswith("error: ")


def test_he_blocker_gives_the_backend_reason(cases):
    files, ct, labels = cases["base"]
    assert risk.he_blocker(ct, labels) is None
    empty = labels.with_array(np.zeros_like(labels.array))
    assert "no hematoma voxel" in risk.he_blocker(ct, empty)
    assert "no hematoma voxel" in risk.he_blocker(ct, labels.with_array((labels.array == 2).astype(np.uint8) * 2))  # IVH only
    assert "segment or load a mask" in risk.he_blocker(ct, None)
    assert "--mask" not in predict.PredictRequest("ct.nii.gz", "out").argv()
    assert predict.PredictRequest("ct.nii.gz", "out", "m.nii.gz").argv()[-2:] == ["--mask", "m.nii.gz"]


def test_risk_rows_errors_and_staleness(cases, tmp_path):
    result = {"output": str(tmp_path), "results": {
        "ht": {"probability": 0.25, "interval": [0.2, 0.3], "class": "no transformation", "model": "m", "warning": DEMO_WARNING, "heatmap": "ht_gradcam.nii.gz"},
        "location": {"probability": 0.6, "interval": [0.5, 0.7], "class": "lobar", "model": "m"}}}
    rows = {r["task"]: r for r in predict.risk_rows(result, {"he": "no ROI"})}
    assert rows["he"]["error"] == "no ROI" and rows["ht"]["warning"] == DEMO_WARNING and rows["ht"]["heatmap"]
    assert (rows["location"]["probability"], rows["location"]["low"], rows["location"]["label"]) == (0.6, 0.5, "lobar")
    assert rows["location"]["error"] == "" and predict.risk_rows({})[0]["error"] == "no result"
    assert predict.heatmap_paths(result) == {"ht": tmp_path / "ht_gradcam.nii.gz"}

    session = _session(cases)
    scan = session.baseline
    scan.set_risk(list(rows.values()), predict.heatmap_paths(result), scan.labels)
    panel = session.panel()
    assert not panel["risk_stale"] and panel["cam_tasks"] == [{"title": predict.TASK_TITLES["ht"], "value": "ht"}]
    grown = scan.labels.array.copy()
    grown[key_slice(scan), 10:20, 10:20] = IPH
    scan.edit(scan.labels.with_array(grown))
    assert session.panel()["risk_stale"]  # HE read the old mask
    scan.edit(scan.original)
    assert not session.panel()["risk_stale"]


def test_risk_job_with_an_empty_mask_runs_ht_and_location(cases, tmp_path):
    """The real `ich predict` child (demo classifiers): HE shows why it cannot run, the others answer."""
    files, ct, labels = cases["base"]
    running = risk.RiskJob(ct, files["ct"], labels.with_array(np.zeros_like(labels.array)), tmp_path).start()
    events = running.job.wait(timeout=300)
    kind, result = events[-1]
    assert kind == "done", result
    rows = {r["task"]: r for r in predict.risk_rows(result, running.blocked)}
    assert "no hematoma voxel" in rows["he"]["error"]
    for task in ("ht", "location"):
        assert 0 <= rows[task]["probability"] <= 1 and 0 <= rows[task]["low"] <= rows[task]["high"] <= 1 and rows[task]["warning"] == DEMO_WARNING
    heat = risk.load_heatmap(predict.heatmap_paths(result)["ht"], ct)
    assert heat.same_geometry(ct) and 0 <= heat.array.min() and heat.array.max() <= 1


def test_risk_job_cancel_kills_the_child(cases, tmp_path):
    files, ct, labels = cases["base"]
    running = risk.RiskJob(ct, files["ct"], labels, tmp_path).start()
    running.cancel()
    assert running.job.wait(timeout=60)[-1] == ("cancelled", None)
    assert (tmp_path / "mask.nii.gz").exists()  # HE could run: the child got the current mask
