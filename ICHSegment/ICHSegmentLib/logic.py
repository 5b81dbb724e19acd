"""Segment a CT volume node and keep its segmentation, source and measurements in the scene.

Segmentation itself runs in a child process (`segmentation_job.SegmentationJob`); this file puts
its labels into the scene. Volumes come from the backend's `measure` (mesh, voxel-count, ABC/2),
with the volume of Slicer's own closed surface beside them so users can compare with Segment
Statistics; `recompute` refills the table after every edit. Where a mask came from (model id,
version, demo flag, the labels as produced, an ensemble's volume intervals) is stored as node
attributes, so it survives a saved scene and ground truth can say whether a person changed it.
The intervals stay in the table after edits: they describe the networks' masks, not the edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ichkit import scene
from ichkit.app.measurements import measure_dict, verdict_dict, verdict_text
from ichkit.app.segment import EnsembleOutput
from ichkit.segment.source import MaskSource
from ichkit.image import Volume
from ichkit.labels import LABELS
from ichkit.measure import Measurements, measure

Segmenter = Callable[[Volume], Volume]  # CT (HU) -> uint8 labels on the CT grid

VOLUME_COLUMNS = {"mesh_ml": "Mesh volume", "voxel_ml": "Voxel volume", "abc2_ml": "ABC/2 volume (main hematoma)"}
SURFACE_COLUMN = "Slicer surface volume"
ENSEMBLE_COLUMNS = ("Voxel volume, lowest network", "Voxel volume, highest network")  # shown after an ensemble run
SOURCE_ATTRIBUTES = {"model_id": "ichkit.model_id", "model_version": "ichkit.model_version", "demo": "ichkit.demo", "path": "ichkit.mask_path"}
LABELS_DIGEST = "ichkit.labels_sha256"  # digest of the labels as the model produced them
ENSEMBLE_ATTRIBUTE = "ichkit.ensemble_interval_ml"  # JSON {label key: [min, max]} of an ensemble run


@dataclass
class SegmentResult:
    segmentation: Any  # vtkMRMLSegmentationNode
    table: Any  # vtkMRMLTableNode, one row per segment
    disagreement: Any = None  # vtkMRMLScalarVolumeNode of an ensemble run


class SegmentSceneLogic:
    def __init__(self, mrml_scene: Any, segmenter: Segmenter, measurer: Callable[[Volume], Measurements] = measure):
        self.scene = mrml_scene
        self.segmenter = segmenter
        self.measurer = measurer

    def run(self, volume_node: Any, segmentation_node: Any = None, table_node: Any = None,
            ensemble: EnsembleOutput | None = None) -> SegmentResult:
        """Fill (or create) the output nodes; the segmentation follows the CT's parent transform."""
        ct = scene.node_to_volume(volume_node)
        labels = self.segmenter(ct)
        segmentation = scene.labelmap_to_segmentation(
            self.scene, labels, reference_node=volume_node, node=segmentation_node,
            name=f"{volume_node.GetName()} ICH",
        )
        segmentation.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
        segmentation.SetAttribute(LABELS_DIGEST, labels_digest(labels))
        if ensemble:
            segmentation.SetAttribute(ENSEMBLE_ATTRIBUTE, json.dumps(ensemble.interval_ml))
        else:
            segmentation.RemoveAttribute(ENSEMBLE_ATTRIBUTE)
        return SegmentResult(segmentation, self.fill_table(volume_node, segmentation, labels, table_node))

    def fill_table(self, volume_node: Any, segmentation_node: Any, labels: Volume, table_node: Any = None) -> Any:
        units = dict.fromkeys([*VOLUME_COLUMNS.values(), SURFACE_COLUMN, *ENSEMBLE_COLUMNS], "mL")
        return scene.table_node(
            self.scene, f"{volume_node.GetName()} ICH measurements", self.rows(segmentation_node, labels),
            units=units, node=table_node,
        )

    def recompute(self, volume_node: Any, segmentation_node: Any, table_node: Any = None) -> Any:
        """Measure the segmentation as it is now (after an edit) on the CT grid; refill the table."""
        labels = scene.segmentation_to_labelmap(segmentation_node, scene.node_to_volume(volume_node))
        return self.fill_table(volume_node, segmentation_node, labels, table_node)

    def rows(self, segmentation_node: Any, labels: Volume) -> list[dict[str, Any]]:
        """One row per segment; labels the backend does not measure get NaN volumes (and NaN
        intervals, as do labels none of an ensemble's networks found)."""
        regions = self.measurer(labels).regions
        intervals = ensemble_interval(segmentation_node)
        segmentation = segmentation_node.GetSegmentation()
        rows = []
        for segment_id in segmentation.GetSegmentIDs():
            segment = segmentation.GetSegment(segment_id)
            value = segment.GetLabelValue()
            key = LABELS[value].key if value in LABELS else None
            region = regions.get(key)
            row = {
                "Segment": segment.GetName(),
                "Label": value,
                **{title: getattr(region, field, float("nan")) for field, title in VOLUME_COLUMNS.items()},
                SURFACE_COLUMN: scene.closed_surface_volume_ml(segmentation_node, segment_id),
            }
            if intervals is not None:
                row.update(zip(ENSEMBLE_COLUMNS, intervals.get(key, (float("nan"), float("nan")))))
            rows.append(row)
        return rows


def labels_digest(labels: Volume) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels.array, np.uint8).tobytes()).hexdigest()


def set_source(segmentation_node: Any, source: MaskSource) -> None:
    for field, attribute in SOURCE_ATTRIBUTES.items():
        segmentation_node.SetAttribute(attribute, str(getattr(source, field)))


def source_of(segmentation_node: Any) -> MaskSource | None:
    values = {field: segmentation_node.GetAttribute(attribute) for field, attribute in SOURCE_ATTRIBUTES.items()}
    if values["model_id"] is None:
        return None
    return MaskSource(values["model_id"], values["model_version"] or "", values["demo"] == "True", values["path"] or "")


def ensemble_interval(segmentation_node: Any) -> dict[str, list[float]] | None:
    """{label key: [min, max] mL} when the mask came from an ensemble run, else None."""
    text = segmentation_node.GetAttribute(ENSEMBLE_ATTRIBUTE)
    return json.loads(text) if text else None


def is_edited(volume_node: Any, segmentation_node: Any) -> bool:
    """True when the segments differ from the labels as the model (or file) produced them."""
    labels = scene.segmentation_to_labelmap(segmentation_node, scene.node_to_volume(volume_node))
    return segmentation_node.GetAttribute(LABELS_DIGEST) != labels_digest(labels)


def source_text(source: MaskSource | None) -> str:
    """What the module shows under Run: the model and, for a demo model, the warning."""
    return "" if source is None else f"Source: {source.text()}"


def expansion(baseline: tuple[Any, Any], followup: tuple[Any, Any]) -> tuple[dict, str]:
    """HE verdict from (CT node, segmentation node) of the baseline and the follow-up scan."""
    measures = [measure_dict(scene.segmentation_to_labelmap(seg, scene.node_to_volume(ct))) for ct, seg in (baseline, followup)]
    verdict = verdict_dict(*measures)
    return verdict, verdict_text(verdict)
