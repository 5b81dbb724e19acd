"""Sampling synthetic minority-class images from a trained Diffusion-UKAN.

Every image has its own seed (`seed + index`) that drives both its starting noise and, for DDPM,
the noise of each reverse step; an image is therefore reproducible from (model, sampler, steps,
seed) alone, whatever the batch it was drawn in. DDPM walks all training steps; DDIM (eta = 0,
deterministic) walks a strided subset, 50 by default, about 20x fewer network calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..atomic import check_writable
from ..classify.roi import MANIFEST_COLUMNS, write_manifest
from ..errors import OptionError
from ..progress import Progress, silent
from .images import save_image_npy, save_png
from .manifest import SYNTHETIC_COLUMNS
from .schedule import DDIM_STEPS, SAMPLERS, make_scheduler

SAMPLE_BATCH = 16
SAMPLE_MANIFEST = "manifest.csv"
SAMPLE_COLUMNS = (*MANIFEST_COLUMNS, *SYNTHETIC_COLUMNS)


def chain_length(sampler: str, steps: int | None, num_train_timesteps: int) -> int:
    """The number of reverse steps: DDPM must use every training step, DDIM any count up to it."""
    if sampler not in SAMPLERS:
        raise OptionError(None, f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "ddpm":
        if steps not in (None, num_train_timesteps):
            raise OptionError(None, f"--steps: DDPM walks all {num_train_timesteps} training steps; use --sampler ddim for {steps}")
        return num_train_timesteps
    steps = DDIM_STEPS if steps is None else steps
    if not 1 <= steps <= num_train_timesteps:
        raise OptionError(None, f"--steps must be between 1 and {num_train_timesteps}, got {steps}")
    return steps


def sample_images(model, meta: dict, n: int, *, sampler: str = "ddim", steps: int | None = None, seed: int = 0,
                  batch_size: int = SAMPLE_BATCH, device: str = "cpu", progress: Progress = silent) -> np.ndarray:
    """(n, S, S) float32 images in [0, 1] drawn with seeds seed, seed + 1, ..."""
    if n < 1:
        raise OptionError(None, f"--n must be at least 1, got {n}")
    diffusion = meta["diffusion"]
    length = chain_length(sampler, steps, diffusion.num_train_timesteps)
    scheduler = make_scheduler(sampler, diffusion)
    scheduler.set_timesteps(length)
    size, channels = meta["config"]["image_size"], meta["config"]["in_channels"]
    out = np.empty((n, size, size), np.float32)
    batches = range(0, n, batch_size)
    total, done = len(batches) * length, 0
    with torch.no_grad():
        for start in batches:
            seeds = range(seed + start, seed + min(start + batch_size, n))
            gens = [torch.Generator().manual_seed(s) for s in seeds]
            x = torch.cat([torch.randn((1, channels, size, size), generator=g) for g in gens]).to(device)
            for t in scheduler.timesteps:
                eps = model(x, torch.full((x.shape[0],), int(t), device=device))
                x = torch.cat([scheduler.step(eps[i : i + 1].cpu(), t, x[i : i + 1].cpu(), generator=g)[0]
                               for i, g in enumerate(gens)]).to(device)
                done += 1
                progress(done, total, f"{sampler} step {int(t)}")
            out[start : start + len(gens)] = ((x[:, 0].clamp(-1, 1) + 1) / 2).cpu().numpy()
    return out


def write_samples(images: np.ndarray, out_dir: str | Path, meta: dict, *, sampler: str, steps: int, seed: int,
                  overwrite: bool = False) -> Path:
    """NPY (what the classifier reads) and PNG per image, and `manifest.csv` marking all synthetic."""
    out_dir = Path(out_dir)
    manifest = check_writable(out_dir / SAMPLE_MANIFEST, overwrite)
    model_id = meta["model_id"]
    rows = []
    for i, img in enumerate(images):
        s = seed + i
        stem = f"images/{model_id}_{sampler}{steps}_s{s}"
        save_image_npy(out_dir / f"{stem}.npy", img)
        save_png(out_dir / f"{stem}.png", img)
        ident = f"synthetic-{model_id}-{sampler}{steps}-s{s}"
        rows.append({"patient_id": ident, "scan_id": ident, "slice": -1, "label": meta["label"], "synthetic": 1,
                     "path": f"{stem}.npy", "png": f"{stem}.png", "seed": s, "model_id": model_id, "sampler": sampler,
                     "steps": steps})
    return write_manifest(manifest, rows, SAMPLE_COLUMNS)
