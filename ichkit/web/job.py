"""Segmentation in a child process (`python -m ichkit segment CT -o OUTDIR --json`).

Why a process: inference holds the CPU for minutes; in a child it cannot stall the web server's
event loop, it can be cancelled by killing it, and it runs exactly what the CLI runs. Its stdout
carries JSON progress lines (`{"progress": ...}`) and ends with the result JSON; a thread reads
them into a queue that the app polls.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEG_SUFFIX = "_seg.nii.gz"


def segment_argv(ct_path: str | Path, outdir: str | Path, model: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "ichkit", "segment", str(ct_path), "-o", str(outdir), "--json"]
    return argv + (["--model", model] if model else [])


def parse_progress(line: str) -> dict | None:
    """A progress line as `ichkit.progress.json_lines` writes it, else None."""
    line = line.strip()
    if not (line.startswith("{") and '"progress"' in line):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "progress" in event else None


def parse_result(text: str) -> dict:
    """The result JSON the command prints last (pretty-printed over several lines)."""
    start = text.find("{")
    if start < 0:
        return {}
    try:
        result = json.loads(text[start:])
    except json.JSONDecodeError:
        return {}
    return result if isinstance(result, dict) else {}


def find_output(result: dict, outdir: Path) -> Path | None:
    """The mask the command wrote: the `*_seg.nii.gz` among its result's files, else in OUTDIR."""
    named = [Path(v) for v in result.get("files", {}).values() if str(v).endswith(SEG_SUFFIX)]
    found = [p for p in named if p.exists()] or sorted(outdir.glob(f"*{SEG_SUFFIX}"))
    return found[0] if found else None


def model_of(result: dict) -> dict:
    """{id, version, demo} of the model that produced the mask (the result's provenance record)."""
    model = result.get("provenance", {}).get("model") or {}
    return {"id": model.get("id", "unknown"), "version": model.get("version", ""), "demo": bool(model.get("demo", False))}


@dataclass
class SegmentJob:
    """One running `ich segment`; `poll()` drains its events without blocking."""

    ct_path: Path
    outdir: Path
    model: str | None = None
    process: subprocess.Popen | None = None
    events: queue.Queue = field(default_factory=queue.Queue)
    _other: list[str] = field(default_factory=list)

    def start(self) -> "SegmentJob":
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            segment_argv(self.ct_path, self.outdir, self.model),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            event = parse_progress(line)
            if event is not None:
                self.events.put(("progress", event))
            else:
                self._other.append(line)
        code = self.process.wait()
        error = self.process.stderr.read().strip().splitlines()
        if code != 0:
            self.events.put(("failed", error[-1] if error else f"ich segment exited with code {code}"))
            return
        result = parse_result("".join(self._other))
        mask = find_output(result, self.outdir)
        if mask is None:
            self.events.put(("failed", f"{self.outdir}: ich segment wrote no *{SEG_SUFFIX}"))
            return
        self.events.put(("done", {"mask": mask, "model": model_of(result), "result": result}))

    def poll(self) -> list[tuple[str, Any]]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def cancel(self) -> None:
        """Kill the child's whole process group (inference may fork workers)."""
        import os
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
