"""BLAST-CT v1 inference: ichkit's DeepMedic against the peer's own pipeline, same run, same weights.

On a 512 x 512 x 32 phantom (0.5 x 0.5 x 5 mm), each run in its own process (wall seconds,
peak RSS of its process tree, bench/measure.py): ours with model_1, the peer (blast-ct 2.1.0 in
$ICH_PEER_PYTHON, bench/peer_env.sh) with model_1, then ours with the 12-model ensemble, and
optionally ours with bfloat16 autocast. Dice is the multi-class Dice of the argmax masks.

  .venv/bin/python bench/bench_blast_ct.py [--weights DIR] [--no-peer] [--no-ensemble] [--bf16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from measure import run_measured

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "models" / "blast-ct-v1"
SHAPE, SPACING, SEED = (32, 512, 512), (0.5, 0.5, 5.0), 0


def ours_worker(args: argparse.Namespace) -> None:
    """Child process: load the CT, segment, write the product-label mask."""
    from ichkit.io import load_ct
    from ichkit.segment.blast_ct import BlastCTSegmenter

    ct = load_ct(args.ct)
    t = time.perf_counter()
    result = BlastCTSegmenter(args.models, dtype=args.dtype).predict(ct)
    print(f"  ours ({len(args.models)} model(s), {args.dtype or 'float32'}): predict {time.perf_counter() - t:.1f} s", flush=True)
    sitk.WriteImage(result.labels.to_sitk(), args.out)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    fg = (a > 0).sum() + (b > 0).sum()
    return 1.0 if fg == 0 else float(2.0 * ((a == b) & (a > 0)).sum() / fg)


def read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=WEIGHTS)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--no-ensemble", action="store_true")
    p.add_argument("--bf16", action="store_true", help="also time ours with bfloat16 autocast")
    p.add_argument("--worker", nargs=2, metavar=("CT", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--dtype", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.ct, args.out = args.worker
        return ours_worker(args)

    from ichkit.phantom import make_phantom
    from ichkit.segment.blast_ct import PRODUCT_LABEL

    peer_python = os.environ.get("ICH_PEER_PYTHON")
    if not args.no_peer and not (peer_python and Path(peer_python).is_file()):
        sys.exit("set ICH_PEER_PYTHON to the peer's python (bench/peer_env.sh creates /work/peer-venv), or pass --no-peer")
    model_1 = str(args.weights / "model_1.pt")
    ensemble = [str(args.weights / f"model_{i}.pt") for i in range(1, 13)]
    me = [sys.executable, str(Path(__file__).resolve())]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_blast_ct_") as tmp:
        tmp = Path(tmp)
        ph = make_phantom(SEED, shape=SHAPE, spacing=SPACING)
        ct_path = tmp / "ct.nii.gz"
        sitk.WriteImage(ph.ct.to_sitk(), str(ct_path))
        print(f"phantom seed {SEED}: {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} at {SPACING} mm; {os.cpu_count()} CPUs; truth {ph.volumes_ml}")

        runs = [("ours model_1 float32", me + ["--worker", str(ct_path), str(tmp / "ours.nii.gz"), "--models", model_1], "ours.nii.gz")]
        if not args.no_peer:
            runs.append(("peer model_1 (blast-ct 2.1.0)", [peer_python, str(ROOT / "bench" / "peer_blast_ct.py"), "infer", model_1,
                                                          "--image", str(ct_path), "--out", str(tmp / "peer.nii.gz")], "peer.nii.gz"))
        if args.bf16:
            runs.append(("ours model_1 bfloat16", me + ["--worker", str(ct_path), str(tmp / "bf16.nii.gz"), "--models", model_1,
                                                         "--dtype", "bfloat16"], "bf16.nii.gz"))
        if not args.no_ensemble:
            runs.append(("ours 12-model ensemble", me + ["--worker", str(ct_path), str(tmp / "ens.nii.gz"), "--models", *ensemble], "ens.nii.gz"))
        for name, cmd, out in runs:
            print(f"running {name} ...", flush=True)
            wall, gb = run_measured(cmd)
            rows.append((name, wall, gb, out))

        masks = {out: read(tmp / out) for _, _, _, out in rows}
        if "peer.nii.gz" in masks:  # the peer writes network class indices; map them to product labels
            masks["peer.nii.gz"] = np.asarray(PRODUCT_LABEL, np.uint8)[masks["peer.nii.gz"].astype(int)]
        ref = masks.get("peer.nii.gz")
        peer_wall = next((w for n, w, _, o in rows if o == "peer.nii.gz"), None)
        truth = ph.labels.array

    print(f"\n{'run':32s} {'seconds':>8s} {'peak GB':>8s} {'x faster':>9s} {'Dice vs peer':>13s} {'IPH Dice vs truth':>18s}")
    for name, wall, gb, out in rows:
        m = masks[out]
        speed = f"{peer_wall / wall:8.1f}x" if peer_wall else "      n/a"
        agree = f"{dice(m, ref):13.4f}" if ref is not None and out != "peer.nii.gz" else f"{'-':>13s}"
        iph = dice((m == 1).astype(np.uint8), (truth == 1).astype(np.uint8))
        print(f"{name:32s} {wall:8.1f} {gb:8.2f} {speed} {agree} {iph:18.3f}")


if __name__ == "__main__":
    main()
