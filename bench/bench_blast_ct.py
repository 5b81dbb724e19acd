"""BLAST-CT v1 inference, one run, same weights: ichkit inside the skull, ichkit on the full grid
(the path before the intracranial mask), and the peer's own pipeline.

Input: a real-geometry phantom (skull, scalp, head holder, 0.48 x 0.48 x 5 mm, 512 x 512 x 28,
int16 HU) written with an oblique direction (gantry tilted 15 degrees about x by default), as a
NIfTI file every run reads. Each run is its own process (wall seconds and peak RSS of its process
tree, bench/measure.py; CPU seconds of the tree, the steadier figure on a shared machine), on
every core this process may use. Agreement of the masks: multi-class
Dice, per-label Dice against the peer, IPH volume difference, voxels labelled outside the
intracranial mask. The machine's load is printed: compare runs of the same invocation only.

The peer runs on a copy of the weights with their subnormal floats zeroed (as ichkit loads them,
`deepmedic.flush_subnormals`: no output above 1e-30 changes). With the file as shipped, x86 float
arithmetic on those values makes the peer pathologically slow on this input (not finished after
22 min wall, 41 CPU min, where it ran ~5 min on a real scan): `--peer-as-shipped MIN` adds that
run, stopped after MIN minutes, so the ratio is never measured where the baseline is pathological.

  .venv/bin/python bench/bench_blast_ct.py [--weights DIR] [--no-peer] [--peer-as-shipped MIN] [--ensemble 3] [--bf16] [--tilt X Z]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # children run without PYTHONPATH (bench/measure.py): this tree, not an installed ichkit
sys.path.insert(0, str(ROOT / "bench"))
from measure import run_measured  # noqa: E402

WEIGHTS = ROOT.parent / "shared" / "models" / "blast-ct-v1"
PEER_VENV = ROOT / ".venv-peer" / "bin" / "python"
SHAPE, SPACING, SEED = (28, 512, 512), (0.48, 0.48, 5.0), 0


def ours_worker(args: argparse.Namespace) -> None:
    """Child process: load the CT, segment, write the product-label mask."""
    from ichkit.io import load_ct
    from ichkit.segment.blast_ct import BlastCTSegmenter

    ct = load_ct(args.ct)
    t = time.perf_counter()
    seg = BlastCTSegmenter(args.models, dtype=args.dtype, intracranial=not args.full_grid)
    result = seg.predict(ct)
    print(f"  predict {time.perf_counter() - t:.1f} s", flush=True)
    sitk.WriteImage(result.labels.to_sitk(), args.out)


def flushed_copy(weights: Path, folder: Path) -> str:
    """The state dict with its subnormal floats zeroed, as ichkit loads it; the peer reads this copy."""
    import torch

    from ichkit.segment.deepmedic import flush_subnormals

    out = folder / f"{weights.stem}_flushed.pt"
    torch.save(flush_subnormals(torch.load(weights, map_location="cpu", weights_only=True)), out)
    return str(out)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    fg = (a > 0).sum() + (b > 0).sum()
    return 1.0 if fg == 0 else float(2.0 * ((a == b) & (a > 0)).sum() / fg)


def read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=WEIGHTS)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--peer-as-shipped", type=float, metavar="MIN", help="also run the peer on the unflushed weights, for at most MIN minutes")
    p.add_argument("--no-full-grid", action="store_true", help="skip the full-grid baseline")
    p.add_argument("--ensemble", type=int, default=0, metavar="N", help="also time ours with the first N networks")
    p.add_argument("--bf16", action="store_true", help="also time ours with bfloat16 autocast")
    p.add_argument("--tilt", type=float, nargs=2, default=(15.0, 0.0), metavar=("X_DEG", "Z_DEG"))
    p.add_argument("--keep", type=Path, metavar="DIR", help="write the CT and every mask here (default: a temporary folder)")
    p.add_argument("--worker", nargs=2, metavar=("CT", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--dtype", default=None, help=argparse.SUPPRESS)
    p.add_argument("--full-grid", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.ct, args.out = args.worker
        return ours_worker(args)

    from ichkit.labels import EAH, EDEMA, IPH, IVH, LABELS
    from ichkit.phantom import make_phantom
    from ichkit.phantom.tilt import tilt
    from ichkit.preprocess import intracranial_mask
    from ichkit.segment.blast_ct import PRODUCT_LABEL

    peer_python = os.environ.get("ICH_PEER_PYTHON") or (str(PEER_VENV) if PEER_VENV.is_file() else None)
    if not args.no_peer and not peer_python:
        sys.exit("set ICH_PEER_PYTHON to the peer's python (bench/peer_env.sh creates it), or pass --no-peer")
    model_1 = str(args.weights / "model_1.pt")
    me = [sys.executable, str(Path(__file__).resolve())]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_blast_ct_") as tmp:
        tmp = args.keep or Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        ph = tilt(make_phantom(SEED, shape=SHAPE, spacing=SPACING, brace=True), *args.tilt)
        ct_path = tmp / "ct.nii.gz"
        sitk.WriteImage(ph.ct.to_sitk(), str(ct_path))
        from ichkit.io import load_ct

        inside = intracranial_mask(load_ct(ct_path)).array > 0
        print(f"phantom seed {SEED}: {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} at {SPACING} mm, head holder, tilt {args.tilt} deg; "
              f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}; truth {ph.volumes_ml}")

        def ours(name, out, models, *extra):
            return name, me + ["--worker", str(ct_path), str(tmp / out), "--models", *models, *extra], out, None

        runs = [ours("ours model_1 (intracranial)", "ours.nii.gz", [model_1])]
        if not args.no_full_grid:
            runs.append(ours("ours model_1 full grid (before)", "full.nii.gz", [model_1], "--full-grid"))
        if args.bf16:
            runs.append(ours("ours model_1 bfloat16", "bf16.nii.gz", [model_1], "--dtype", "bfloat16"))
        if args.ensemble > 1:
            members = [str(args.weights / f"model_{i}.pt") for i in range(1, args.ensemble + 1)]
            runs.append(ours(f"ours ensemble of {args.ensemble}", "ens.nii.gz", members))
        if not args.no_peer:
            def peer(name, weights, out, limit=None):
                return name, [peer_python, str(ROOT / "bench" / "peer_blast_ct.py"), "infer", weights, "--image", str(ct_path), "--out", str(tmp / out)], out, limit

            runs.append(peer("peer model_1 (blast-ct 2.1.0)", flushed_copy(Path(model_1), tmp), "peer.nii.gz"))
            if args.peer_as_shipped:
                runs.append(peer("peer, weights as shipped", model_1, "peer_shipped.nii.gz", 60 * args.peer_as_shipped))
        for name, cmd, out, limit in runs:
            print(f"running {name} ...", flush=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, gb = run_measured(cmd, timeout_s=limit)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            if wall == float("inf"):
                print(f"  stopped after {limit / 60:g} min ({cpu:.1f} s CPU, {gb:.2f} GB): not finished", flush=True)
                continue
            print(f"  {wall:.1f} s wall, {cpu:.1f} s CPU, {gb:.2f} GB", flush=True)
            rows.append((name, wall, cpu, gb, out))
        masks = {out: read(tmp / out) for *_, out in rows}
    for out in ("peer.nii.gz", "peer_shipped.nii.gz"):  # the peer writes network class indices; map them to product labels
        if out in masks:
            masks[out] = np.asarray(PRODUCT_LABEL, np.uint8)[masks[out].astype(int)]
    voxel_ml = float(np.prod(SPACING)) / 1000.0
    base = {"full.nii.gz": "full grid", "peer.nii.gz": "peer"}
    ref_cpu = {out: (wall, cpu) for _, wall, cpu, _, out in rows}
    print(f"\n{'run':34s} {'wall s':>7s} {'CPU s':>7s} {'peak GB':>8s} {'IPH mL':>7s} {'outside':>8s}  agreement")
    for name, wall, cpu, gb, out in rows:
        m = masks[out]
        notes = []
        for ref, label in base.items():
            if ref in masks and ref != out:
                r = masks[ref]
                iph = (r == IPH).sum()
                per = " ".join(f"{LABELS[v].key} {dice(m == v, r == v):.4f}" for v in (IPH, IVH, EDEMA, EAH) if (r == v).sum() + (m == v).sum())
                notes.append(f"vs {label}: {ref_cpu[ref][0] / wall:.2f}x wall, {ref_cpu[ref][1] / cpu:.2f}x CPU, Dice {dice(m, r):.4f} inside skull "
                             f"{dice(np.where(inside, m, 0), np.where(inside, r, 0)):.4f} [{per}], "
                             f"IPH {100 * ((m == IPH).sum() - iph) / max(iph, 1):+.2f} %")
        print(f"{name:34s} {wall:7.1f} {cpu:7.1f} {gb:8.2f} {(m == IPH).sum() * voxel_ml:7.2f} {int((m[~inside] > 0).sum()):8d}  " + "; ".join(notes))


if __name__ == "__main__":
    main()
