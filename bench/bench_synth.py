"""Diffusion-UKAN sampling speed on CPU: DDIM-50 against DDPM-1000 on the same model, the same
images (seeds) and the same threads, in one run; the ratio is the figure that carries over to
other machines.

Without --model it first trains the `smoke` preset (32 x 32 U-KAN) on phantom HE ROI images, as
CI does. One thread by default: on the shared 2-core machine, small convolutions on two
contended threads run ~10x slower than on one.

    .venv/bin/python bench/bench_synth.py [--n 8] [--threads 1] [--model DIR|model.pt] [--ddim-steps 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from ichkit.phantom.classify import he_phantom
from ichkit.classify.roi import RoiSettings
from ichkit.classify.tasks import build_dataset, get_task
from ichkit.synth.sample import sample_images
from ichkit.synth.train import PRESETS, load_model, train

PATIENTS = 8
ROI_SIZE = 48


def smoke_model(folder: Path) -> Path:
    phantoms, scans = {}, []
    for i in range(PATIENTS):
        label = int(i % 2 == 0)
        phantoms[f"p{i}"] = he_phantom(i, label, shape=(16, 96, 96), spacing=(2.0, 2.0, 5.0)).phantom
        scans.append({"patient_id": f"p{i}", "scan_id": f"p{i}_ct", "label": label})
    build_dataset(get_task("he"), scans, folder / "roi", RoiSettings(size=ROI_SIZE),
                  load=lambda r: (phantoms[r["patient_id"]].ct, phantoms[r["patient_id"]].labels))
    t0 = time.perf_counter()
    result = train(folder / "roi" / "manifest.csv", folder / "model", PRESETS["smoke"])
    print(f"trained smoke U-KAN on {result.n_images} HE ROI images, {result.epochs_done} epochs: {time.perf_counter() - t0:.1f} s")
    return result.model_path


def timed(model, meta, n: int, sampler: str, steps: int | None) -> tuple[float, int]:
    t0 = time.perf_counter()
    sample_images(model, meta, n, sampler=sampler, steps=steps, seed=0, batch_size=n)
    return time.perf_counter() - t0, steps or meta["diffusion"].num_train_timesteps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="images per sampler (one batch)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=None, help="a trained model (default: train the smoke preset first)")
    ap.add_argument("--ddim-steps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model, meta = load_model(args.model or smoke_model(Path(tmp)))
        params = sum(p.numel() for p in model.parameters())
        size = meta["config"]["image_size"]
        print(f"model {meta['model_id']}: {params / 1e6:.3f} M parameters, {size} x {size}; {args.n} images, {args.threads} thread(s)")
        timed(model, meta, 1, "ddim", 2)  # warm-up
        ddim_s, ddim_steps = timed(model, meta, args.n, "ddim", args.ddim_steps)
        ddpm_s, ddpm_steps = timed(model, meta, args.n, "ddpm", None)
    for name, s, steps in (("DDPM", ddpm_s, ddpm_steps), ("DDIM", ddim_s, ddim_steps)):
        print(f"{name}-{steps:<5d} {s:8.2f} s  {args.n / s:8.3f} images/s  {s / steps * 1000:7.1f} ms per batch step")
    print(f"DDIM-{ddim_steps} is {ddpm_s / ddim_s:.1f}x faster than DDPM-{ddpm_steps} (network calls {ddpm_steps / ddim_steps:.0f}x fewer)")


if __name__ == "__main__":
    main()
