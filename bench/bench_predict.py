"""Seconds for `ich predict --task all` (three demo classifiers + Grad-CAM) on a 512 x 512 x 32
phantom on CPU (goal <= 5 s), against baselines measured in the same run: start-up (python,
torch and timm imports, loading the CT) and the same prediction without Grad-CAM. Each figure is
the best of --repeats runs of the real command in a fresh process.

    python bench/bench_predict.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ichkit.phantom.classify import he_phantom
from ichkit.io import save_labelmap, save_volume


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ph = he_phantom(4_000_001, 1, shape=(32, 512, 512), spacing=(0.5, 0.5, 5.0)).phantom
        ct, mask = save_volume(ph.ct, tmp / "ct.nii.gz"), save_labelmap(ph.labels, tmp / "mask.nii.gz")
        ich = [sys.executable, "-m", "ichkit"]
        # the floor: what every run pays (imports, reading the CT, and the exit `ich` takes, heap frozen)
        base = [sys.executable, "-c", f"import gc, ichkit.cli, torch, timm; from ichkit.io import load_ct; load_ct({str(ct)!r}); gc.freeze()"]
        runs = {
            "startup + load CT (baseline)": lambda i: base,
            "predict --task all --no-cam": lambda i: ich + ["predict", str(ct), "--mask", str(mask), "--task", "all", "--no-cam", "-o", str(tmp / f"n{i}")],
            "predict --task all (with Grad-CAM)": lambda i: ich + ["predict", str(ct), "--mask", str(mask), "--task", "all", "-o", str(tmp / f"a{i}")],
        }
        best = {name: min(timed(make(i)) for i in range(args.repeats)) for name, make in runs.items()}
    ref = best["startup + load CT (baseline)"]
    for name, s in best.items():
        print(f"{name:40s} {s:6.2f} s  ({s / ref:4.2f} x baseline)")
    total = best["predict --task all (with Grad-CAM)"]
    print(f"ich predict --task all on 512x512x32, CPU: {total:.2f} s (goal <= 5 s: {'met' if total <= 5 else 'NOT met'})")


if __name__ == "__main__":
    main()
