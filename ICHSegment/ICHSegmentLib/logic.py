"""Segment a CT volume node and put the segmentation and its measurements in the scene.

The segmenter is injected (a model from the backend's registry, or a test's threshold), so the
same class serves desktop Slicer, the web workstation and pytest with slicer-core. Volumes come
from the backend's `measure` (mesh, voxel-count, ABC/2), with the volume of Slicer's own closed
surface beside them so users can compare it with what Slicer's Segment Statistics shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ichkit import scene
from ichkit.image import Volume
from ichkit.labels import LABELS
from ichkit.measure import Measurements, measure

Segmenter = Callable[[Volume], Volume]  # CT (HU) -> uint8 labels on the CT grid

VOLUME_COLUMNS = {"mesh_ml": "Mesh volume", "voxel_ml": "Voxel volume", "abc2_ml": "ABC/2 volume"}
SURFACE_COLUMN = "Slicer surface volume"


@dataclass
class SegmentResult:
    segmentation: Any  # vtkMRMLSegmentationNode
    table: Any  # vtkMRMLTableNode, one row per segment


class SegmentSceneLogic:
    def __init__(self, mrml_scene: Any, segmenter: Segmenter, measurer: Callable[[Volume], Measurements] = measure):
        self.scene = mrml_scene
        self.segmenter = segmenter
        self.measurer = measurer

    def run(self, volume_node: Any, segmentation_node: Any = None, table_node: Any = None) -> SegmentResult:
        """Fill (or create) the output nodes; the segmentation follows the CT's parent transform."""
        ct = scene.node_to_volume(volume_node)
        labels = self.segmenter(ct)
        segmentation = scene.labelmap_to_segmentation(
            self.scene, labels, reference_node=volume_node, node=segmentation_node,
            name=f"{volume_node.GetName()} ICH",
        )
        segmentation.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
        units = dict.fromkeys([*VOLUME_COLUMNS.values(), SURFACE_COLUMN], "mL")
        table = scene.table_node(
            self.scene, f"{volume_node.GetName()} ICH measurements", self.rows(segmentation, labels),
            units=units, node=table_node,
        )
        return SegmentResult(segmentation, table)

    def rows(self, segmentation_node: Any, labels: Volume) -> list[dict[str, Any]]:
        """One row per segment; labels the backend does not measure get NaN volumes."""
        regions = self.measurer(labels).regions
        segmentation = segmentation_node.GetSegmentation()
        rows = []
        for segment_id in segmentation.GetSegmentIDs():
            segment = segmentation.GetSegment(segment_id)
            value = segment.GetLabelValue()
            region = regions.get(LABELS[value].key) if value in LABELS else None
            rows.append({
                "Segment": segment.GetName(),
                "Label": value,
                **{title: getattr(region, field, float("nan")) for field, title in VOLUME_COLUMNS.items()},
                SURFACE_COLUMN: scene.closed_surface_volume_ml(segmentation_node, segment_id),
            })
        return rows
