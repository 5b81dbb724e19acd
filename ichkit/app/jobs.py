"""Background jobs: an `ich` command in a child process, read through its JSON progress lines.

Why a child process: inference, training and sampling hold the CPU (or GPU) for minutes; in a
child they cannot freeze Slicer's event loop or the web server, they run exactly what the CLI
runs, and Cancel can end them for certain by killing the child's whole process tree (data
loaders and nnU-Net fork workers). Two reader threads drain stdout (progress lines, then the
result JSON) and stderr (kept for the one-line `error: ...`), so neither pipe can fill up and
block the child; the GUI polls `Job.poll()` from its own timer.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRESS_OPTION = "--progress-json"  # the `ich` global option that prints progress as JSON lines
STDERR_KEPT = 50  # lines of stderr kept for the error message
TERMINAL = ("done", "failed", "cancelled")


BACKEND_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding this ichkit (a Slicer extension's modules folder, or a checkout)


def ich_argv(*args: str | Path, python: str | Path | None = None) -> list[str]:
    """`python -m ichkit --progress-json ARGS...`; `python` defaults to the running interpreter
    (desktop Slicer passes its PythonSlicer executable)."""
    return [str(python or sys.executable), "-m", "ichkit", PROGRESS_OPTION, *(str(a) for a in args)]


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
    """The result JSON a command prints last with --json (pretty-printed over several lines)."""
    start = text.find("{")
    if start < 0:
        return {}
    try:
        result = json.loads(text[start:])
    except json.JSONDecodeError:
        return {}
    return result if isinstance(result, dict) else {}


def error_line(stderr_lines: list[str], code: int) -> str:
    """The CLI's one-line `error: ...` (or its internal-error line), else the last line, else the code."""
    lines = [line.strip() for line in stderr_lines if line.strip()]
    marked = [line for line in lines if line.startswith(("error: ", "internal error: "))]
    return (marked or lines or [f"exited with code {code}"])[-1]


def _kill_posix(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the child leads its own session: its group is the tree
    except ProcessLookupError:  # it ended meanwhile
        pass


def _kill_windows(process: subprocess.Popen) -> None:
    subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False)


KILL_TREE = {"posix": _kill_posix, "nt": _kill_windows}
NEW_GROUP = {"posix": {"start_new_session": True}, "nt": {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}}


@dataclass
class Job:
    """One running command. `poll()` returns the events since the last call, without blocking:
    ("progress", {"progress", "done", "total", "what"}), then exactly one of ("done", result dict),
    ("failed", one-line error) or ("cancelled", None)."""

    argv: list[str]
    cwd: str | Path | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None
    events: queue.Queue = field(default_factory=queue.Queue)
    _stdout: list[str] = field(default_factory=list)
    _stderr: collections.deque = field(default_factory=lambda: collections.deque(maxlen=STDERR_KEPT))
    _cancelled: bool = False
    _finished: bool = False

    def start(self) -> "Job":
        env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (BACKEND_ROOT, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            self.argv, cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", errors="replace", **NEW_GROUP.get(os.name, {}),
        )
        errors = threading.Thread(target=self._read_stderr, daemon=True)
        errors.start()
        threading.Thread(target=self._read_stdout, args=(errors,), daemon=True).start()
        return self

    def _read_stderr(self) -> None:
        with self.process.stderr:  # closed at EOF, not left to the garbage collector
            for line in self.process.stderr:
                self._stderr.append(line)

    def _read_stdout(self, errors: threading.Thread) -> None:
        with self.process.stdout:
            for line in self.process.stdout:
                event = parse_progress(line)
                if event is not None:
                    self.events.put(("progress", event))
                else:
                    self._stdout.append(line)
        code = self.process.wait()
        errors.join()
        if self._cancelled:
            self.events.put(("cancelled", None))
        elif code != 0:
            self.events.put(("failed", error_line(list(self._stderr), code)))
        else:
            self.events.put(("done", parse_result("".join(self._stdout))))

    @property
    def running(self) -> bool:
        return self.process is not None and not self._finished

    def _take(self, event: tuple[str, Any]) -> tuple[str, Any]:
        self._finished = self._finished or event[0] in TERMINAL
        return event

    def poll(self) -> list[tuple[str, Any]]:
        out = []
        while True:
            try:
                out.append(self._take(self.events.get_nowait()))
            except queue.Empty:
                return out

    def wait(self, timeout: float | None = None) -> list[tuple[str, Any]]:
        """Block until the job ends (tests, scripts); returns its remaining events."""
        out = []
        while not self._finished:
            out.append(self._take(self.events.get(timeout=timeout)))
        return out

    def cancel(self) -> None:
        """Kill the child and everything it started; the job then reports ("cancelled", None)."""
        if self.process is not None and self.process.poll() is None:
            self._cancelled = True
            KILL_TREE[os.name](self.process)
