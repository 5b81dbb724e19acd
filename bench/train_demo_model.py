"""Train the embedded demo segmentation model `ich-demo-phantom` (phantoms only; one GPU, ~6 min).

Reproducible: phantoms from fixed seeds, a fixed preset (seeded torch / numpy), nnU-Net v2 via
`ichkit.segment`. The result is exported as TorchScript plus its preprocessing facts into
ichkit/resources/models/ich-demo-phantom/, and its entry in ichkit/resources/models.json (files' sha256 and
size, classes, spacing, normalisation) is updated.

    python bench/train_demo_model.py [--work /tmp/ich-demo-train] [--device cuda] [--steps data,train,export]

Steps already done in --work (cohort, dataset, checkpoints) are reused: a killed run continues.
`--steps data,train` on a GPU machine and `--steps export` here split the work; export takes
checkpoint_final.pth, or checkpoint_latest.pth when the training was stopped early.
The recipe runs on a CPU too (`--device cpu`), at about 1 s per iteration on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from ichkit.atomic import write_json
from ichkit.models.checksum import sha256_file
from ichkit.models.registry import MANIFEST, validate_manifest
from ichkit.phantom import write_phantom_cohort
from ichkit.resources import resource_path, resources_dir
from ichkit.segment.training.dataset import build_dataset
from ichkit.segment.training.nnunet_train import train
from ichkit.segment.training.presets import Preset

N_TRAIN = 60
TRAIN_SEED = 0  # the held-out evaluation (bench/eval_demo_model.py) draws from another seed
DATASET = "Dataset900_ICHDemoPhantom"
MODEL_ID = "ich-demo-phantom"
MODEL_VERSION = "0.2"
DEMO = Preset(
    "demo",
    epochs=30,
    iterations_per_epoch=250,
    val_iterations_per_epoch=20,
    initial_lr=1e-2,
    save_every=1,
    final_validation=False,
    foreground_oversampling=0.5,
    batch_size=4,
    spacing=(1.0, 1.0, 5.0),  # half the phantoms' in-plane resolution: CPU inference stays a few seconds
    patch_size=(32, 160, 160),
    base_features=8,  # 1.5 M parameters: a 3.4 MB TorchScript file (float16 weights) that ships in the repository
    max_features=64,
    intensity_window_hu=(-20.0, 120.0),  # CSF to blood: the ventricles stay visible, so IVH can be told from IPH
    seed=0,
)
STEPS = ("data", "train", "export")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/ich-demo-train"))
    ap.add_argument("--out", type=Path, default=resources_dir() / "models" / "ich-demo-phantom")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for data writing and augmentation")
    ap.add_argument("--n-train", type=int, default=N_TRAIN, help="training phantoms")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (a quick check)")
    ap.add_argument("--iterations", type=int, default=None, help="override the recipe's iterations per epoch")
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    args = ap.parse_args()
    steps = set(args.steps.split(","))
    t0 = time.time()
    dataset = args.work / "raw" / DATASET
    if "data" in steps:
        cohort = args.work / "cohort"
        if not (cohort / "cohort.csv").is_file():
            write_phantom_cohort(cohort, args.n_train, TRAIN_SEED, workers=args.workers)
        if not (dataset / "dataset.json").is_file():
            build_dataset(cohort, dataset, workers=args.workers)
        print(f"data ready: {time.time() - t0:.0f} s", flush=True)
    model_dir = args.work / "nnUNet_results" / DATASET / f"nnUNetTrainerICH_{DEMO.name}__nnUNetPlans_{DEMO.name}__3d_fullres"
    if "train" in steps:
        preset = DEMO.with_overrides(data_workers=max(args.workers - 2, 0) if args.device == "cuda" else 0,
                                     epochs=args.epochs, iterations_per_epoch=args.iterations)
        result = train(dataset, args.work, preset, fold="all", device=args.device, resume=True,
                       progress=lambda d, t, w="": print(f"[{time.time() - t0:.0f} s] {w}", flush=True))
        print(f"trained {result.epochs_done} epochs: {time.time() - t0:.0f} s", flush=True)
        model_dir = result.model_dir
    if "export" in steps:
        from ichkit.segment.training.export import export_torchscript

        fold = model_dir / "fold_all"
        checkpoint = next(c for c in ("checkpoint_final.pth", "checkpoint_latest.pth") if (fold / c).is_file())
        files = export_torchscript(model_dir, "all", args.out, checkpoint, half_weights=True)  # 3.4 MB instead of 6.4
        print(json.dumps(register(files, checkpoint, args.n_train), indent=2))
    print(f"total {time.time() - t0:.0f} s")


def register(files: list[Path], checkpoint: str, n_train: int) -> dict:
    """Write the demo model's entry into ichkit/resources/models.json (replacing an older one)."""
    facts = json.loads(files[1].read_text())
    entry = {
        "id": MODEL_ID,
        "version": MODEL_VERSION,
        "title": "ICH demo model trained on phantoms only (not for clinical use)",
        "task": "segmentation",
        "architecture": "nnunet-torchscript",
        "classes": facts["classes"],
        "spacing": [facts["spacing"][i] for i in facts["transpose_backward"]][::-1],  # network axes -> (x, y, z)
        "normalisation": facts["normalisation"],
        "files": [{"name": p.name, "url": f"resources://{p.relative_to(resources_dir()).as_posix()}",
                   "sha256": sha256_file(p), "size": p.stat().st_size} for p in files],
        "licence": "Apache-2.0",
        "model_card": f"model_cards/{MODEL_ID}.md",
        "demo": True,
        "source": f"bench/train_demo_model.py: nnU-Net v2 engine of ichkit, {n_train} phantoms (cohort seed {TRAIN_SEED}), {checkpoint}",
    }
    path = resource_path(MANIFEST)
    manifest = json.loads(path.read_text())
    ids = [m["id"] for m in manifest["models"]]
    if MODEL_ID in ids:  # replaced in place, so the manifest's diff shows only what changed
        manifest["models"][ids.index(MODEL_ID)] = entry
    else:
        manifest["models"].append(entry)
    validate_manifest(manifest, path)
    write_json(path, manifest)
    return entry


if __name__ == "__main__":
    main()
