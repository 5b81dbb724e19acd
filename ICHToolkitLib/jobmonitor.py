"""Shows a background job (`ichkit.app.jobs.Job`) in a module: progress bar, status line, Cancel.

Qt-free so pytest drives it: `bar` needs a `value` (0-100) and `status` a `text` attribute, which
a QProgressBar and a QLabel have in Slicer (tests use stand-ins named Fake...). The widget's
QTimer calls `poll()` until it returns False. Errors reach the module's status line, not only
the Python console: the child's one-line `error: ...`, or the error of the step that reads the
result into the scene.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import Any

from ichkit.errors import ICHError
from ichkit.app.jobs import Job

POLL_MS = 250  # how often the widget's timer polls


def python_executable() -> str:
    """The interpreter for child processes: Slicer's PythonSlicer in desktop Slicer, else this one."""
    return shutil.which("PythonSlicer") or sys.executable


class JobMonitor:
    def __init__(self, job: Job, bar: Any, status: Any, title: str, on_done: Callable[[dict], str]):
        """`on_done(result)` puts the result in the scene and returns the status text to show."""
        self.job, self.bar, self.status, self.title, self.on_done = job, bar, status, title, on_done
        self.outcome: str | None = None  # "done", "failed" or "cancelled" once finished

    def poll(self) -> bool:
        """Apply the job's new events; True while it still runs."""
        for kind, payload in self.job.poll():
            getattr(self, f"_{kind}")(payload)
        return self.outcome is None

    def _progress(self, event: dict) -> None:
        self.bar.value = round(100 * float(event["progress"]))
        what = f": {event['what']}" if event.get("what") else ""
        self.status.text = f"{self.title}{what} ({event.get('done', 0)}/{event.get('total', 0)})"

    def _done(self, result: dict) -> None:
        try:
            text = self.on_done(result)
        except ICHError as exc:
            self._failed(f"error: {exc.message}")
            return
        self.bar.value = 100
        self.status.text = text
        self.outcome = "done"

    def _failed(self, line: str) -> None:
        self.bar.value = 0
        self.status.text = f"{self.title} failed: {line}"
        self.outcome = "failed"

    def _cancelled(self, _payload: Any) -> None:
        self.bar.value = 0
        self.status.text = f"{self.title} cancelled"
        self.outcome = "cancelled"

    def cancel(self) -> None:
        self.job.cancel()
