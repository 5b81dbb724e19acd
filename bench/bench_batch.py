"""Cohort throughput of `ich run` with 2 workers against 1, measured in the same run.

Usage: .venv/bin/python bench/bench_batch.py [--n 16] [--radiomics default] [--model ID]
Scans are full-size 512 x 512 x 32 phantoms; without --model the ground-truth masks are used
(validate -> volumes -> radiomics -> report); with --model every scan is segmented too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--radiomics", default="default")
    ap.add_argument("--model")
    args = ap.parse_args()
    from ichkit.phantom import write_phantom_cohort

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = write_phantom_cohort(tmp / "cohort", args.n, seed=1)
        cohort = tmp / "cohort" / "cohort.csv"
        if args.model:  # segment instead of using the masks
            cohort = tmp / "cohort" / "nomask.csv"
            cohort.write_text("scan_id,ct\n" + "".join(f"{r['scan_id']},{r['ct']}\n" for r in rows))
        times = {}
        for workers in (1, 2):
            cmd = [sys.executable, "-m", "ichkit", "run", str(cohort), "-o", str(tmp / f"out{workers}"), "--workers", str(workers), "--no-progress", "--radiomics", args.radiomics]
            if args.model:
                cmd += ["--model", args.model]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[workers] = time.perf_counter() - t0
    print(f"cohort of {args.n} phantoms 512x512x32, radiomics={args.radiomics}, {'model ' + args.model if args.model else 'given masks'}")
    print(f"{'workers':>8} {'seconds':>9} {'scans/min':>10}")
    for w, t in times.items():
        print(f"{w:>8} {t:>9.1f} {60 * args.n / t:>10.1f}")
    print(f"speed-up 2 workers vs 1 (same run): {times[1] / times[2]:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()
