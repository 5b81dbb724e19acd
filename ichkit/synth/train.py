"""Training of the Diffusion-UKAN minority-class generator (spec 8).

A DDPM (1000 steps, linear betas 1e-4 -> 0.02) learns eps-prediction with a U-KAN on the real
images of the minority class only; Adam 1e-4 with cosine annealing per epoch, batch 32,
1000 epochs, and an exponential moving average (EMA) of the weights, which is what sampling uses
(EMA weights give visibly cleaner samples than the last iterate).

Every epoch draws its shuffling, noise and time steps from a generator seeded by (seed, epoch),
so a run resumed from its checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..atomic import atomic_path, write_json
from ..checkpoint import resume_checkpoint
from ..errors import ModelError, OptionError, warn
from ..progress import Progress, silent
from .images import load_resized
from .manifest import class_label, image_path, read_manifest, real_rows_of_class
from .schedule import DiffusionConfig, make_scheduler
from .ukan import UKAN, UKANConfig

MODEL_FORMAT = "ichkit-diffusion-ukan/1"
CHECKPOINT = "checkpoint.pt"
MODEL_FILE = "model.pt"


@dataclass(frozen=True)
class SynthPreset:
    name: str = "seed"
    model: UKANConfig = UKANConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    epochs: int = 1000
    batch_size: int = 32
    lr: float = 1e-4
    lr_min: float = 0.0  # cosine annealing floor
    ema_decay: float = 0.999
    seed: int = 0
    checkpoint_every: int = 10  # epochs between checkpoints (the last epoch always saves)

    def with_overrides(self, **kw) -> "SynthPreset":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


PRESETS = {
    "seed": SynthPreset(),  # the methods' recipe: 256 x 256, 1000 epochs
    "smoke": SynthPreset(name="smoke", model=UKANConfig(image_size=32, conv_channels=(8, 16, 16), kan_channels=(32, 32)),
                         epochs=8, batch_size=8, lr=1e-3, ema_decay=0.9, checkpoint_every=1),
}


def preset_named(name: str) -> SynthPreset:
    if name not in PRESETS:
        raise OptionError(None, f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass
class TrainResult:
    out_dir: Path
    model_path: Path | None  # None until the last epoch is done
    model_id: str | None
    epochs_done: int
    resumed_from_epoch: int | None
    n_images: int
    history: list[dict] = field(default_factory=list)


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def load_class_images(manifest: str | Path, cls: str, size: int):
    """(N, 1, size, size) tensor in [-1, 1] of the real images of class `cls`, and their paths."""
    rows = real_rows_of_class(manifest, read_manifest(manifest), cls)
    paths = [image_path(r) for r in rows]
    data = np.stack([load_resized(p, size) for p in paths])[:, None]
    return torch.from_numpy(data * 2.0 - 1.0), paths


def _fingerprint(paths) -> str:
    return hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()[:16]


def _epoch_generator(seed: int, epoch: int):
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def state_digest(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _save_torch(obj, path: Path) -> None:
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def _ema_update(ema, model, decay: float) -> None:
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.lerp_(p, 1.0 - decay)


def _preset_from_dict(d: dict) -> SynthPreset:
    d = dict(d)
    d["model"] = UKANConfig.from_dict(d["model"])
    d["diffusion"] = DiffusionConfig(**d["diffusion"])
    return SynthPreset(**d)


def train(manifest: str | Path, out_dir: str | Path, preset: SynthPreset = PRESETS["seed"], *, cls: str = "he",
          device: str = "cpu", resume: bool = False, progress: Progress = silent) -> TrainResult:
    """Train on the real `cls` rows of `manifest`; checkpoints and the EMA model go to `out_dir`."""
    # deferred: MONAI comes with the [ml] extra and takes seconds to import; only training needs its inferer
    from monai.inferers import DiffusionInferer

    out_dir = Path(out_dir)
    ckpt_path = resume_checkpoint(out_dir / CHECKPOINT, resume, "a training run")
    data, paths = load_class_images(manifest, cls, preset.model.image_size)

    with torch.random.fork_rng(devices=[]):  # seeded weight initialisation, caller's RNG untouched
        torch.manual_seed(preset.seed)
        model = UKAN(preset.model).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=preset.lr)
    history: list[dict] = []
    start = 0
    if resume:
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        saved = _preset_from_dict(ckpt["preset"])
        if saved.model != preset.model or saved.diffusion != preset.diffusion:
            raise ModelError(ckpt_path, "the checkpoint was trained with another model or noise schedule than the preset asks for")
        if ckpt["data"] != _fingerprint(paths):
            warn(manifest, "the training images differ from those the checkpoint was trained on")
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        history, start = ckpt["history"], ckpt["epoch"]

    inferer = DiffusionInferer(make_scheduler("ddpm", preset.diffusion))
    n = data.shape[0]
    for epoch in range(start, preset.epochs):
        lr = cosine_lr(epoch, preset.epochs, preset.lr, preset.lr_min)
        for group in opt.param_groups:
            group["lr"] = lr
        g = _epoch_generator(preset.seed, epoch)
        order = torch.randperm(n, generator=g)
        model.train()
        t0, losses = time.perf_counter(), []
        for i in range(0, n, preset.batch_size):
            x0 = data[order[i : i + preset.batch_size]].to(device)
            noise = torch.randn(x0.shape, generator=g).to(device)
            steps = torch.randint(0, preset.diffusion.num_train_timesteps, (x0.shape[0],), generator=g).to(device)
            loss = F.mse_loss(inferer(inputs=x0, diffusion_model=model, noise=noise, timesteps=steps), noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _ema_update(ema, model, preset.ema_decay)
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": lr, "seconds": round(time.perf_counter() - t0, 3)})
        done = epoch + 1
        if done % preset.checkpoint_every == 0 or done == preset.epochs:
            _save_torch({"epoch": done, "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                         "history": history, "preset": asdict(preset), "class": cls, "data": _fingerprint(paths)}, ckpt_path)
        progress(done, preset.epochs, f"loss {history[-1]['loss']:.4f}")

    result = TrainResult(out_dir, None, None, len(history), start or None, n, history)
    if result.epochs_done >= preset.epochs:
        result.model_path, result.model_id = save_model(out_dir / MODEL_FILE, ema, preset, cls, result.epochs_done, n)
        write_json(out_dir / "train.json", {"model_id": result.model_id, "preset": preset.name, "class": cls,
                                            "epochs": result.epochs_done, "n_images": n, "history": history})
    return result


def save_model(path: Path, ema, preset: SynthPreset, cls: str, epochs: int, n_images: int) -> tuple[Path, str]:
    """The sampling model: EMA weights plus everything needed to rebuild and identify it."""
    state = {k: v.detach().cpu() for k, v in ema.state_dict().items()}
    model_id = f"diffusion-ukan-{cls}-{state_digest(state)[:12]}"
    _save_torch({"format": MODEL_FORMAT, "model_id": model_id, "config": preset.model.to_dict(),
                 "diffusion": preset.diffusion.to_dict(), "class": cls, "label": class_label(cls), "epochs": epochs,
                 "n_images": n_images, "preset": preset.name, "state_dict": state}, path)
    return path, model_id


def load_model(path: str | Path, device: str = "cpu"):
    """(UKAN in eval mode, its metadata) from a model file or a training folder holding model.pt."""
    path = Path(path)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise ModelError(path, "model not found (train one with `ich train synth`)")
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt or foreign file
        raise ModelError(path, f"cannot read the model ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise ModelError(path, f"not a Diffusion-UKAN model file (expected format {MODEL_FORMAT})")
    model = UKAN(UKANConfig.from_dict(blob["config"])).to(device)
    model.load_state_dict(blob["state_dict"])
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    meta["diffusion"] = DiffusionConfig(**blob["diffusion"])
    return model.eval(), meta
