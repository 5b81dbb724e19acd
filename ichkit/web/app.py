"""The trame server: trame-slicer views and Segment Editor on the left, the ICH panel on the right.

The `Session` (state.py) is the truth; the MRML scene mirrors it. Loading replaces the scene
(trame-slicer 2.0.0 needs `scene.Clear()` before data is added from Python, else the effects
crash on first use). Every change of the segmentation (an effect, undo, redo) is read back as a
labelmap and re-measured, so the panel always shows the volumes of what the reader sees. Segment
and Predict run the CLI in child processes that a coroutine polls, so the server stays live.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from trame.app import TrameApp
from trame.widgets import vuetify3 as v3
from trame_server.utils.asynchronous import create_task
from trame_slicer import module as trame_slicer_module
from trame_slicer.app.logic import SegmentEditorLogic
from trame_slicer.app.ui import SegmentEditorUI, SegmentEditorUndoRedoUI, ViewerLayout
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from trame_slicer.utils import write_client_files_to_dir
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

from .. import scene as glue
from ..app.predict import TASKS, heatmap_paths, risk_rows
from ..errors import ICHError
from ..io import load_ct, load_mask
from .export import export_scan, save_ground_truth
from .job import SegmentJob
from .panel import FORM_DEFAULTS, build_panel
from .report import BRAIN_WINDOW, key_slice
from .risk import RiskJob, load_heatmap
from .state import Session

POLL_S = 0.25  # how often a running job's progress is read


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
        self._ct_node = self._seg_node = self._edit_started = None
        self._cam_node = self._cam_path = None  # the heatmap in the scene and the file it holds
        self.timings: dict[str, float] = {}
        self.slicer = SlicerApp()
        register_rca_factories(self.slicer.view_manager, self.server)
        self.editor = SegmentEditorLogic(self.server, self.slicer)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, self.server)
        self.layout_manager.register_layout_dict(layouts(), lazy_initialization=True)
        self.state.update({**FORM_DEFAULTS, "ich": self.session.panel(), "trame__title": "ICH workstation"})
        self.state.change("layout")(self._on_layout)
        self.state.change("upload")(self._on_upload)
        self.state.change("cam_show", "cam_task", "cam_opacity")(self._show_cam)
        for name in ("ich_load", "ich_load_followup", "ich_segment", "ich_predict", "ich_cancel", "ich_cancel_predict", "ich_export", "ich_ground_truth"):
            self.ctrl[name] = getattr(self, name[4:])
        self._build_ui()
        self.layout_manager.set_layout(FORM_DEFAULTS["layout"])
        self.slicer.segmentation_editor.segmentation_modified.connect(self._on_segmentation_modified)

    # --- UI -------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        with ViewerLayout(self.server, title="ICH workstation", is_drawer_visible=True) as self.ui:
            with self.ui.drawer:
                editor_ui = SegmentEditorUI()
            with self.ui.undo_redo:
                SegmentEditorUndoRedoUI(editor_ui=editor_ui)
            with v3.VNavigationDrawer(location="right", permanent=True, width=360):
                build_panel(self.ctrl, list(layouts()))
            with self.ui.content:
                self.layout_manager.initialize_layout_grid(self.ui)
        self.editor.set_ui(editor_ui)

    def _on_layout(self, layout, **_) -> None:
        self.layout_manager.set_layout(layout)
        self._show_cam()  # views made by the new layout get the overlay too

    def _push(self) -> None:
        with self.state:
            self.state.ich = self.session.panel()

    def _fail(self, exc: Exception) -> None:
        self.session.status = f"Error: {exc}"
        self._push()

    # --- scene mirror ---------------------------------------------------------------------
    def _show(self) -> None:
        """Rebuild the scene from the baseline scan: CT in the slice views, mask in the editor."""
        scan = self.session.baseline
        scene = self.slicer.scene
        scene.Clear()
        self._seg_node = self._cam_node = self._cam_path = None
        self._ct_node = glue.volume_to_node(scene, scan.ct, scan.name)
        self._ct_node.GetDisplayNode().AutoWindowLevelOff()
        self._ct_node.GetDisplayNode().SetWindowLevel(BRAIN_WINDOW[1], BRAIN_WINDOW[0])
        self.slicer.display_manager.show_volume_in_slice_background(self._ct_node)
        if scan.labels is not None:
            glue.labelmap_to_segmentation(scene, scan.labels, self._ct_node)
        self.editor.on_volume_changed(self._ct_node)
        self._seg_node = self.slicer.segmentation_editor.active_segmentation_node
        self.slicer.display_manager.reset_views()
        self._jump_to(key_slice(scan) if scan.labels is not None else scan.ct.shape[0] // 2)
        self._show_cam()

    def _show_cam(self, **_) -> None:
        """The selected task's heatmap as the slice views' foreground, or no foreground."""
        scan = self.session.baseline
        path = scan.heatmaps.get(self.state.cam_task) if scan else None
        if not (self.state.cam_show and path):
            self.slicer.display_manager.show_volume_in_slice_foreground(None)
            return
        if path != self._cam_path:
            try:
                heat = load_heatmap(path, scan.ct)
            except ICHError as exc:
                self._fail(exc)
                return
            self._cam_node = glue.heatmap_to_node(self.slicer.scene, heat, f"{scan.name} Grad-CAM", node=self._cam_node)
            self._cam_path = path
        self.slicer.display_manager.show_volume_in_slice_foreground(self._cam_node)
        for view in self.slicer.view_manager.get_slice_views():
            view.set_foreground_opacity(float(self.state.cam_opacity))

    def _jump_to(self, index: int) -> None:
        """Centre the slice views on the in-plane centre of axial slice `index` of the CT."""
        ct = self.session.baseline.ct
        centre = ct.index_to_physical() @ [(ct.shape[2] - 1) / 2, (ct.shape[1] - 1) / 2, index, 1.0]
        ras = glue.LPS_TO_RAS * centre[:3]
        for node in self.slicer.scene.GetNodesByClass("vtkMRMLSliceNode"):
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
        scan = self.session.baseline
        scan.edit(glue.segmentation_to_labelmap(self._seg_node, scan.ct))
        self.timings["edit_s"] = time.perf_counter() - self._edit_started
        self._edit_started = None
        self.session.status = f"Measured after edit in {self.timings['edit_s']:.2f} s"
        self._push()

    # --- actions ----------------------------------------------------------------------------
    def load_files(self, ct_path: str | Path, mask_path: str | Path | None = None) -> None:
        ct = load_ct(ct_path)
        labels = load_mask(mask_path, ct) if mask_path else None
        self.session.load(ct, ct_path, labels, mask_path=mask_path or "")
        self.state.ct_path, self.state.mask_path = str(ct_path), str(mask_path or "")
        self.state.gt_case = self.session.baseline.name
        self._show()
        self._push()

    def load(self) -> None:
        try:
            self.load_files(self.state.ct_path.strip(), self.state.mask_path.strip() or None)
        except ICHError as exc:
            self._fail(exc)

    def load_followup_files(self, ct_path: str | Path, mask_path: str | Path | None = None) -> None:
        ct = load_ct(ct_path)
        labels = load_mask(mask_path, ct) if mask_path else None
        scan = self.session.load(ct, ct_path, labels, mask_path=mask_path or "", followup=True)
        if labels is None:
            self.session.status = f"Follow-up {scan.name} loaded; press Segment to measure it"
        self._push()

    def load_followup(self) -> None:
        try:
            self.load_followup_files(self.state.followup_path.strip())
        except ICHError as exc:
            self._fail(exc)

    def _on_upload(self, upload=None, **_) -> None:
        if not upload:
            return
        files = upload if isinstance(upload, list) else [upload]
        (paths,) = [write_client_files_to_dir(files, self._upload_dir())]
        self.state.ct_path = paths[0]
        self.state.upload = None
        self.load()

    def _upload_dir(self) -> Path:
        folder = self.workdir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

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
            self._fail(exc)
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
        scan.set_risk(risk_rows(result, errors), heatmap_paths(result), job.labels)
        self.risk_job, self.session.predicting = None, False
        self.timings["predict_s"] = time.perf_counter() - self.timings.pop("predict_started")
        self.session.status = f"Prediction failed: {failure}" if failure else f"Predicted {scan.name} in {self.timings['predict_s']:.1f} s"
        if scan is self.session.baseline:
            if self.state.cam_task not in scan.heatmaps and scan.heatmaps:
                self.state.cam_task = next(iter(scan.heatmaps))
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
        try:
            paths = export_scan(scan, outdir, overwrite=bool(self.state.overwrite), verdict=self.session.verdict())
        except ICHError as exc:
            self._fail(exc)
            return
        self.state.exported = [str(p) for p in paths.values()]
        self.session.status = f"Exported {len(paths)} files to {outdir}"
        self._push()

    def ground_truth(self) -> None:
        scan = self.session.baseline
        if not self.state.gt_dir.strip():
            self._fail(ICHError(None, "give the ground-truth dataset folder first"))
            return
        try:
            paths = save_ground_truth(scan, self.state.gt_dir.strip(), self.state.gt_case.strip() or None, overwrite=bool(self.state.overwrite))
        except ICHError as exc:
            self._fail(exc)
            return
        self.state.exported = [str(p) for p in paths.values()]
        self.session.status = f"Saved ground truth {paths['label'].name} to {self.state.gt_dir}"
        self._push()
