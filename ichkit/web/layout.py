"""The page: the Segment Editor drawer (left), the slice views (middle), the ICH panel (right),
and the view layouts a reader can choose."""

from __future__ import annotations

from trame.widgets import vuetify3 as v3
from trame_slicer.app.ui import SegmentEditorUndoRedoUI, ViewerLayout
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

from .editor import ReadingEditorUI
from .panel import build_edit_status, build_panel


def layouts() -> dict[str, Layout]:
    axial, coronal, sagittal = ViewLayoutDefinition.axial_view(), ViewLayoutDefinition.coronal_view(), ViewLayoutDefinition.sagittal_view()
    return {
        "Axial": Layout(LayoutDirection.Vertical, [axial]),
        "Axial + coronal + sagittal": Layout(LayoutDirection.Horizontal, [axial, Layout(LayoutDirection.Vertical, [coronal, sagittal])]),
    }


def build_ui(ws) -> ReadingEditorUI:
    """The workstation's page; returns the editor's UI for the editor logic."""
    with ViewerLayout(ws.server, title="ICH workstation", is_drawer_visible=True) as ws.ui:
        with ws.ui.drawer:
            build_edit_status()
            editor_ui = ReadingEditorUI()
        with ws.ui.undo_redo:
            SegmentEditorUndoRedoUI(editor_ui=editor_ui)
        with v3.VNavigationDrawer(location="right", permanent=True, width=360):
            build_panel(ws.ctrl, list(layouts()))
        with ws.ui.content:
            ws.layout_manager.initialize_layout_grid(ws.ui)
    return editor_ui
