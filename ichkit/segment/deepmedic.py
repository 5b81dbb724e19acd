"""The DeepMedic network of BLAST-CT v1, written for fast whole-volume inference.

Design (Kamnitsas et al. 2017; Monteiro et al. 2020; the shapes in the BLAST-CT v1 weights):
three pathways see the same input at subsampling factors 5, 3 and 1. Each picks every s-th voxel
starting at the middle of a step (no pooling), runs 8 unpadded 3x3x3 pre-activation blocks and is
upsampled back by nearest neighbour; a 1x1x1 head turns the 150 concatenated channels into 5
class scores. Without padding, output voxel p of a tile sees input voxels p .. p + 2 * MARGIN.

Unlike a patch-by-patch implementation, the subsampling grid is fixed to the *tile's* output
origin: block j of pathway s covers output voxels [s*j, s*j + s) and samples input at its centre.
A tile whose output origin is a multiple of `GRID` therefore computes exactly what 30^3-voxel
patches on a 30-voxel lattice (BLAST-CT's own test-time tiling) compute, for any tile size.

Module names reproduce the original state_dict keys (`path(5, 5, 5)0.path.1.conv.weight`) so the
published weights load with strict=True. Inference only: eval-mode BatchNorm, no dropout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCALE_FACTORS = (5, 3, 1)
FEATURE_MAPS = (30, 30, 40, 40, 40, 40, 50, 50)
FULLY_CONNECTED = (250, 250)
NUM_CLASSES = 5
MARGIN = 40  # context voxels on each side: the factor-5 pathway sees 8 convs x 5 voxels per side
GRID = math.lcm(*SCALE_FACTORS)  # tile origins on multiples of this keep every subsample grid aligned
HEAD_CHUNK = 1 << 16  # voxels per slab of the 1x1x1 head (bounds its 150/250-channel buffers)
CHANNELS_LAST = torch.channels_last_3d  # oneDNN's fast layout: ~3x faster 3D convs on CPU than NCDHW


def sample_slice(scale: int, reach: int, out_size: int) -> slice:
    """Input voxels (along one axis) a pathway reads for an output tile of `out_size` voxels.

    Output block j (voxels s*j .. s*j+s-1) is centred on input voxel MARGIN + s*j + s//2, and
    `reach` convs need that many coarse voxels either side of every block centre.
    """
    start = MARGIN + scale // 2 - reach * scale
    count = math.ceil(out_size / scale) + 2 * reach
    return slice(start, start + scale * (count - 1) + 1, scale)


class PreActBlock(nn.Module):
    """BatchNorm -> PReLU (one shared slope) -> bias-free conv; identity shortcut when widths match.

    The shortcut adds the block's input cropped by the conv's half-width (pre-activation residual
    block without padding).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.bn = nn.BatchNorm3d(in_channels)
        self.prelu = nn.PReLU()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, bias=False)
        self.residual = in_channels == out_channels
        self.crop = kernel_size // 2

    def activate(self, x: torch.Tensor, channel_dim: int) -> torch.Tensor:
        """Eval BatchNorm and PReLU as one scale-shift plus an in-place leaky ReLU (one new buffer)."""
        bn = self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        shape = [1] * x.dim()
        shape[channel_dim] = -1
        h = torch.addcmul(shift.view(shape).to(x.dtype), x, scale.view(shape).to(x.dtype))
        return F.leaky_relu_(h, float(self.prelu.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, D, H, W) -> (N, C', D-2c, H-2c, W-2c), channels-last in and out."""
        out = self.conv(self.activate(x, 1)).contiguous(memory_format=CHANNELS_LAST)
        if self.residual:
            c = self.crop
            out += x[:, :, c : x.shape[2] - c, c : x.shape[3] - c, c : x.shape[4] - c]
        return out

    def pointwise(self, x: torch.Tensor) -> torch.Tensor:
        """The same block for a 1x1x1 kernel on (voxels, C) rows: a matrix product, no conv."""
        out = F.linear(self.activate(x, -1), self.conv.weight.flatten(1))
        if self.residual:
            out += x
        return out


class Pathway(nn.Module):
    """One resolution: subsample by `scale`, 8 conv blocks (upsampling is done by the head)."""

    def __init__(self, scale: int, in_channels: int = 1, feature_maps=FEATURE_MAPS):
        super().__init__()
        self.scale = scale
        widths = (in_channels, *feature_maps)
        # keys path.1 .. path.8 as in the original, where path.0 / path.9 were the parameter-free resamplers
        self.path = nn.ModuleDict({str(i + 1): PreActBlock(widths[i], widths[i + 1], 3) for i in range(len(feature_maps))})
        self.reach = len(feature_maps)  # coarse voxels of context per side: one per 3x3x3 conv

    def forward(self, image: torch.Tensor, out_shape: tuple[int, ...]) -> torch.Tensor:
        """Coarse features (N, C, ceil(o/s), ...) for an output tile of `out_shape`."""
        x = image[(..., *(sample_slice(self.scale, self.reach, o) for o in out_shape))]
        x = x.contiguous(memory_format=CHANNELS_LAST)
        for block in self.path.values():
            x = block(x)
        return x


def flush_subnormals(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Zero the subnormal floats of a state dict in place (|w| < 1.2e-38; weight decay leaves
    thousands): they change no output above 1e-30 but make x86 float arithmetic 10-100x slower."""
    tiny = torch.finfo(torch.float32).tiny
    for t in state.values():
        if t.is_floating_point():
            t[t.abs() < tiny] = 0.0
    return state


class DeepMedic(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = NUM_CLASSES, scale_factors=SCALE_FACTORS,
                 feature_maps=FEATURE_MAPS, fully_connected=FULLY_CONNECTED):
        super().__init__()
        self.pathways: list[Pathway] = []
        for i, s in enumerate(scale_factors):
            pathway = Pathway(s, in_channels, feature_maps)
            self.add_module(f"path{(s, s, s)}{i}", pathway)  # the original key, e.g. 'path(5, 5, 5)0'
            self.pathways.append(pathway)
        widths = (feature_maps[-1] * len(scale_factors), *fully_connected, num_classes)
        self.fully_connected = nn.ModuleList(PreActBlock(widths[i], widths[i + 1], 1) for i in range(len(widths) - 1))

    def flush_subnormals(self) -> "DeepMedic":
        """Zero the subnormal floats in the weights (`flush_subnormals`)."""
        with torch.no_grad():
            flush_subnormals(self.state_dict())
        return self

    @staticmethod
    def input_shape(out_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Input tile size for an output tile: MARGIN each side, plus the reach of a partial coarse block."""
        reach = len(FEATURE_MAPS)
        return tuple(max(o + 2 * MARGIN, *(sample_slice(s, reach, o).stop for s in SCALE_FACTORS)) for o in out_shape)

    def forward(self, image: torch.Tensor, out_shape: tuple[int, ...] | None = None,
                where: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits (N, classes, *out_shape) for an input tile (N, 1, *input_shape(out_shape)).

        `out_shape` defaults to input - 2 * MARGIN (BLAST-CT's 110^3 -> 30^3 patches). `where`
        (bool, out_shape) limits the 1x1x1 head, a third of the work, to those voxels; the
        logits elsewhere are left at 0 and mean nothing.
        """
        if out_shape is None:
            out_shape = tuple(n - 2 * MARGIN for n in image.shape[2:])
        out_shape = tuple(int(o) for o in out_shape)
        need = self.input_shape(out_shape)
        if any(n < m for n, m in zip(image.shape[2:], need)):
            raise ValueError(f"input {tuple(image.shape[2:])} too small for output {out_shape}: need {need}")
        features = [(p.scale, p(image, out_shape)) for p in self.pathways]
        return self.head(features, out_shape, where)

    def head(self, features: list[tuple[int, torch.Tensor]], out_shape: tuple[int, ...],
             where: torch.Tensor | None = None) -> torch.Tensor:
        """1x1x1 blocks on the concatenated pathways, slab by slab along the first spatial axis
        (only at `where`'s voxels when given; zeros elsewhere).

        Slabs keep the 150/250-channel full-resolution buffers to HEAD_CHUNK voxels; the coarse
        pathways are upsampled (nearest) only for the slab being processed.
        """
        n, _, _, _, _ = features[-1][1].shape
        d, h, w = out_shape
        ref = features[-1][1]
        classes = self.fully_connected[-1].conv.out_channels
        logits = torch.empty((n, d, h, w, classes), dtype=ref.dtype, device=ref.device)
        step = max(1, HEAD_CHUNK // (n * h * w))
        for z0 in range(0, d, step):
            z1 = min(d, z0 + step)
            x = torch.cat([_upsample_rows(f, s, z0, z1, (h, w)) for s, f in features], dim=-1)
            x = x.reshape(-1, x.shape[-1])
            keep = None if where is None else where[z0:z1].reshape(-1).repeat(n)
            if keep is not None:
                x = x[keep]
            for block in self.fully_connected:
                x = block.pointwise(x)
            if keep is not None:
                x = x.new_zeros((keep.numel(), classes)).index_put_((keep,), x)
            logits[:, z0:z1] = x.view(n, z1 - z0, h, w, -1)
        return logits.permute(0, 4, 1, 2, 3)


def _upsample_rows(f: torch.Tensor, s: int, z0: int, z1: int, hw: tuple[int, int]) -> torch.Tensor:
    """Rows z0..z1 of the nearest-neighbour upsampling by `s` of coarse features `f` (N, C, d, h, w),
    cropped to `hw` in-plane and returned channels-last as (N, z1 - z0, H, W, C)."""
    x = f.permute(0, 2, 3, 4, 1)
    if s == 1:
        return x[:, z0:z1]
    x = x.index_select(1, torch.arange(z0, z1, device=f.device) // s)
    return x.repeat_interleave(s, dim=2)[:, :, : hw[0]].repeat_interleave(s, dim=3)[:, :, :, : hw[1]]
