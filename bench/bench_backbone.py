"""Backbone benchmark: load + validate + resample + volumes + full radiomics on a 512x512x32 phantom,
next to plain pyradiomics (same parameter file, same files) in the same run; then cohort
radiomics with N workers against 1.

Each variant runs in its own child process; its peak memory is the child's ru_maxrss read with
os.wait4 (per child, C extensions included; tracemalloc would miss ITK's and pyradiomics' C
buffers). Linux starts a child's ru_maxrss at its parent's RSS when it is forked, so this script
keeps its own process lean (no numpy): the phantoms are made in a child too. The cohort's worker
processes are reported separately (RUSAGE_CHILDREN of the cohort process: the largest worker,
floored at the cohort process's RSS when it spawned them).

    .venv/bin/python bench/bench_backbone.py [--seed 0] [--cohort 6] [--workers 2] [--params full]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PYTHON = sys.executable

ICHKIT_SCAN = """
import json, sys, time
t = {}; t0 = time.perf_counter()
from ichkit.io import load_ct, load_mask
from ichkit.preprocess import resample
from ichkit.measure import measure
from ichkit.radiomics import extract
t["import"] = time.perf_counter() - t0
ct_path, mask_path, params = sys.argv[1:4]
s = time.perf_counter(); ct = load_ct(ct_path); mask = load_mask(mask_path, ct); t["load+validate"] = time.perf_counter() - s
s = time.perf_counter(); ct = resample(ct); mask = resample(mask, is_label=True); t["resample"] = time.perf_counter() - s
s = time.perf_counter(); m = measure(mask); t["volumes"] = time.perf_counter() - s
s = time.perf_counter(); f = extract(ct, mask, params, label=1); t["radiomics"] = time.perf_counter() - s
print(json.dumps({"t": t, "n": len(f), "iph_mesh_ml": m["IPH"].mesh_ml, "mesh_feature_ml": f["original_shape_MeshVolume"] / 1000}))
"""

MAKE_DATA = """
import json, sys, time
from ichkit.io import save_labelmap, save_volume
from ichkit.phantom import make_phantom, write_phantom_cohort
seed, folder, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cohort_shape = tuple(int(v) for v in sys.argv[4:7])
s = time.perf_counter()
ph = make_phantom(seed, shape=(32, 512, 512), spacing=(0.5, 0.5, 5.0))
save_volume(ph.ct, f"{folder}/ct.nrrd")
save_labelmap(ph.labels, f"{folder}/labels.nrrd")
t = time.perf_counter() - s
if n:
    write_phantom_cohort(f"{folder}/cohort", n, seed=seed, shape=cohort_shape, spacing=(0.5, 0.5, 5.0))
print(json.dumps({"t": {"make": t}, "volumes_ml": ph.volumes_ml}))
"""

PLAIN_SCAN = """
import json, logging, sys, time
t = {}; t0 = time.perf_counter()
import radiomics
from radiomics.featureextractor import RadiomicsFeatureExtractor
radiomics.setVerbosity(logging.ERROR)
t["import"] = time.perf_counter() - t0
ct_path, mask_path, params = sys.argv[1:4]
s = time.perf_counter()
r = RadiomicsFeatureExtractor(params).execute(ct_path, mask_path, label=1)
t["radiomics"] = time.perf_counter() - s
print(json.dumps({"t": t, "n": sum(not k.startswith("diagnostics_") for k in r)}))
"""

COHORT = """
import json, resource, sys, time
from ichkit.radiomics import extract_cohort, read_cohort
cohort, params, workers, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = time.perf_counter()
rows = extract_cohort(read_cohort(cohort), params, out=out, workers=workers)
wall = time.perf_counter() - s
worker_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers > 1 else 0
print(json.dumps({"t": {"cohort": wall}, "failed": sum(bool(r["error"]) for r in rows), "worker_maxrss_kb": worker_kb}))
"""


def run_child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter and reap it with wait4: its JSON result, wall time, peak RSS (MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-c", textwrap.dedent(code), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode}):\n{err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return result | {"wall": wall, "maxrss_mib": usage.ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="full", help="radiomics preset or file (default full)")
    ap.add_argument("--cohort", type=int, default=6, help="phantoms in the cohort run (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cohort-shape", type=int, nargs=3, default=(24, 256, 256), metavar=("Z", "Y", "X"))
    args = ap.parse_args()

    from ichkit.resources import resource_path  # a lean import: os and pathlib only

    params = resource_path(f"radiomics/{args.params}.yaml") if "." not in args.params else Path(args.params)
    with tempfile.TemporaryDirectory(prefix="ich-bench-") as tmp:
        tmp = Path(tmp)
        made = run_child(MAKE_DATA, args.seed, tmp, args.cohort, *args.cohort_shape)
        ct_path, mask_path, cdir = tmp / "ct.nrrd", tmp / "labels.nrrd", tmp / "cohort"
        print(f"phantom seed {args.seed}: 512x512x32, IPH {made['volumes_ml']['IPH']:.1f} mL, IVH {made['volumes_ml']['IVH']:.1f} mL "
              f"(made and written in {made['t']['make']:.1f} s); params {params.name}")

        ours = run_child(ICHKIT_SCAN, ct_path, mask_path, params)
        plain = run_child(PLAIN_SCAN, ct_path, mask_path, params)
        print(f"\nper scan ({ours['n']} ichkit features, {plain['n']} pyradiomics features; IPH mesh {ours['iph_mesh_ml']:.3f} mL "
              f"on the scan grid, MeshVolume {ours['mesh_feature_ml']:.3f} mL on the 1 mm radiomics grid)")
        print(f"  {'step':<16}{'ichkit s':>10}{'pyradiomics s':>15}{'ratio':>8}")
        for step in ("import", "load+validate", "resample", "volumes", "radiomics"):
            a, b = ours["t"].get(step), plain["t"].get(step)
            ratio = f"{a / b:8.2f}" if a is not None and b else f"{'':>8}"
            print(f"  {step:<16}{a:>10.2f}{(f'{b:.2f}' if b is not None else '-'):>15}{ratio}")
        print(f"  {'process wall':<16}{ours['wall']:>10.2f}{plain['wall']:>15.2f}{ours['wall'] / plain['wall']:8.2f}")
        print(f"  {'peak RSS MiB':<16}{ours['maxrss_mib']:>10.0f}{plain['maxrss_mib']:>15.0f}{ours['maxrss_mib'] / plain['maxrss_mib']:8.2f}")

        if args.cohort:
            one = run_child(COHORT, cdir / "cohort.csv", params, 1, tmp / "c1.csv")
            many = run_child(COHORT, cdir / "cohort.csv", params, args.workers, tmp / "cn.csv")
            same = (tmp / "c1.csv").read_text() == (tmp / "cn.csv").read_text()
            print(f"\ncohort: {args.cohort} phantoms {'x'.join(map(str, args.cohort_shape[::-1]))}, params {params.name}, "
                  f"failed {one['failed']}/{many['failed']}, CSVs identical: {same}")
            print(f"  {'workers':<16}{'cohort s':>10}{'process s':>11}{'speed-up':>10}{'peak RSS MiB (max process)':>28}")
            print(f"  {1:<16}{one['t']['cohort']:>10.2f}{one['wall']:>11.2f}{1.0:>10.2f}{one['maxrss_mib']:>28.0f}")
            workers_rss = f"{many['maxrss_mib']:.0f} (each worker <= {many['worker_maxrss_kb'] / 1024:.0f})"
            print(f"  {args.workers:<16}{many['t']['cohort']:>10.2f}{many['wall']:>11.2f}{one['t']['cohort'] / many['t']['cohort']:>10.2f}{workers_rss:>28}")
    print(f"\ncpu cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
