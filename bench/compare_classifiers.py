"""The CNN baselines against the ViT, as the DTViT study compared them: each architecture of the
registry trained alike on the same HE phantoms (planted label: hypodense islands in the clot)
and scored on the same held-out phantoms (another seed family), with DeLong 95 % CIs.

    python bench/compare_classifiers.py [--archs vit_he_micro resnet18 densenet121] [--n-train 100]
                                        [--n-test 60] [--epochs 12] [--size 64] [--work DIR]

Random initialisation for all (no ImageNet weights offline); the ViT is the demo size (patch 8),
the CNNs are torchvision's full ResNet-18 and DenseNet-121.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ichkit.phantom.classify import he_phantom
from ichkit.classify.predict import load_classifier, predict
from ichkit.classify.roi import RoiSettings
from ichkit.classify.tasks import TASKS, build_dataset
from ichkit.classify.train import ClassifyPreset, train_classifier
from ichkit.evaluate.auc import auc, delong_ci

TRAIN_BASE, TEST_BASE = 11_000_000, 12_000_000  # seed families of their own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["vit_he_micro", "resnet18", "densenet121"])
    ap.add_argument("--n-train", type=int, default=100)
    ap.add_argument("--n-test", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ich-compare-"))
    settings = RoiSettings(size=args.size, margin_mm=5.0)
    made = {f"p{i}": he_phantom(TRAIN_BASE + i, i % 2) for i in range(args.n_train)}
    if not (work / "data" / "manifest.csv").is_file():
        build_dataset(TASKS["he"], [{"patient_id": k, "scan_id": k, "label": m.label} for k, m in made.items()], work / "data", settings,
                      load=lambda r: (made[r["scan_id"]].phantom.ct, made[r["scan_id"]].phantom.labels))
    test = [he_phantom(TEST_BASE + i, i % 2) for i in range(args.n_test)]
    y = np.array([t.label for t in test])
    print(f"HE, {args.n_train} training phantoms ({args.size} px ROI slices), {args.n_test} held out, {args.epochs} epochs, random init")
    print(f"{'architecture':<16} {'AUC':>6}  {'95 % CI (DeLong)':<16} {'train s':>8} {'predict s/scan':>15}")
    for arch in args.archs:
        preset = ClassifyPreset("compare", args.epochs, "adam", 1e-3, 1e-5, 1e-4, 32, arch=arch,
                                arch_kwargs={"patch_size": 8} if arch.startswith("vit") else {})
        out = work / arch
        t0 = time.perf_counter()
        if not (out / "model.pt").is_file():
            train_classifier(TASKS["he"], work / "data" / "manifest.csv", out, preset, resume=True)
        trained = time.perf_counter() - t0
        clf = load_classifier("he", out)
        t0 = time.perf_counter()
        p = np.array([predict(clf, t.phantom.ct, t.phantom.labels, passes=2, cam=False).result["probability"] for t in test])
        per_scan = (time.perf_counter() - t0) / len(test)
        a, (lo, hi) = auc(y, p), delong_ci(y, p)
        print(f"{arch:<16} {a:6.3f}  {lo:.3f}-{hi:.3f}      {trained:8.0f} {per_scan:15.2f}", flush=True)


if __name__ == "__main__":
    main()
