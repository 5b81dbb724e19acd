"""Background jobs for real: child processes that report progress, get cancelled, or fail."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ichkit.app import jobs
from ichkit.progress import json_lines

CHILD = textwrap.dedent("""
    import subprocess, sys, time
    from ichkit.progress import json_lines
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(sys.argv[1], "w").write(f"{grandchild.pid}")
    report = json_lines(sys.stdout)
    for i in range(3):
        report(i + 1, 3, "step")
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _events_until(job: jobs.Job, kinds: set[str], timeout: float = 60) -> list:
    events, deadline = [], time.time() + timeout
    while not any(kind in kinds for kind, _ in events) and time.time() < deadline:
        events += job.poll()
        time.sleep(0.05)
    return events


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_cancel_kills_the_whole_process_tree(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    job = jobs.Job([sys.executable, "-c", CHILD, str(pid_file)]).start()
    events = []
    while len([e for e in events if e[0] == "progress"]) < 3:
        events += _events_until(job, {"progress"})
    assert [e[1]["done"] for e in events] == [1, 2, 3] and events[-1][1]["progress"] == 1.0
    grandchild = int(pid_file.read_text())
    assert _alive(job.process.pid) and _alive(grandchild)
    job.cancel()
    assert job.wait(timeout=30) == [("cancelled", None)]
    deadline = time.time() + 10
    while _alive(grandchild) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(job.process.pid) and not _alive(grandchild)
    assert not job.running


def test_failing_command_surfaces_its_error_line(tmp_path):
    job = jobs.Job(jobs.ich_argv("inspect", tmp_path / "missing.nii.gz", "--json")).start()
    ((kind, line),) = job.wait(timeout=120)
    assert kind == "failed" and line.startswith("error: ") and "missing.nii.gz" in line


def test_a_crash_reports_the_last_stderr_line_and_success_the_result():
    crash = jobs.Job([sys.executable, "-c", "import sys; print('noise', file=sys.stderr); sys.exit('boom: disk full')"]).start()
    assert crash.wait(timeout=30) == [("failed", "boom: disk full")]
    ok = jobs.Job([sys.executable, "-c", "import json; print(json.dumps({'progress': 0.5, 'done': 1, 'total': 2, 'what': ''})); "
                   "print(json.dumps({'files': {'a': 1}}, indent=2))"]).start()
    events = ok.wait(timeout=30)
    assert events[0][0] == "progress" and events[-1] == ("done", {"files": {"a": 1}})


def test_progress_json_option_makes_cli_bars_json_lines(tmp_path):
    """`ich --progress-json phantom ...` prints the phantom writer's progress as JSON lines."""
    job = jobs.Job(jobs.ich_argv("phantom", tmp_path, "--n", "2", "--json")).start()
    events = job.wait(timeout=120)
    progress = [e[1] for e in events if e[0] == "progress"]
    assert events[-1][0] == "done", events[-1]
    assert progress and all(set(p) == {"progress", "done", "total", "what"} for p in progress)


def test_parsers_and_argv():
    import io

    buf = io.StringIO()
    json_lines(buf)(1, 4, "patch")
    assert jobs.parse_progress(buf.getvalue()) == {"progress": 0.25, "done": 1, "total": 4, "what": "patch"}
    assert jobs.parse_progress("segment: 50%") is None and jobs.parse_progress("{not json") is None
    assert jobs.parse_result('warning: x\n{\n "a": 1\n}\n') == {"a": 1} and jobs.parse_result("no json") == {}
    assert jobs.error_line(["warning: slow\n", "error: ct.nii: unreadable\n", "\n"], 2) == "error: ct.nii: unreadable"
    assert jobs.error_line([], 3) == "exited with code 3"
    assert jobs.ich_argv("segment", Path("a"), python="/py")[:4] == ["/py", "-m", "ichkit", "--progress-json"]
    assert os.name in jobs.KILL_TREE


def test_child_finds_the_backend_from_any_folder(tmp_path):
    """A bundled ichkit (Slicer's modules folder, not site-packages) is importable in the child:
    the job puts the folder holding it first on PYTHONPATH."""
    probe = [sys.executable, "-c", "import json, os, ichkit; print(json.dumps({'path': os.environ['PYTHONPATH'], 'at': ichkit.__file__}))"]
    events = jobs.Job(probe, cwd=tmp_path, env={"PYTHONPATH": "/elsewhere"}).start().wait(timeout=60)
    result = events[-1][1]
    assert result["path"].split(os.pathsep) == [jobs.BACKEND_ROOT, "/elsewhere"]
    assert Path(result["at"]).resolve().parent.parent == Path(jobs.BACKEND_ROOT)
