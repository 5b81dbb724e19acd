"""The Grad-CAM heatmap as a coloured foreground layer of the slice views.

A black-red-yellow ramp (the one the ICHPredict module uses) on a 0..max window, with the
zero-heat voxels thresholded out: they are transparent, so the overlay tints only where the
classifier looked instead of darkening the whole CT by its opacity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import scene as glue
from ..image import Volume

COLORS_NAME = "ICH Grad-CAM"
RAMP = ((0.0, (0.0, 0.0, 0.0)), (0.35, (0.8, 0.0, 0.0)), (0.7, (1.0, 0.6, 0.0)), (1.0, (1.0, 1.0, 0.6)))
COLOR_ENTRIES = 256
VISIBLE_FROM = 1.0 / 255  # heatmaps are stored in 8-bit steps: below one step is "no heat"


def heat_colors(scene: Any) -> Any:
    """The ramp as a colour table node, made once per scene (loading a case clears the scene)."""
    node = scene.GetFirstNodeByName(COLORS_NAME)
    if node is not None:
        return node
    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", COLORS_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(COLOR_ENTRIES)
    stops, rgb = np.array([s for s, _ in RAMP]), np.array([c for _, c in RAMP])
    for i, t in enumerate(np.linspace(0, 1, COLOR_ENTRIES)):
        node.SetColor(i, *(float(np.interp(t, stops, rgb[:, k])) for k in range(3)), 1.0)
    return node


def heatmap_node(scene: Any, heat: Volume, name: str, node: Any = None) -> Any:
    """`heat` as a volume node (reusing `node`) coloured by the ramp, zero heat transparent."""
    node = glue.volume_to_node(scene, heat, name, node=node)
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(heat_colors(scene).GetID())
    display.AutoWindowLevelOff()
    top = max(float(heat.array.max()), VISIBLE_FROM)
    display.SetWindowLevel(top, top / 2)
    display.SetApplyThreshold(True)
    display.SetLowerThreshold(VISIBLE_FROM)
    display.SetUpperThreshold(top + 1.0)
    return node
