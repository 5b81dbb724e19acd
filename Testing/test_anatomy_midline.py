"""Midline shift against heads whose ventricles are displaced by a planted shift (full run: bench/bench_signs.py)."""

import json

import numpy as np
import pytest

from ichkit.anatomy.midline import midline_shift
from ichkit.phantom.signs import make_midline_phantom
from ichkit.errors import GeometryMismatchError
from ichkit.image import Volume

TEST_SEED = 7_100_000


@pytest.mark.parametrize("i, shift", [(0, 0.0), (1, 7.5), (2, -13.0)])
def test_planted_shift_is_measured_within_1mm(i, shift):
    ct, labels, truth = make_midline_phantom(TEST_SEED + i, shift)
    res = midline_shift(ct, labels)
    json.dumps(res)
    assert res["status"] == "determined" and res["landmark"] == "septum_pellucidum", res["reason"]
    assert res["shift_mm"] == pytest.approx(truth["shift_mm"], abs=1.0)
    if shift:
        assert res["direction"] == truth["direction"]
    k = res["slice"]
    for line in ("ideal_line", "septum_line"):  # drawable: on the measured slice, inside the image, in mm too
        for end in ("start", "end"):
            x, y, z = res[line][end]["voxel_xyz"]
            assert z == k and 0 <= x < ct.shape[2] and 0 <= y < ct.shape[1]
            assert np.allclose(ct.index_to_physical() @ [x, y, z, 1.0], res[line][end]["mm_lps"] + [1.0], atol=0.02)
    # the septum line runs parallel to the ideal one, the shift apart
    a, b = (np.array(res[ln]["start"]["voxel_xyz"][:2]) * ct.spacing[:2] for ln in ("ideal_line", "septum_line"))
    u = np.array(res["ideal_line"]["end"]["voxel_xyz"][:2]) * ct.spacing[:2] - a
    normal = np.array([u[1], -u[0]]) / np.linalg.norm(u)
    assert abs((b - a) @ normal) == pytest.approx(res["shift_mm"], abs=0.05)


def test_third_ventricle_stands_in_for_an_effaced_septum():
    ct, labels, truth = make_midline_phantom(TEST_SEED + 20, -6.0, lateral_ventricles=False)
    res = midline_shift(ct, labels)
    assert res["status"] == "determined" and res["landmark"] == "third_ventricle"
    assert res["shift_mm"] == pytest.approx(truth["shift_mm"], abs=1.0) and res["direction"] == "right"


def test_no_ventricles_is_undetermined():
    ct, labels, _ = make_midline_phantom(TEST_SEED + 10, 4.0)
    arr = ct.array.copy()
    arr[(arr > -5) & (arr < 18)] = 30  # CSF painted over as brain: effaced ventricles (and sulci)
    res = midline_shift(ct.with_array(arr), labels)
    assert res["status"] == "undetermined" and res["shift_mm"] is None
    assert "CSF" in res["reason"] or "third ventricle" in res["reason"]


def test_scan_without_brain_is_undetermined():
    air = Volume(np.full((4, 64, 64), -1000, np.int16), spacing=(0.5, 0.5, 5.0))
    res = midline_shift(air)
    assert res["status"] == "undetermined" and "does not cover the brain" in res["reason"]
    json.dumps(res)
    with pytest.raises(GeometryMismatchError):
        midline_shift(air, Volume(np.zeros((3, 3, 3), np.uint8)))
