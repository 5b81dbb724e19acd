"""The trame server: trame-slicer views and Segment Editor on the left, the ICH panel on the right.

The `Session` (state.py) is the truth; the MRML scene mirrors it (`SceneMirror`). Each part of
the panel has its controller: loading, editing and the correction tools, the segmentation job,
the risk panel's jobs, saving, fine-tuning. Jobs run the CLI in child processes that a coroutine
polls (`watch`), so the server stays live.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from trame.app import TrameApp
from trame_slicer import module as trame_slicer_module
from trame_slicer.app.logic import SegmentEditorLogic
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories

from .edit_controller import EditController
from .finetune_controller import FinetuneController
from .layout import build_ui, layouts
from .load_controller import LoadController
from .overlay import SliceOverlay
from .panel import FORM_DEFAULTS
from .risk_controller import RiskController
from .save_controller import SaveController
from .scene_mirror import SceneMirror
from .segment_controller import SegmentController
from .state import Session

POLL_S = 0.25  # how often a running job's progress is read


class Workstation(TrameApp):
    def __init__(self, server=None, *, workdir: str | Path | None = None):
        super().__init__(server)
        self.server.enable_module(trame_slicer_module)
        self.session = Session()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ichkit-web-"))
        self._own_workdir = workdir is None  # made here, so deleted at exit (it holds uploaded copies)
        self.export_default = ""  # --export-dir: what a new case's export folder starts as
        self.timings: dict[str, float] = {}
        self.slicer = SlicerApp()
        self.overlay = SliceOverlay(self.server, lambda: self.session.baseline.ct if self.session.baseline else None)
        register_rca_factories(self.slicer.view_manager, self.server, slice_view_ui_f=self.overlay)
        self.editor = SegmentEditorLogic(self.server, self.slicer)
        self.layout_manager = LayoutManager(self.slicer.scene, self.slicer.view_manager, self.server)
        self.layout_manager.register_layout_dict(layouts(), lazy_initialization=True)
        self.state.update({**FORM_DEFAULTS, "ich": self.session.panel(), "trame__title": "ICH workstation"})
        self.mirror = SceneMirror(self)
        self.edit = EditController(self)
        self.loader = LoadController(self)
        self.segmenter = SegmentController(self)
        self.risk = RiskController(self)
        self.saver = SaveController(self)
        self.finetuner = FinetuneController(self)
        editor_ui = build_ui(self)
        self.editor.set_ui(editor_ui)
        self.layout_manager.set_layout(FORM_DEFAULTS["layout"])
        self.edit.connect()

    def actions(self, **named) -> None:
        """Buttons' callbacks: `ich_NAME` in the panel calls the function given as NAME."""
        for name, action in named.items():
            self.ctrl[f"ich_{name}"] = action

    def push(self) -> None:
        with self.state:
            self.state.ich = self.session.panel()

    def fail(self, exc: Exception, control: str = "load") -> None:
        """The error next to the control whose action failed (the status line keeps its last news)."""
        self.session.fail(control, exc)
        self.push()

    def show(self) -> None:
        """Rebuild the scene from the baseline scan, with the tools' HU limit on the new editor."""
        self.mirror.rebuild()
        self.edit.apply_hu_limit()
        self.mirror.show_views()

    async def watch(self, running, on_event) -> None:
        """Poll a job's events while `running()` holds, handing each to `on_event`, then the panel."""
        while running():
            for kind, payload in running().poll():
                on_event(kind, payload)
            self.push()
            await asyncio.sleep(POLL_S)

    # --- what `ich view` calls -----------------------------------------------------------------
    def load_files(self, ct_path: str | Path, mask_path: str | Path | None = None, policy=None) -> None:
        self.loader.load_files(ct_path, mask_path, policy)

    def load_followup_files(self, ct_path: str | Path, mask_path: str | Path | None = None, policy=None) -> None:
        self.loader.load_followup_files(ct_path, mask_path, policy)

    def close(self) -> None:
        """Delete what this server made (uploaded copies, model outputs) unless the caller owns it."""
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
