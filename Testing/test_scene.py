"""Scene glue against the real slicer-core wheel: exact round trips, segment names, Slicer's own
closed-surface volume."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

slicer = pytest.importorskip("slicer", reason="the slicer-core wheel (import slicer) is not installed")
vtk = pytest.importorskip("vtk")

from ichkit import scene  # noqa: E402
from ichkit.image import Volume  # noqa: E402
from ichkit.labels import IPH, IVH, LABELS  # noqa: E402

# Oblique, left-handed (a mirrored axis) and anisotropic: every sign and index-order slip shows.
OBLIQUE = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix() @ np.diag([1.0, -1.0, 1.0])
SPACING = (0.43, 0.51, 5.0)
ORIGIN = (-120.3, 88.1, -40.7)


def _volume(dtype) -> Volume:
    rng = np.random.default_rng(7)
    return Volume(rng.uniform(-1000, 2000, (7, 11, 13)).astype(dtype), SPACING, ORIGIN, OBLIQUE)


def _labels() -> Volume:
    lab = np.zeros((20, 30, 40), np.uint8)
    lab[5:10, 5:15, 5:20] = IPH
    lab[12:15, 20:25, 25:35] = IVH
    return Volume(lab, (0.5, 0.6, 2.0), (10.0, -20.0, 30.0), OBLIQUE)


def _assert_same(a: Volume, b: Volume) -> None:
    assert a.array.dtype == b.array.dtype
    assert np.array_equal(a.array, b.array)
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.origin, b.origin, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.direction, b.direction, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_volume_round_trip_exact(dtype):
    vol = _volume(dtype)
    node = scene.volume_to_node(scene.new_scene(), vol, "ct")
    _assert_same(scene.node_to_volume(node), vol)


def test_node_geometry_is_ras_of_itk_lps():
    """A voxel lands where SimpleITK puts it, with x and y negated (LPS -> RAS)."""
    vol = _volume(np.int16)
    node = scene.volume_to_node(scene.new_scene(), vol, "ct")
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    for index in [(0, 0, 0), (12, 10, 6), (3, 5, 2)]:
        ras = np.array(ijk_to_ras.MultiplyPoint((*index, 1.0))[:3])
        lps = np.array(vol.to_sitk().TransformIndexToPhysicalPoint(index))
        np.testing.assert_allclose(ras * [-1, -1, 1], lps, atol=1e-9)


def test_labelmap_segmentation_round_trip_keeps_values_and_names():
    labels = _labels()
    mrml = scene.new_scene()
    reference = scene.volume_to_node(mrml, labels.with_array(labels.array.astype(np.int16)), "ct")
    seg_node = scene.labelmap_to_segmentation(mrml, labels, reference_node=reference)
    segmentation = seg_node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == ["IPH", "IVH"]
    assert segmentation.GetNumberOfLayers() == 1  # one shared labelmap, as Slicer's own import makes
    assert segmentation.GetSegment("IVH").GetColor() == pytest.approx(LABELS[IVH].color)

    back = scene.segmentation_to_labelmap(seg_node, labels)
    _assert_same(back, labels.with_array(labels.array))
    assert back.meta["segments"] == {IPH: "IPH", IVH: "IVH"}


def test_segments_land_where_slicer_exports_them():
    """Slicer's own exporter, on the reference node's grid, gives our voxels back: the segmentation
    geometry agrees with the volume node's, independently of our way back."""
    labels = _labels()
    mrml = scene.new_scene()
    reference = scene.volume_to_node(mrml, labels.with_array(labels.array.astype(np.int16)), "ct")
    seg_node = scene.labelmap_to_segmentation(mrml, labels, reference_node=reference)
    exported = mrml.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "exported")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportAllSegmentsToLabelmapNode(
        seg_node, exported, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
    )
    out = scene.node_to_volume(exported)
    assert np.array_equal(out.array, labels.array)
    assert out.same_geometry(labels, tol=1e-9)


def test_names_from_meta_and_renamed_or_new_segments():
    labels = _labels()
    labels.meta["segments"] = {IPH: "hematoma", IVH: "ventricles"}
    mrml = scene.new_scene()
    seg_node = scene.labelmap_to_segmentation(mrml, labels, names={IVH: "IVH left"})
    segmentation = seg_node.GetSegmentation()
    ids = list(segmentation.GetSegmentIDs())
    assert [segmentation.GetSegment(i).GetName() for i in ids] == ["hematoma", "IVH left"]
    segmentation.GetSegment(ids[0]).SetName("my clot")  # renamed by the user: the tag keeps its value
    segmentation.AddEmptySegment("", "Segment_3")  # drawn by the user: the next free value
    back = scene.segmentation_to_labelmap(seg_node, labels)
    assert np.array_equal(back.array, labels.array)
    assert back.meta["segments"] == {IPH: "my clot", IVH: "IVH left", max(LABELS) + 1: "Segment_3"}


def test_empty_segmentation_gives_zeros_on_reference():
    labels = _labels()
    seg_node = scene.labelmap_to_segmentation(scene.new_scene(), labels.with_array(np.zeros_like(labels.array)))
    back = scene.segmentation_to_labelmap(seg_node, labels)
    assert back.shape == labels.shape and not back.array.any() and back.meta["segments"] == {}


def test_register_converter_rules_is_idempotent():
    scene.register_converter_rules()
    scene.register_converter_rules()
    rules = [r.GetClassName() for r in slicer.vtkSegmentationConverterFactory.GetInstance().GetConverterRules()]
    assert sorted(rules) == sorted(set(rules)) and set(scene.CONVERTER_RULES) <= set(rules)


def _ellipsoid(spacing, semi_axes_mm, direction) -> Volume:
    shape = tuple(int(np.ceil(2.6 * max(semi_axes_mm) / s)) for s in spacing[::-1])
    z, y, x = np.indices(shape, dtype=float)
    centre = [(n - 1) / 2 for n in shape]
    r = sum(((c - m) * s / a) ** 2 for c, m, s, a in zip((x, y, z), centre[::-1], spacing, semi_axes_mm))
    return Volume((r <= 1).astype(np.uint8), spacing, (3.0, 4.0, 5.0), direction)


@pytest.mark.parametrize(
    "spacing, semi_axes",
    [((1.0, 1.0, 1.0), (20.0, 20.0, 20.0)), ((0.8, 0.8, 2.5), (20.0, 15.0, 12.0)), ((0.5, 0.5, 5.0), (20.0, 15.0, 12.0))],
)
def test_closed_surface_volume_close_to_analytic(spacing, semi_axes, record_property):
    labels = _ellipsoid(spacing, semi_axes, OBLIQUE)
    seg_node = scene.labelmap_to_segmentation(scene.new_scene(), labels)
    surface_ml = scene.closed_surface_volume_ml(seg_node, "IPH")
    analytic_ml = 4 / 3 * np.pi * np.prod(semi_axes) / 1000
    voxel_ml = labels.array.sum() * labels.voxel_volume_ml
    error = surface_ml / analytic_ml - 1
    record_property("closed_surface_error_percent", round(100 * error, 2))
    print(f"spacing {spacing} axes {semi_axes}: Slicer surface {surface_ml:.3f} mL, voxels {voxel_ml:.3f} mL, "
          f"analytic {analytic_ml:.3f} mL, error {100 * error:+.2f} %")
    assert abs(error) < 0.03
    assert scene.closed_surface_volume_ml(seg_node, "IPH") == surface_ml  # reconversion is stable


def test_table_node_columns_and_units():
    rows = [{"segment": "IPH", "label": 1, "volume": 12.5}, {"segment": "IVH", "label": 2, "volume": 3.25}]
    node = scene.table_node(scene.new_scene(), "measurements", rows, units={"volume": "mL"})
    table = node.GetTable()
    assert (node.GetNumberOfRows(), node.GetNumberOfColumns()) == (2, 3)
    assert node.GetCellText(1, 0) == "IVH" and table.GetValueByName(0, "volume").ToDouble() == 12.5
    assert node.GetColumnUnitLabel("volume") == "mL"
