"""Segmentation in a child process (`python -m ichkit --progress-json segment CT -o OUTDIR --json`).

The process handling (progress lines, the one-line error, killing the process tree) is
`ichkit.app.jobs` and the request and its reading `ichkit.app.segment`, shared with the Slicer
modules; this file keeps the running job of the workstation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..app.jobs import Job
from ..app.segment import SegmentRequest, read_ensemble, read_output


def segmentation_output(result: dict, outdir: Path) -> tuple[str, Any]:
    """A finished `ich segment` as ("done", {mask, source, ensemble, result}), or ("failed", why);
    `ensemble` (intervals, disagreement map) is None for one network."""
    found = read_output(result, outdir)
    if found is None:
        return "failed", f"{outdir}: ich segment wrote no mask"
    return "done", {"mask": found[0], "source": found[1], "ensemble": read_ensemble(result), "result": result}


@dataclass
class SegmentJob:
    """One running `ich segment` of `request`; `poll()` drains its events without blocking."""

    request: SegmentRequest
    job: Job | None = field(default=None, repr=False)

    def start(self) -> "SegmentJob":
        Path(self.request.outdir).mkdir(parents=True, exist_ok=True)
        self.job = Job(self.request.argv()).start()
        return self

    def poll(self) -> list[tuple[str, Any]]:
        outdir = Path(self.request.outdir)
        return [segmentation_output(payload, outdir) if kind == "done" else (kind, payload) for kind, payload in self.job.poll()]

    def cancel(self) -> None:
        self.job.cancel()
