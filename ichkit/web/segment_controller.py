"""The Segment button: `ich segment` with the chosen model (and ensemble size) on the first scan
without a mask, in a child process with progress and Cancel; the model list it chooses from."""

from __future__ import annotations

import time

from trame_server.utils.asynchronous import create_task

from ..app.segment import SegmentRequest, model_choices
from ..io import load_mask
from .job import SegmentJob

DEFAULT_MODEL = {"title": "best installed model (default)", "value": ""}


class SegmentController:
    def __init__(self, ws):
        self.ws, self.state, self.session = ws, ws.state, ws.session
        self.job: SegmentJob | None = None
        self.refresh_models()
        ws.actions(segment=self.segment, cancel=self.cancel, refresh_models=self.refresh_models)

    def refresh_models(self, *_) -> None:
        """The registry's segmentation models, read again each time the list opens (a model
        fine-tuned or imported while the server runs appears)."""
        self.state.seg_models = [DEFAULT_MODEL] + [{"title": text, "value": model_id} for model_id, text in model_choices()]

    def segment(self) -> None:
        """Segment the first scan without a mask (baseline, then follow-up) in a child process."""
        base, follow = self.session.baseline, self.session.followup
        scan = follow if follow is not None and base.labels is not None and follow.labels is None else base
        if scan is None or self.job is not None:
            return
        n = int(self.state.seg_ensemble)
        outdir = self.ws.workdir / "segment" / scan.name / str(int(time.time()))
        self.job = SegmentJob(SegmentRequest(scan.path, outdir, self.state.seg_model or None, ensemble=n)).start()
        self.session.progress, self.session.status = 0.0, f"Segmenting {scan.name}" + (f" with {n} networks..." if n > 1 else "...")
        self.ws.push()
        create_task(self.ws.watch(lambda: self.job, lambda kind, payload: self._on_event(scan, kind, payload)))

    def _on_event(self, scan, kind: str, payload) -> None:
        if kind == "progress":
            self.session.progress = float(payload["progress"])
            self.session.status = f"Segmenting {scan.name}: {payload.get('what', '')}"
        elif kind == "failed":
            self.job, self.session.progress, self.session.status = None, None, f"Segmentation failed: {payload}"
        elif kind == "done":
            self.job, self.session.progress = None, None
            self._accept(scan, payload)

    def _accept(self, scan, payload: dict) -> None:
        source = payload["source"]
        scan.set_mask(load_mask(payload["mask"], scan.ct, allow_empty=True), source, payload["ensemble"])
        networks = f" ({payload['ensemble'].members} networks)" if payload["ensemble"] else ""
        self.session.status = f"Segmented {scan.name} with {source.model_id}{networks}"
        if scan is self.session.baseline:
            self.ws.show()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job, self.session.progress, self.session.status = None, None, "Segmentation cancelled"
            self.ws.push()
