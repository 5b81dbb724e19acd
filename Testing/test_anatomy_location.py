"""Atlas location: the registry entry, the region table, and the read-out on atlas-drawn phantoms.

The phantoms here use a coarse 256 x 256 grid (0.9-1 mm pixels) to keep the tests fast; the
acceptance figures on the realistic 512 x 512 grid and a seed family never used here are
measured by bench/bench_readout.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from ichkit.anatomy.atlas import ATLAS_ID, CLASSES, DEEP, INFRATENTORIAL, LOBAR, read_atlas
from ichkit.phantom.atlas import HeadDraw, make_atlas_phantom
from ichkit.anatomy.location import locate, side_of
from ichkit.anatomy.registration import MIN_DICE, register
from ichkit.image import Volume
from ichkit.models.registry import load_manifest
from ichkit.resources import resource_path

ATLAS = "models/blast-ct-atlas"
COARSE = HeadDraw(matrix=256, pixel_mm=(0.9, 1.0))
CENTROID_ERROR_MM = 6.0  # registration error at the clot: affine of a warped (2.5 mm x 3 waves) head


@pytest.fixture(scope="module")
def atlas(shared_dir):
    folder = shared_dir / ATLAS
    if not (folder / "atlas_template_space.nii.gz").exists():
        pytest.skip(f"{folder} holds no atlas")
    return read_atlas(folder)


def _centroid(mask: Volume, value: int = 1) -> np.ndarray:
    m = mask.index_to_physical()
    return m[:3, :3] @ np.argwhere(mask.array == value).mean(axis=0)[::-1] + m[:3, 3]


def test_registry_entry_matches_the_shared_files(shared_dir):
    entry = {e.id: e for e in load_manifest(resource_path("models.json"))}[ATLAS_ID]
    sums = dict(line.split()[::-1] for line in (shared_dir / ATLAS / "SHA256SUMS").read_text().splitlines())
    assert {f.name: f.sha256 for f in entry.files} == sums
    for f in entry.files:
        assert f.size == (shared_dir / ATLAS / f.name).stat().st_size
        assert f.url == f"https://github.com/biomedia-mira/blast-ct/raw/ccfa6efb6ee269b97d971a96658d78953381c08e/blast_ct/data/localisation_files/{f.name}"
    assert entry.task == "atlas" and entry.licence == "Apache-2.0" and not entry.demo
    assert "Not cleared for clinical use" in entry.card_text()


def test_region_table_classes_and_sides(atlas):
    table = atlas.table
    assert len(table) == 31 and set(r.klass for r in table.values()) == set(CLASSES)
    by_name = {r.name: r for r in table.values()}
    for name, klass in [("LeftThalamusProper", DEEP), ("RightBasalGanglia-lentiform-nucleus", DEEP), ("LeftInsula", LOBAR),
                        ("RightHippocampus", LOBAR), ("BrainStem", INFRATENTORIAL), ("RightCerebellum", INFRATENTORIAL)]:
        assert by_name[name].klass == klass
    # every left region lies at +x (LPS: the patient's left), its right twin at -x
    m = atlas.regions.index_to_physical()
    for r in table.values():
        if r.side:
            x = (m[:3, :3] @ np.argwhere(atlas.regions.array == r.index).mean(axis=0)[::-1] + m[:3, 3])[0]
            assert (x > 0) == (r.side == "left"), r.name


def test_side_rule():
    assert side_of(0.95, "left") == "left" and side_of(0.05, None) == "right"
    assert side_of(0.5, "left") == "bilateral" and side_of(0.5, None) == "midline"


@pytest.mark.parametrize("seed", [0, 3, 4])  # deep left, lobar right, infratentorial left (TARGETS[seed % 6])
def test_location_recovers_the_planted_class_and_side(atlas, seed):
    ph = make_atlas_phantom(seed, atlas, draw=COARSE)
    reg = register(ph.ct, atlas)
    assert reg.ok and reg.dice >= MIN_DICE
    c = _centroid(ph.labels)[None]
    assert np.linalg.norm(reg.to_template(c) - ph.to_template(c)) < CENTROID_ERROR_MM
    loc = locate(ph.labels, atlas, reg)
    iph = loc["labels"]["IPH"]
    assert loc["status"] == iph["status"] == "determined"
    assert (iph["class"], iph["side"]) == (ph.truth["class"], ph.truth["side"])
    assert iph["volume_ml"] == pytest.approx(ph.truth["volume_ml"], rel=1e-6)  # voxel counts: exact
    assert sum(iph["regions_ml"].values()) + iph["outside_atlas_ml"] == pytest.approx(iph["volume_ml"], abs=1e-2)
    assert iph["largest_region"] == ph.truth["largest_region"]


def test_mirrored_scan_flips_the_side(atlas):
    """Reversing the x axis of the voxels (geometry kept) puts the clot in the other hemisphere."""
    ph = make_atlas_phantom(1, atlas, draw=COARSE)
    flip = lambda v: v.with_array(np.ascontiguousarray(v.array[:, :, ::-1]))  # noqa: E731
    loc = locate(flip(ph.labels), atlas, register(flip(ph.ct), atlas))["labels"]["IPH"]
    assert ph.truth["side"] == "right" and (loc["class"], loc["side"]) == (ph.truth["class"], "left")


def test_partial_scans_are_undetermined_not_guessed(atlas):
    ph = make_atlas_phantom(2, atlas, draw=COARSE)
    m = ph.ct.index_to_physical()
    k = ph.ct.shape[0] // 2
    cut = lambda v, sl, z0: Volume(v.array[sl], v.spacing, m[:3, :3] @ [0, 0, z0] + m[:3, 3], v.direction)  # noqa: E731
    low = register(cut(ph.ct, slice(0, 6), 0), atlas)
    assert not low.ok and "does not cover the brain" in low.reason
    top = cut(ph.ct, slice(k, None), k)
    reg = register(top, atlas)
    assert not reg.ok and "Dice" in reg.reason and reg.dice < MIN_DICE
    loc = locate(cut(ph.labels, slice(k, None), k), atlas, reg)
    assert loc["status"] == "undetermined" and loc["reason"] == reg.reason and loc["labels"] == {}
