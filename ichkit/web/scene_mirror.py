"""The MRML scene as a mirror of the session: the CT and mask, the window, the slice views fitted
and centred on the clot, the read-out's regions and midline lines, and one colour foreground,
either the Grad-CAM heatmap of a task or the ensemble's disagreement map (never both: one
foreground layer, and two colour ramps over each other would read as one).

Loading replaces the scene (trame-slicer 2.0.0 needs `scene.Clear()` before data is added from
Python, else the effects crash on first use).
"""

from __future__ import annotations

import numpy as np

from .. import scene as glue
from ..errors import ICHError
from ..labels import IPH
from ..measure import HEMORRHAGE_LABELS
from .panel import WINDOW_PRESETS
from .risk import CAM_VISIBLE_FROM, heat_note, heated_slices, load_heatmap
from .state import MIDLINE_LINES
from .uncertainty import DISAGREE_OPACITY, disagreement_note, disagreement_window

MIDLINE_COLORS = dict(zip(MIDLINE_LINES, ((0.2, 0.8, 1.0), (1.0, 0.9, 0.1))))  # ideal cyan, septum yellow, as ICHPredict draws them


class SceneMirror:
    def __init__(self, ws):
        self.ws, self.state, self.slicer = ws, ws.state, ws.slicer
        self.ct_node = self.seg_node = None
        self._readout_nodes: dict[str, object] = {}  # the signs' segmentation and the midline lines in the scene
        self._fg_node = self._fg_path = self._fg_volume = None  # the foreground in the scene, its file and voxels
        self._heated: list[int] = []  # 1-based axial slices where the shown heatmap has heat
        ws.overlay.moved.append(self.note_heat)
        self.state.change("layout")(self._on_layout)
        self.state.change("window_preset")(self._on_window_preset)
        self.state.change("window_level", "window_width")(self.apply_window)
        self.state.change("cam_show", "cam_task", "cam_opacity")(self._on_cam)
        self.state.change("disagree_show")(self._on_disagree)

    def _on_layout(self, layout, **_) -> None:
        self.ws.layout_manager.set_layout(layout)
        if self.ws.session.baseline is not None:
            self.show_views()  # views made by the new layout get the CT, the fit and the overlay too

    def _render(self) -> None:
        for view in self.slicer.view_manager.get_slice_views():
            view.schedule_render()  # display or node changes alone do not send a new frame

    def rebuild(self) -> None:
        """The scene from the baseline scan: CT in the slice views, mask in the editor."""
        scan = self.ws.session.baseline
        scene = self.slicer.scene
        scene.Clear()
        self.seg_node = self._fg_node = self._fg_path = self._fg_volume = None
        self._readout_nodes = {}
        self.ct_node = glue.volume_to_node(scene, scan.ct, scan.name)
        self.ct_node.GetDisplayNode().AutoWindowLevelOff()
        self.apply_window()
        if scan.labels is not None:
            glue.labelmap_to_segmentation(scene, scan.labels, self.ct_node)
        self.ws.editor.on_volume_changed(self.ct_node)
        self.seg_node = self.slicer.segmentation_editor.active_segmentation_node

    def show_views(self) -> None:
        """Every slice view shows the CT in its acquired planes, fitted, centred on the clot."""
        self.slicer.display_manager.show_volume_in_slice_background(self.ct_node)
        for view in self.slicer.view_manager.get_slice_views():
            view._logic.GetSliceNode().RotateToVolumePlane(self.ct_node)
        self.slicer.display_manager.reset_views()
        self.centre_on(self._clot_centre())
        self.show_foreground()
        self.show_readout()
        self.ws.overlay.refresh(None)

    def apply_window(self, **_) -> None:
        if self.ct_node is not None:
            self.ct_node.GetDisplayNode().SetWindowLevel(float(self.state.window_width), float(self.state.window_level))
            self._render()

    def _on_window_preset(self, window_preset, **_) -> None:
        if window_preset in WINDOW_PRESETS:
            self.state.window_level, self.state.window_width = WINDOW_PRESETS[window_preset]
            self.apply_window()  # a change made here does not call the listeners

    def _on_cam(self, cam_show=False, **_) -> None:
        if cam_show:
            self.state.disagree_show = False  # one foreground at a time
        self.show_foreground()

    def _on_disagree(self, disagree_show=False, **_) -> None:
        if disagree_show:
            self.state.cam_show = False
        self.show_foreground()

    def show_foreground(self) -> None:
        """The ensemble's disagreement map, or the selected task's heatmap, or no foreground."""
        scan = self.ws.session.baseline
        disagreement = scan.ensemble.disagreement if scan is not None and scan.ensemble and self.state.disagree_show else None
        heatmap = self.ws.session.shown_heatmaps().get(self.state.cam_task) if scan is not None and self.state.cam_show else None
        path = disagreement or heatmap
        self.state.cam_note = self.state.disagree_note = ""
        if not path:
            self.slicer.display_manager.show_volume_in_slice_foreground(None)
            return
        if path != self._fg_path and not self._load_foreground(scan, path, disagreement is not None):
            return
        self.slicer.display_manager.show_volume_in_slice_foreground(self._fg_node)
        opacity = DISAGREE_OPACITY if disagreement else float(self.state.cam_opacity)
        for view in self.slicer.view_manager.get_slice_views():
            view.set_foreground_opacity(opacity)
        if disagreement:
            self.state.disagree_note = disagreement_note(self._fg_volume, scan.ensemble.members)
        self.note_heat()

    def _load_foreground(self, scan, path, is_disagreement: bool) -> bool:
        what, control = ("disagreement map", "disagree") if is_disagreement else ("Grad-CAM heatmap", "cam")
        try:
            heat = load_heatmap(path, scan.ct, what)
        except ICHError as exc:
            self.ws.fail(exc, control)
            return False
        self._fg_node = glue.heatmap_to_node(self.slicer.scene, heat, f"{scan.name} {what}", node=self._fg_node)
        display = self._fg_node.GetDisplayNode()
        if is_disagreement:
            display.SetWindowLevel(*disagreement_window())  # fractions on a fixed 0..1 scale, not the map's maximum
            self._heated = []
        else:
            top = max(float(heat.array.max()), glue.HEAT_VISIBLE_FROM)
            display.SetLowerThreshold(CAM_VISIBLE_FROM * top)  # low heat stays transparent
            self._heated = heated_slices(heat, CAM_VISIBLE_FROM)
        self._fg_path, self._fg_volume = path, heat
        return True

    def note_heat(self) -> None:
        """Whether the heatmap shown has heat on the axial slice on screen, and where it has."""
        shown = self.state.cam_show and self._fg_node is not None and self._fg_path is not None
        self.state.cam_note = heat_note(self._heated, self.ws.overlay.number("Axial")) if shown else ""

    def show_readout(self) -> None:
        """The regions of the signs present (one segment each) and the midline's ideal and septum
        lines (markups, LPS mm as the read-out gives them) over the CT, or none without a read-out."""
        scan, scene = self.ws.session.baseline, self.slicer.scene
        readout = scan.readout if scan is not None else None
        for key in [k for k in self._readout_nodes if readout is None or (k != "signs" and not (readout.get("midline") or {}).get(k))]:
            scene.RemoveNode(self._readout_nodes.pop(key))
        if readout is None:
            return
        self._readout_nodes["signs"] = glue.masks_to_segmentation(scene, scan.sign_regions, self.ct_node, self._readout_nodes.get("signs"),
                                                                  f"{scan.name} NCCT signs")
        for key, color in MIDLINE_COLORS.items():
            line = (readout.get("midline") or {}).get(key)
            if line:
                self._readout_nodes[key] = glue.line_node(scene, f"midline {key.split('_')[0]}", line["start"]["mm_lps"], line["end"]["mm_lps"],
                                                          self._readout_nodes.get(key), color)
        self._render()

    def centre_on_midline(self, readout: dict) -> None:
        """Views to the slice the shift was measured on, where the lines are drawn (a line shows
        only on the slice it lies in)."""
        line = (readout.get("midline") or {}).get("ideal_line")
        if line:
            self.centre_on(glue.LPS_TO_RAS * (np.asarray(line["start"]["mm_lps"], float) + line["end"]["mm_lps"]) / 2)

    def _clot_centre(self) -> np.ndarray:
        """RAS centre of the hematoma (IPH, else any hemorrhage, else the scan's centre)."""
        scan = self.ws.session.baseline
        a = scan.labels.array if scan.labels is not None else np.zeros((1, 1, 1))
        voxels = np.argwhere(a == IPH)
        if voxels.size == 0:
            voxels = np.argwhere(np.isin(a, HEMORRHAGE_LABELS))
        kji = voxels.mean(axis=0) if voxels.size else (np.array(scan.ct.shape) - 1) / 2
        return glue.LPS_TO_RAS * (scan.ct.index_to_physical() @ [kji[2], kji[1], kji[0], 1.0])[:3]

    def centre_on(self, ras: np.ndarray) -> None:
        """Each slice view through the point and with the point in its middle."""
        for node in self.slicer.scene.GetNodesByClass("vtkMRMLSliceNode"):
            node.JumpSliceByCentering(*ras)
            node.JumpSliceByOffsetting(*ras)
