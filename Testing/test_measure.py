"""Volumes (mesh / voxel / ABC/2), slice facts and the hematoma-expansion verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from ichkit.errors import EmptyMaskError
from ichkit.measure.expansion import expansion_verdict
from ichkit.image import Volume
from ichkit.measure import TOTAL_KEY, abc2_ml, centroid_mm, max_area_slice, measure, mesh_volume_ml, slices_spanned, voxel_volume_ml


def ellipsoid(radii_mm, spacing, offset_vox=(0.3, 0.1, 0.2), margin=3):
    """Mask of the voxels whose centres lie inside the ellipsoid (x, y, z radii and spacing, mm)."""
    n = [int(2 * r / s) + 2 * margin for r, s in zip(radii_mm, spacing)]
    x, y, z = ((np.arange(k) - k / 2 + o) * s / r for k, o, s, r in zip(n, offset_vox, spacing, radii_mm))
    return z[:, None, None] ** 2 + y[None, :, None] ** 2 + x[None, None, :] ** 2 <= 1.0


def analytic_ml(radii_mm):
    return 4.0 / 3.0 * np.pi * np.prod(radii_mm) / 1000.0


@pytest.mark.parametrize(
    "radii, spacing, tol",
    [
        ((8, 10, 6), (0.5, 0.5, 1.0), 0.01),  # 2.0 mL
        ((12, 15, 10), (0.5, 0.5, 1.0), 0.01),  # 7.5 mL
        ((20, 14, 9), (0.5, 0.5, 1.0), 0.01),  # 10.6 mL
        ((14, 18, 10), (0.5, 0.5, 5.0), 0.03),  # 10.6 mL
        ((15, 20, 12), (0.5, 0.5, 5.0), 0.03),  # 15.1 mL
        ((20, 25, 15), (0.5, 0.5, 5.0), 0.03),  # 31.4 mL
    ],
)
def test_mesh_volume_of_ellipsoids_matches_analytic_volume(radii, spacing, tol):
    for offset in [(0.3, 0.1, 0.2), (0.0, 0.45, 0.7)]:
        mask = ellipsoid(radii, spacing, offset)
        assert mesh_volume_ml(mask, spacing) == pytest.approx(analytic_ml(radii), rel=tol)


def pyradiomics_mesh_volume_ml(mask, spacing):
    from radiomics import setVerbosity, shape

    setVerbosity(60)
    img = sitk.GetImageFromArray(np.random.default_rng(0).normal(40, 5, mask.shape))
    lab = sitk.GetImageFromArray(mask.astype(np.uint8))
    for im in (img, lab):
        im.SetSpacing(spacing)
        im.SetOrigin((-12.5, 30.0, 7.0))
    from radiomics import imageoperations

    box, _ = imageoperations.checkMask(img, lab, label=1)
    img, lab = imageoperations.cropToTumorMask(img, lab, box)
    return shape.RadiomicsShape(img, lab, label=1).getMeshVolumeFeatureValue() / 1000.0


def ragged_mask(shape, seed, fill=0.45):
    from scipy import ndimage

    noise = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), 1.0)
    return noise > np.quantile(noise, 1 - fill)


@pytest.mark.parametrize(
    "name, spacing",
    [("ellipsoid", (0.5, 0.5, 5.0)), ("ragged", (0.5, 0.5, 5.0)), ("ragged", (0.7, 0.9, 2.5)), ("noise", (1.0, 1.0, 1.0)), ("border", (0.45, 0.45, 4.8))],
)
def test_mesh_volume_equals_pyradiomics_meshvolume(name, spacing):
    masks = {
        "ellipsoid": lambda: ellipsoid((14, 18, 10), spacing),
        "ragged": lambda: ragged_mask((9, 40, 36), seed=1),  # ambiguous marching-cubes cases everywhere
        "noise": lambda: np.random.default_rng(2).random((8, 12, 10)) > 0.5,  # several components
        "border": lambda: np.pad(ragged_mask((6, 30, 30), seed=3), ((0, 4), (2, 0), (0, 5))),  # touches the array edge
    }
    mask = masks[name]()
    ours = mesh_volume_ml(mask, spacing)
    assert ours > 0
    assert ours == pytest.approx(pyradiomics_mesh_volume_ml(mask, spacing), rel=1e-6)


def test_mesh_volume_is_the_signed_tetrahedra_sum_of_a_marching_cubes_surface():
    """An independent marching cubes (scikit-image) + sum det/6 gives the same number on smooth masks."""
    from skimage.measure import marching_cubes

    for radii, spacing in [((14, 18, 10), (0.5, 0.5, 5.0)), ((8, 10, 6), (0.5, 0.7, 1.0))]:
        mask = ellipsoid(radii, spacing)
        verts, faces, _, _ = marching_cubes(np.pad(mask, 1).astype(np.float64), 0.5, spacing=spacing[::-1], method="lorensen")
        tri = verts[faces]
        volume = abs(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()) / 6.0 / 1000.0
        assert mesh_volume_ml(mask, spacing) == pytest.approx(volume, rel=1e-6)


def test_voxel_and_abc2_volumes_of_an_ellipsoid():
    radii, spacing = (15, 20, 12), (0.5, 0.5, 5.0)
    mask = ellipsoid(radii, spacing)
    assert voxel_volume_ml(mask, spacing) == pytest.approx(np.count_nonzero(mask) * 1.25 / 1000)
    truth = analytic_ml(radii)
    counted = abc2_ml(mask, spacing)
    # ABC/2 assumes an ellipsoid: A*B*C/2 = 4abc vs 4.19abc, so about 5 % low plus discretisation
    assert counted == pytest.approx(truth, rel=0.1)
    assert abc2_ml(mask, spacing, c_rule="kothari") <= counted


def test_abc2_axes_of_a_rectangle_slab():
    """One slice 20 x 8 px at 0.5 mm, 3 slices of 5 mm: A is the diagonal, B the extent across it."""
    mask = np.zeros((5, 30, 30), bool)
    mask[1:4, 5:13, 4:24] = True  # 20 px (10 mm) along x, 8 px (4 mm) along y
    a = np.hypot(10, 4)
    b = 2 * 10 * 4 / a  # width of the rectangle perpendicular to its diagonal
    assert abc2_ml(mask, (0.5, 0.5, 5.0)) == pytest.approx(a * b * 15 / 2 / 1000)


def test_max_area_slice_and_slices_spanned():
    mask = np.zeros((8, 10, 10), bool)
    mask[0, :2, :2] = True
    mask[1, :3, :3] = True
    mask[2, :2, :2] = True
    mask[5:7, :1, :1] = True
    assert max_area_slice(mask) == (1, (0, 2))
    assert slices_spanned(mask) == (5, 3, (0, 6))
    edge = np.zeros((4, 5, 5), bool)
    edge[0, :3, :3] = True
    edge[1, :1, :1] = True
    assert max_area_slice(edge) == (0, (1,))
    with pytest.raises(EmptyMaskError):
        max_area_slice(np.zeros((3, 4, 4), bool))


def test_centroid_uses_origin_spacing_and_direction():
    mask = np.zeros((4, 6, 8), bool)
    mask[2, 3, 5] = True  # index (x, y, z) = (5, 3, 2)
    direction = np.diag([-1.0, -1.0, 1.0])  # RAS-stored scan, LPS output
    geo = Volume(mask.astype(np.uint8), spacing=(0.5, 0.8, 5.0), origin=(100.0, 50.0, -20.0), direction=direction)
    assert centroid_mm(mask, geo) == pytest.approx((100 - 2.5, 50 - 2.4, -20 + 10))


def test_measure_reports_each_label_and_the_hemorrhage_union():
    labels = np.zeros((10, 60, 60), np.uint8)
    iph = ellipsoid((8, 9, 12), (0.5, 0.5, 5.0), margin=1)
    z, y, x = iph.shape
    labels[:z, :y, :x][iph] = 1
    labels[6:8, 40:50, 40:50] = 2
    labels[6:8, 52:55, 40:50] = 3
    vol = Volume(labels, spacing=(0.5, 0.5, 5.0))
    result = measure(vol)
    assert list(result.regions) == ["IPH", "IVH", "edema", TOTAL_KEY]
    assert result["IVH"].voxel_ml == pytest.approx(200 * 1.25 / 1000)
    assert result[TOTAL_KEY].voxel_ml == pytest.approx(result["IPH"].voxel_ml + result["IVH"].voxel_ml)
    assert result[TOTAL_KEY].mesh_ml == pytest.approx(result["IPH"].mesh_ml + result["IVH"].mesh_ml)
    assert result["IVH"].slice_range == (6, 7) and result["IVH"].slices == 2
    payload = json.loads(json.dumps(result.to_dict()))
    assert set(payload["IPH"]) >= {"mesh_ml", "voxel_ml", "abc2_ml", "max_area_slice", "neighbour_slices", "slices", "centroid_mm"}


def _m(iph=None, ivh=None):
    out = {}
    if iph is not None:
        out["IPH"] = {"mesh_ml": iph}
    if ivh is not None:
        out["IVH"] = {"mesh_ml": ivh}
    return out


@pytest.mark.parametrize(
    "before, after, he, by_abs, by_rel",
    [
        (10.0, 17.0, True, True, True),  # +7 mL, +70 %
        (30.0, 36.5, True, True, False),  # +6.5 mL, +22 %
        (3.0, 4.2, True, False, True),  # +1.2 mL, +40 %
        (20.0, 25.5, False, False, False),  # +5.5 mL, +27.5 %
        (20.0, 26.0, False, False, False),  # exactly +6 mL and +30 %: both rules are strict ">"
        (30.0, 20.0, False, False, False),  # shrinkage
    ],
)
def test_expansion_absolute_and_relative(before, after, he, by_abs, by_rel):
    v = expansion_verdict(_m(before), _m(after))
    assert (v.expansion, v.by_absolute, v.by_relative) == (he, by_abs, by_rel)
    assert v.growth_ml == pytest.approx(after - before)
    assert v.revised_expansion is None and v.new_ivh is None  # no IVH label in either scan


def test_expansion_thresholds_and_parameters():
    v = expansion_verdict(_m(10.0), _m(19.5))
    assert v.thresholds == {"> 3 mL": True, "> 6 mL": True, "> 9 mL": True, "> 12.5 mL": False}
    assert not expansion_verdict(_m(10.0), _m(19.5), abs_ml=12.5, rel=1.0).expansion
    assert expansion_verdict(_m(10.0), _m(13.5), thresholds=(3,)).thresholds == {"> 3 mL": True}
    none = expansion_verdict(_m(0.0), _m(4.0))
    assert none.relative_growth is None and not none.by_relative


@pytest.mark.parametrize(
    "before, after, revised, new",
    [
        (_m(10.0), _m(11.0, ivh=0.4), True, True),  # new IVH
        (_m(10.0, ivh=2.0), _m(11.0, ivh=2.8), False, False),  # IVH growth 0.8 mL
        (_m(10.0, ivh=2.0), _m(11.0, ivh=3.0), True, False),  # IVH growth 1.0 mL
        (_m(10.0, ivh=2.0), _m(17.0, ivh=1.0), True, False),  # HE by volume counts as revised HE
    ],
)
def test_revised_expansion_counts_ivh(before, after, revised, new):
    v = expansion_verdict(before, after)
    assert v.revised_expansion is revised and v.new_ivh is new
    assert expansion_verdict(before, after, revised=False).revised_expansion is None


def test_ich_volume_command(tmp_path, capsys):
    from ichkit.cli import main
    from ichkit.io import save_volume

    rng = np.random.default_rng(0)
    ct = Volume(rng.normal(30, 5, (10, 64, 64)).astype(np.int16), spacing=(0.5, 0.5, 5.0))
    ct.array[:, :4] = -1000
    base = np.zeros(ct.shape, np.uint8)
    follow = base.copy()
    small, big = ellipsoid((8, 9, 12), (0.5, 0.5, 5.0), margin=1), ellipsoid((12, 14, 20), (0.5, 0.5, 5.0), margin=1)
    base[: small.shape[0], : small.shape[1], : small.shape[2]][small] = 5
    follow[: big.shape[0], : big.shape[1], : big.shape[2]][big] = 5
    follow[8, 50:60, 50:60] = 7
    paths = {}
    for name, arr in [("ct", ct.array), ("base", base), ("follow", follow)]:
        paths[name] = save_volume(ct.with_array(arr), tmp_path / f"{name}.nrrd")
    argv = ["volume", str(paths["ct"]), str(paths["base"]), "--followup", str(paths["ct"]), str(paths["follow"]), "--label-map", "5=IPH,7=IVH", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["expansion"]["expansion"] and out["expansion"]["new_ivh"] and out["expansion"]["revised_expansion"]
    assert out["followup"]["IVH"]["voxel_ml"] == pytest.approx(100 * 1.25 / 1000)
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "mesh mL" in text and "HE YES" in text
    assert main(argv[:-3] + ["--label-map", "5=tumour"]) == 2


def _multifocal(seed: int):
    """A phantom (0.45 mm pixels, 5 mm slices) whose IPH gets two satellite clots and a speck in
    the brain, clear of the main clot; returns the labels and the main clot's own mask."""
    from ichkit.labels import IPH
    from ichkit.measure import largest_component
    from ichkit.phantom import BRAIN, make_phantom

    p = make_phantom(seed, shape=(28, 512, 512), spacing=(0.45, 0.45, 5.0), ivh=False)
    labels = p.labels.array.copy()
    main = largest_component(labels == IPH)
    from scipy import ndimage

    zc = int(np.mean(np.nonzero(main)[0]))
    brain = p.tissue.array == BRAIN
    slab = main[zc - 2 : zc + 3].any(axis=0)
    clear = ndimage.distance_transform_edt(~slab, sampling=0.45) > 15.0
    placed: list[tuple[int, int]] = []
    for r in (12, 8, 2):  # two clots and a speck (radius in pixels), each on 3 slices, 15 mm clear of the rest
        for y, x in ((y, x) for y in range(60, 452, 16) for x in range(60, 452, 16)):
            yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
            disc = yy**2 + xx**2 <= r * r
            where = (slice(zc - 1, zc + 2), slice(y - r, y + r + 1), slice(x - r, x + r + 1))
            far = all(np.hypot(y - py, x - px) * 0.45 > 15.0 + 0.45 * 12 * 2 for py, px in placed)
            if far and (brain[where] | ~disc).all() and (clear[where[1:]] | ~disc).all():
                labels[where][:, disc] = IPH
                placed.append((y, x))
                break
    assert len(placed) == 3
    return p.labels.with_array(labels), main


@pytest.mark.parametrize("seed", [3, 11])
def test_abc2_measures_the_main_hematoma_of_a_multifocal_clot(seed):
    from ichkit.measure import ABC2_SCOPES, abc2_per_component

    labels, main = _multifocal(seed)
    iph = labels.array == 1
    spacing = labels.spacing
    m = measure(labels, per_component=True)["IPH"]
    assert m.components == 4 and m.abc2_scope == ABC2_SCOPES["main"]
    assert m.abc2_ml == pytest.approx(abc2_ml(main, spacing, scope="all"), rel=1e-12)  # the satellites change nothing
    spread = abc2_ml(iph, spacing, scope="all")
    assert spread > 2 * m.abc2_ml  # A, B and C stretched across the gaps: the inflation issue 21 measured
    parts = m.abc2_components
    assert [p["component"] for p in parts] == [1, 2, 3, 4]
    assert [p["voxel_ml"] for p in parts] == sorted((p["voxel_ml"] for p in parts), reverse=True)
    assert sum(p["voxel_ml"] for p in parts) == pytest.approx(m.voxel_ml, rel=1e-12)
    assert parts[0]["abc2_ml"] == pytest.approx(m.abc2_ml, rel=1e-12)
    assert abc2_per_component(iph, spacing) == list(parts)
    assert measure(labels, abc2_scope="all")["IPH"].abc2_ml == pytest.approx(spread, rel=1e-12)
    assert "abc2_components" not in measure(labels).to_dict()["IPH"]  # only on request


def test_voxels_touching_at_a_corner_are_one_clot():
    mask = np.zeros((4, 10, 10), bool)
    mask[1, 2:4, 2:4] = True
    mask[2, 4:6, 4:6] = True  # touches the first block at one corner only (26-connected)
    mask[1, 8, 8] = True  # a separate speck
    m = measure(Volume(mask.astype(np.uint8), spacing=(0.5, 0.5, 5.0)))["IPH"]
    assert m.components == 2
    assert m.abc2_ml == pytest.approx(abc2_ml(mask & ~(np.arange(10)[None, None, :] == 8), (0.5, 0.5, 5.0), scope="all"))
