"""Read-out bench: atlas location accuracy on atlas-drawn phantoms, and the read-out's time and memory.

    PYTHONPATH=. python bench/bench_readout.py [--n 60] [--seed0 9000] [--atlas DIR] [-o results.json]

Accuracy: `--n` phantoms on the realistic grid (512 x 512, 0.45-0.5 mm pixels, 5-6 mm slices,
gantry tilt, head holder), seeds from `--seed0` on (a family the tests never used; they use 0-4),
targets cycling through deep / lobar / infratentorial x left / right. A phantom counts as correct
when the located class AND side equal the truth counted through the true map; an undetermined
location counts as wrong. Also reported: registration Dice and the registration error at the
clot's centroid (true map vs estimated affine).

Timing: `ich readout` on one realistic phantom (512 x 512, 5 mm slices, holder) in a child process
limited to 2 threads, best of `--repeats`; peak memory is the child's max RSS. The machine is
shared, so a fixed reference workload (a 3D Gaussian filter of the same size) is timed in the
same run and the ratio is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ichkit.anatomy.atlas import read_atlas  # noqa: E402
from ichkit.phantom.atlas import HeadDraw, make_atlas_phantom  # noqa: E402
from ichkit.anatomy.location import locate  # noqa: E402
from ichkit.anatomy.registration import register  # noqa: E402

SHARED_ATLAS = Path(os.environ.get("ICH_SHARED", "/work/shared")) / "models" / "blast-ct-atlas"


def _centroid(mask) -> np.ndarray:
    m = mask.index_to_physical()
    return m[:3, :3] @ np.argwhere(mask.array == 1).mean(axis=0)[::-1] + m[:3, 3]


def accuracy(atlas, seeds, draw: HeadDraw = HeadDraw()) -> dict:
    rows = []
    for seed in seeds:
        ph = make_atlas_phantom(seed, atlas, draw=draw)
        reg = register(ph.ct, atlas)
        loc = locate(ph.labels, atlas, reg)
        iph = loc["labels"].get("IPH", {})
        c = _centroid(ph.labels)[None]
        err = float(np.linalg.norm(reg.to_template(c) - ph.to_template(c))) if reg.matrix is not None else None
        row = {"seed": seed, "target": "-".join(ph.truth["target"]), "truth": [ph.truth["class"], ph.truth["side"]],
               "found": [iph.get("class"), iph.get("side")], "status": loc["status"], "dice": reg.dice, "centroid_error_mm": err,
               "volume_ml": ph.truth["volume_ml"], "slices": ph.ct.shape[0], "tilt_deg": round(ph.params["tilt_deg"], 1)}
        row["correct"] = row["found"] == row["truth"]
        rows.append(row)
        print(f"seed {seed} {row['target']:22s} truth {'/'.join(row['truth']):24s} found {'/'.join(map(str, row['found'])):24s} "
              f"Dice {reg.dice or 0:.3f} err {err or float('nan'):.1f} mm {ph.truth['volume_ml']:.1f} mL {'ok' if row['correct'] else 'WRONG'}", flush=True)
    dice = np.array([r["dice"] for r in rows if r["dice"] is not None])
    errs = np.array([r["centroid_error_mm"] for r in rows if r["centroid_error_mm"] is not None])
    by_target = {t: f"{sum(r['correct'] for r in rows if r['target'] == t)}/{n}" for t, n in Counter(r["target"] for r in rows).items()}
    return {"n": len(rows), "correct": int(sum(r["correct"] for r in rows)), "accuracy": float(np.mean([r["correct"] for r in rows])),
            "undetermined": int(sum(r["status"] != "determined" for r in rows)), "by_target": by_target,
            "volume_ml": {"min": min(r["volume_ml"] for r in rows), "median": float(np.median([r["volume_ml"] for r in rows])),
                          "max": max(r["volume_ml"] for r in rows)},
            "dice": {"mean": float(dice.mean()), "min": float(dice.min()), "max": float(dice.max())},
            "centroid_error_mm": {"mean": float(errs.mean()), "p95": float(np.percentile(errs, 95)), "max": float(errs.max())},
            "rows": rows}


def _reference_seconds(shape) -> float:
    from scipy import ndimage

    a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    t = time.perf_counter()
    ndimage.gaussian_filter(a, 2.0)
    return time.perf_counter() - t


def timing(atlas, atlas_dir: Path, repeats: int) -> dict:
    from ichkit.io import save_volume

    ph = make_atlas_phantom(9999, atlas, draw=HeadDraw(slice_mm=(5.0, 5.0)))
    with tempfile.TemporaryDirectory(prefix="bench-readout-") as tmp:
        tmp = Path(tmp)
        save_volume(ph.ct, tmp / "ct.nii.gz")
        save_volume(ph.labels, tmp / "mask.nii.gz")
        env = {**os.environ, "ICHKIT_CACHE": str(tmp / "cache"), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2",
               "OPENBLAS_NUM_THREADS": "2", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "2"}
        run = lambda *a: subprocess.run([sys.executable, "-m", "ichkit", *a], env=env, check=True, capture_output=True, text=True)  # noqa: E731
        run("models", "import", str(atlas_dir), "--no-progress")
        inproc = ("import time,resource;from ichkit.io import load_ct,load_mask;from ichkit.anatomy.readout import run_readout;"
                  f"ct=load_ct('{tmp / 'ct.nii.gz'}');m=load_mask('{tmp / 'mask.nii.gz'}',ct);"
                  "r=lambda:resource.getrusage(resource.RUSAGE_SELF);u=r();t=time.perf_counter();run_readout(ct,m);"
                  "w=time.perf_counter()-t;v=r();print(w,(v.ru_utime+v.ru_stime)-(u.ru_utime+u.ru_stime))")
        walls, cmd_walls, cpus, rss = [], [], [], []
        for i in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t = time.perf_counter()
            run("readout", str(tmp / "ct.nii.gz"), "--mask", str(tmp / "mask.nii.gz"), "-o", str(tmp / f"out{i}"), "--json")
            cmd_walls.append(time.perf_counter() - t)
            rss.append(max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024)
            w, c = map(float, subprocess.run([sys.executable, "-c", inproc], env=env, check=True, capture_output=True, text=True).stdout.split())
            walls.append(w)
            cpus.append(c)
    ref = min(_reference_seconds(ph.ct.shape) for _ in range(repeats))
    return {"shape": list(ph.ct.shape), "spacing_mm": [round(s, 3) for s in ph.ct.spacing], "holder": True,
            "run_readout_wall_s": min(walls), "run_readout_cpu_s": min(cpus), "command_wall_s": min(cmd_walls),
            "command_peak_rss_mb": max(rss), "reference_gaussian_s": ref, "ratio_readout_to_reference": min(walls) / ref,
            "load_average": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed0", type=int, default=9000)
    ap.add_argument("--atlas", type=Path, default=SHARED_ATLAS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-nod", type=float, default=HeadDraw().rotation_deg[0], help="max head nod (degrees) of the accuracy phantoms")
    ap.add_argument("--radius", type=float, nargs=2, default=HeadDraw().hematoma_radius_mm, metavar=("LO", "HI"),
                    help="hematoma radius range (mm) of the accuracy phantoms")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    atlas = read_atlas(args.atlas)
    result = {}
    if not args.skip_accuracy:
        draw = HeadDraw(rotation_deg=(args.max_nod, *HeadDraw().rotation_deg[1:]), hematoma_radius_mm=tuple(args.radius))
        result["accuracy"] = accuracy(atlas, range(args.seed0, args.seed0 + args.n), draw)
        a = result["accuracy"]
        print(f"class AND side correct: {a['correct']}/{a['n']} ({100 * a['accuracy']:.1f} %), undetermined {a['undetermined']}; "
              f"Dice mean {a['dice']['mean']:.3f} (min {a['dice']['min']:.3f}); centroid error mean {a['centroid_error_mm']['mean']:.1f} mm "
              f"(p95 {a['centroid_error_mm']['p95']:.1f}, max {a['centroid_error_mm']['max']:.1f}); IPH {a['volume_ml']['min']:.1f}-"
              f"{a['volume_ml']['max']:.1f} mL (median {a['volume_ml']['median']:.1f}); by target {a['by_target']}")
    if not args.skip_timing:
        result["timing"] = t = timing(atlas, args.atlas, args.repeats)
        print(f"read-out on {t['shape']} at {t['spacing_mm']} mm: run_readout {t['run_readout_wall_s']:.2f} s wall / {t['run_readout_cpu_s']:.2f} s CPU, "
              f"whole command {t['command_wall_s']:.2f} s, peak RSS {t['command_peak_rss_mb']:.0f} MB; reference Gaussian {t['reference_gaussian_s']:.2f} s "
              f"(ratio {t['ratio_readout_to_reference']:.1f}); load average {t['load_average']:.1f}")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
