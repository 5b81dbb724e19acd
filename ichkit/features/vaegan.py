"""VAE-GAN autoencoder latents (spec 4, 002 section 2.5): crops around the hematoma dilated with
a cubic structuring element of size 5, resampled to 64^3, encoded to 512 x 4^3; the latent mean
is global-average-pooled to one 512-vector per scan.

The model follows Larsen et al. (2016): a VAE (encoder -> mean and log-variance, decoder) whose
decoder is also a GAN generator, judged by a discriminator on reconstructions and on samples from
the prior. Training writes `checkpoint.pt` (all weights, optimisers, RNG, history) after every
epoch, so a stopped run resumes where it stopped; `history.json` holds the losses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from ..atomic import atomic_path, check_writable, write_json
from ..errors import ICHError, ModelError, OptionError
from ..image import Volume
from ..io import load_cohort_ct, load_mask
from ..progress import Progress, silent
from .crops import cube_grid, resample_to
from .settings import VAEGANSettings

CHECKPOINT = "checkpoint.pt"


def lesion_crop(ct: Volume, mask: Volume, label: int, s: VAEGANSettings) -> np.ndarray:
    """The windowed [0, 1] cube around the lesion; outside the dilated lesion 0 (`mask_outside`)."""
    lesion = mask.array == label
    ref = cube_grid(ct, lesion, s.crop_size, s.min_spacing_mm, pad=s.dilation // 2)
    hu = resample_to(ct, ref)
    dilated = ndimage.binary_dilation(resample_to(mask, ref, is_label=True) == label, np.ones((s.dilation,) * 3, bool))
    low = s.window_level_hu - s.window_width_hu / 2
    crop = np.clip((hu - low) / s.window_width_hu, 0.0, 1.0).astype(np.float32)
    if s.mask_outside:
        crop[~dilated] = 0.0
    return crop


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 4, 2, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 4, 2, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))


class Encoder(nn.Module):
    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        self.body = nn.Sequential(*(_down(a, b) for a, b in zip((1, *channels[:-1]), channels)))
        self.mu = nn.Conv3d(channels[-1], channels[-1], 1)
        self.logvar = nn.Conv3d(channels[-1], channels[-1], 1)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        rev = channels[::-1]
        self.body = nn.Sequential(*(_up(a, b) for a, b in zip(rev[:-1], rev[1:])))
        self.out = nn.ConvTranspose3d(rev[-1], 1, 4, 2, 1)

    def forward(self, z):
        return torch.sigmoid(self.out(self.body(z)))  # crops are windowed to [0, 1]


class Discriminator(nn.Module):
    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        self.body = nn.Sequential(*(_down(a, b) for a, b in zip((1, *channels[:-1]), channels)))
        self.head = nn.Linear(channels[-1], 1)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3, 4)))


@dataclass
class TrainResult:
    checkpoint: Path
    epochs_done: int
    resumed_from_epoch: int | None
    scans: int
    skipped: dict[str, str]  # scan id -> why its crop failed


def load_crops(rows, s: VAEGANSettings, progress: Progress = silent) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """(ids, crops (N, S, S, S), skipped {id: error}) of cohort rows with ct, mask, label."""
    ids, crops, skipped = [], [], {}
    rows = list(rows)
    for i, row in enumerate(rows):
        progress(i, len(rows), f"crop {row['id']}")
        try:
            ct = load_cohort_ct(row)
            label = int(row.get("label") or 1)
            crops.append(lesion_crop(ct, load_mask(row["mask"], ct, extra_labels=(label,)), label, s))
            ids.append(row["id"])
        except ICHError as exc:
            skipped[row["id"]] = exc.message
    empty = np.zeros((0,) + (s.crop_size,) * 3, np.float32)
    return ids, (np.stack(crops) if crops else empty), skipped


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _models(s: VAEGANSettings):
    if s.crop_size % 2 ** len(s.channels):
        raise OptionError(None, f"VAE-GAN crop size {s.crop_size} is not divisible by 2^{len(s.channels)} (one halving per stage)")
    return Encoder(s.channels), Decoder(s.channels), Discriminator(s.channels)


def _step(enc, dec, disc, opt_g, opt_d, x, s: VAEGANSettings) -> dict[str, float]:
    mu, logvar = enc(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    recon, prior = dec(z), dec(torch.randn_like(mu))
    d_loss = _bce(disc(x), 1.0) + 0.5 * (_bce(disc(recon.detach()), 0.0) + _bce(disc(prior.detach()), 0.0))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    rec = F.l1_loss(recon, x)
    kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
    adv = 0.5 * (_bce(disc(recon), 1.0) + _bce(disc(prior), 1.0))
    g_loss = rec + s.kl_weight * kl + s.adversarial_weight * adv
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return {"recon": rec.item(), "kl": kl.item(), "adversarial": adv.item(), "discriminator": d_loss.item()}


def train_vaegan(rows, out_dir: str | Path, s: VAEGANSettings = VAEGANSettings(), *, resume: bool = False,
                 overwrite: bool = False, progress: Progress = silent) -> TrainResult:
    """Train on the crops of cohort `rows`; `resume` continues `out_dir/checkpoint.pt` (its
    settings, with `s.epochs` as the new total)."""
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT
    state = _read_checkpoint(path) if resume and path.is_file() else None
    if state is None:
        check_writable(path, overwrite)
    else:
        s = VAEGANSettings(**(state["settings"] | {"epochs": s.epochs}))
    ids, crops, skipped = load_crops(rows, s, progress)
    if len(ids) == 0:
        raise OptionError(None, "no scan gave a lesion crop to train the VAE-GAN on")
    torch.manual_seed(s.seed)
    enc, dec, disc = _models(s)
    opt_g = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=s.lr, betas=s.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=s.lr, betas=s.betas)
    history, start = [], 0
    if state is not None:
        for module, key in ((enc, "encoder"), (dec, "decoder"), (disc, "discriminator"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            module.load_state_dict(state[key])
        torch.set_rng_state(state["rng"])
        history, start = state["history"], state["epoch"]
    out_dir.mkdir(parents=True, exist_ok=True)
    data = torch.from_numpy(crops)[:, None]
    n_batches = -(-len(data) // s.batch_size)
    for epoch in range(start, s.epochs):
        order = np.random.default_rng(s.seed + epoch).permutation(len(data))
        losses = []
        for b in range(n_batches):
            progress(epoch * n_batches + b, s.epochs * n_batches, f"epoch {epoch + 1}/{s.epochs}")
            losses.append(_step(enc, dec, disc, opt_g, opt_d, data[order[b * s.batch_size:(b + 1) * s.batch_size]], s))
        history.append({"epoch": epoch + 1} | {k: float(np.mean([l[k] for l in losses])) for k in losses[0]})
        state = {"settings": asdict(s), "epoch": epoch + 1, "encoder": enc.state_dict(), "decoder": dec.state_dict(),
                 "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                 "rng": torch.get_rng_state(), "history": history}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        write_json(out_dir / "history.json", {"scans": ids, "skipped": skipped, "epochs": history})
    progress(s.epochs * n_batches, s.epochs * n_batches, "done")
    return TrainResult(path, s.epochs, start if start else None, len(ids), skipped)


def _read_checkpoint(path: str | Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is the user's model
        raise ModelError(path, f"not a VAE-GAN checkpoint ({type(exc).__name__})") from None


class VAEGANEncoder:
    """A trained checkpoint's encoder: crop -> pooled latent mean."""

    def __init__(self, checkpoint: str | Path):
        state = _read_checkpoint(checkpoint)
        if "encoder" not in state or "settings" not in state:
            raise ModelError(checkpoint, "not a VAE-GAN checkpoint (no encoder or settings)")
        self.settings = VAEGANSettings(**state["settings"])
        self.encoder = Encoder(self.settings.channels)
        self.encoder.load_state_dict(state["encoder"])
        self.encoder.eval()
        self.provenance = f"{checkpoint} (epoch {state['epoch']})"

    def __call__(self, ct: Volume, mask: Volume, label: int = 1) -> dict[str, float]:
        crop = lesion_crop(ct, mask, label, self.settings)
        with torch.inference_mode():
            mu, _ = self.encoder(torch.from_numpy(crop)[None, None])
        return {f"ae_{i}": float(v) for i, v in enumerate(mu.mean(dim=(2, 3, 4))[0].numpy())}
