"""NCCT expansion signs against phantoms whose truth is planted (the full table: bench/bench_signs.py)."""

import json

import numpy as np
import pytest

from ichkit.anatomy import shape
from ichkit.phantom.signs import MARGIN_HU, PATTERNS, SCORED_SIGNS, make_sign_phantom
from ichkit.anatomy.signs import SIGN_NAMES, expansion_signs
from ichkit.errors import GeometryMismatchError
from ichkit.image import Volume
from ichkit.labels import IPH

TEST_SEED = 7_000_000  # the tests' own family; the bench uses SeedSequence(20261203)
KEYS = {"present", "value", "threshold", "comparison", "unit", "definition", "slice", "region"}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_reads_as_planted(pattern):
    ph = make_sign_phantom(TEST_SEED + PATTERNS.index(pattern), pattern)
    res = expansion_signs(ph.ct, ph.labels)
    assert res["status"] == "determined"
    got = {s: res["signs"][s]["present"] for s in SCORED_SIGNS}
    assert got == ph.truth, ph.params
    json.dumps(res)  # the dict itself is the JSON
    for name in SIGN_NAMES:
        assert KEYS <= set(res["signs"][name]), name
    for name, region in res.regions.items():  # every drawn region is a mask on the CT grid, inside the clot's box
        assert region.same_geometry(ph.ct) and region.array.any()
        assert res["signs"][name]["region"]["voxels"] == int(region.array.sum())
        assert res["signs"][name]["slice"] in np.nonzero(region.array.any(axis=(1, 2)))[0]


def test_planted_focus_contrast_is_measured():
    """The measured contrast of a planted black hole is its planted step within the phantoms' threshold margin.

    The error comes from the clot's texture (SD 2 HU, so focus and ring means differ by up to ~2 x 2 HU) and
    the voxelised edge; MARGIN_HU (4 HU), the distance every planted value keeps from a threshold, bounds it.
    """
    ph = make_sign_phantom(TEST_SEED + 100, "black_hole")
    res = expansion_signs(ph.ct, ph.labels)
    assert res["signs"]["black_hole"]["value"] == pytest.approx(ph.params["contrast_hu"], abs=MARGIN_HU)
    assert res["signs"]["black_hole"]["definition"].startswith("Li et al., Stroke 2016")


def _ball(shape_zyx=(20, 120, 120), spacing=(1.0, 1.0, 1.0), radius=15.0, hu=65.0):
    z, y, x = np.indices(shape_zyx).astype(float)
    c = (np.array(shape_zyx) - 1) / 2
    r = np.sqrt(((z - c[0]) * spacing[2]) ** 2 + ((y - c[1]) * spacing[1]) ** 2 + ((x - c[2]) * spacing[0]) ** 2)
    ball = r <= radius
    ct = Volume(np.where(ball, hu, 30.0).astype(np.int16), spacing=spacing)
    return ct, ct.with_array(ball.astype(np.uint8) * IPH)


def test_homogeneous_ball_is_regular_and_homogeneous():
    ct, mask = _ball(shape_zyx=(40, 80, 80), spacing=(1.0, 1.0, 1.0))
    res = expansion_signs(ct, mask)
    assert not any(res["signs"][s]["present"] for s in SIGN_NAMES)
    assert res["signs"]["barras_shape"]["value"] == 1 and res["signs"]["barras_density"]["value"] == 1
    assert res["figures"]["sphericity"] == pytest.approx(1.0, abs=0.12)  # marching cubes on a 1 mm grid
    assert res["figures"]["lobulations"] == 0 and res.regions == {}


def test_lobulations_count_concavities():
    yy, xx = np.mgrid[:100, :100]
    lobes = np.zeros((100, 100), bool)
    for cy, cx in ((36, 36), (36, 64), (60, 50)):  # a three-leaf clover: three notches about 3.3 mm deep
        lobes |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 18**2
    assert shape.lobulations(lobes, 0.5, 0.5) == 3
    assert shape.lobulations((yy - 50) ** 2 + (xx - 50) ** 2 <= 30**2, 0.5, 0.5) == 0


def test_bad_inputs_are_undetermined_or_one_error():
    ct, mask = _ball()
    empty = expansion_signs(ct, mask.with_array(np.zeros(mask.shape, np.uint8)))
    assert empty["status"] == "undetermined" and "no IPH voxel" in empty["reason"]
    assert all(empty["signs"][s]["present"] is None and empty["signs"][s]["value"] is None for s in SIGN_NAMES)
    json.dumps(empty)
    air = expansion_signs(ct.with_array(np.full(ct.shape, -1000, np.int16)), mask)  # not blood: e.g. a wrong mask
    assert air["status"] == "undetermined" and "not acute blood" in air["reason"]
    other = Volume(np.zeros((5, 5, 5), np.uint8))
    with pytest.raises(GeometryMismatchError):
        expansion_signs(ct, other)
