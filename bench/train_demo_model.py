"""Train the embedded demo segmentation model `ich-demo-phantom` (phantoms only, CPU, ~25 min).

Reproducible: phantoms from fixed seeds, a fixed preset (seeded torch / numpy, in-process data
augmentation), nnU-Net v2 via `ichkit.segment`. The result is exported as TorchScript plus its
preprocessing facts into Resources/models/ich-demo-phantom/; the script prints the registry
entry's files (sha256, size) for Resources/models.json.

    python bench/train_demo_model.py [--work /tmp/ich-demo-train] [--out Resources/models/ich-demo-phantom]

Steps already done in --work (cohort, dataset, finished training) are reused.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ichkit.models.checksum import sha256_file
from ichkit.phantom import write_phantom_cohort
from ichkit.resources import REPO_ROOT
from ichkit.segment.dataset import build_dataset
from ichkit.segment.nnunet_train import train
from ichkit.segment.presets import Preset

N_TRAIN = 30
TRAIN_SEED = 0  # the held-out evaluation (bench/eval_demo_model.py) draws from another seed
DATASET = "Dataset900_ICHDemoPhantom"
DEMO = Preset(
    "demo",
    epochs=20,
    iterations_per_epoch=50,
    val_iterations_per_epoch=4,
    initial_lr=1e-2,
    save_every=1,
    final_validation=False,
    foreground_oversampling=0.5,
    batch_size=2,
    spacing=(2.0, 2.0, 5.0),  # 4x coarser in-plane than the phantoms: what 2 CPU cores can train in minutes
    patch_size=(16, 64, 64),
    base_features=8,
    max_features=64,
    data_workers=0,
    seed=0,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/ich-demo-train"))
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "Resources" / "models" / "ich-demo-phantom")
    args = ap.parse_args()
    t0 = time.time()
    cohort = args.work / "cohort"
    if not (cohort / "cohort.csv").is_file():
        write_phantom_cohort(cohort, N_TRAIN, TRAIN_SEED)
    dataset = args.work / "raw" / DATASET
    if not (dataset / "dataset.json").is_file():
        build_dataset(cohort, dataset)
    print(f"data ready: {time.time() - t0:.0f} s", flush=True)
    result = train(dataset, args.work, DEMO, fold="all", device="cpu", resume=True,
                   progress=lambda d, t, w="": print(f"[{time.time() - t0:.0f} s] {w}", flush=True))
    print(f"trained {result.epochs_done} epochs: {time.time() - t0:.0f} s", flush=True)
    from ichkit.segment.export import export_torchscript

    files = export_torchscript(result.model_dir, result.fold, args.out)
    print(json.dumps([{"name": p.name, "sha256": sha256_file(p), "size": p.stat().st_size} for p in files], indent=2))
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
