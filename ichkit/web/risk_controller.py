"""The risk panel's actions: Read out (`ich readout`) and Predict (`ich predict --task all`) in
child processes on the baseline CT and its mask as edited now, the clinical form (every keystroke
re-scores: pure arithmetic), and the demo models' outputs shown only when asked.

The read-out runs on request, not after every mask change: it costs ~3 s of CPU plus a child
start, a reader edits in bursts, and a changed mask marks the read-out stale instead.
"""

from __future__ import annotations

import time

from trame_server.utils.asynchronous import create_task

from ..app.jobs import Job
from ..app.predict import TASKS
from ..app.riskpanel import ReadoutRequest
from ..errors import ICHError
from ..io import save_labelmap
from .panel import CLINICAL_STATE
from .risk import RiskJob


class RiskController:
    def __init__(self, ws):
        self.ws, self.state, self.session, self.timings = ws, ws.state, ws.session, ws.timings
        self.risk_job: RiskJob | None = None
        self.readout_job: Job | None = None
        self.state.change(*CLINICAL_STATE.values())(self._on_clinical)
        self.state.change("show_demo")(self._on_show_demo)
        ws.actions(read_out=self.read_out, predict=self.predict, cancel_predict=self.cancel_predict)

    def _on_clinical(self, **_) -> None:
        """Every keystroke re-scores (pure arithmetic); a bad field is named under itself."""
        self.session.clinical = {key: self.state[name] for key, name in CLINICAL_STATE.items()}
        self.ws.push()

    def _on_show_demo(self, show_demo=False, **_) -> None:
        self.session.show_demo = bool(show_demo)
        self.ws.push()
        self._pick_shown_task()
        self.ws.mirror.show_foreground()  # a hidden demo model's heatmap goes with its numbers

    def _pick_shown_task(self) -> None:
        shown = self.session.shown_heatmaps()
        if self.state.cam_task not in shown and shown:
            self.state.cam_task = next(iter(shown))

    def read_out(self) -> None:
        """`ich readout` (location, NCCT signs, midline shift) on the baseline CT and its mask as
        edited now, in a child process."""
        scan = self.session.baseline
        if scan is None or scan.labels is None or self.readout_job is not None:
            return
        folder = self.ws.workdir / "readout" / scan.name / str(time.time_ns())
        folder.mkdir(parents=True, exist_ok=True)
        labels = scan.labels
        try:
            mask = save_labelmap(labels, folder / "mask.nii.gz", overwrite=True)
        except ICHError as exc:
            self.ws.fail(exc, "readout")
            return
        self.readout_job = job = Job(ReadoutRequest(scan.path, mask).argv()).start()
        self.timings["readout_started"] = time.perf_counter()
        self.session.reading, self.session.status = True, f"Reading out {scan.name}..."
        self.session.clear_error("readout")
        self.ws.push()
        create_task(self.ws.watch(lambda: job if self.readout_job is job else None,
                                  lambda kind, payload: self._on_readout(scan, labels, kind, payload)))

    def _on_readout(self, scan, labels, kind: str, payload) -> None:
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
                self.ws.mirror.show_readout()
                self.ws.mirror.centre_on_midline(scan.readout)

    def predict(self) -> None:
        """HE, HT and location risks of the baseline CT and its current mask, in a child process."""
        scan = self.session.baseline
        if scan is None or self.risk_job is not None:
            return
        outdir = self.ws.workdir / "predict" / scan.name / str(time.time_ns())
        self.timings["predict_started"] = time.perf_counter()
        try:
            self.risk_job = job = RiskJob(scan.ct, scan.path, scan.labels, outdir).start()
        except ICHError as exc:
            self.ws.fail(exc, "predict")
            return
        self.session.predicting, self.session.status = True, f"Predicting {scan.name}..."
        self.ws.push()
        create_task(self.ws.watch(lambda: job if self.risk_job is job else None,
                                  lambda kind, payload: self._on_risk(scan, job, kind, payload)))

    def _on_risk(self, scan, job: RiskJob, kind: str, payload) -> None:
        if kind == "done":
            self._accept_risk(scan, job, payload, "")
        elif kind == "failed":
            self._accept_risk(scan, job, {}, payload)

    def _accept_risk(self, scan, job: RiskJob, result: dict, failure: str) -> None:
        """Rows for the panel (a failed command's one line on every task it ran), heatmaps for the overlay."""
        errors = {**({task: failure for task in TASKS} if failure else {}), **job.blocked}
        scan.set_risk(result, errors, job.labels)
        self.risk_job, self.session.predicting = None, False
        self.timings["predict_s"] = time.perf_counter() - self.timings.pop("predict_started")
        self.session.status = f"Prediction failed: {failure}" if failure else f"Predicted {scan.name} in {self.timings['predict_s']:.1f} s"
        if scan is self.session.baseline:
            self._pick_shown_task()
            self.ws.mirror.show_foreground()

    def cancel_predict(self) -> None:
        if self.risk_job is not None:
            self.risk_job.cancel()
            self.risk_job, self.session.predicting, self.session.status = None, False, "Prediction cancelled"
            self.timings.pop("predict_started", None)
            self.ws.push()
