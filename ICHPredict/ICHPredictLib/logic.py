"""Predict outcomes (hematoma expansion, haemorrhagic transformation, location) for a CT and its
segmentation, and put the probabilities in a table node.

The predictor is injected (the backend's classifiers, or a test's), so the same class serves
desktop Slicer, the web workstation and pytest with slicer-core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ichkit import scene
from ichkit.image import Volume

Predictor = Callable[[Volume, Volume], dict[str, float]]  # (CT, labels on the CT grid) -> {outcome: probability}


class PredictSceneLogic:
    def __init__(self, mrml_scene: Any, predictor: Predictor):
        self.scene = mrml_scene
        self.predictor = predictor

    def run(self, volume_node: Any, segmentation_node: Any, table_node: Any = None) -> Any:
        """The segmentation is read on the CT's grid, whatever grid it was drawn on."""
        ct = scene.node_to_volume(volume_node)
        labels = scene.segmentation_to_labelmap(segmentation_node, ct)
        probabilities = self.predictor(ct, labels)
        rows = [{"outcome": outcome, "probability": float(p)} for outcome, p in probabilities.items()]
        return scene.table_node(self.scene, f"{volume_node.GetName()} ICH predictions", rows, node=table_node)
