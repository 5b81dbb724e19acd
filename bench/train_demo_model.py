"""Train the embedded demo segmentation model `ich-demo-phantom` (phantoms only, CPU, ~25 min).

Reproducible: phantoms from fixed seeds, a fixed preset (seeded torch / numpy, in-process data
augmentation), nnU-Net v2 via `ichkit.segment`. The result is exported as TorchScript plus its
preprocessing facts into Resources/models/ich-demo-phantom/, and its entry in
Resources/models.json (files' sha256 and size, classes, spacing, normalisation) is updated.

    python bench/train_demo_model.py [--work /tmp/ich-demo-train] [--out Resources/models/ich-demo-phantom]

Steps already done in --work (cohort, dataset, checkpoints) are reused: a killed run continues.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ichkit.atomic import write_json
from ichkit.models.checksum import sha256_file
from ichkit.models.registry import MANIFEST, validate_manifest
from ichkit.phantom import write_phantom_cohort
from ichkit.resources import REPO_ROOT, resource_path, resources_dir
from ichkit.segment.dataset import build_dataset
from ichkit.segment.nnunet_train import train
from ichkit.segment.presets import Preset

N_TRAIN = 30
TRAIN_SEED = 0  # the held-out evaluation (bench/eval_demo_model.py) draws from another seed
DATASET = "Dataset900_ICHDemoPhantom"
MODEL_ID = "ich-demo-phantom"
MODEL_VERSION = "0.1"
DEMO = Preset(
    "demo",
    epochs=12,
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
    entry = register(files)
    print(json.dumps(entry, indent=2))
    print(f"total {time.time() - t0:.0f} s")


def register(files: list[Path]) -> dict:
    """Write the demo model's entry into Resources/models.json (replacing an older one)."""
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
        "source": f"bench/train_demo_model.py: nnU-Net v2 engine of ichkit, {N_TRAIN} phantoms (cohort seed {TRAIN_SEED})",
    }
    path = resource_path(MANIFEST)
    manifest = json.loads(path.read_text())
    manifest["models"] = [m for m in manifest["models"] if m["id"] != MODEL_ID] + [entry]
    validate_manifest(manifest, path)
    write_json(path, manifest)
    return entry


if __name__ == "__main__":
    main()
