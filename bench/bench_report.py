"""`ich report` (mask given) on a 512 x 512 x 30 scan: goal <= 10 s on 2 cores.

Usage: .venv/bin/python bench/bench_report.py [--repeat 3] [--atlas DIR]
The scan is a phantom with skull, head holder, 0.45 mm pixels and 5 mm slices. Each run is a
fresh `ich report` process (start-up included) with OMP_NUM_THREADS=2; `ich volume` on the same
scan is timed in the same run as the baseline (load + volumes, no read-out), so the ratio holds
on a loaded machine. An in-process breakdown (load, read-out, report data, HTML) follows.
--atlas DIR imports the atlas into a private cache first (else the location is undetermined).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--atlas", help="folder of the blast-ct-atlas files to import into a private cache")
    args = ap.parse_args()
    from ichkit.phantom import make_phantom, write_phantom

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "OMP_NUM_THREADS": "2", "ICHKIT_CACHE": str(tmp / "cache")}
        ich = [sys.executable, "-m", "ichkit"]
        if args.atlas:
            subprocess.run([*ich, "models", "import", args.atlas], check=True, capture_output=True, env=env)
        paths = write_phantom(make_phantom(7, shape=(30, 512, 512), spacing=(0.45, 0.45, 5.0), brace=True), tmp, "scan")
        ct, mask = str(paths["ct"]), str(paths["labels"])
        report = [_timed([*ich, "report", ct, "--mask", mask, "--age", "70", "--gcs", "14", "-o", str(tmp / "out"), "--overwrite"], env)
                  for _ in range(args.repeat)]
        volume = [_timed([*ich, "volume", ct, mask], env) for _ in range(args.repeat)]
        r, v = statistics.median(report), statistics.median(volume)
        print(f"ich report: median {r:.2f} s over {args.repeat} (min {min(report):.2f}); goal <= 10 s: {'ok' if r <= 10 else 'MISSED'}")
        print(f"ich volume (same run baseline): median {v:.2f} s; report / volume = {r / v:.2f}")
        _breakdown(ct, mask, env)


def _breakdown(ct_path: str, mask_path: str, env: dict) -> None:
    os.environ.update(env)
    from ichkit.io import load_ct, load_mask
    from ichkit.report import TimePoint, build_report, render, run_readout_safely
    from ichkit.segment.source import MaskSource

    t = [time.perf_counter()]
    ct = load_ct(ct_path)
    labels = load_mask(mask_path, ct)
    t.append(time.perf_counter())
    readout = run_readout_safely(ct, labels)
    t.append(time.perf_counter())
    tp = TimePoint("baseline", ct, labels, MaskSource.of_mask(mask_path), readout)
    report = build_report([tp])
    t.append(time.perf_counter())
    render([tp], report)
    t.append(time.perf_counter())
    steps = ("load", "read-out (location, signs, midline)", "report data (volumes, scores)", "images + HTML + JSON")
    print("in process: " + ", ".join(f"{s} {b - a:.2f} s" for s, a, b in zip(steps, t, t[1:])))


if __name__ == "__main__":
    main()
