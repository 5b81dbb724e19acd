"""BLAST-CT v1 (Monteiro et al. 2020, Apache-2.0): pretrained DeepMedic segmentation of head CT.

Test-time steps as the published model expects them: axes reoriented to the nearest identity
direction (on BLAST-CT's own reoriented grid, see `reoriented_reference`), linear resampling to 1 mm (filled with the image minimum, on BLAST-CT's own grid size),
-15..100 HU mapped to [-1, 1], softmax averaged over the ensemble, argmax, nearest neighbour back
onto the CT grid, classes mapped to product labels.

Why it is fast: the network runs on large tiles whose origins lie on the subsample lattice (see
`deepmedic`), so it computes what BLAST-CT's 30^3 patches compute without recomputing their
80-voxel context 400 times; outputs whose receptive field holds only air are the network's
constant answer to a constant input and are filled, not computed; convolutions run channels-last
and the weights' subnormal floats are flushed (see `deepmedic.flush_subnormals`).
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import ModelError, OptionError, warn
from ..image import Volume
from ..labels import EAH, EDEMA, IPH, IVH, LABELS
from ..models.checksum import sha256_file
from ..preprocess.headmask import intracranial_mask
from ..preprocess.resample import resample_like
from ..progress import Progress, silent
from .result import SegmentationResult

RESOLUTION_MM = 1.0  # config.json "resolution"
WINDOW_HU = (-15.0, 100.0)  # config.json IntensityWindowNormalization bounds
MODEL_CLASSES = ("background", "IPH", "EAH", "oedema", "IVH")  # network output channels, in order
PRODUCT_LABEL = (0, IPH, EAH, EDEMA, IVH)  # product label value of each network channel
MASK_MARGIN_MM = 3.0  # the intracranial mask is grown by this on the model grid before choosing tiles
TILE_MAX = 60  # output voxels per tile axis: ~0.3 GB of activations in float32; 75 is 2 % fewer operations but puts `ich segment` over 1.5 GB
MODEL_ID = "blast-ct-v1"


def load_weights(path: str | Path, expected_sha256: str | None = None) -> dict:
    """A BLAST-CT state_dict (legacy pickle format, tensors only), checked against its sha256."""
    # deferred: torch loads only when a network is built or run (fine-tuning's data preparation imports this module)
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "model weights not found")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256.lower():
        raise ModelError(path, "sha256 checksum mismatch: the weights are corrupt or not the published ones")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors for bad files
        raise ModelError(path, f"cannot read the weights ({exc.__class__.__name__})") from None


def build_network(state_dict: dict, path: str | Path | None = None):
    """A DeepMedic in eval mode holding `state_dict` (every key and shape must match)."""
    # deferred: deepmedic imports torch
    from .deepmedic import CHANNELS_LAST, DeepMedic

    net = DeepMedic()
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ModelError(path, f"not a BLAST-CT v1 DeepMedic state_dict ({first[:160]})") from None
    return net.eval().flush_subnormals().to(memory_format=CHANNELS_LAST).requires_grad_(False)


def reoriented_reference(img: sitk.Image) -> sitk.Image:
    """BLAST-CT's reorientation grid (`create_reference_reoriented_image`): the CT's axes permuted
    and reversed to the nearest identity direction, the direction kept otherwise (oblique stays
    oblique). As there, a reversed axis's new origin lies n * spacing (not (n - 1) * spacing)
    away: the grid is one voxel off along each reversed axis, its first plane padding and the
    CT's last plane unseen. Reproduced, not corrected: it is the input the published model was
    validated on, and it moves the 1 mm grid (Dice 0.75-0.96 against the peer per class otherwise).
    """
    d = np.array(img.GetDirection()).reshape(3, 3)
    ind = np.argmax(np.abs(d), axis=0)
    size, spacing, d = np.array(img.GetSize())[ind], np.array(img.GetSpacing())[ind], d[:, ind]
    flip = np.diag(d) < 0
    origin = np.array(img.GetOrigin()) + d @ (size * spacing * flip)
    ref = sitk.Image([int(n) for n in size], img.GetPixelID())
    ref.SetSpacing([float(v) for v in spacing])
    ref.SetOrigin([float(v) for v in origin])
    ref.SetDirection([float(v) for v in (d @ np.diag(np.where(flip, -1.0, 1.0))).ravel()])
    return ref


def model_grid(ct: Volume, resolution_mm: float = RESOLUTION_MM) -> Volume:
    """The CT as the network sees it (HU, float32): linearly resampled onto BLAST-CT's reoriented
    grid (`reoriented_reference`), then to `resolution_mm`.

    The grid keeps the origin and spans the centres of the first and last voxels, as BLAST-CT's
    own resampler: size = round((n - 1) * spacing / resolution + 1) per axis. As there, each linear
    interpolation is written in the CT's own pixel type (whole HU for the usual int16 CT): the
    networks were trained on such input, and float output flipped borderline voxels (Dice 0.984
    against the peer on a 2 x 2 x 6 mm phantom; 1.0 with this). Both steps are kept even when the
    first maps voxels onto themselves: on an oblique grid it still truncates some by 1 HU (float
    index arithmetic), and so does the peer.
    """
    img = ct.to_sitk()
    fill = float(np.min(ct.array))
    img = sitk.Resample(img, reoriented_reference(img), sitk.Transform(), sitk.sitkLinear, fill)
    size = [int(round((n - 1) * s / resolution_mm + 1)) for n, s in zip(img.GetSize(), img.GetSpacing())]
    grid = Volume(np.zeros(size[::-1], np.uint8), (resolution_mm,) * 3, img.GetOrigin(),
                  np.array(img.GetDirection()).reshape(3, 3))
    out = sitk.Resample(img, grid.to_sitk(), sitk.Transform(), sitk.sitkLinear, fill)
    return grid.with_array(sitk.GetArrayFromImage(out).astype(np.float32))


def window(array: np.ndarray, bounds: tuple[float, float] = WINDOW_HU) -> np.ndarray:
    """Clip to the HU window and map it linearly onto [-1, 1] (float32)."""
    lo, hi = bounds
    return ((2.0 * np.clip(array, lo, hi, dtype=np.float32) - lo - hi) / (hi - lo)).astype(np.float32, copy=False)


def _active_range(varies: np.ndarray, n: int, reach: int, grid: int) -> tuple[int, int]:
    """Output voxels along one axis whose receptive field (+-reach) touches a non-constant voxel;
    the start is rounded down to the subsample lattice."""
    idx = np.flatnonzero(varies)
    if idx.size == 0:
        return 0, 0
    lo = max(0, int(idx[0]) - reach) // grid * grid
    return lo, min(n, int(idx[-1]) + reach + 1)


def _splits(lo: int, hi: int, tile_max: int, grid: int) -> list[tuple[int, int]]:
    """(start, size) tiles covering [lo, hi): as even as the lattice allows, starts on the lattice."""
    if hi <= lo:
        return []
    count = math.ceil((hi - lo) / tile_max)
    size = math.ceil((hi - lo) / count / grid) * grid
    return [(s, min(size, hi - s)) for s in range(lo, hi, size)]


def _mask_tiles(where: np.ndarray, tile_max: int, grid: int) -> list:
    """Tiles ((z, nz), (y, ny), (x, nx)) covering every True voxel of `where`: z slabs, then y
    strips of each slab's own extent, then x runs of each strip's, so a round head costs about its
    volume, not its bounding box. Starts lie on the lattice."""
    def extent(hits: np.ndarray, n: int) -> tuple[int, int]:
        idx = np.flatnonzero(hits)
        return (0, 0) if idx.size == 0 else (int(idx[0]) // grid * grid, min(n, int(idx[-1]) + 1))

    tiles = []
    for z in _splits(*extent(where.any(axis=(1, 2)), where.shape[0]), tile_max, grid):
        slab = where[z[0] : z[0] + z[1]]
        for y in _splits(*extent(slab.any(axis=(0, 2)), where.shape[1]), tile_max, grid):
            strip = slab[:, y[0] : y[0] + y[1]]
            tiles += [(z, y, x) for x in _splits(*extent(strip.any(axis=(0, 1)), where.shape[2]), tile_max, grid)]
    return [t for t in tiles if where[tuple(slice(s, s + n) for s, n in t)].any()]


def _tiles_box(tiles: list) -> tuple[slice, ...]:
    """The smallest box holding every tile's output (an empty box at 0 for no tile)."""
    if not tiles:
        return (slice(0, 0),) * 3
    return tuple(slice(min(t[a][0] for t in tiles), max(t[a][0] + t[a][1] for t in tiles)) for a in range(3))


def _on_grid(shape: tuple[int, ...], box: tuple[slice, ...], values: np.ndarray) -> np.ndarray:
    """`values`, computed over `box`, in an array of the model grid's `shape`, zeros (background) elsewhere."""
    out = np.zeros(shape, values.dtype)
    out[box] = values
    return out


def _edge_tile(image: np.ndarray, start, need, margin: int) -> np.ndarray:
    """The network input of the tile whose output starts at `start`: `margin` voxels of context
    before it, `need` voxels in all, the image's edge voxels repeated past its border (as
    `np.pad(mode="edge")`, without a padded copy of the whole image)."""
    index = [np.clip(np.arange(s - margin, s - margin + n), 0, size - 1) for s, n, size in zip(start, need, image.shape)]
    return image[np.ix_(*index)]


def predict_probabilities(networks: list, image: np.ndarray, *, device="cpu", dtype=None,
                          tile_max: int = TILE_MAX, where: np.ndarray | None = None,
                          progress: Progress = silent) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Ensemble-mean softmax (classes, z, y, x) of windowed `image` [z, y, x] on its own grid, over
    `box` (returned with it): the whole image, or with `where` the tiles' union, so the
    probabilities of a head's air and scalp are never held.

    Equal, voxel for voxel, to BLAST-CT's 30^3-patch inference with edge padding (up to float
    rounding); outputs that see only the image's constant background value are filled in. With
    `where` (bool, image shape) only True voxels are computed (in tiles that hold one; each tile
    reads its own receptive-field context from the whole image); the rest keep that constant
    background answer.
    """
    # deferred: torch loads only when a network is built or run (fine-tuning's data preparation imports this module)
    import torch
    from .deepmedic import GRID, MARGIN, SCALE_FACTORS, DeepMedic

    if tile_max % GRID or tile_max <= 0:
        raise OptionError(None, f"tile size {tile_max} must be a positive multiple of {GRID}")
    device = torch.device(device)
    reach = MARGIN + max(SCALE_FACTORS) // 2  # widest receptive field half-width, in output voxels
    background = float(image.min())
    if where is None:  # every voxel held; those outside the active range keep the constant answer
        varies = image != background
        active = [_active_range(varies.any(axis=tuple(a for a in range(3) if a != ax)), n, reach, GRID)
                  for ax, n in enumerate(image.shape)]
        tiles = list(itertools.product(*(_splits(lo, hi, tile_max, GRID) for lo, hi in active)))
        box = tuple(slice(0, n) for n in image.shape)
    else:
        tiles = _mask_tiles(where, tile_max, GRID)
        box = _tiles_box(tiles)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    total = len(networks) * (len(tiles) + 1)
    probs = np.zeros((len(MODEL_CLASSES), *(b.stop - b.start for b in box)), np.float32)
    done = 0
    with torch.inference_mode(), autocast:
        for net in networks:
            net.to(device)
            flat = torch.full((1, 1, *DeepMedic.input_shape((1, 1, 1))), background, device=device)
            constant = torch.softmax(net(flat, (1, 1, 1)).float(), 1).reshape(-1, 1, 1, 1).cpu().numpy()
            probs += constant  # every voxel; the tiles below replace it where the input varies
            done += 1
            progress(done, total, "BLAST-CT tiles")
            for tile in tiles:
                start = [s for s, _ in tile]
                size = tuple(n for _, n in tile)
                need = DeepMedic.input_shape(size)
                region = (slice(None), *(slice(s - b.start, s - b.start + n) for s, n, b in zip(start, size, box)))
                x = torch.from_numpy(_edge_tile(image, start, need, MARGIN)).to(device)[None, None]
                if where is None:
                    probs[region] += torch.softmax(net(x, size).float(), 1)[0].cpu().numpy() - constant
                else:
                    w = where[tuple(slice(s, s + n) for s, n in zip(start, size))]
                    out = torch.softmax(net(x, size, torch.from_numpy(w).to(device)).float(), 1)[0].cpu().numpy()
                    probs[region][:, w] += out[:, w] - constant[:, :, 0, 0]
                done += 1
                progress(done, total, "BLAST-CT tiles")
    return probs / len(networks), box


def ensemble_entry(entry, n: int):
    """`entry` (a BLAST-CT registry entry) limited to its first `n` members.

    The order is the registry's (model_1 .. model_12, the published file order) and fixed once:
    the 12 networks share one training recipe and no labelled real scans are at hand to rank
    them, so nothing argues for another order, and model_1 first makes `--ensemble 1` the
    blast-ct-v1-single default, each larger N a superset of the smaller ones.
    """
    names = [f.name for f in entry.member_files()]
    if entry.architecture != "deepmedic-blast-ct":
        raise OptionError(None, f"--ensemble: model {entry.id} is not a BLAST-CT ensemble")
    if not 1 <= n <= len(names):
        raise OptionError(None, f"--ensemble {n}: model {entry.id} has {len(names)} networks (use 1 to {len(names)})")
    return replace(entry, members=tuple(names[:n]))


def _torch_dtype(dtype):
    # deferred: torch loads only when a network is built or run (fine-tuning's data preparation imports this module)
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if str(dtype).lower() not in names:
        raise OptionError(None, f"unsupported inference dtype {dtype!r}: use one of {sorted(names)}")
    return names[str(dtype).lower()]


class BlastCTSegmenter:
    """BLAST-CT v1, one network or the ensemble mean of several, on any head CT `Volume`.

    `dtype` (torch.float16 / torch.bfloat16 or their names) turns on autocast: fastest on a GPU
    (and on CPUs with AMX for bfloat16), at the cost of ~1e-2 differences in the probabilities.
    """

    def __init__(self, weight_paths: list[Path], device: str = "cpu", dtype=None, *, model_id: str = MODEL_ID,
                 tile_max: int = TILE_MAX, keep_probabilities: bool = False, sha256: dict[str, str] | None = None,
                 intracranial: bool = True):
        if not weight_paths:
            raise ModelError(None, "BLAST-CT needs at least one weights file")
        sha256 = sha256 or {}
        self.networks = [build_network(load_weights(p, sha256.get(Path(p).name)), p) for p in map(Path, weight_paths)]
        self.device = device
        self.dtype = _torch_dtype(dtype)
        self.model_id = model_id
        self.tile_max = tile_max
        self.keep_probabilities = keep_probabilities
        self.intracranial = intracranial

    def _support(self, ct: Volume, grid: Volume) -> tuple[Volume | None, np.ndarray | None]:
        """The intracranial mask on the CT grid and, dilated by MASK_MARGIN_MM, on the model grid;
        (None, None) for the whole field of view (asked for, or no skull found: said in a warning)."""
        if not self.intracranial:
            return None, None
        mask = intracranial_mask(ct)
        if not mask.meta["skull_found"]:
            warn(ct.meta.get("source"), "no skull found (skull-stripped, or not a head CT?): BLAST-CT runs on the whole field of view")
            return None, None
        near = resample_like(mask, grid, is_label=True).array > 0
        r = int(math.ceil(MASK_MARGIN_MM / RESOLUTION_MM))
        return mask, ndimage.maximum_filter(near, size=2 * r + 1)  # a cube dilation, separable: fast

    def predict(self, ct: Volume, progress: Progress = silent) -> SegmentationResult:
        # deferred: torch loads only when a network is built or run (fine-tuning's data preparation imports this module)
        import torch

        grid = model_grid(ct)
        mask, where = self._support(ct, grid)
        image = window(grid.array)
        lut = np.asarray(PRODUCT_LABEL, np.uint8)
        n = len(self.networks)
        threads = torch.get_num_threads()
        torch.set_num_threads(len(os.sched_getaffinity(0)))  # all cores this process may use
        try:
            probs, members = None, []
            for i, net in enumerate(self.networks):  # one at a time: each member's own labels are kept
                def step(done, total, what, i=i):
                    progress(i * total + done, n * total, what)

                p, box = predict_probabilities([net], image, device=self.device, dtype=self.dtype, tile_max=self.tile_max,
                                               where=where, progress=step)
                if probs is None:
                    probs = p
                else:
                    probs += p  # in place: one probability volume, not two
                if n > 1:
                    members.append(self._on_ct(grid.with_array(_on_grid(grid.shape, box, lut[p.argmax(0)])), ct, mask))
            probs /= n
        finally:
            torch.set_num_threads(threads)
        # outside the box lie only voxels outside the (dilated) intracranial mask: background on the CT grid
        names = {int(v): name for v, name in zip(PRODUCT_LABEL, MODEL_CLASSES) if v}
        labels = self._on_ct(grid.with_array(_on_grid(grid.shape, box, lut[probs.argmax(0)])), ct, mask)
        probabilities = None
        if self.keep_probabilities:
            order = np.argsort(PRODUCT_LABEL)  # channel c = product label value c
            probabilities = np.stack([resample_like(grid.with_array(_on_grid(grid.shape, box, probs[k])), ct, is_label=True).array
                                      for k in order])
            if mask is not None:
                probabilities[:, mask.array == 0] = np.eye(len(order), 1, dtype=np.float32)
        segments = {v: LABELS[v].key for v in names}
        member_ml, disagreement = {}, None
        if members:
            voxel_ml = float(np.prod(ct.spacing)) / 1000.0
            member_ml = {LABELS[v].key: [float((m == v).sum()) * voxel_ml for m in members] for v in sorted(names)}
            disagree = sum((m != labels).astype(np.float32) for m in members) / len(members)
            disagreement = ct.with_array(disagree.astype(np.float32), kind="ensemble_disagreement")
        return SegmentationResult(labels=ct.with_array(labels, segments=segments), probabilities=probabilities,
                                  model_id=self.model_id, class_names=names, member_voxel_ml=member_ml,
                                  disagreement=disagreement)

    @staticmethod
    def _on_ct(labels: Volume, ct: Volume, mask: Volume | None) -> np.ndarray:
        """Model-grid labels onto the CT grid (nearest neighbour), nothing outside the skull."""
        out = resample_like(labels, ct, is_label=True).array
        if mask is not None:
            out[mask.array == 0] = 0  # every class lies inside the skull
        return out
