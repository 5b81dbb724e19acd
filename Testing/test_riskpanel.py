"""The risk panel model (`ichkit.app.riskpanel`): read-out first, scores, then the classifiers with
their cards; demo classifiers hidden unless asked and marked when shown; incomplete scores; form
errors naming the field; the read-out command line."""

from __future__ import annotations

import json

import pytest

from ichkit.app.riskpanel import CLINICAL_FIELDS, ReadoutRequest, card_summary, panel_lines, parse_clinical, risk_panel, score_rows
from ichkit.cli import build_parser
from ichkit.errors import OptionError
from ichkit.models.registry import DEMO_NOTICE
from ichkit.scores import Clinical

# The shapes `Measurements.to_dict()` and `run_readout` give (trimmed to what the panel reads):
# a 35 mL deep left IPH with IVH, a blend sign, a 4.2 mm midline shift.
MEASURES = {"IPH": {"mesh_ml": 33.0, "voxel_ml": 34.0, "abc2_ml": 35.0, "abc2_scope": "main hematoma (largest 26-connected component)"},
            "IVH": {"mesh_ml": 5.0, "voxel_ml": 5.1, "abc2_ml": 6.0, "abc2_scope": "main hematoma"}}
SIGN = {"comparison": ">=", "unit": "HU", "slice": None, "region": None}
READOUT = {
    "location": {"status": "determined", "reason": None, "registration": {"dice": 0.953, "min_dice": 0.85},
                 "labels": {"IPH": {"status": "determined", "class": "deep", "side": "left", "largest_region": "LeftThalamusProper",
                                    "largest_region_fraction": 0.8, "centroid_region": "LeftThalamusProper"}}},
    "signs": {"status": "determined", "reason": None, "signs": {
        "hypodensity": {**SIGN, "present": False, "value": 4.0, "threshold": 12.0},
        "blend": {**SIGN, "present": True, "value": 22.5, "threshold": 18.0, "slice": 12},
        "black_hole": {**SIGN, "present": False, "value": 0.0, "threshold": 28.0}}},
    "midline": {"status": "determined", "reason": None, "shift_mm": 4.2, "direction": "right", "slice": 14},
}
PREDICTION = {"output": "out", "results": {
    "he": {"probability": 0.62, "interval": [0.5, 0.7], "class": "expansion", "model": "ich-demo-he-vit", "demo": True},
    "ht": {"probability": 0.1, "interval": [0.05, 0.2], "class": "no transformation", "model": "ich-demo-ht-ctnet", "demo": True},
    "location": {"probability": 0.9, "interval": [0.8, 0.95], "class": "deep", "model": "ich-demo-location-dtvit", "demo": True}}}


def _section(panel, sid):
    return next(s for s in panel["sections"] if s["id"] == sid)["rows"]


def test_panel_order_readout_then_scores_then_classifiers_and_it_is_json():
    panel = risk_panel(MEASURES, READOUT, Clinical(age=85, gcs=4, onset_hours=1.0, anticoagulant="warfarin", recurrent_ich=False), PREDICTION)
    assert [s["id"] for s in panel["sections"]] == ["readout", "scores", "classifiers"]
    assert json.loads(json.dumps(panel)) == panel  # what the web front end sends as is
    readout = _section(panel, "readout")
    assert [r["part"] for r in readout] == ["location", "signs", "signs", "signs", "midline"]
    assert "deep, left" in readout[0]["text"] and "Dice 0.95" in readout[0]["text"]
    blend = next(r for r in readout if r.get("sign") == "blend")
    assert blend["present"] and blend["text"] == "blend: present (22.5 vs >= 18.0 HU, slice 13)"
    assert readout[-1]["text"] == "Midline shift: 4.2 mm toward the patient's right (slice 15)"  # the 0-based indices 12 and 14, shown 1-based as the views count
    scores = {r["key"]: r for r in _section(panel, "scores")}
    assert list(scores) == ["ich_score", "bat", "brain"]
    # ICH score: GCS 4 = 2, ABC/2 35 mL = 1, IVH = 1, deep = 0, age 85 = 1; BAT: blend 1 + hypodensity 0 + < 2.5 h 2;
    # BRAIN: > 20 mL 7 + recurrent 0 + warfarin 6 + IVH 2 + <= 1 h 5
    assert (scores["ich_score"]["total"], scores["bat"]["total"], scores["brain"]["total"]) == (5, 3, 20)
    assert scores["ich_score"]["text"].startswith("ICH score: 5 / 6 (30-day mortality 100 %")
    lines = panel_lines(panel)
    assert lines.index("Imaging read-out") < lines.index("Clinical scores") < lines.index("Learned classifiers")
    card = lines.index("Model card of ich-demo-he-vit, ich-demo-ht-ctnet, ich-demo-location-dtvit:")  # one shared card, once
    assert card > lines.index("Learned classifiers") and lines[card + 1].startswith("Training data: - HE: positive phantoms")
    assert "AUC" in lines[card + 2]


def test_demo_classifiers_hidden_by_default_with_no_figure_left_in_the_row():
    panel = risk_panel(MEASURES, READOUT, Clinical(), PREDICTION)
    rows = _section(panel, "classifiers")
    assert [r["task"] for r in rows] == ["he", "ht", "location"] and panel["hidden_demo"] == 3
    for r in rows:
        assert r["hidden"] and r["demo"] and r["notice"] == DEMO_NOTICE
        assert not {"probability", "low", "high", "label"} & set(r)  # nothing a front end could show by mistake
        assert DEMO_NOTICE in r["text"]
    assert "62 %" not in json.dumps(panel) and "0.62" not in json.dumps(panel)


def test_demo_classifiers_shown_when_asked_stay_marked_and_carry_their_card():
    panel = risk_panel(MEASURES, READOUT, Clinical(), PREDICTION, show_demo=True)
    he, ht, loc = _section(panel, "classifiers")
    assert panel["hidden_demo"] == 0 and not he["hidden"]
    assert he["probability"] == pytest.approx(0.62) and he["text"].startswith("Hematoma expansion: 62 % (90 % interval 50-70 %)")
    assert all(DEMO_NOTICE.upper() in r["text"] and r["notice"] == DEMO_NOTICE for r in (he, ht, loc))
    card = he["card"]
    assert card["model"] == "ich-demo-he-vit" and card["demo"]
    assert "phantoms" in card["training_data"] and "AUC" in card["figures"]


def test_no_prediction_yet_still_lists_the_installed_classifiers_hidden():
    rows = _section(risk_panel(MEASURES, READOUT), "classifiers")
    assert all(r["hidden"] and r["card"]["demo"] for r in rows)  # the shipped defaults are demo models
    shown = _section(risk_panel(MEASURES, READOUT, show_demo=True), "classifiers")
    assert [r["text"] for r in shown][0] == f"Hematoma expansion: no result ({DEMO_NOTICE})"


def test_incomplete_scores_keep_the_imaging_part_and_say_what_is_missing():
    rows = {r["key"]: r for r in score_rows(MEASURES, READOUT, Clinical(age=50))}
    ich = rows["ich_score"]
    assert ich["status"] == "incomplete" and ich["total"] is None
    assert ich["imaging_points"] == 2 and ich["missing"] == ["GCS (clinical)"]
    assert ich["text"] == "ICH score: incomplete, imaging part 2, total 2-4 / 6; missing: GCS (clinical)"
    # without a read-out the imaging items it needs are missing with the reason, never guessed
    bare = {r["key"]: r for r in score_rows(MEASURES, None, Clinical(gcs=15, age=50))}["ich_score"]
    assert bare["status"] == "incomplete" and any("infratentorial" in m for m in bare["missing"])
    assert _section(risk_panel(MEASURES, None), "readout")[0]["text"] == "Location: undetermined (no read-out)"


def test_a_changed_clinical_input_rescores_without_the_readout():
    before = {r["key"]: r["total"] for r in score_rows(MEASURES, READOUT, parse_clinical({"age": "79", "gcs": "13"}))}
    after = {r["key"]: r["total"] for r in score_rows(MEASURES, READOUT, parse_clinical({"age": "80", "gcs": "13"}))}
    assert (before["ich_score"], after["ich_score"]) == (2, 3)  # age 79/80 boundary


@pytest.mark.parametrize("form, field", [
    ({"gcs": "2"}, "gcs"), ({"gcs": "16"}, "gcs"), ({"gcs": "twelve"}, "gcs"), ({"age": "-1"}, "age"),
    ({"onset_hours": "-0.5"}, "onset_hours"), ({"anticoagulant": "aspirin"}, "anticoagulant"), ({"recurrent_ich": "maybe"}, "recurrent_ich"),
])
def test_bad_form_field_is_one_line_naming_it(form, field):
    with pytest.raises(OptionError) as err:
        parse_clinical(form)
    message = err.value.message
    assert message.startswith(f"{field}: ") and "\n" not in message


def test_blank_form_fields_are_unknown_not_defaults():
    assert parse_clinical({k: " " for k in CLINICAL_FIELDS}) == Clinical()
    assert parse_clinical({"age": "81", "gcs": "7", "recurrent_ich": "Yes", "anticoagulant": "warfarin"}) == Clinical(
        age=81.0, gcs=7, anticoagulant="warfarin", recurrent_ich=True)


def test_readout_request_command_line_parses_with_the_cli():
    argv = ReadoutRequest("ct.nii.gz", "mask.nii.gz", "out", overwrite=True).argv()
    args = build_parser().parse_args(argv[3:])
    assert (args.ct, args.mask, args.output, args.overwrite, args.json) == ("ct.nii.gz", "mask.nii.gz", "out", True, True)
    assert "-o" not in ReadoutRequest("ct.nii.gz", "mask.nii.gz").argv()


def test_card_summary_reads_a_performance_section():
    card = "# M\n\n## Training data\n\n120 scans from site A.\n\nMore.\n\n## Performance (held out)\n\n| set | Dice |\n|---|---|\n| B | 0.8 |\n"
    assert card_summary(card) == {"training_data": "120 scans from site A.", "figures": "| set | Dice |\n|---|---|\n| B | 0.8 |"}


def test_readout_job_result_feeds_the_panel(shared_dir, tmp_path, monkeypatch):
    """`ReadoutRequest` as a background job (`ich readout --json` in a child, the atlas imported
    into a private cache as a user would offline), its result rendered by the panel."""
    from ichkit.anatomy.atlas import load_atlas
    from ichkit.phantom.atlas import HeadDraw, make_atlas_phantom
    from ichkit.app.jobs import Job
    from ichkit.app.measurements import measure_dict
    from ichkit.io import save_volume
    from ichkit.models.importer import import_models

    folder = shared_dir / "models" / "blast-ct-atlas"
    if not (folder / "atlas_template_space.nii.gz").exists():
        pytest.skip(f"{folder} holds no atlas")
    monkeypatch.setenv("ICHKIT_CACHE", str(tmp_path / "cache"))  # the child inherits it
    load_atlas.cache_clear()
    try:
        import_models(folder)
        ph = make_atlas_phantom(0, load_atlas(), draw=HeadDraw(matrix=256, pixel_mm=(0.9, 1.0)), ivh=True)
    finally:
        load_atlas.cache_clear()
    ct, mask = save_volume(ph.ct, tmp_path / "ct.nii.gz"), save_volume(ph.labels, tmp_path / "mask.nii.gz")
    job = Job(ReadoutRequest(ct, mask).argv()).start()
    (kind, result), = [e for e in job.wait(timeout=120) if e[0] != "progress"]
    assert kind == "done", result
    panel = risk_panel(measure_dict(ph.labels), result["readout"], Clinical(gcs=15, age=60, onset_hours=3.0))
    iph = next(r for r in _section(panel, "readout") if r.get("label") == "IPH")
    assert iph["status"] == "determined" and iph["registration_dice"] >= 0.85 and "Dice" in iph["text"]
    ich = next(r for r in _section(panel, "scores") if r["key"] == "ich_score")
    assert ich["status"] == "complete"  # every imaging item known from the read-out
