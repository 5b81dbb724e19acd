"""Fine-tuning offered after "save as ground truth" (`ichkit.app.finetune`): the dataset's case
count against the minimum, then "Fine-tune now" as a child `ich train finetune` with progress (its
own lines carry the ETA) and Cancel. The new model joins the segmentation model list when done.

The work folder goes beside the dataset (DATASET/../finetune-NAME) unless the reader names one;
an existing folder is refused before the job starts (it holds an earlier job's checkpoints).
"""

from __future__ import annotations

from pathlib import Path

from trame_server.utils.asynchronous import create_task

from ..app.finetune import FinetuneRequest, default_name, finetune_offer, summary, work_folder
from ..app.jobs import Job
from ..errors import ICHError

IDLE = {"offer": None, "default_name": "", "running": False, "progress": None, "text": ""}


class FinetuneController:
    def __init__(self, ws):
        self.ws, self.state, self.session = ws, ws.state, ws.session
        self.job: Job | None = None
        self.dataset = ""
        self.state.ft = dict(IDLE)
        ws.actions(finetune=self.start, cancel_finetune=self.cancel)

    def _set(self, **changes) -> None:
        self.state.ft = {**self.state.ft, **changes}

    def offer(self, dataset: str) -> None:
        """After a save: how many cases DATASET holds and, from the minimum on, the offer."""
        self.dataset = dataset
        self._set(offer=finetune_offer(dataset), default_name=default_name(dataset))
        self.ws.push()

    def start(self) -> None:
        if self.job is not None or not self.dataset:
            return
        try:
            name = self.state.ft_name.strip() or default_name(self.dataset)
            request = FinetuneRequest(Path(self.dataset), work_folder(self.dataset, name, self.state.ft_dir.strip() or None), name=name)
        except ICHError as exc:
            self.ws.fail(exc, "finetune")
            return
        self.job = job = Job(request.argv()).start()
        self.session.clear_error("finetune")
        self.session.status = f"Fine-tuning on {Path(self.dataset).name} in {request.outdir}"
        self._set(running=True, progress=0, text="starting...")
        self.ws.push()
        create_task(self.ws.watch(lambda: job if self.job is job else None, self._on_event))

    def _on_event(self, kind: str, payload) -> None:
        if kind == "progress":
            self._set(progress=round(100 * float(payload["progress"])), text=payload.get("what", ""))
        elif kind == "failed":
            self.job = None
            self._set(running=False, progress=None, text="")
            self.session.status = "Fine-tuning failed"
            self.session.errors = {**self.session.errors, "finetune": payload}
        elif kind == "done":
            self.job = None
            self.ws.segmenter.refresh_models()
            self._set(running=False, progress=None, text=summary(payload))
            self.session.status = f"Fine-tuned {payload['model_id']}: choose it in the model list to segment with it"

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job = None
            self._set(running=False, progress=None, text="")
            self.session.status = "Fine-tuning cancelled"
            self.ws.push()
