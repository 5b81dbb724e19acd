"""Preprocessing (spec 1): resampling, normalisation, windowing, head mask without brace, brain mask."""

import numpy as np
import pytest

from ichkit.errors import GeometryMismatchError, OptionError
from ichkit.image import Volume
from ichkit.phantom import BRACE, BRAIN, CSF, SCALP, SKULL, make_phantom
from ichkit.preprocess import (
    apply_mask,
    brain_mask,
    foreground_stats,
    head_mask,
    intracranial_mask,
    percentile_clip_zscore,
    resample,
    resample_like,
    window,
)

SMALL = dict(shape=(24, 256, 256), spacing=(1.0, 1.0, 5.0))


@pytest.fixture(scope="module")
def braced():
    return make_phantom(5, brace=True, **SMALL)


@pytest.fixture(scope="module")
def head(braced):
    return head_mask(braced.ct)


def _extent(vol):
    return np.array(vol.shape[::-1]) * np.array(vol.spacing)


def _rotated(vol):
    t = np.deg2rad(20)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    return Volume(vol.array, vol.spacing, (10.0, -20.0, 30.0), rot)


def test_resample_keeps_extent_origin_direction(braced):
    ct = _rotated(braced.ct)
    out = resample(ct, (2.0, 2.0, 10.0))
    assert out.shape == (12, 128, 128) and out.spacing == (2.0, 2.0, 10.0)
    assert np.allclose(_extent(out), _extent(ct)) and out.origin == ct.origin
    assert np.allclose(out.direction, ct.direction) and out.array.dtype == np.float32
    assert out.array[6, 64, 64] == pytest.approx(ct.array[12, 128, 128], abs=60)  # same anatomy at the same place


def test_resample_labels_nearest(braced):
    lab = braced.labels
    out = resample(lab, (0.5, 0.5, 5.0), is_label=True)
    assert out.array.dtype == np.uint8 and set(np.unique(out.array)) == set(np.unique(lab.array))
    for value in (1, 2):
        ml = np.count_nonzero(out.array == value) * out.voxel_volume_ml
        assert ml == pytest.approx(np.count_nonzero(lab.array == value) * lab.voxel_volume_ml, rel=0.02)


def test_resample_like_round_trip(braced):
    ct = _rotated(braced.ct)
    fine = resample(ct, (0.5, 0.5, 2.5))
    back = resample_like(fine, ct)
    assert back.same_geometry(ct)
    assert np.allclose(back.array, ct.array, atol=1e-3)  # the original grid points are on the fine grid
    lab = braced.labels
    coarse = resample(lab, (2.0, 2.0, 5.0), is_label=True)
    again = resample_like(coarse, lab, is_label=True)
    assert again.same_geometry(lab) and again.array.dtype == np.uint8
    a, b = lab.array > 0, again.array > 0
    assert 2 * np.count_nonzero(a & b) / (a.sum() + b.sum()) > 0.9


def test_zscore_on_clipped_foreground(braced):
    ct = braced.ct
    z = percentile_clip_zscore(ct)
    assert z.array.dtype == np.float32 and z.same_geometry(ct)
    fg = z.array[ct.array > -500]
    assert fg.mean() == pytest.approx(0.0, abs=1e-3) and fg.std() == pytest.approx(1.0, abs=1e-3)
    lo, hi = np.percentile(ct.array[ct.array > -500], [0.5, 99.5])
    assert z.meta["normalisation"]["bounds"] == pytest.approx([lo, hi])


def test_zscore_dataset_statistics(braced):
    ct, lab = braced.ct, braced.labels
    stats = foreground_stats([ct], [lab])  # nnU-Net: foreground = labelled voxels
    assert 40 <= stats["bounds"][0] < stats["bounds"][1] <= 110
    z = percentile_clip_zscore(ct, **stats)
    expected = (np.clip(ct.array.astype(np.float32), *stats["bounds"]) - stats["mean"]) / stats["std"]
    assert np.allclose(z.array, expected, atol=1e-4)
    assert z.array[lab.array > 0].mean() == pytest.approx(0.0, abs=1e-3)


def test_window():
    vol = Volume(np.array([-100, 0, 40, 80, 200], np.int16).reshape(1, 1, 5))
    assert window(vol, 40, 80).array.ravel().tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert window(vol, out="uint8").array.ravel().tolist() == [0, 0, 128, 255, 255]
    with pytest.raises(OptionError):
        window(vol, out="jpeg")


def test_head_mask_drops_brace_keeps_head(braced, head):
    t, m = braced.tissue.array, head.array
    assert m.dtype == np.uint8 and head.same_geometry(braced.ct)
    assert np.count_nonzero(t == BRACE) > 0 and not np.any(m[t == BRACE])
    assert not np.any(m[(braced.ct.array >= 300) & (t != SKULL)])
    assert np.all(m[np.isin(t, (BRAIN, CSF, SKULL))])
    assert m[t == SCALP].mean() > 0.999 and not np.any(m[t == 0])


def test_head_mask_erosion_cuts_a_brace_touching_the_head(braced):
    ct, t = braced.ct, braced.tissue.array
    a = ct.array.copy()
    rows = np.nonzero((t[:, :, 128] == BRACE).any(axis=0))[0]
    scalp_rows = np.nonzero((t[:, :, 128] == SCALP).any(axis=0))[0]
    a[:10, scalp_rows.max() : rows.min() + 1, 127:129] = 500  # a 2 mm strut from the scalp to the brace
    touching = ct.with_array(a)
    assert np.any(head_mask(touching, remove_brace=False).array[t == BRACE])
    assert not np.any(head_mask(touching).array[t == BRACE])


def test_brain_mask_strips_skull_keeps_blood(braced, head):
    t, lab = braced.tissue.array, braced.labels.array
    b = brain_mask(braced.ct, head=head).array
    assert not np.any(b[np.isin(t, (SKULL, SCALP, BRACE))]) and not np.any(b[t == 0])
    assert np.all(b[lab > 0])
    assert np.all(b[t == BRAIN]) and b[t == CSF].mean() > 0.999


def test_apply_mask(braced, head):
    out = apply_mask(braced.ct, head)
    assert np.array_equal(out.array[head.array > 0], braced.ct.array[head.array > 0])
    assert np.all(out.array[head.array == 0] == braced.ct.array.min()) and out.array.dtype == np.int16
    assert np.all(apply_mask(braced.ct, head, fill=-1024).array[head.array == 0] == -1024)
    with pytest.raises(GeometryMismatchError):
        apply_mask(braced.ct, resample(head, (2.0, 2.0, 5.0), is_label=True))


def test_intracranial_mask_keeps_everything_inside_the_skull_and_nothing_outside(braced, head):
    t, lab = braced.tissue.array, braced.labels.array
    ic = intracranial_mask(braced.ct)
    m = ic.array > 0
    assert ic.meta["skull_found"] and ic.same_geometry(braced.ct)
    assert not np.any(m[np.isin(t, (SKULL, SCALP, BRACE))]) and not np.any(m[t == 0])
    assert np.all(m[lab > 0]) and np.all(m[t == BRAIN]) and m[t == CSF].mean() > 0.999
    assert np.all(m[brain_mask(braced.ct, head=head).array > 0])  # the brain mask nests inside it


def test_intracranial_mask_survives_a_craniectomy(braced):
    """A 60 mm bone flap removed on 8 slices (replaced by scalp-density tissue): the brain under it stays in."""
    t = braced.tissue.array
    a = braced.ct.array.copy()
    flap = np.zeros_like(t, bool)
    flap[8:16, :, :] = True
    flap[:, :, 160:] = False  # the patient's left side only (x < 160 voxels = 1 mm each)
    flap[:, 60:, :] = False  # ... and the front (y < 60)
    a[flap & (t == SKULL)] = 30
    m = intracranial_mask(braced.ct.with_array(a)).array > 0
    brain = t == BRAIN
    assert m[8:16][brain[8:16]].mean() > 0.999
    assert not np.any(m[t == SCALP])


def test_intracranial_mask_without_a_skull_is_the_head_and_says_so(braced, head):
    stripped = apply_mask(braced.ct, brain_mask(braced.ct, head=head))
    ic = intracranial_mask(stripped)
    assert ic.meta["skull_found"] is False
    assert np.array_equal(ic.array > 0, head_mask(stripped).array > 0)
    air = braced.ct.with_array(np.full(braced.ct.shape, -1000, np.int16))
    assert intracranial_mask(air).meta["skull_found"] is False
