"""Segmentation in a child process (`python -m ichkit --progress-json segment CT -o OUTDIR --json`).

The process handling (progress lines, the one-line error, killing the process tree) is
`ichkit.jobs`, shared with the Slicer modules; this file adds what a segmentation returns: the
mask the command wrote and the model that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jobs import Job, ich_argv, parse_progress, parse_result

__all__ = ["SegmentJob", "find_output", "model_of", "parse_progress", "parse_result", "segment_argv"]

SEG_SUFFIX = "_seg.nii.gz"


def segment_argv(ct_path: str | Path, outdir: str | Path, model: str | None = None, device: str | None = None) -> list[str]:
    argv = ich_argv("segment", ct_path, "-o", outdir, "--json")
    return argv + (["--model", model] if model else []) + (["--device", device] if device else [])


def find_output(result: dict, outdir: Path) -> Path | None:
    """The mask the command wrote: the `*_seg.nii.gz` among its result's files, else in OUTDIR."""
    named = [Path(v) for v in result.get("files", {}).values() if str(v).endswith(SEG_SUFFIX)]
    found = [p for p in named if p.exists()] or sorted(Path(outdir).glob(f"*{SEG_SUFFIX}"))
    return found[0] if found else None


def model_of(result: dict) -> dict:
    """{id, version, demo} of the model that produced the mask (the result's provenance record)."""
    model = result.get("provenance", {}).get("model") or {}
    return {"id": model.get("id", "unknown"), "version": model.get("version", ""), "demo": bool(model.get("demo", False))}


def segmentation_output(result: dict, outdir: Path) -> tuple[str, Any]:
    """A finished `ich segment` as ("done", {mask, model, result}), or ("failed", why)."""
    mask = find_output(result, outdir)
    if mask is None:
        return "failed", f"{outdir}: ich segment wrote no *{SEG_SUFFIX}"
    return "done", {"mask": mask, "model": model_of(result), "result": result}


@dataclass
class SegmentJob:
    """One running `ich segment`; `poll()` drains its events without blocking."""

    ct_path: Path
    outdir: Path
    model: str | None = None
    device: str | None = None
    job: Job | None = field(default=None, repr=False)

    def start(self) -> "SegmentJob":
        Path(self.outdir).mkdir(parents=True, exist_ok=True)
        self.job = Job(segment_argv(self.ct_path, self.outdir, self.model, self.device)).start()
        return self

    def poll(self) -> list[tuple[str, Any]]:
        return [segmentation_output(payload, Path(self.outdir)) if kind == "done" else (kind, payload) for kind, payload in self.job.poll()]

    def cancel(self) -> None:
        self.job.cancel()
