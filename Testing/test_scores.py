"""Clinical scores (ichkit.scores) against their published point tables, every point boundary,
the read-out adapter on hand-built read-outs, and missing / bad clinical inputs."""

from __future__ import annotations

import json

import pytest

from ichkit.errors import OptionError
from ichkit.scores import Clinical, Imaging, bat_score, brain_score, compute_scores, ich_score, imaging_from

SUPRA = Imaging(ich_abc2_ml=12.0, ich_mesh_ml=11.0, abc2_scope="main hematoma", ivh=False, infratentorial=False, blend_sign=False, hypodensity=False)


def _with(**kw) -> Imaging:
    return Imaging(**{**SUPRA.to_dict(), **kw})


# --- ICH score (Hemphill 2001) -------------------------------------------------------------

@pytest.mark.parametrize("gcs, points", [(3, 2), (4, 2), (5, 1), (12, 1), (13, 0), (15, 0)])
def test_ich_score_gcs_boundaries(gcs, points):
    assert ich_score(SUPRA, Clinical(age=60, gcs=gcs)).total == points


@pytest.mark.parametrize("ml, points", [(29.9, 0), (29.999, 0), (30.0, 1), (30.1, 1)])
def test_ich_score_volume_boundary(ml, points):
    assert ich_score(_with(ich_abc2_ml=ml, ich_mesh_ml=ml), Clinical(age=60, gcs=15)).total == points


@pytest.mark.parametrize("age, points", [(79, 0), (79.9, 0), (80, 1), (95, 1)])
def test_ich_score_age_boundary(age, points):
    assert ich_score(SUPRA, Clinical(age=age, gcs=15)).total == points


@pytest.mark.parametrize("kw, gcs, age, total, mortality", [
    ({}, 15, 60, 0, "0 %"),  # nobody with 0 died
    ({"ivh": True}, 14, 70, 1, "13 %"),
    ({"ivh": True, "ich_abc2_ml": 31.0}, 13, 50, 2, "26 %"),
    ({"ivh": True, "ich_abc2_ml": 45.0}, 7, 81, 4, "97 %"),  # hand-computed: GCS 7 = 1, volume 1, IVH 1, age 1
    ({"ivh": True, "ich_abc2_ml": 45.0, "infratentorial": True}, 3, 85, 6, "no patient"),
])
def test_ich_score_totals_and_published_mortality(kw, gcs, age, total, mortality):
    r = ich_score(_with(**kw), Clinical(age=age, gcs=gcs)).to_dict()
    assert r["status"] == "complete" and r["total"] == total
    assert mortality in r["interpretation"]
    assert r["possible_totals"] == [total, total]


def test_ich_score_says_which_volume_it_used_and_when_the_other_disagrees():
    img = _with(ich_abc2_ml=33.0, ich_mesh_ml=27.0)
    r = ich_score(img, Clinical(age=60, gcs=15)).to_dict()
    assert r["total"] == 1 and any(n.startswith("volume used: ABC/2 of the main hematoma") for n in r["notes"])
    assert any("mesh volume (27.0 mL) would score the volume item 0" in n for n in r["notes"])
    assert ich_score(img, Clinical(age=60, gcs=15), volume="mesh").total == 0


def test_missing_gcs_gives_incomplete_with_the_imaging_part_and_no_default():
    r = ich_score(_with(ivh=True, ich_abc2_ml=40.0), Clinical(age=None, gcs=None)).to_dict()
    assert r["status"] == "incomplete" and r["total"] is None and r["interpretation"] is None
    assert r["missing"] == ["GCS (clinical)", "age (clinical)"]
    assert r["imaging_points"] == 2  # volume + IVH still shown
    assert r["possible_totals"] == [2, 5]
    gcs_row = next(i for i in r["items"] if i["item"] == "GCS")
    assert gcs_row["value"] is None and gcs_row["points"] is None


# --- BAT score (Morotti 2018) --------------------------------------------------------------

@pytest.mark.parametrize("blend, hypo, hours, total", [
    (False, False, 6.0, 0), (True, False, 6.0, 1), (False, True, 6.0, 2), (False, False, 2.49, 2),
    (False, False, 2.5, 0), (True, True, 1.0, 5), (True, False, 2.0, 3),
])
def test_bat_score_points_and_the_2_5_hour_boundary(blend, hypo, hours, total):
    r = bat_score(_with(blend_sign=blend, hypodensity=hypo), Clinical(onset_hours=hours))
    assert r.total == total
    assert ("high risk" in r.interpretation) == (total >= 3)


def test_bat_without_onset_time_keeps_its_imaging_points():
    r = bat_score(_with(blend_sign=True, hypodensity=True), Clinical()).to_dict()
    assert r["status"] == "incomplete" and r["imaging_points"] == 3 and r["possible_totals"] == [3, 5]
    assert r["missing"] == ["time from onset to CT (clinical)"]


# --- BRAIN score (Wang 2015) ---------------------------------------------------------------

@pytest.mark.parametrize("ml, points", [(0.0, 0), (10.0, 0), (10.01, 5), (20.0, 5), (20.01, 7), (80.0, 7)])
def test_brain_volume_boundaries(ml, points):
    r = brain_score(_with(ich_mesh_ml=ml), Clinical(recurrent_ich=False, anticoagulant="none", onset_hours=6))
    assert r.total == points


@pytest.mark.parametrize("hours, points", [(0.0, 5), (1.0, 5), (1.01, 4), (2.0, 4), (2.5, 3), (3.0, 3), (4.0, 2), (5.0, 1), (5.01, 0)])
def test_brain_hour_boundaries(hours, points):
    r = brain_score(_with(ich_mesh_ml=5.0), Clinical(recurrent_ich=False, anticoagulant="none", onset_hours=hours))
    assert r.total == points


def test_brain_full_range_and_warfarin_only():
    worst = Clinical(recurrent_ich=True, anticoagulant="warfarin", onset_hours=0.5)
    assert brain_score(_with(ich_mesh_ml=25.0, ivh=True), worst).total == 24  # the paper's 24-point maximum
    doac = brain_score(_with(ich_mesh_ml=25.0, ivh=True), Clinical(recurrent_ich=True, anticoagulant="other", onset_hours=0.5))
    assert doac.total == 18 and any("warfarin only" in n for n in doac.notes)


# --- inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, field", [
    ({"gcs": 2}, "gcs"), ({"gcs": 16}, "gcs"), ({"gcs": 7.5}, "gcs"), ({"age": -1}, "age"),
    ({"onset_hours": -0.5}, "onset_hours"), ({"anticoagulant": "aspirin"}, "anticoagulant"),
])
def test_bad_clinical_inputs_name_the_field(kw, field):
    with pytest.raises(OptionError) as err:
        Clinical(**kw)
    assert err.value.message.startswith(f"{field}:") and "\n" not in err.value.message


MEASURES = {"IPH": {"mesh_ml": 31.0, "voxel_ml": 31.5, "abc2_ml": 36.0, "abc2_scope": "main hematoma (largest 26-connected component)"},
            "IVH": {"mesh_ml": 2.0, "voxel_ml": 2.1, "abc2_ml": 2.5}}


def _readout(location_status="determined", cls="infratentorial", signs_status="determined", blend=True, hypo=False):
    return {
        "location": {"status": location_status, "reason": "registration Dice 0.41 < 0.80", "labels": {"IPH": {"class": cls}}},
        "signs": {"status": signs_status, "reason": "no clot", "blend": {"present": blend, "value": 22.0, "threshold": 18.0},
                  "hypodensity": {"present": hypo, "value": 1, "threshold": 1}},
        "midline": {"status": "undetermined", "reason": "ventricles not found"},
    }


def test_imaging_from_a_determined_readout():
    img = imaging_from(MEASURES, _readout())
    assert (img.infratentorial, img.blend_sign, img.hypodensity, img.ivh) == (True, True, False, True)
    assert img.ich_abc2_ml == 36.0 and img.ich_mesh_ml == 31.0 and not img.why
    scores = compute_scores(MEASURES, _readout(), Clinical(age=80, gcs=4, onset_hours=1.0, anticoagulant="none", recurrent_ich=False))
    assert scores["ich_score"]["total"] == 2 + 1 + 1 + 1 + 1
    assert scores["bat"]["total"] == 1 + 0 + 2
    assert scores["brain"]["total"] == 7 + 0 + 0 + 2 + 5
    json.dumps(scores)  # a front end can take it as is


def test_undetermined_readout_parts_are_missing_with_their_reason():
    img = imaging_from(MEASURES, _readout(location_status="undetermined", signs_status="undetermined"))
    assert img.infratentorial is None and img.blend_sign is None
    r = compute_scores(MEASURES, _readout(location_status="undetermined", signs_status="undetermined"), Clinical(age=50, gcs=15))
    assert r["ich_score"]["missing"] == ["infratentorial origin (imaging: location undetermined: registration Dice 0.41 < 0.80)"]
    assert r["ich_score"]["possible_totals"] == [2, 3]
    assert [m.split(" (")[0] for m in r["bat"]["missing"]] == ["blend sign", "any hypodensity", "time from onset to CT"]
    no_readout = compute_scores(MEASURES, None)["ich_score"]
    assert "no read-out" in no_readout["missing"][1]


def test_no_parenchymal_clot_scores_zero_volume_and_no_infratentorial_origin():
    img = imaging_from({"IVH": MEASURES["IVH"]}, None)
    assert (img.ich_abc2_ml, img.infratentorial, img.ivh) == (0.0, False, True)


def test_an_undetermined_iph_location_gives_its_own_reason():
    readout = _readout()
    readout["location"]["labels"]["IPH"] = {"status": "undetermined", "reason": "the label maps outside every atlas region"}
    r = compute_scores(MEASURES, readout, Clinical(age=50, gcs=15))["ich_score"]
    assert r["missing"] == ["infratentorial origin (imaging: IPH location undetermined: the label maps outside every atlas region)"]


def test_no_ivh_label_is_said_not_silently_scored():
    r = ich_score(SUPRA, Clinical(age=50, gcs=15)).to_dict()
    assert r["total"] == 0 and any("none is labelled" in n for n in r["notes"])
    assert not any("none is labelled" in n for n in ich_score(_with(ivh=True), Clinical(age=50, gcs=15)).notes)
