"""The workstation's pure state and actions (no browser, no trame, no render window)."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest

from ichkit.errors import ICHError, OptionError, OutputExistsError, UnreadableFileError
from ichkit.io import load_ct, load_mask
from ichkit.labels import IPH
from ichkit.measure import measure
from ichkit.phantom import make_phantom, write_phantom
from ichkit.web import access, job, overlay, risk, tools, upload
from ichkit.web.export import export_scan, save_ground_truth
from ichkit.web.report import key_slice, overlay_rgb
from ichkit.app import jobs, predict, segment
from ichkit.app.measurements import measure_dict
from ichkit.segment.source import MaskSource
from ichkit.classify.predict import DEMO_MODELS
from ichkit.models.registry import DEMO_NOTICE as DEMO_WARNING
from ichkit.web.state import Session, case_name, volume_rows

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


def test_export_writes_ich_segments_names_with_its_record_and_refuses_to_overwrite(cases, tmp_path):
    session = _session(cases)
    scan = session.baseline
    scan.source = MaskSource("ich-demo-phantom", "0.2", demo=True)
    paths = export_scan(scan, tmp_path)
    assert sorted(p.name for p in paths.values()) == ["base_ct.seg.nrrd", "base_ct_report.html", "base_ct_seg.nii.gz",
                                                      "base_ct_volumes.csv", "base_ct_volumes.json"]
    back = load_mask(paths["labels_seg_nrrd"], scan.ct)
    assert np.array_equal(back.array, scan.labels.array) and back.meta["segments"][IPH] == "IPH"
    assert np.array_equal(load_mask(paths["labels_nifti"], scan.ct).array, scan.labels.array)
    record = json.loads(paths["volumes_json"].read_text())
    assert record["provenance"]["model"] == {"id": "ich-demo-phantom", "version": "0.2", "demo": True} and record["provenance"]["edited"] is False
    for mask in (paths["labels_nifti"], paths["labels_seg_nrrd"]):  # loaded again, the mask still names its model
        assert MaskSource.of_mask(mask) == MaskSource("ich-demo-phantom", "0.2", demo=True, path=str(mask))
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
    assert record["model"]["id"] == "blast-ct-v1-single" and record["edited"] is True
    assert "IVH" not in record["measurements"] and record["created"]
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
    assert segment.read_output(result, tmp_path) == (mask, MaskSource("m", "2", demo=True, path=str(mask)))
    assert segment.read_output({"files": {"labels_nifti": str(mask)}}, tmp_path)[1].kind == "file"  # no record: a user's file
    assert segment.SegmentRequest("ct.nii.gz", tmp_path).argv()[-5:] == ["segment", "ct.nii.gz", "-o", str(tmp_path), "--json"]


def test_segment_job_reports_a_failure_line(tmp_path):
    """The real child process on a missing CT (or with no model installed): `failed` with the CLI's one line."""
    running = job.SegmentJob(segment.SegmentRequest(tmp_path / "missing.nii.gz", tmp_path / "out")).start()
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
        "ht": {"probability": 0.25, "interval": [0.2, 0.3], "class": "no transformation", "model": "m", "warning": DEMO_WARNING, "demo": True, "heatmap": "ht_gradcam.nii.gz"},
        "location": {"probability": 0.6, "interval": [0.5, 0.7], "class": "lobar", "model": "m"}}}
    rows = {r["task"]: r for r in predict.risk_rows(result, {"he": "no ROI"})}
    assert rows["he"]["error"] == "no ROI" and rows["ht"]["warning"] == DEMO_WARNING and rows["ht"]["heatmap"]
    assert (rows["location"]["probability"], rows["location"]["low"], rows["location"]["label"]) == (0.6, 0.5, "lobar")
    assert rows["location"]["error"] == "" and predict.risk_rows({})[0]["error"] == "no result"
    assert predict.heatmap_paths(result) == {"ht": tmp_path / "ht_gradcam.nii.gz"}

    session = _session(cases)
    scan = session.baseline
    scan.set_risk(result, {"he": "no ROI"}, scan.labels)
    panel = session.panel()
    assert not panel["risk_stale"] and panel["has_risk"] and panel["cam_tasks"] == []  # the demo HT model's heatmap is hidden with it
    session.show_demo = True
    assert session.panel()["cam_tasks"] == [{"title": predict.TASK_TITLES["ht"], "value": "ht"}]
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


def test_every_label_has_a_row_and_the_total_is_named():
    rows = {r["region"]: r for r in volume_rows({"IPH": {"mesh_ml": 1.0, "voxel_ml": 1.2, "abc2_ml": 1.4}})}
    assert list(rows) == ["IPH", "IVH", "edema", "EAH", "hemorrhage"]
    assert rows["IPH"]["voxel_ml"] == 1.2 and rows["EAH"]["voxel_ml"] == 0.0
    assert rows["hemorrhage"]["title"] == "total hemorrhage (IPH + IVH)"


def test_errors_are_worded_for_the_page_and_a_new_case_clears_them(cases):
    session = _session(cases)
    session.fail("export", OutputExistsError("/data/out/p1_seg.nii.gz", "already exists; pass --overwrite to replace it"))
    assert session.panel()["errors"] == {"export": "p1_seg.nii.gz: already exists: tick 'replace existing files' to replace it"}
    files, ct, _ = cases["follow"]
    session.load(ct, files["ct"], warnings=["follow_ct.nii.gz: slice thickness 6 mm exceeds 5 mm"])
    assert session.panel()["errors"] == {} and session.panel()["warnings"] == ["follow_ct.nii.gz: slice thickness 6 mm exceeds 5 mm"]
    assert not session.panel()["has_mask"]


def test_orientation_letters_and_slice_numbers(cases):
    _, ct, _ = cases["base"]
    axial = np.diag([-1.0, 1.0, 1.0, 1.0])  # Slicer's axial view: screen x to the patient's left
    assert overlay.orientation_letters(axial) == {"right": "L", "left": "R", "top": "A", "bottom": "P"}
    coronal = np.array([[-1.0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    assert overlay.orientation_letters(coronal) == {"right": "L", "left": "R", "top": "S", "bottom": "I"}
    for number in (1, 7, ct.shape[0]):
        axial[:3, 3] = overlay.slice_point(ct, axial, number)
        assert overlay.slice_number(ct, axial) == (number, ct.shape[0])
    axial[2, 3] += 10 * ct.shape[0] * ct.spacing[2]
    assert overlay.slice_number(ct, axial) == (0, ct.shape[0]) and overlay.hu_at(ct, axial[:3, 3]) is None


def test_hu_under_a_point_is_the_voxel_that_holds_it(cases):
    _, ct, _ = cases["base"]
    k, j, i = 5, 40, 70
    lps = (ct.index_to_physical() @ [i + 0.3, j - 0.3, k + 0.2, 1.0])[:3]
    assert overlay.hu_at(ct, overlay.LPS_FLIP * lps) == float(ct.array[k, j, i])


def test_heat_note_says_where_the_heat_is(cases):
    _, ct, _ = cases["base"]
    heat = np.zeros(ct.shape, np.float32)
    heat[3:6, 50:60, 50:60], heat[9, 50, 50], heat[12, 50, 50] = 1.0, 0.5, 0.1  # slice 13 holds low heat only
    assert risk.heated_slices(ct.with_array(heat), 0.2) == [4, 5, 6, 10]
    assert risk.heat_note([4, 5, 6, 10], 5) == "heat on this slice (heat on slices 4-6, 10)"
    assert risk.heat_note([4, 5, 6, 10], 13) == "no heat on slice 13: heat on slices 4-6, 10"
    assert risk.heat_note([], 1) == "the heatmap has no heat on any slice"


def _client(name: str, content: bytes) -> dict:
    return {"name": name, "size": len(content), "type": "", "content": content}


def test_uploads_a_zip_a_series_and_refuses_paths_outside(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in range(3):
            z.writestr(f"top/s{k}.dcm", b"x")
    folder = upload.save_upload([_client("scan.zip", buf.getvalue())], tmp_path)
    assert folder.name == "scan" and sorted(p.name for p in folder.iterdir()) == ["s0.dcm", "s1.dcm", "s2.dcm"]
    series = upload.save_upload([_client("../a.dcm", b"1"), _client("b.dcm", b"2")], tmp_path)
    assert sorted(p.name for p in series.iterdir()) == ["a.dcm", "b.dcm"] and series.parent.parent == tmp_path
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../../evil.txt", b"x")
    with pytest.raises(UnreadableFileError):
        upload.save_upload([_client("bad.zip", bad.getvalue())], tmp_path)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_grow_fill_and_islands():
    ct = np.full((9, 40, 40), 30.0)  # brain
    ct[2:7, 10:20, 10:20] = 70.0  # the clot
    ct[4, 19:30, 19] = 70.0  # a thin bridge of blood-like HU to a large region
    spacing = (1.0, 1.0, 5.0)
    region = tools.grow(ct, (4, 15, 15), spacing)
    assert region.sum() == 5 * 100 + 10 and region[2:7, 10:20, 10:20].all()
    with pytest.raises(ICHError, match="outside the 50-100 HU range"):
        tools.grow(ct, (4, 30, 30), spacing)
    ct[0:9, 25:40, 0:40] = 60.0  # the bridge now reaches 2.7 mL of blood-like HU: over a 2 mL guard
    with pytest.raises(ICHError, match="leaks beyond the clot"):
        tools.grow(ct, (4, 15, 15), spacing, max_ml=2.0)

    mask = np.zeros((7, 30, 30), bool)
    mask[1, 5:15, 5:15] = mask[5, 9:19, 9:19] = True
    filled = tools.fill_between_slices(mask)
    assert (filled[1] == mask[1]).all() and (filled[5] == mask[5]).all()
    # halfway between the two squares: about their size, centred between them (corners cut by the distance blend)
    assert 80 <= filled[3].sum() <= 100 and np.argwhere(filled[3]).mean(axis=0) == pytest.approx((11.5, 11.5), abs=0.01)
    assert not filled[3, :6].any() and filled[0].sum() == 0 and filled[6].sum() == 0
    mask[3, 25, 25] = True  # a one-voxel island (0.005 mL)
    kept = tools.remove_islands(mask, spacing)
    assert not kept[3, 25, 25] and kept[1].sum() == 100 and kept[5].sum() == 100


def test_slice_numbers_on_a_tilted_scan(cases):
    """A gantry-tilted grid (direction rotated 15 degrees about x) seen in its own planes, as the
    workstation shows it: each of its slices has its own number."""
    _, ct, _ = cases["base"]
    t = np.deg2rad(15)
    tilt = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    tilted = ct.__class__(ct.array, ct.spacing, ct.origin, tilt, ct.meta)
    view = np.eye(4)
    view[:3, :3] = np.diag(overlay.LPS_FLIP) @ tilt @ np.diag([1.0, -1.0, 1.0])  # x to the left, y to anterior, normal along k
    for number in (1, 9, ct.shape[0]):
        view[:3, 3] = overlay.slice_point(tilted, view, number)
        assert overlay.slice_number(tilted, view) == (number, ct.shape[0])
    assert overlay.orientation_letters(view)["top"] in "AS"


def _classifier_rows(panel: dict) -> dict[str, dict]:
    return {r["task"]: r for s in panel["sections"] if s["id"] == "classifiers" for r in s["rows"]}


def test_risk_panel_clinical_form_rescored_with_errors_per_field(cases):
    """The panel is `risk_panel`'s JSON; a bad field is named and counts as unknown, the rest still scores."""
    session = _session(cases)
    session.clinical = {"age": "85", "gcs": "16", "onset_hours": "1.5"}
    panel = session.panel()
    assert set(panel["clinical_errors"]) == {"gcs"} and "Glasgow" in panel["clinical_errors"]["gcs"]
    scores = {r["key"]: r for s in panel["risk_panel"]["sections"] if s["id"] == "scores" for r in s["rows"]}
    assert scores["ich_score"]["status"] == "incomplete" and "GCS" in scores["ich_score"]["text"]
    assert panel["risk_panel"]["clinical"]["age"] == 85 and panel["risk_panel"]["clinical"]["gcs"] is None
    session.clinical = {**session.clinical, "gcs": "4"}
    assert session.panel()["clinical_errors"] == {}
    files, ct, labels = cases["base"]
    session.load(ct, files["ct"], labels)
    assert session.clinical == {}  # another case, another patient


def test_readout_regions_once_staleness_and_demo_hiding(cases, monkeypatch):
    """Regions of the signs present only, computed once per read-out (not per redraw); an edit
    marks the read-out stale; demo classifiers hidden without numbers until asked."""
    from ichkit.anatomy import signs
    from ichkit.web import state

    session = _session(cases)
    scan = session.baseline
    box = scan.labels.with_array((scan.labels.array == IPH).astype(np.uint8))
    calls = []

    def fake_signs(ct, mask, label=IPH):
        calls.append(1)
        return signs.SignResult({}, {"hypodensity": box, "swirl": box, "blend": box.with_array(np.zeros_like(box.array))})

    monkeypatch.setattr(state, "expansion_signs", fake_signs)
    present = {"present": True, "value": 20.0, "threshold": 12.0, "comparison": ">=", "unit": "HU", "slice": 5}
    readout = {"signs": {"status": "determined", "signs": {"hypodensity": present, "blend": present, "swirl": {**present, "present": False}}},
               "midline": {"status": "determined", "shift_mm": 2.0, "direction": "left", "slice": 5,
                           "ideal_line": {"start": {"mm_lps": [0, -90, 0]}, "end": {"mm_lps": [0, 90, 0]}}}}
    scan.set_readout(readout, scan.labels)
    for show_demo in (False, True, False):
        session.show_demo = show_demo
        panel = session.panel()
    assert len(calls) == 1 and set(scan.sign_regions) == {"hypodensity"}  # swirl absent, blend's region empty
    assert panel["has_readout"] and panel["overlays"] == ["hypodensity region", "midline ideal line"] and not panel["readout_stale"]
    texts = [r["text"] for s in panel["risk_panel"]["sections"] if s["id"] == "readout" for r in s["rows"]]
    assert "Midline shift: 2.0 mm toward the patient's left (slice 6)" in texts
    grown = scan.labels.array.copy()
    grown[key_slice(scan), 10:20, 10:20] = IPH
    scan.edit(scan.labels.with_array(grown))
    assert session.panel()["readout_stale"]

    scan.set_risk({"results": {"he": {"probability": 0.7, "interval": [0.6, 0.8], "class": "expansion", "model": DEMO_MODELS["he"], "demo": True}}}, {}, scan.labels)
    hidden = _classifier_rows(session.panel()["risk_panel"])["he"]
    assert hidden["hidden"] and "probability" not in hidden and "70 %" not in hidden["text"]
    session.show_demo = True
    shown = _classifier_rows(session.panel()["risk_panel"])["he"]
    assert not shown["hidden"] and "70 %" in shown["text"] and shown["notice"] == DEMO_WARNING
