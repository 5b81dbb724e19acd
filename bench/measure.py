"""Wall seconds and peak memory of one command, counting every process it starts.

Why a tree: nnU-Net's predictor (and torch's data loading) run worker processes whose memory a
parent's own rusage never shows. The peak is the largest sum of resident memory over the tree,
sampled every `poll_s`, and never less than the main process's own rusage peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psutil


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a worker that ended between listing and reading
            pass
    return total


def run_measured(cmd: list[str], poll_s: float = 0.05, timeout_s: float | None = None) -> tuple[float, float]:
    """Run `cmd` (PYTHON* variables removed, so a child venv is not confused); exit on failure.
    Past `timeout_s` the tree is killed and the wall time returned is infinite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    t = time.perf_counter()
    child = subprocess.Popen(cmd, env=env)
    peak, done, timed_out = [0], threading.Event(), threading.Event()

    def sample() -> None:
        proc = psutil.Process(child.pid)
        while not done.is_set():
            try:
                peak[0] = max(peak[0], _tree_rss(proc))
                if timeout_s is not None and time.perf_counter() - t > timeout_s:
                    timed_out.set()
                    for p in [*proc.children(recursive=True), proc]:
                        p.kill()
            except psutil.Error:
                return
            done.wait(poll_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if timed_out.is_set():
        return float("inf"), max(peak[0], usage.ru_maxrss * 1024) / 2**30
    if child.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed with exit code {child.returncode}")
    return wall, max(peak[0], usage.ru_maxrss * 1024) / 2**30
