"""The Segment Editor as a reader needs it: the eye icon only shows or hides a segment.

trame-slicer's segment list puts the eye, colour and delete icons inside the clickable row, so a
click on the eye also selected that segment for editing (the next stroke painted it). Here every
icon's click stops at the icon; only a click on the row selects.
"""

from __future__ import annotations

from trame_slicer.app.ui import SegmentEditorUI
from trame_slicer.app.ui.segmentation.segment_list import SegmentList

EDIT_BRUSH_MM = 5  # default brush and eraser diameter (mm)


class _IconsDoNotSelect(SegmentList):
    def _server_trigger(self, signal) -> str:
        js = super()._server_trigger(signal)
        return js if signal is self.select_segment_clicked else "$event.stopPropagation(); " + js


class ReadingEditorUI(SegmentEditorUI):
    def _create_segment_list(self):
        self.segment_list = _IconsDoNotSelect(typed_state=self.sub_state(self._typed_state.name.segment_list), edit_ui=self.edit_ui)
        self.segment_list.toggle_segment_visibility_clicked.connect(self.toggle_segment_visibility_clicked)
        self.segment_list.edit_segment_color_clicked.connect(self.edit_segment_color_clicked)
        self.segment_list.delete_segment_clicked.connect(self.delete_segment_clicked)
        self.segment_list.select_segment_clicked.connect(self.select_segment_clicked)
