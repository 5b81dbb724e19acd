"""A float map over the CT in every slice view (ICHPredict's Grad-CAM heatmaps, ICHSegment's
ensemble disagreement): a volume node coloured by the heat ramp (`ichkit.scene.heatmap_to_node`,
zero thresholded out so only where the map is non-zero is tinted), the CT as background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk

from ichkit import scene
from ichkit.image import Volume

DEFAULT_OPACITY = 0.4


def show_map(mrml_scene: Any, path: str | Path, ct_node: Any, name: str, opacity: float = DEFAULT_OPACITY, node: Any = None) -> Any:
    """The map file as a volume node (reusing `node`) following the CT's transform, foreground of every slice view."""
    values = Volume.from_sitk(sitk.ReadImage(str(path), sitk.sitkFloat32))
    node = scene.heatmap_to_node(mrml_scene, values, name, node=node)
    node.SetAndObserveTransformNodeID(ct_node.GetTransformNodeID())
    for composite in _composites(mrml_scene):
        composite.SetBackgroundVolumeID(ct_node.GetID())
        composite.SetForegroundVolumeID(node.GetID())
    set_opacity(mrml_scene, opacity)
    return node


def hide_map(mrml_scene: Any) -> None:
    """No map over the CT."""
    for composite in _composites(mrml_scene):
        composite.SetForegroundVolumeID(None)


def set_opacity(mrml_scene: Any, opacity: float) -> None:
    for composite in _composites(mrml_scene):
        composite.SetForegroundOpacity(float(opacity))


def _composites(mrml_scene: Any) -> list:
    """Every slice view's composite node (a bare slicer-core scene has none until one is added)."""
    nodes = mrml_scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]
