"""Editing the mask: every change of the segmentation (an effect, undo, redo) is read back as a
labelmap and re-measured, so the panel always shows the volumes of what the reader sees; and the
correction tools (tools.py) on the segment being edited, each one undoable change.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from trame_server.utils.typed_state import TypedState
from trame_slicer.app.ui import PaintEffectState
from trame_slicer.segmentation import BrushDiameterMode, SegmentationEffectVolumeIntensityMask

from .. import scene as glue
from ..errors import ICHError
from ..labels import label_for_name
from .editor import EDIT_BRUSH_MM
from .tools import fill_between_slices, grow, remove_islands


class EditController:
    def __init__(self, ws):
        self.ws, self.state, self.session = ws, ws.state, ws.session
        self._edit_started = None
        self._tool_done = ""  # the correction tool whose change is being re-measured
        ws.overlay.clicked.append(self._grow_at)
        self.state.change("tool_hu_low", "tool_hu_high", "tool_hu_limit")(self.apply_hu_limit)
        self.state.change("tool_grow")(self._arm_grow)
        ws.actions(fill_between=self.fill_between, remove_islands=self.remove_islands)

    @property
    def _segmentation_editor(self):
        return self.ws.slicer.segmentation_editor

    def connect(self) -> None:
        """Listen to the editor's changes; brush and eraser defaults."""
        self._segmentation_editor.segmentation_modified.connect(self._on_segmentation_modified)
        self._brush_defaults()

    def _brush_defaults(self) -> None:
        """Brush and eraser paint the slice on screen (a 2D disc, not a sphere reaching the slices
        above and below) with a diameter in mm, not a share of the screen."""
        brush = TypedState(self.state, PaintEffectState)
        brush.data.use_sphere_brush = False
        brush.data.brush_diameter_mode = BrushDiameterMode.Absolute
        slider = brush.data.brush_diameter_slider
        slider.min_value, slider.max_value, slider.step, slider.value = 1, 40, 1, EDIT_BRUSH_MM

    def _on_segmentation_modified(self, *_args) -> None:
        """Re-measure once per burst of modified signals (a stroke emits several)."""
        if self.session.baseline is None or self.ws.mirror.seg_node is None or self._edit_started is not None:
            return
        self._edit_started = time.perf_counter()
        loop = asyncio.get_event_loop()
        if loop.is_running():
            loop.call_soon(self._remeasure)
        else:
            self._remeasure()

    def _remeasure(self) -> None:
        """Re-measure when the voxels changed (display changes emit the same signal: no news then)."""
        scan = self.session.baseline
        labels = glue.segmentation_to_labelmap(self.ws.mirror.seg_node, scan.ct)
        self._edit_started, started = None, self._edit_started
        unchanged = not labels.array.any() if scan.labels is None else np.array_equal(labels.array, scan.labels.array)
        if unchanged:
            return
        scan.edit(labels)
        self.ws.timings["edit_s"] = time.perf_counter() - started
        what, self._tool_done = self._tool_done or "Measured after edit", ""
        self.session.status = f"{what} (measured in {self.ws.timings['edit_s']:.2f} s)"
        self.ws.push()

    def apply_hu_limit(self, **_) -> None:
        """The editor's intensity mask: brush and eraser change only voxels in the HU range."""
        effect = self._segmentation_editor.get_effect(SegmentationEffectVolumeIntensityMask)
        effect.set_mask_range(float(self.state.tool_hu_low), float(self.state.tool_hu_high))
        effect.set_mask_enabled(bool(self.state.tool_hu_limit))

    def _arm_grow(self, tool_grow=False, **_) -> None:
        if tool_grow:  # the click that seeds the growth must not also paint
            self._segmentation_editor.deactivate_effect()

    def _edited_segment(self) -> tuple[str, int, np.ndarray]:
        """Id, label value and current voxels of the segment being edited."""
        editor = self._segmentation_editor
        seg_id = editor.get_active_segment_id() if self.session.baseline is not None else ""
        if not seg_id:
            raise ICHError(None, "load a CT and select the segment to edit first")
        name = editor.get_segment_properties(seg_id).name
        label = label_for_name(name)
        if label is None:
            raise ICHError(None, f"segment '{name}' is not one of the product's labels (IPH, IVH, edema, EAH)")
        return seg_id, label.value, editor.active_segment_modifier.get_segment_labelmap(seg_id, as_numpy_array=True) > 0

    def _set_segment(self, seg_id: str, voxels: np.ndarray, what: str) -> None:
        self._tool_done = self.session.status = what  # the re-measure that follows names the tool
        self._segmentation_editor.active_segment_modifier.set_segment_labelmap(seg_id, voxels.astype(np.uint8))
        self.session.clear_error("tools")
        self.ws.push()

    def _tool(self, action) -> None:
        try:
            action()
        except ICHError as exc:
            self.ws.fail(exc, "tools")

    def fill_between(self) -> None:
        def run():
            seg_id, _, voxels = self._edited_segment()
            self._set_segment(seg_id, fill_between_slices(voxels), "Filled the slices between drawn ones")
        self._tool(run)

    def remove_islands(self) -> None:
        def run():
            seg_id, _, voxels = self._edited_segment()
            self._set_segment(seg_id, remove_islands(voxels, self.session.baseline.ct.spacing), "Removed small islands")
        self._tool(run)

    def _grow_at(self, ras: np.ndarray) -> None:
        """With "grow from a click" armed: the segment grows by the region in the HU range that is
        connected to the clicked voxel (voxels of other labels are left alone)."""
        if not self.state.tool_grow:
            return
        self.state.tool_grow = False
        def run():
            scan = self.session.baseline
            seg_id, value, voxels = self._edited_segment()
            seed = self.ws.overlay.voxel(ras)
            if seed is None:
                raise ICHError(None, "click inside the scan")
            ct = scan.ct.array
            others = scan.labels.array if scan.labels is not None else np.zeros(ct.shape, np.uint8)
            if others[seed] not in (0, value):
                raise ICHError(None, "the point clicked belongs to another label: click inside the clot")
            free = np.where((others == 0) | (others == value), ct, np.nan)  # other labels' voxels are out of range
            region = grow(free, seed, scan.ct.spacing, (float(self.state.tool_hu_low), float(self.state.tool_hu_high)))
            self._set_segment(seg_id, voxels | region, f"Grew the segment by {int((region & ~voxels).sum())} voxels from slice {seed[0] + 1}")
        self._tool(run)
