"""Evaluate the embedded demo model on 20 phantoms it never saw: mean Dice and volume error.

The held-out phantoms come from another cohort seed than the training ones
(bench/train_demo_model.py uses seed 0). Also times the lean TorchScript path against nnU-Net's
own predictor on one phantom when an nnU-Net results folder is given (--nnunet-model-dir).

    python bench/eval_demo_model.py [--n 20] [--nnunet-model-dir /tmp/ich-demo-train/nnUNet_results/.../nnUNetTrainerICH_demo__nnUNetPlans_demo__3d_fullres]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ichkit.labels import IPH, IVH
from ichkit.phantom import make_phantom
from ichkit.resources import resource_path
from ichkit.segment.lean import LeanSegmenter

EVAL_SEED = 1  # cohort seed of the held-out phantoms (training used 0)
MODEL = "models/ich-demo-phantom"


def held_out_seeds(n: int, seed: int = EVAL_SEED) -> list[int]:
    """The same per-phantom seeds `write_phantom_cohort(outdir, n, seed)` would use."""
    return [int(ss.generate_state(1)[0]) for ss in np.random.SeedSequence(seed).spawn(n)]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 2.0 * np.logical_and(a, b).sum() / total if total else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--nnunet-model-dir", default=None, help="nnU-Net results folder of the same model, to time its predictor")
    args = ap.parse_args()
    seg = LeanSegmenter(resource_path(MODEL), model_id="ich-demo-phantom")
    rows = []
    for i, s in enumerate(held_out_seeds(args.n)):
        ph = make_phantom(s)
        t = time.perf_counter()
        labels = seg.predict(ph.ct).labels
        dt = time.perf_counter() - t
        truth = ph.labels.array
        pred_ml = np.count_nonzero(labels.array == IPH) * ph.ct.voxel_volume_ml
        rows.append((dice(labels.array == IPH, truth == IPH), dice(labels.array == IVH, truth == IVH),
                     abs(pred_ml - ph.volumes_ml["IPH"]) / ph.volumes_ml["IPH"], dt))
        print(f"phantom {i:2d}: IPH Dice {rows[-1][0]:.3f}  IVH Dice {rows[-1][1]:.3f}  "
              f"IPH {pred_ml:6.2f} mL vs truth {ph.volumes_ml['IPH']:6.2f} mL  ({dt:.1f} s)", flush=True)
    r = np.array(rows)
    print(f"\nheld-out phantoms: {len(rows)}")
    print(f"mean IPH Dice {r[:, 0].mean():.4f} (min {r[:, 0].min():.4f}); mean IVH Dice {r[:, 1].mean():.4f}")
    print(f"mean absolute IPH volume error {100 * r[:, 2].mean():.2f} % (max {100 * r[:, 2].max():.2f} %)")
    print(f"lean path: {r[:, 3].mean():.2f} s per phantom (512 x 512 x 32)")
    if args.nnunet_model_dir:
        from ichkit.segment.nnunet_predict import NnUNetSegmenter

        ph = make_phantom(held_out_seeds(1)[0])
        ref = NnUNetSegmenter(args.nnunet_model_dir)
        ref.predict(ph.ct)  # warm-up: builds the predictor
        t = time.perf_counter()
        ref_labels = ref.predict(ph.ct).labels.array
        t_ref = time.perf_counter() - t
        t = time.perf_counter()
        lean_labels = seg.predict(ph.ct).labels.array
        t_lean = time.perf_counter() - t
        print(f"one phantom: nnU-Net predictor {t_ref:.2f} s, lean {t_lean:.2f} s (x{t_ref / t_lean:.1f}); "
              f"agreement Dice IPH {dice(ref_labels == IPH, lean_labels == IPH):.4f}")


if __name__ == "__main__":
    main()
