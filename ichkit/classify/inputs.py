"""Network inputs of the whole-scan classifiers, and the maps back to the CT grid.

HT (spec 6): the whole NCCT at 5 mm slices, resized in-plane, windowed 40/80, optionally skull
stripped, cropped or padded (centred) to 28 slices. Location (spec 7): every axial slice with
the fixation brace removed (head mask), windowed, resized. Masks are computed on the in-plane
resized volume: the same recipe, 16x fewer voxels on a 512 x 512 scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..image import Volume
from ..preprocess import apply_mask, brain_mask, head_mask
from ..preprocess.intensity import WINDOW_LEVEL_HU, WINDOW_WIDTH_HU

CTNET_SLICES = 28  # spec 6
CTNET_SLICE_MM = 5.0  # spec 6: 5 mm slices
CTNET_SIZE = 128  # in-plane input size (the paper does not give one; 1 mm -> 2 mm pixels at 256 mm FOV)
SLICE_SIZE = 224  # spec 7: ViT input
AIR_HU = -1000.0


@dataclass(frozen=True)
class VolumeSettings:
    slices: int = CTNET_SLICES
    slice_mm: float = CTNET_SLICE_MM
    size: int = CTNET_SIZE
    skull_strip: bool = False  # 001's model attended to the skull: strip it to force the brain
    level: float = WINDOW_LEVEL_HU
    width: float = WINDOW_WIDTH_HU


@dataclass(frozen=True)
class SliceSettings:
    size: int = SLICE_SIZE
    remove_brace: bool = True  # spec 1 / 004: head mask without the fixation brace
    level: float = WINDOW_LEVEL_HU
    width: float = WINDOW_WIDTH_HU


def _resize3d(array: np.ndarray, shape: tuple[int, int, int], mode: str = "trilinear") -> np.ndarray:
    # deferred: torch loads only when a volume is resized (the task table imports this module)
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    if tuple(array.shape) == tuple(shape):
        return t[0, 0].numpy()
    if mode == "trilinear":
        # antialias in-plane (2D per slice) before the z interpolation, so downsizing does not alias
        t = F.interpolate(t[0].transpose(0, 1), size=shape[1:], mode="bilinear", align_corners=False, antialias=True).transpose(0, 1)[None]
        return F.interpolate(t, size=shape, mode="trilinear", align_corners=False)[0, 0].numpy()
    return F.interpolate(t, size=shape, mode=mode)[0, 0].numpy()


def resize_inplane(ct: Volume, size: int, nz: int | None = None) -> Volume:
    """`ct` resampled to size x size in-plane (and nz slices), covering the same physical extent."""
    nz = nz or ct.shape[0]
    out = _resize3d(ct.array, (nz, size, size))
    spacing = (ct.spacing[0] * ct.shape[2] / size, ct.spacing[1] * ct.shape[1] / size, ct.spacing[2] * ct.shape[0] / nz)
    # keep the physical extent: the first voxel centre moves by half the spacing change
    shift = ct.direction @ (np.array([(s1 - s0) / 2 for s0, s1 in zip(ct.spacing, spacing)]))
    return Volume(out, spacing, tuple(np.array(ct.origin) + shift), ct.direction, dict(ct.meta))


def _window(a: np.ndarray, level: float, width: float) -> np.ndarray:
    return np.clip((a - (level - width / 2)) / width, 0.0, 1.0).astype(np.float32)


@dataclass
class VolumeInput:
    array: np.ndarray  # (slices, size, size) float32 in [0, 1]
    resized_nz: int  # slices after resampling to slice_mm, before crop / pad
    offset: int  # first resized slice placed at input index offset (negative: cropped)
    support: np.ndarray  # (resized_nz, size, size) bool: voxels shown to the network (brain if stripped, else head)


def _slab_slices(ct: Volume, s: VolumeSettings) -> int:
    """Slices of the scan once resampled to `s.slice_mm`."""
    return max(1, int(round(ct.shape[0] * ct.spacing[2] / s.slice_mm)))


def _place(a: np.ndarray, s: VolumeSettings) -> tuple[np.ndarray, int]:
    """Resampled slices centred on the input's `s.slices`: padded (offset > 0) or cropped (< 0) at both ends."""
    nz = a.shape[0]
    offset = (s.slices - nz) // 2
    out = np.zeros((s.slices,) + a.shape[1:], np.float32)
    src = slice(max(0, -offset), min(nz, s.slices - offset))
    out[src.start + offset : src.stop + offset] = a[src]
    return out, offset


def volume_input(ct: Volume, s: VolumeSettings = VolumeSettings()) -> VolumeInput:
    """The CTNet input of a whole scan (spec 6)."""
    nz = _slab_slices(ct, s)
    small = resize_inplane(ct, s.size, nz)
    support = brain_mask(small) if s.skull_strip else head_mask(small)
    if s.skull_strip:
        small = apply_mask(small, support, fill=AIR_HU)
    out, offset = _place(_window(small.array, s.level, s.width), s)
    return VolumeInput(out, nz, offset, support.array.astype(bool))


def volume_layout(values: Volume, s: VolumeSettings = VolumeSettings()) -> np.ndarray:
    """A map on the CT grid -> the CTNet input grid, resampled linearly (the inverse of `volume_to_ct`)."""
    return _place(_resize3d(values.array, (_slab_slices(values, s), s.size, s.size)), s)[0]


def volume_to_ct(values: np.ndarray, inp: VolumeInput, ct: Volume) -> np.ndarray:
    """A map on the CTNet input grid (slices, h, w) -> the CT grid (slices cropped away are 0)."""
    nz = inp.resized_nz
    full = np.zeros((nz,) + values.shape[1:], np.float32)
    src = slice(max(0, -inp.offset), min(nz, values.shape[0] - inp.offset))
    full[src] = values[src.start + inp.offset : src.stop + inp.offset]
    return _resize3d(full, ct.shape)


def slice_inputs(ct: Volume, s: SliceSettings = SliceSettings()) -> tuple[np.ndarray, np.ndarray]:
    """(slices, size, size) float32 in [0, 1]: every axial slice, brace removed (spec 7); and the
    head mask (bool, same shape) of what the network is shown (outside it: air)."""
    small = resize_inplane(ct, s.size)
    head = head_mask(small, remove_brace=s.remove_brace)
    return _window(apply_mask(small, head, fill=AIR_HU).array, s.level, s.width), head.array.astype(bool)


def slices_to_ct(values: np.ndarray, ct: Volume) -> np.ndarray:
    """Per-slice maps (slices, h, w) -> the CT grid."""
    return _resize3d(values, ct.shape)


def mask_to_ct(mask: np.ndarray, ct: Volume) -> np.ndarray:
    """A mask on a resized grid of the whole scan (`VolumeInput.support`, a slice-input head mask) -> the CT grid."""
    return _resize3d(mask.astype(np.float32), ct.shape) > 0.5
