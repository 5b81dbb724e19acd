"""Segmentation-encoder latents (spec 4, 002 section 2.4): the head resampled to isotropic cubes
at two scales (128^3 and 64^3), passed through a 3D U-Net encoder; the last encoder stage
(512 x 8^3 and 512 x 4^3) is global-average-pooled to one 512-vector per scale.

The encoder is MONAI's BasicUNet (conv_0, down_1..down_4). `weights` is the state dict of a
trained BasicUNet with the same channels. Without one, a randomly initialised encoder drawn from
a fixed seed is used: a documented fallback that makes the pipeline runnable in tests, not a
feature extractor anyone should publish with (a warning says so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from monai.networks.nets import BasicUNet

from ..errors import ModelError, warn
from ..image import Volume
from ..preprocess import head_mask, percentile_clip_zscore
from .crops import cube_grid, resample_to
from .settings import SegLatentSettings

ENCODER_STAGES = ("conv_0", "down_1", "down_2", "down_3", "down_4")


class SegEncoder:
    """The encoder half of a BasicUNet, evaluated without gradients on the CPU."""

    def __init__(self, settings: SegLatentSettings = SegLatentSettings(), weights: str | Path | None = None):
        torch.manual_seed(settings.seed)
        net = BasicUNet(spatial_dims=3, in_channels=1, out_channels=2, features=settings.features)
        if weights is None:
            warn(None, "no trained segmentation encoder given: seg latents come from a random fixed-seed encoder (for tests only)")
            self.provenance = f"random BasicUNet, seed {settings.seed}"
        else:
            try:
                net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
            except Exception as exc:  # noqa: BLE001 - any unreadable or mismatched file is the user's model
                raise ModelError(weights, f"not a BasicUNet state dict with features {settings.features} ({type(exc).__name__})") from None
            self.provenance = str(weights)
        self.stages = torch.nn.Sequential(*(getattr(net, name) for name in ENCODER_STAGES)).eval()
        self.settings = settings

    def __call__(self, cube: np.ndarray) -> np.ndarray:
        """[z, y, x] cube -> the last stage's channels, averaged over space."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(cube, dtype=np.float32))[None, None]
            return self.stages(x).mean(dim=(2, 3, 4))[0].numpy()


def head_cubes(ct: Volume, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """The head (brace and table excluded) as z-scored isotropic cubes, one per size."""
    head = head_mask(ct).array > 0
    normalised = percentile_clip_zscore(ct, mask=ct.with_array(head.astype(np.uint8)))
    background = float(normalised.array[~head].min()) if (~head).any() else 0.0
    return [resample_to(normalised, cube_grid(ct, head, size), fill=background) for size in sizes]


def seg_latents(ct: Volume, encoder: SegEncoder) -> dict[str, float]:
    """Feature name (`seg<size>_<channel>`) -> pooled activation, for every scale."""
    out = {}
    for size, cube in zip(encoder.settings.sizes, head_cubes(ct, encoder.settings.sizes)):
        out |= {f"seg{size}_{i}": float(v) for i, v in enumerate(encoder(cube))}
    return out
