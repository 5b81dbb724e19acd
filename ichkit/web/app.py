"""The trame server: trame-slicer views and Segment Editor on the left, the ICH panel on the right.

The `Session` (state.py) is the truth; the MRML scene mirrors it. Loading replaces the scene
(trame-slicer 2.0.0 needs `scene.Clear()` before data is added from Python, else the effects
crash on first use). Every change of the segmentation (an effect, undo, redo) is read back as a
labelmap and re-measured, so the panel always shows the volumes of what the reader sees. Segment,
Read out and Predict run the CLI in child processes that a coroutine polls, so the server stays
live. The read-out runs on request, not after every mask change: it costs ~3 s of CPU plus a child
start, a reader edits in bursts, and a changed mask marks the read-out stale instead.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from trame.app import TrameApp
from trame.widgets import vuetify3 as v3
from trame_server.utils.asynchronous import create_task
from trame_slicer import module as trame_slicer_module
from trame_slicer.app.logic import SegmentEditorLogic
from trame_server.utils.typed_state import TypedState
from trame_slicer.app.ui import PaintEffectState, SegmentEditorUndoRedoUI, ViewerLayout
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from trame_slicer.segmentation import BrushDiameterMode, SegmentationEffectVolumeIntensityMask
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

from .. import scene as glue
from ..app.jobs import Job
from ..app.predict import TASKS
from ..app.riskpanel import ReadoutRequest
from ..app.source import MaskSource
from ..errors import ICHError, ICHWarning
from ..io import load_ct, load_mask, save_labelmap
from ..labels import IPH, label_for_name
from ..measure import HEMORRHAGE_LABELS
from .editor import EDIT_BRUSH_MM, ReadingEditorUI
from .export import export_scan, save_ground_truth
from .job import SegmentJob
from .overlay import SliceOverlay
from .panel import CLINICAL_STATE, FORM_DEFAULTS, WINDOW_PRESETS, build_edit_status, build_panel
from .report import BRAIN_WINDOW, key_slice
from .risk import CAM_VISIBLE_FROM, RiskJob, heat_note, heated_slices, load_heatmap
from .state import MIDLINE_LINES, Session
from .tools import fill_between_slices, grow, remove_islands
from .upload import save_upload

POLL_S = 0.25  # how often a running job's progress is read
MIDLINE_COLORS = dict(zip(MIDLINE_LINES, ((0.2, 0.8, 1.0), (1.0, 0.9, 0.1))))  # ideal cyan, septum yellow, as ICHPredict draws them


def layouts() -> dict[str, Layout]:
    axial, coronal, sagittal = ViewLayoutDefinition.axial_view(), ViewLayoutDefinition.coronal_view(), ViewLayoutDefinition.sagittal_view()
    return {
        "Axial": Layout(LayoutDirection.Vertical, [axial]),
        "Axial + coronal + sagittal": Layout(LayoutDirection.Horizontal, [axial, Layout(LayoutDirection.Vertical, [coronal, sagittal])]),
    }


class Workstation(TrameApp):
    def __init__(self, server=None, *, workdir: str | Path | None = None):
        super().__init__(server)
        self.server.enable_module(trame_slicer_module)
        self.session = Session()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ichkit-web-"))
        self.job: SegmentJob | None = None
        self.risk_job: RiskJob | None = None
        self.readout_job: Job | None = None
        self._readout_nodes: dict[str, object] = {}  # the signs' segmentation and the midline lines in the scene
        self._ct_node = self._seg_node = self._edit_started = None
        self._own_workdir = workdir is None  # made here, so deleted at exit (it holds uploaded copies)
        self._cam_node = self._cam_path = None  # the heatmap in the scene and the file it holds
        self._heated: list[int] = []  # 1-based axial slices where the shown heatmap has heat
        self._loaded = ("", "")  # the CT and mask paths of the case on screen
        self._tool_done = ""  # the correction tool whose change is being re-measured
        self.export_default = ""  # --export-dir: what a new case's export folder starts as
        self.timings: dict[str, float] = {}
        self.slicer = SlicerApp()
        self.overlay = SliceOverlay(self.server, lambda: self.session.baseline.ct if self.session.baseline else None)
        self.overlay.moved.append(self._note_heat)
        self.overlay.clicked.append(self._grow_at)
        register_rca_factories(self.slicer.view_manager, self.server, slice_view_ui_f=self.overlay)
        self.editor = SegmentEditorLogic(self.server, self.slicer)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, self.server)
        self.layout_manager.register_layout_dict(layouts(), lazy_initialization=True)
        self.state.update({**FORM_DEFAULTS, "ich": self.session.panel(), "trame__title": "ICH workstation"})
        self.state.change("layout")(self._on_layout)
        self.state.change("upload")(self._on_upload)
        self.state.change("mask_upload")(self._on_mask_upload)
        self.state.change("ct_path")(self._on_ct_path)
        self.state.change("window_preset")(self._on_window_preset)
        self.state.change("window_level", "window_width")(self._apply_window)
        self.state.change("tool_hu_low", "tool_hu_high", "tool_hu_limit")(self._apply_hu_limit)
        self.state.change("tool_grow")(self._arm_grow)
        self.state.change("cam_show", "cam_task", "cam_opacity")(self._show_cam)
        self.state.change(*CLINICAL_STATE.values())(self._on_clinical)
        self.state.change("show_demo")(self._on_show_demo)
        for name in ("ich_load", "ich_load_followup", "ich_segment", "ich_predict", "ich_cancel", "ich_cancel_predict", "ich_export", "ich_ground_truth",
                     "ich_fill_between", "ich_remove_islands", "ich_read_out"):
            self.ctrl[name] = getattr(self, name[4:])
        self._build_ui()
        self.layout_manager.set_layout(FORM_DEFAULTS["layout"])
        self.slicer.segmentation_editor.segmentation_modified.connect(self._on_segmentation_modified)
        self._brush_defaults()

    # --- UI -------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        with ViewerLayout(self.server, title="ICH workstation", is_drawer_visible=True) as self.ui:
            with self.ui.drawer:
                build_edit_status()
                editor_ui = ReadingEditorUI()
            with self.ui.undo_redo:
                SegmentEditorUndoRedoUI(editor_ui=editor_ui)
            with v3.VNavigationDrawer(location="right", permanent=True, width=360):
                build_panel(self.ctrl, list(layouts()))
            with self.ui.content:
                self.layout_manager.initialize_layout_grid(self.ui)
        self.editor.set_ui(editor_ui)

    def _brush_defaults(self) -> None:
        """Brush and eraser paint the slice on screen (a 2D disc, not a sphere reaching the slices
        above and below) with a diameter in mm, not a share of the screen."""
        brush = TypedState(self.state, PaintEffectState)
        brush.data.use_sphere_brush = False
        brush.data.brush_diameter_mode = BrushDiameterMode.Absolute
        slider = brush.data.brush_diameter_slider
        slider.min_value, slider.max_value, slider.step, slider.value = 1, 40, 1, EDIT_BRUSH_MM

    def _on_layout(self, layout, **_) -> None:
        self.layout_manager.set_layout(layout)
        if self.session.baseline is not None:
            self._show_views()  # views made by the new layout get the CT, the fit and the overlay too

    def _push(self) -> None:
        with self.state:
            self.state.ich = self.session.panel()

    def _fail(self, exc: Exception, control: str = "load") -> None:
        """The error next to the control whose action failed (the status line keeps its last news)."""
        self.session.fail(control, exc)
        self._push()

    # --- scene mirror ---------------------------------------------------------------------
    def _show(self) -> None:
        """Rebuild the scene from the baseline scan: CT in the slice views, mask in the editor."""
        scan = self.session.baseline
        scene = self.slicer.scene
        scene.Clear()
        self._seg_node = self._cam_node = self._cam_path = None
        self._readout_nodes = {}
        self._ct_node = glue.volume_to_node(scene, scan.ct, scan.name)
        self._ct_node.GetDisplayNode().AutoWindowLevelOff()
        self._apply_window()
        if scan.labels is not None:
            glue.labelmap_to_segmentation(scene, scan.labels, self._ct_node)
        self.editor.on_volume_changed(self._ct_node)
        self._seg_node = self.slicer.segmentation_editor.active_segmentation_node
        self._apply_hu_limit()
        self._show_views()

    def _show_views(self) -> None:
        """Every slice view shows the CT in its acquired planes, fitted, centred on the clot."""
        self.slicer.display_manager.show_volume_in_slice_background(self._ct_node)
        for view in self.slicer.view_manager.get_slice_views():
            view._logic.GetSliceNode().RotateToVolumePlane(self._ct_node)
        self.slicer.display_manager.reset_views()
        self._centre_on(self._clot_centre())
        self._show_cam()
        self._show_readout()
        self.overlay.refresh(None)

    def _apply_window(self, **_) -> None:
        if self._ct_node is not None:
            self._ct_node.GetDisplayNode().SetWindowLevel(float(self.state.window_width), float(self.state.window_level))
            for view in self.slicer.view_manager.get_slice_views():
                view.schedule_render()  # a display node change alone does not send a new frame

    def _on_window_preset(self, window_preset, **_) -> None:
        if window_preset in WINDOW_PRESETS:
            self.state.window_level, self.state.window_width = WINDOW_PRESETS[window_preset]
            self._apply_window()  # a change made here does not call the listeners

    def _show_cam(self, **_) -> None:
        """The selected task's heatmap as the slice views' foreground, or no foreground."""
        scan = self.session.baseline
        path = self.session.shown_heatmaps().get(self.state.cam_task) if scan else None
        if not (self.state.cam_show and path):
            self.slicer.display_manager.show_volume_in_slice_foreground(None)
            self.state.cam_note = ""
            return
        if path != self._cam_path:
            try:
                heat = load_heatmap(path, scan.ct)
            except ICHError as exc:
                self._fail(exc, "cam")
                return
            self._cam_node = glue.heatmap_to_node(self.slicer.scene, heat, f"{scan.name} Grad-CAM", node=self._cam_node)
            top = max(float(heat.array.max()), glue.HEAT_VISIBLE_FROM)
            self._cam_node.GetDisplayNode().SetLowerThreshold(CAM_VISIBLE_FROM * top)  # low heat stays transparent
            self._heated = heated_slices(heat, CAM_VISIBLE_FROM)
            self._cam_path = path
        self.slicer.display_manager.show_volume_in_slice_foreground(self._cam_node)
        for view in self.slicer.view_manager.get_slice_views():
            view.set_foreground_opacity(float(self.state.cam_opacity))
        self._note_heat()

    def _show_readout(self) -> None:
        """The regions of the signs present (one segment each) and the midline's ideal and septum
        lines (markups, LPS mm as the read-out gives them) over the CT, or none without a read-out."""
        scan, scene = self.session.baseline, self.slicer.scene
        readout = scan.readout if scan is not None else None
        for key in [k for k in self._readout_nodes if readout is None or (k != "signs" and not (readout.get("midline") or {}).get(k))]:
            scene.RemoveNode(self._readout_nodes.pop(key))
        if readout is None:
            return
        self._readout_nodes["signs"] = glue.masks_to_segmentation(scene, scan.sign_regions, self._ct_node, self._readout_nodes.get("signs"),
                                                                  f"{scan.name} NCCT signs")
        for key, color in MIDLINE_COLORS.items():
            line = (readout.get("midline") or {}).get(key)
            if line:
                self._readout_nodes[key] = glue.line_node(scene, f"midline {key.split('_')[0]}", line["start"]["mm_lps"], line["end"]["mm_lps"],
                                                          self._readout_nodes.get(key), color)
        for view in self.slicer.view_manager.get_slice_views():
            view.schedule_render()  # new nodes alone do not send a new frame

    def _centre_on_midline(self, readout: dict) -> None:
        """Views to the slice the shift was measured on, where the lines are drawn (a line shows
        only on the slice it lies in)."""
        line = (readout.get("midline") or {}).get("ideal_line")
        if line:
            self._centre_on(glue.LPS_TO_RAS * (np.asarray(line["start"]["mm_lps"], float) + line["end"]["mm_lps"]) / 2)

    def _on_clinical(self, **_) -> None:
        """Every keystroke re-scores (pure arithmetic); a bad field is named under itself."""
        self.session.clinical = {key: self.state[name] for key, name in CLINICAL_STATE.items()}
        self._push()

    def _on_show_demo(self, show_demo=False, **_) -> None:
        self.session.show_demo = bool(show_demo)
        self._push()
        shown = self.session.shown_heatmaps()
        if self.state.cam_task not in shown and shown:
            self.state.cam_task = next(iter(shown))
        self._show_cam()  # a hidden demo model's heatmap goes with its numbers

    def _note_heat(self) -> None:
        """Whether the heatmap shown has heat on the axial slice on screen, and where it has."""
        shown = self.state.cam_show and self._cam_node is not None and self._cam_path is not None
        self.state.cam_note = heat_note(self._heated, self.overlay.number("Axial")) if shown else ""

    def _clot_centre(self) -> np.ndarray:
        """RAS centre of the hematoma (IPH, else any hemorrhage, else the scan's centre)."""
        scan = self.session.baseline
        a = scan.labels.array if scan.labels is not None else np.zeros((1, 1, 1))
        voxels = np.argwhere(a == IPH)
        if voxels.size == 0:
            voxels = np.argwhere(np.isin(a, HEMORRHAGE_LABELS))
        kji = voxels.mean(axis=0) if voxels.size else (np.array(scan.ct.shape) - 1) / 2
        return glue.LPS_TO_RAS * (scan.ct.index_to_physical() @ [kji[2], kji[1], kji[0], 1.0])[:3]

    def _centre_on(self, ras: np.ndarray) -> None:
        """Each slice view through the point and with the point in its middle."""
        for node in self.slicer.scene.GetNodesByClass("vtkMRMLSliceNode"):
            node.JumpSliceByCentering(*ras)
            node.JumpSliceByOffsetting(*ras)

    def _on_segmentation_modified(self, *_args) -> None:
        """Re-measure once per burst of modified signals (a stroke emits several)."""
        if self.session.baseline is None or self._seg_node is None or self._edit_started is not None:
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
        labels = glue.segmentation_to_labelmap(self._seg_node, scan.ct)
        self._edit_started, started = None, self._edit_started
        unchanged = not labels.array.any() if scan.labels is None else np.array_equal(labels.array, scan.labels.array)
        if unchanged:
            return
        scan.edit(labels)
        self.timings["edit_s"] = time.perf_counter() - started
        what, self._tool_done = self._tool_done or "Measured after edit", ""
        self.session.status = f"{what} (measured in {self.timings['edit_s']:.2f} s)"
        self._push()

    # --- correction tools (tools.py) on the segment being edited, each one undoable change -------
    def _apply_hu_limit(self, **_) -> None:
        """The editor's intensity mask: brush and eraser change only voxels in the HU range."""
        effect = self.slicer.segmentation_editor.get_effect(SegmentationEffectVolumeIntensityMask)
        effect.set_mask_range(float(self.state.tool_hu_low), float(self.state.tool_hu_high))
        effect.set_mask_enabled(bool(self.state.tool_hu_limit))

    def _arm_grow(self, tool_grow=False, **_) -> None:
        if tool_grow:  # the click that seeds the growth must not also paint
            self.slicer.segmentation_editor.deactivate_effect()

    def _edited_segment(self) -> tuple[str, int, np.ndarray]:
        """Id, label value and current voxels of the segment being edited."""
        editor = self.slicer.segmentation_editor
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
        self.slicer.segmentation_editor.active_segment_modifier.set_segment_labelmap(seg_id, voxels.astype(np.uint8))
        self.session.clear_error("tools")
        self._push()

    def _tool(self, action) -> None:
        try:
            action()
        except ICHError as exc:
            self._fail(exc, "tools")

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
            seed = self.overlay.voxel(ras)
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

    # --- actions ----------------------------------------------------------------------------
    def load_files(self, ct_path: str | Path, mask_path: str | Path | None = None) -> None:
        """A new case: every field of the last one is cleared; the mask is the one named with it."""
        ct, labels, notes = _read(ct_path, mask_path)
        self.session.load(ct, ct_path, labels, mask_path=mask_path or "", warnings=notes)
        self._loaded = (str(ct_path), str(mask_path or ""))
        self.state.update({"ct_path": str(ct_path), "mask_path": str(mask_path or ""), "gt_case": self.session.baseline.name,
                           "followup_path": "", "exported": [], "export_dir": self.export_default, "cam_show": False,
                           **{name: "" for name in CLINICAL_STATE.values()}})  # another patient
        self._show()
        self._push()

    def load(self) -> None:
        ct_path, mask_path = self.state.ct_path.strip(), self.state.mask_path.strip()
        if not ct_path:
            self._fail(ICHError(None, "give the path of a CT (a NIfTI, NRRD or MHA file, or a DICOM folder) first"))
            return
        if mask_path and mask_path == self._loaded[1] and ct_path != self._loaded[0]:
            mask_path = ""  # the last case's mask is never attached to another CT
        try:
            self.load_files(ct_path, mask_path or None)
        except ICHError as exc:
            self._fail(exc)

    def _on_ct_path(self, ct_path="", **_) -> None:
        """Naming another CT withdraws the last case's mask from the form."""
        if ct_path.strip() != self._loaded[0] and self.state.mask_path.strip() == self._loaded[1]:
            self.state.mask_path = ""

    def load_followup_files(self, ct_path: str | Path, mask_path: str | Path | None = None) -> None:
        ct, labels, notes = _read(ct_path, mask_path)
        scan = self.session.load(ct, ct_path, labels, mask_path=mask_path or "", followup=True, warnings=notes)
        if labels is None:
            self.session.status = f"Follow-up {scan.name} loaded; press Segment to measure it"
        self._push()

    def load_followup(self) -> None:
        if not self.state.followup_path.strip():
            self._fail(ICHError(None, "give the path of the follow-up CT first"), "followup")
            return
        try:
            self.load_followup_files(self.state.followup_path.strip())
            self.session.clear_error("followup")
        except ICHError as exc:
            self._fail(exc, "followup")
        self._push()

    def _on_upload(self, upload=None, **_) -> None:
        """A CT from the browser: one file, a zip of a DICOM series, or a series' files; never with
        the mask field of the last case."""
        if not upload:
            return
        self.state.upload = None
        try:
            path = save_upload(upload if isinstance(upload, list) else [upload], self._upload_dir())
            self.load_files(path)
        except ICHError as exc:
            self._fail(exc, "upload")

    def _on_mask_upload(self, mask_upload=None, **_) -> None:
        """A mask from the browser, for the CT on screen (refused on another grid)."""
        if not mask_upload:
            return
        self.state.mask_upload = None
        scan = self.session.baseline
        try:
            if scan is None:
                raise ICHError(None, "load the CT this mask belongs to first")
            path = save_upload(mask_upload if isinstance(mask_upload, list) else [mask_upload], self._upload_dir())
            scan.set_mask(load_mask(path, scan.ct), MaskSource.from_file(path))
        except ICHError as exc:
            self._fail(exc, "mask_upload")
            return
        self._loaded = (self._loaded[0], str(path))
        self.state.mask_path = str(path)
        self.session.status = f"Mask {Path(path).name} attached to {scan.name}"
        self.session.clear_error("mask_upload")
        self._show()
        self._push()

    def _upload_dir(self) -> Path:
        folder = self.workdir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def close(self) -> None:
        """Delete what this server made (uploaded copies, model outputs) unless the caller owns it."""
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def segment(self) -> None:
        """Segment the first scan without a mask (baseline, then follow-up) in a child process."""
        base, follow = self.session.baseline, self.session.followup
        scan = follow if follow is not None and base.labels is not None and follow.labels is None else base
        if scan is None or self.job is not None:
            return
        self.job = SegmentJob(scan.path, self.workdir / "segment" / scan.name / str(int(time.time()))).start()
        self.session.progress, self.session.status = 0.0, f"Segmenting {scan.name}..."
        self._push()
        create_task(self._watch(scan))

    async def _watch(self, scan) -> None:
        while self.job is not None:
            for kind, payload in self.job.poll():
                if kind == "progress":
                    self.session.progress = float(payload["progress"])
                    self.session.status = f"Segmenting {scan.name}: {payload.get('what', '')}"
                elif kind == "failed":
                    self.job, self.session.progress, self.session.status = None, None, f"Segmentation failed: {payload}"
                elif kind == "done":
                    self.job, self.session.progress = None, None
                    self._accept(scan, payload)
            self._push()
            await asyncio.sleep(POLL_S)

    def _accept(self, scan, payload: dict) -> None:
        source = payload["source"]
        scan.set_mask(load_mask(payload["mask"], scan.ct, allow_empty=True), source)
        self.session.status = f"Segmented {scan.name} with {source.model_id}"
        if scan is self.session.baseline:
            self._show()

    def read_out(self) -> None:
        """`ich readout` (location, NCCT signs, midline shift) on the baseline CT and its mask as
        edited now, in a child process."""
        scan = self.session.baseline
        if scan is None or scan.labels is None or self.readout_job is not None:
            return
        folder = self.workdir / "readout" / scan.name / str(time.time_ns())
        folder.mkdir(parents=True, exist_ok=True)
        labels = scan.labels
        try:
            mask = save_labelmap(labels, folder / "mask.nii.gz", overwrite=True)
        except ICHError as exc:
            self._fail(exc, "readout")
            return
        self.readout_job = job = Job(ReadoutRequest(scan.path, mask).argv()).start()
        self.timings["readout_started"] = time.perf_counter()
        self.session.reading, self.session.status = True, f"Reading out {scan.name}..."
        self.session.clear_error("readout")
        self._push()
        create_task(self._watch_readout(scan, job, labels))

    async def _watch_readout(self, scan, job: Job, labels) -> None:
        while self.readout_job is job:
            for kind, payload in job.poll():
                if kind in ("done", "failed"):
                    self.readout_job, self.session.reading = None, False
                    seconds = time.perf_counter() - self.timings.pop("readout_started")
                if kind == "failed":
                    self.session.status = "Read-out failed"
                    self.session.errors = {**self.session.errors, "readout": payload}
                elif kind == "done":
                    scan.set_readout(payload.get("readout") or {}, labels)
                    self.timings["readout_s"] = seconds
                    self.session.status = f"Read out {scan.name} in {seconds:.1f} s"
                    if scan is self.session.baseline:
                        self._show_readout()
                        self._centre_on_midline(scan.readout)
            self._push()
            await asyncio.sleep(POLL_S)

    def predict(self) -> None:
        """HE, HT and location risks of the baseline CT and its current mask, in a child process."""
        scan = self.session.baseline
        if scan is None or self.risk_job is not None:
            return
        outdir = self.workdir / "predict" / scan.name / str(time.time_ns())
        self.timings["predict_started"] = time.perf_counter()
        try:
            self.risk_job = RiskJob(scan.ct, scan.path, scan.labels, outdir).start()
        except ICHError as exc:
            self._fail(exc, "predict")
            return
        self.session.predicting, self.session.status = True, f"Predicting {scan.name}..."
        self._push()
        create_task(self._watch_risk(scan, self.risk_job))

    async def _watch_risk(self, scan, job: RiskJob) -> None:
        while self.risk_job is job:
            for kind, payload in job.poll():
                if kind == "done":
                    self._accept_risk(scan, job, payload, "")
                elif kind == "failed":
                    self._accept_risk(scan, job, {}, payload)
            self._push()
            await asyncio.sleep(POLL_S)

    def _accept_risk(self, scan, job: RiskJob, result: dict, failure: str) -> None:
        """Rows for the panel (a failed command's one line on every task it ran), heatmaps for the overlay."""
        errors = {**({task: failure for task in TASKS} if failure else {}), **job.blocked}
        scan.set_risk(result, errors, job.labels)
        self.risk_job, self.session.predicting = None, False
        self.timings["predict_s"] = time.perf_counter() - self.timings.pop("predict_started")
        self.session.status = f"Prediction failed: {failure}" if failure else f"Predicted {scan.name} in {self.timings['predict_s']:.1f} s"
        if scan is self.session.baseline:
            shown = self.session.shown_heatmaps()
            if self.state.cam_task not in shown and shown:
                self.state.cam_task = next(iter(shown))
            self._show_cam()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job, self.session.progress, self.session.status = None, None, "Segmentation cancelled"
            self._push()

    def cancel_predict(self) -> None:
        if self.risk_job is not None:
            self.risk_job.cancel()
            self.risk_job, self.session.predicting, self.session.status = None, False, "Prediction cancelled"
            self.timings.pop("predict_started", None)
            self._push()

    def export(self) -> None:
        scan = self.session.baseline
        outdir = self.state.export_dir.strip() or str(scan.path.parent)
        self.state.exported = []  # a refusal must not leave the last list looking like this export's
        try:
            paths = export_scan(scan, outdir, overwrite=bool(self.state.overwrite), verdict=self.session.verdict())
        except ICHError as exc:
            self._fail(exc, "export")
            return
        self.session.clear_error("export")
        self.state.exported = [str(p) for p in paths.values()]
        self.session.status = f"Exported {len(paths)} files to {outdir}"
        self._push()

    def ground_truth(self) -> None:
        scan = self.session.baseline
        self.state.exported = []
        if not self.state.gt_dir.strip():
            self._fail(ICHError(None, "give the ground-truth dataset folder first"), "gt")
            return
        try:
            paths = save_ground_truth(scan, self.state.gt_dir.strip(), self.state.gt_case.strip() or None, overwrite=bool(self.state.overwrite))
        except ICHError as exc:
            self._fail(exc, "gt")
            return
        self.session.clear_error("gt")
        self.state.exported = [str(p) for p in paths.values()]
        self.session.status = f"Saved ground truth {paths['label'].name} to {self.state.gt_dir}"
        self._push()


def _read(ct_path: str | Path, mask_path: str | Path | None) -> tuple:
    """CT, mask (or None) and the loader's warnings (thick slices...) as the page shows them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ICHWarning)
        ct = load_ct(ct_path)
        labels = load_mask(mask_path, ct) if mask_path else None
    notes = [str(w.message) for w in caught if issubclass(w.category, ICHWarning)]
    return ct, labels, [Path(n.split(": ", 1)[0]).name + ": " + n.split(": ", 1)[1] if ": " in n else n for n in notes]
