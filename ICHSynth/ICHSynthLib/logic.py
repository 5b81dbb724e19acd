"""Synthesise a CT with a hematoma where a segmentation says, and put it in the scene.

The synthesiser is injected (the backend's diffusion sampler, or a test's), so the same class
serves desktop Slicer, the web workstation and pytest with slicer-core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ichkit import scene
from ichkit.image import Volume

Synthesizer = Callable[[Volume, Volume], Volume]  # (CT, labels on the CT grid) -> synthetic CT, same grid


class SynthSceneLogic:
    def __init__(self, mrml_scene: Any, synthesizer: Synthesizer):
        self.scene = mrml_scene
        self.synthesizer = synthesizer

    def run(self, volume_node: Any, segmentation_node: Any, output_node: Any = None) -> Any:
        """The synthetic volume shares the CT's grid and parent transform."""
        ct = scene.node_to_volume(volume_node)
        labels = scene.segmentation_to_labelmap(segmentation_node, ct)
        synthetic = self.synthesizer(ct, labels)
        node = scene.volume_to_node(self.scene, synthetic, f"{volume_node.GetName()} synthetic", node=output_node)
        node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
        return node
