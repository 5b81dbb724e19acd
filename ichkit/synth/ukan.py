"""U-KAN denoiser for 2D diffusion (Li et al., AAAI 2025: "U-KAN makes strong backbone for medical
image segmentation and generation"): a U-Net whose shallow stages are convolutional and whose two
deepest stages are tokenised KAN blocks, conditioned on the diffusion time step.

Why this split: convolutions are cheap and local where the feature maps are large; at 1/8 and
1/16 resolution the maps are small enough to treat as tokens, and KAN layers there model the
non-linear global structure (hematoma shape and density) with few parameters.

Layout for an S x S image (S divisible by 16):
  conv stages at S, S/2, S/4 -> patch embedding -> KAN stage at S/8 -> patch embedding ->
  KAN bottleneck at S/16 -> up -> KAN stage at S/8 -> up -> conv stages at S/4, S/2, S,
with skip connections (concatenation) between stages of equal resolution.
The forward signature (x, timesteps, context) is the one MONAI's `DiffusionInferer` calls.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import OptionError
from .kan import KAN_GRID, KAN_ORDER, KANLinear

DOWNSAMPLING = 16  # two conv downsamplings and two patch embeddings, each by 2


@dataclass(frozen=True)
class UKANConfig:
    image_size: int = 256
    in_channels: int = 1
    conv_channels: tuple[int, int, int] = (32, 64, 128)  # full, 1/2, 1/4 resolution
    kan_channels: tuple[int, int] = (256, 320)  # 1/8 (tokenised stage) and 1/16 (bottleneck)
    kan_depth: int = 1  # KAN blocks per tokenised stage
    kan_grid: int = KAN_GRID
    kan_order: int = KAN_ORDER
    time_dim_factor: int = 4  # time embedding width = factor x conv_channels[0]

    def __post_init__(self):
        if self.image_size % DOWNSAMPLING:
            raise OptionError(None, f"image size {self.image_size} must be a multiple of {DOWNSAMPLING} for the U-KAN")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "UKANConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) time steps, (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU; the time embedding shifts the features."""

    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class KANBlock(nn.Module):
    """Tokenised KAN block: LayerNorm -> KAN -> (+ time) -> depthwise 3x3 conv on the token grid
    (local mixing that the per-token KAN lacks) -> GELU -> KAN, added to the input."""

    def __init__(self, dim: int, time_dim: int, grid: int, order: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.kan1 = KANLinear(dim, dim, grid=grid, order=order)
        self.time = nn.Linear(time_dim, dim)
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.kan2 = KANLinear(dim, dim, grid=grid, order=order)

    def forward(self, x, temb):
        b, c, hgt, wid = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        h = self.kan1(self.norm(tokens)) + self.time(temb)[:, None, :]
        h = self.dwconv(h.transpose(1, 2).reshape(b, c, hgt, wid)).flatten(2).transpose(1, 2)
        h = self.kan2(self.norm2(F.gelu(h)))
        return x + h.transpose(1, 2).reshape(b, c, hgt, wid)


class PatchEmbed(nn.Module):
    """Halve the resolution and change width: a stride-2 3x3 convolution, then a one-group GroupNorm (LayerNorm over the whole map)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.proj = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(1, c_out)

    def forward(self, x):
        return self.norm(self.proj(x))


class Up(nn.Module):
    """Double the resolution (nearest) and change width with a 3x3 convolution."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class KANStage(nn.Module):
    def __init__(self, dim: int, time_dim: int, cfg: UKANConfig):
        super().__init__()
        self.blocks = nn.ModuleList(KANBlock(dim, time_dim, cfg.kan_grid, cfg.kan_order) for _ in range(cfg.kan_depth))

    def forward(self, x, temb):
        for block in self.blocks:
            x = block(x, temb)
        return x


class UKAN(nn.Module):
    """Noise-prediction network eps(x_t, t) for single-channel ROI images."""

    def __init__(self, cfg: UKANConfig = UKANConfig()):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3 = cfg.conv_channels
        k1, k2 = cfg.kan_channels
        self.base_dim = c1
        td = cfg.time_dim_factor * c1
        self.time_mlp = nn.Sequential(nn.Linear(c1, td), nn.SiLU(), nn.Linear(td, td))
        self.stem = nn.Conv2d(cfg.in_channels, c1, 3, padding=1)
        self.enc1 = ResBlock(c1, c1, td)
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.enc2 = ResBlock(c2, c2, td)
        self.down2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.enc3 = ResBlock(c3, c3, td)
        self.embed1 = PatchEmbed(c3, k1)
        self.kan_enc = KANStage(k1, td, cfg)
        self.embed2 = PatchEmbed(k1, k2)
        self.kan_mid = KANStage(k2, td, cfg)
        self.up_mid = Up(k2, k1)
        self.kan_dec = KANStage(k1, td, cfg)
        self.fuse_kan = nn.Conv2d(2 * k1, k1, 1)
        self.up3 = Up(k1, c3)
        self.dec3 = ResBlock(2 * c3, c3, td)
        self.up2 = Up(c3, c2)
        self.dec2 = ResBlock(2 * c2, c2, td)
        self.up1 = Up(c2, c1)
        self.dec1 = ResBlock(2 * c1, c1, td)
        self.out_norm = nn.GroupNorm(_groups(c1), c1)
        self.out = nn.Conv2d(c1, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # start as "predict zero noise": a stable first step
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context=None) -> torch.Tensor:
        t = timesteps.reshape(-1).to(x.device)
        if t.numel() == 1:
            t = t.expand(x.shape[0])
        temb = self.time_mlp(timestep_embedding(t, self.base_dim))
        e1 = self.enc1(self.stem(x), temb)
        e2 = self.enc2(self.down1(e1), temb)
        e3 = self.enc3(self.down2(e2), temb)
        k1 = self.kan_enc(self.embed1(e3), temb)
        mid = self.kan_mid(self.embed2(k1), temb)
        d = self.kan_dec(self.fuse_kan(torch.cat([self.up_mid(mid), k1], dim=1)), temb)
        d = self.dec3(torch.cat([self.up3(d), e3], dim=1), temb)
        d = self.dec2(torch.cat([self.up2(d), e2], dim=1), temb)
        d = self.dec1(torch.cat([self.up1(d), e1], dim=1), temb)
        return self.out(F.silu(self.out_norm(d)))
