"""Scene glue: images <-> MRML nodes, the one module of the backend that imports `slicer`.

It runs unchanged in desktop Slicer and with the `slicer-core` wheel (tests, web workstation).
MRML stores geometry in RAS, our `Volume` in LPS (as ITK and DICOM do), so x and y of origin and
direction change sign on the way across; the voxels, spacing and the rest travel exactly.
Segment names and colours come from `ichkit.labels`; each segment we create carries its label
value in a tag so the way back gives the same values even after the user renames a segment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ichkit.errors import NotVolumeError
from ichkit.image import Volume
from ichkit.labels import LABELS, label_for_name

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])  # diagonal sign flip; its own inverse
LABEL_TAG = "ichkit.label"
LABELMAP = "Binary labelmap"
HEAT_COLORS = "ICH Grad-CAM"
HEAT_RAMP = ((0.0, (0.0, 0.0, 0.0)), (0.35, (0.8, 0.0, 0.0)), (0.7, (1.0, 0.6, 0.0)), (1.0, (1.0, 1.0, 0.6)))  # black-red-yellow
HEAT_COLOR_ENTRIES = 256
HEAT_VISIBLE_FROM = 1.0 / 255  # heatmaps are stored in 8-bit steps: below one step is "no heat"
COLUMN_KINDS = {  # numpy dtype kind of a table column -> (VTK array class, Python cast)
    "U": (vtk.vtkStringArray, str),
    "b": (vtk.vtkIntArray, int),
    "i": (vtk.vtkIntArray, int),
    "u": (vtk.vtkIntArray, int),
    "f": (vtk.vtkDoubleArray, float),
}
CONVERTER_RULES = (
    "vtkBinaryLabelmapToClosedSurfaceConversionRule",
    "vtkClosedSurfaceToBinaryLabelmapConversionRule",
)


def register_converter_rules() -> None:
    """Register Slicer's segmentation converters (desktop Slicer does it at start-up; idempotent)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    present = {rule.GetClassName() for rule in factory.GetConverterRules()}
    for name in CONVERTER_RULES:
        if name not in present:
            factory.RegisterConverterRule(getattr(slicer, name)())


def new_scene() -> Any:
    """An empty MRML scene ready for segmentations (tests, batch, web)."""
    register_converter_rules()
    return slicer.vtkMRMLScene()


def _matrix4(m3: np.ndarray) -> vtk.vtkMatrix4x4:
    m = vtk.vtkMatrix4x4()
    for r in range(3):
        for c in range(3):
            m.SetElement(r, c, float(m3[r, c]))
    return m


def _matrix3(m4: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[m4.GetElement(r, c) for c in range(3)] for r in range(3)])


def _image_data(array: np.ndarray, image: vtk.vtkImageData) -> vtk.vtkImageData:
    """Fill `image` with the voxels of a [z, y, x] array (VTK runs x fastest, as C order does)."""
    voxels = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
    image.SetDimensions(voxels.shape[::-1])
    scalars = numpy_support.numpy_to_vtk(voxels.ravel(), deep=True)
    image.GetPointData().SetScalars(scalars)
    return image


def _array(image: vtk.vtkImageData, path: str) -> np.ndarray:
    if image is None or image.GetPointData().GetScalars() is None:
        raise NotVolumeError(path, "the node holds no image data")
    if image.GetNumberOfScalarComponents() != 1:
        raise NotVolumeError(path, f"{image.GetNumberOfScalarComponents()} components per voxel, expected 1")
    dims = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1]).copy()


def _oriented_image(vol: Volume) -> Any:
    """A vtkOrientedImageData (segmentation labelmap) with the voxels and RAS geometry of `vol`."""
    image = _image_data(vol.array, slicer.vtkOrientedImageData())
    image.SetSpacing(vol.spacing)
    image.SetOrigin(tuple(LPS_TO_RAS * vol.origin))
    image.SetDirectionMatrix(_matrix4(LPS_TO_RAS[:, None] * vol.direction))
    return image


def volume_to_node(scene: Any, vol: Volume, name: str, node: Any = None) -> Any:
    """`vol` as a scalar volume node (exact voxels, dtype and geometry): a new one, or `node` refilled."""
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    node.SetAndObserveImageData(_image_data(vol.array, vtk.vtkImageData()))
    node.SetSpacing(vol.spacing)
    node.SetOrigin(tuple(LPS_TO_RAS * vol.origin))
    node.SetIJKToRASDirectionMatrix(_matrix4(LPS_TO_RAS[:, None] * vol.direction))
    node.CreateDefaultDisplayNodes()
    return node


def heat_colors(scene: Any) -> Any:
    """The black-red-yellow ramp as a colour table node, made once per scene."""
    node = scene.GetFirstNodeByName(HEAT_COLORS)
    if node is not None:
        return node
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", HEAT_COLORS)
    node.SetTypeToUser()
    node.SetNumberOfColors(HEAT_COLOR_ENTRIES)
    stops, rgb = np.array([s for s, _ in HEAT_RAMP]), np.array([c for _, c in HEAT_RAMP])
    for i, t in enumerate(np.linspace(0, 1, HEAT_COLOR_ENTRIES)):
        node.SetColor(i, *(float(np.interp(t, stops, rgb[:, k])) for k in range(3)), 1.0)
    return node


def heatmap_to_node(scene: Any, heat: Volume, name: str, node: Any = None) -> Any:
    """A Grad-CAM heatmap as a volume node (reusing `node`) coloured by the ramp on 0..max.

    Zero-heat voxels are thresholded out, so as a foreground layer the heatmap tints only where
    the classifier looked instead of darkening the whole CT by its opacity.
    """
    node = volume_to_node(scene, heat, name, node=node)
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(heat_colors(scene).GetID())
    display.AutoWindowLevelOff()
    top = max(float(heat.array.max()), HEAT_VISIBLE_FROM)
    display.SetWindowLevel(top, top / 2)
    display.SetApplyThreshold(True)
    display.SetLowerThreshold(HEAT_VISIBLE_FROM)
    display.SetUpperThreshold(top + 1.0)
    return node


def node_to_volume(node: Any) -> Volume:
    """The node's voxels on its own grid (a parent transform is not applied)."""
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASDirectionMatrix(m)
    return Volume(
        array=_array(node.GetImageData(), node.GetName()),
        spacing=node.GetSpacing(),
        origin=LPS_TO_RAS * np.array(node.GetOrigin()),
        direction=LPS_TO_RAS[:, None] * _matrix3(m),
        meta={"name": node.GetName()},
    )


def labelmap_to_segmentation(
    scene: Any,
    labels: Volume,
    reference_node: Any = None,
    names: dict[int, str] | None = None,
    node: Any = None,
    name: str = "ICH segmentation",
) -> Any:
    """One segment per non-zero label value, all sharing one labelmap layer (as Slicer imports do),
    in a new segmentation node or in `node` (its segments replaced).

    Names: `names`, else labels.meta["segments"] (as `load_mask` gives), else the product's keys.
    """
    register_converter_rules()
    known = {value: lab.key for value, lab in LABELS.items()} | labels.meta.get("segments", {}) | (names or {})
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    image = _oriented_image(labels)
    segmentation = node.GetSegmentation()
    segmentation.RemoveAllSegments()
    if reference_node is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_node)
    else:
        segmentation.SetConversionParameter(
            slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(),
            slicer.vtkSegmentationConverter.SerializeImageGeometry(image),
        )
    for value in (int(v) for v in np.unique(labels.array) if v != 0):
        segment = slicer.vtkSegment()
        segment.SetName(known.get(value, f"label {value}"))
        if value in LABELS:
            segment.SetColor(LABELS[value].color)
        segment.SetLabelValue(value)
        segment.SetTag(LABEL_TAG, str(value))
        segment.AddRepresentation(LABELMAP, image)
        segmentation.AddSegment(segment, segmentation.GenerateUniqueSegmentID(segment.GetName()))
    return node


def _segment_value(segment: Any, taken: set[int]) -> int:
    """Our tag, else the product label the name means, else the next value no segment uses."""
    tagged = vtk.reference("")
    if segment.GetTag(LABEL_TAG, tagged):
        return int(str(tagged))
    label = label_for_name(segment.GetName())
    if label is not None:
        return label.value
    return max(taken | set(LABELS)) + 1


def segmentation_to_labelmap(seg_node: Any, reference: Volume) -> Volume:
    """All segments merged into a uint8 label volume on the grid of `reference`."""
    register_converter_rules()
    seg_node.CreateBinaryLabelmapRepresentation()
    segmentation = seg_node.GetSegmentation()
    ids, values = vtk.vtkStringArray(), vtk.vtkIntArray()
    segments: dict[int, str] = {}
    for segment_id in segmentation.GetSegmentIDs():
        segment = segmentation.GetSegment(segment_id)
        value = _segment_value(segment, set(segments))
        segments[value] = segment.GetName()
        ids.InsertNextValue(segment_id)
        values.InsertNextValue(value)
    array = np.zeros(reference.shape, np.uint8)
    if segments:
        merged = slicer.vtkOrientedImageData()
        seg_node.GenerateMergedLabelmapForAllSegments(
            merged, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY, _oriented_image(reference.with_array(array)), ids, values
        )
        array = _array(merged, seg_node.GetName()).astype(np.uint8)
    return Volume(array, reference.spacing, reference.origin, reference.direction, meta={"segments": segments})


def closed_surface_volume_ml(seg_node: Any, segment_id: str) -> float:
    """Volume enclosed by Slicer's own labelmap -> closed-surface conversion (smoothed surface)."""
    register_converter_rules()
    seg_node.CreateClosedSurfaceRepresentation()
    surface = vtk.vtkPolyData()
    seg_node.GetClosedSurfaceRepresentation(segment_id, surface)
    if surface.GetNumberOfPolys() == 0:
        return 0.0
    triangles = vtk.vtkTriangleFilter()
    triangles.SetInputData(surface)
    mass = vtk.vtkMassProperties()
    mass.SetInputConnection(triangles.GetOutputPort())
    mass.Update()
    return mass.GetVolume() / 1000.0


def table_node(
    scene: Any, name: str, rows: list[dict[str, Any]], units: dict[str, str] | None = None, node: Any = None
) -> Any:
    """A table node with one column per key of the rows (strings, ints or floats): new, or `node` refilled."""
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    node.RemoveAllColumns()
    table = node.GetTable()
    for key in rows[0] if rows else []:
        values = np.asarray([row[key] for row in rows])
        make, cast = COLUMN_KINDS[values.dtype.kind]
        column = make()
        column.SetName(key)
        for value in values.tolist():
            column.InsertNextValue(cast(value))
        table.AddColumn(column)
    for key, unit in (units or {}).items():
        node.SetColumnUnitLabel(key, unit)
    node.Modified()
    return node


OVERLAY_COLORS = ((1.0, 0.2, 0.8), (0.2, 0.8, 1.0), (1.0, 0.9, 0.1), (0.4, 1.0, 0.4), (1.0, 0.5, 0.0), (0.7, 0.5, 1.0))


def masks_to_segmentation(scene: Any, masks: dict[str, Volume], reference_node: Any = None, node: Any = None,
                          name: str = "ICH overlay") -> Any:
    """One segment per named binary mask (e.g. the NCCT signs' regions), each on its own layer:
    such masks overlap (one focus can be hypodense and a black hole), so one shared labelmap
    would hide some. New node, or `node` with its segments replaced."""
    register_converter_rules()
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    segmentation = node.GetSegmentation()
    segmentation.RemoveAllSegments()
    if reference_node is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_node)
    for i, (key, mask) in enumerate(masks.items()):
        segment = slicer.vtkSegment()
        segment.SetName(key)
        segment.SetColor(OVERLAY_COLORS[i % len(OVERLAY_COLORS)])
        segment.AddRepresentation(LABELMAP, _oriented_image(mask.with_array((mask.array > 0).astype(np.uint8))))
        segmentation.AddSegment(segment, key)
    return node


def line_node(scene: Any, name: str, start_lps: Any, end_lps: Any, node: Any = None, color: tuple = (1.0, 1.0, 0.0)) -> Any:
    """A locked markups line between two points in mm (LPS, as the read-out gives them), shown
    in the slice views; new, or `node` moved."""
    node = node if node is not None else scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", name)
    node.RemoveAllControlPoints()
    for point in (start_lps, end_lps):
        node.AddControlPoint(vtk.vtkVector3d(*(np.asarray(point, float) * LPS_TO_RAS)))
    node.SetLocked(True)
    node.CreateDefaultDisplayNodes()
    node.GetDisplayNode().SetSelectedColor(color)
    return node
