"""`ich segment` against nnU-Net's own `nnUNetv2_predict_from_modelfolder`, same model, same run.

The model is the shipped demo model; nnU-Net gets it back as a model folder rebuilt from the
export (`ichkit.segment.training.export.nnunet_model_folder`: the very same weights). On one held-out
512 x 512 x 32 phantom (0.5 x 0.5 x 5 mm), each command runs in its own process, start-up and
file writing included: wall seconds, peak memory of its process tree (bench/measure.py), and
the Dice between the two masks per label. Mirroring TTA off for both unless --tta.

  .venv/bin/python bench/bench_segment.py [--tta] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from eval_demo_model import dice, held_out_seeds
from measure import run_measured

from ichkit.labels import IPH, IVH
from ichkit.phantom import make_phantom
from ichkit.resources import resource_path
from ichkit.segment.training.export import nnunet_model_folder

MODEL = "ich-demo-phantom"
SEED = held_out_seeds(1)[0]  # held out: training used cohort seed 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tta", action="store_true", help="mirroring test-time augmentation in both")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each command, alternating (the table shows each)")
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench_segment_") as tmp:
        tmp = Path(tmp)
        ph = make_phantom(SEED)
        (tmp / "in").mkdir()
        ct_path = tmp / "in" / "case_0000.nii.gz"
        sitk.WriteImage(ph.ct.to_sitk(), str(ct_path), True)
        folder = nnunet_model_folder(resource_path(f"models/{MODEL}"), tmp / "nnunet_model")
        print(f"phantom seed {SEED}: 512x512x32 at 0.5x0.5x5 mm; {os.cpu_count()} CPUs; model {MODEL}; TTA {'on' if args.tta else 'off'}")
        ours = [str(bindir / "ich"), "segment", str(ct_path), "--model", MODEL, "--device", "cpu", "--no-progress", "--overwrite",
                "-o", str(tmp / "ours")] + (["--tta"] if args.tta else [])
        theirs = [str(bindir / "nnUNetv2_predict_from_modelfolder"), "-i", str(tmp / "in"), "-o", str(tmp / "theirs"),
                  "-m", str(folder), "-f", "all", "-device", "cpu"] + ([] if args.tta else ["--disable_tta"])
        rows = []
        for r in range(args.repeats):
            for name, cmd in (("ich segment", ours), ("nnUNetv2_predict", theirs)):
                print(f"running {name} ({r + 1}/{args.repeats}) ...", flush=True)
                rows.append((name, *run_measured(cmd)))
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp / "ours" / "case_0000_seg.nii.gz")))
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp / "theirs" / "case.nii.gz")))
        b = np.asarray([0, IPH, IVH], np.uint8)[b]  # network classes -> product labels
    truth = ph.labels.array
    best = {n: min(w for m, w, _ in rows if m == n) for n in ("ich segment", "nnUNetv2_predict")}
    print(f"\n{'command':20s} {'seconds':>8s} {'peak GB':>8s}")
    for name, wall, gb in rows:
        print(f"{name:20s} {wall:8.1f} {gb:8.2f}")
    print(f"\nich segment is {best['nnUNetv2_predict'] / best['ich segment']:.1f}x faster (best of {args.repeats})")
    for label, value in (("IPH", IPH), ("IVH", IVH)):
        print(f"{label}: Dice between the masks {dice(a == value, b == value):.4f}; vs truth: ich {dice(a == value, truth == value):.4f}, "
              f"nnU-Net {dice(b == value, truth == value):.4f}")


if __name__ == "__main__":
    main()
