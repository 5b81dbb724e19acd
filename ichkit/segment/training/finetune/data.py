"""A ground-truth dataset (nnU-Net layout) as BLAST-CT's training saw its data, and its patches.

Every case is read as BLAST-CT's inference reads a CT (`blast_ct.model_grid`: nearest-identity
axes, 1 mm linear resampling, whole HU) with its label map resampled by nearest neighbour, and
cropped to the head. Patches follow BLAST-CT's training recipe (its config.json): a 110^3 input
around a centre drawn by the `ConditionalPatchSampler` (a class with probabilities 0.3 background,
0.175 each hemorrhage class, a voxel of that class, 5 tries, else any voxel), the 30^3 target
around the same centre, edge padding outside the volume, windowing -15..100 HU to [-1, 1], and
in-plane flips and 90-degree rotations with probability 0.5. One deviation: background centres
are drawn inside the head only, because patches of air teach the network nothing it uses (the
inference fills air with the network's constant answer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from ....errors import LabelValueError, OptionError, SliceSpacingError
from ....io import load_ct, load_mask
from ....labels import label_for_name
from ....preprocess.resample import resample_like
from ....progress import Progress, silent
from ...blast_ct import MODEL_CLASSES, PRODUCT_LABEL, model_grid, window
from ..dataset import check_dataset_dir, patient_folds, read_patients
from ...deepmedic import MARGIN, DeepMedic
from .settings import MIN_CASES, OUT_PATCH

N_FOLDS = 5  # as `ich train segment` and `ich bench-seg` (nnunet_train.N_FOLDS): the same held-out fold
SPACING_MM = (0.2, 8.0)  # voxel sizes the 1 mm network can use: thicker slices leave it mostly interpolated voxels
CLASS_PROBABILITIES = (0.3, 0.175, 0.175, 0.175, 0.175)  # config.json ConditionalPatchSampler
N_TRIES = 5
IGNORE = 255  # target value outside the volume (no loss there)
CHANNEL_OF_LABEL = {int(v): k for k, v in enumerate(PRODUCT_LABEL) if v}  # product label value -> network channel


@dataclass
class GridCase:
    case_id: str
    hu: np.ndarray  # int16 HU on the 1 mm grid, cropped to the head [z, y, x]
    target: np.ndarray  # uint8 network channel per voxel (MODEL_CLASSES order)


@dataclass(frozen=True)
class GroundTruth:
    dataset: Path
    train: list[str]
    val: list[str]
    fold: int
    channel_of_class: dict[int, int]  # dataset class index -> network channel


def read_ground_truth(dataset: str | Path, fold: int = 0) -> GroundTruth:
    """Check the dataset (size, labels, folds) before anything is read or written."""
    dataset = check_dataset_dir(dataset)
    info_path = dataset / "dataset.json"
    if not info_path.is_file():
        raise OptionError(dataset, "is not a ground-truth dataset (no dataset.json); save ground truth or run `ich dataset build`")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    channel_of_class = {}
    for name, k in info.get("labels", {}).items():
        if not k:
            continue
        label = label_for_name(name)
        if label is None or label.value not in CHANNEL_OF_LABEL:
            raise LabelValueError(info_path, f"label {name!r} is not one the network has ({', '.join(MODEL_CLASSES[1:])})")
        channel_of_class[int(k)] = CHANNEL_OF_LABEL[label.value]
    cases = sorted(p.name[: -len(".nii.gz")] for p in (dataset / "labelsTr").glob("*.nii.gz"))
    if len(cases) < MIN_CASES:
        raise OptionError(dataset, f"holds {len(cases)} case(s); fine-tuning needs at least {MIN_CASES} (see docs/segmentation.md)")
    patients = read_patients(dataset)
    missing = [c for c in cases if c not in patients]
    if missing:
        raise OptionError(dataset / "patients.csv", f"has no patient for case {missing[0]!r}")
    splits = patient_folds({c: patients[c] for c in cases}, N_FOLDS)
    if not 0 <= fold < len(splits):
        raise OptionError(None, f"--fold {fold}: the dataset's patients make folds 0..{len(splits) - 1}")
    return GroundTruth(dataset, splits[fold]["train"], splits[fold]["val"], fold, channel_of_class)


def check_spacing(path: Path) -> None:
    """Refuse a scan whose voxels the 1 mm network cannot use (header only, no pixel read)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return  # load_ct reports unreadable files with its own message
    spacing = reader.GetSpacing()
    lo, hi = SPACING_MM
    if reader.GetDimension() != 3 or not all(lo <= s <= hi for s in spacing):
        shown = " x ".join(f"{s:g}" for s in spacing)
        raise SliceSpacingError(path, f"voxel size {shown} mm: the network needs 3D voxels of {lo:g}-{hi:g} mm per axis")


def load_case(gt: GroundTruth, case_id: str) -> GridCase:
    """One case on the network's grid, cropped to the head's bounding box."""
    image = gt.dataset / "imagesTr" / f"{case_id}_0000.nii.gz"
    label = gt.dataset / "labelsTr" / f"{case_id}.nii.gz"
    ct = load_ct(image)
    mask = load_mask(label, ct, allow_empty=True)
    unknown = sorted(set(np.unique(mask.array).tolist()) - {0} - set(gt.channel_of_class))
    if unknown:
        raise LabelValueError(label, f"holds class value(s) {unknown} that dataset.json does not name")
    lut = np.zeros(256, np.uint8)
    for k, channel in gt.channel_of_class.items():
        lut[k] = channel
    grid = model_grid(ct)
    target = resample_like(mask.with_array(lut[mask.array]), grid, is_label=True).array
    hu = grid.array
    head = np.argwhere(hu != hu.min())
    lo, hi = (head.min(0), head.max(0) + 1) if head.size else (np.zeros(3, int), np.array(hu.shape))
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    return GridCase(case_id, np.round(hu[box]).astype(np.int16), target[box].astype(np.uint8))


def load_cases(gt: GroundTruth, case_ids: list[str], progress: Progress = silent) -> list[GridCase]:
    for case_id in case_ids:
        check_spacing(gt.dataset / "imagesTr" / f"{case_id}_0000.nii.gz")
    cases = []
    for i, case_id in enumerate(case_ids):
        progress(i, len(case_ids), f"reading {case_id}")
        cases.append(load_case(gt, case_id))
    return cases


def sample_centre(case: GridCase, rng: np.random.Generator) -> np.ndarray:
    """BLAST-CT's ConditionalPatchSampler, with background drawn inside the head."""
    for _ in range(N_TRIES):
        channel = int(rng.choice(len(CLASS_PROBABILITIES), p=CLASS_PROBABILITIES))
        allowed = case.target == channel
        if channel == 0:
            allowed &= case.hu != case.hu.min()
        points = np.flatnonzero(allowed)
        if points.size:
            return np.array(np.unravel_index(points[rng.integers(points.size)], case.target.shape))
    return np.array([rng.integers(n) for n in case.target.shape])


def _crop(array: np.ndarray, start: np.ndarray, size: int, mode: str, value=0) -> np.ndarray:
    """array[start : start + size] per axis, padded (edge or constant) where it leaves the volume."""
    lo = np.maximum(start, 0)
    hi = np.minimum(start + size, array.shape)
    part = array[tuple(slice(int(a), int(b)) for a, b in zip(lo, np.maximum(hi, lo)))]
    pad = [(int(a - s), int(s + size - b)) for s, a, b in zip(start, lo, np.maximum(hi, lo))]
    if not any(p for pair in pad for p in pair):
        return part
    if part.size == 0:
        return np.full((size,) * 3, value if mode == "constant" else array.flat[0], array.dtype)
    return np.pad(part, pad, mode="edge") if mode == "edge" else np.pad(part, pad, constant_values=value)


def extract_patch(case: GridCase, centre: np.ndarray, out_size: int = OUT_PATCH) -> tuple[np.ndarray, np.ndarray]:
    """(windowed input, target) around `centre`: the input is what DeepMedic needs for an
    `out_size`^3 output whose voxel 0 sits at centre - out_size // 2."""
    in_size = DeepMedic.input_shape((out_size,) * 3)[0]
    start = centre - out_size // 2
    image = _crop(case.hu, start - MARGIN, in_size, "edge")
    target = _crop(case.target, start, out_size, "constant", IGNORE)
    return window(image), target


def augment(image: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """config.json's RandomPatchFlip (in-plane axes) and RandomPatchRotation (in-plane), p = 0.5 each."""
    for axis in (1, 2):
        if rng.random() < 0.5:
            image, target = np.flip(image, axis), np.flip(target, axis)
    if rng.random() < 0.5:
        k = int(rng.integers(1, 4))
        image, target = np.rot90(image, k, (1, 2)), np.rot90(target, k, (1, 2))
    return np.ascontiguousarray(image), np.ascontiguousarray(target)


def batches(cases: list[GridCase], n_patches: int, batch_size: int, seed: int, *, out_size: int = OUT_PATCH,
            train: bool = True):
    """`n_patches` patches in batches (input (B,1,D,H,W), target (B,d,h,w)) drawn with `seed`:
    the same seed gives the same patches, so a resumed epoch or the validation set repeats exactly."""
    rng = np.random.default_rng(seed)
    for first in range(0, n_patches, batch_size):
        images, targets = [], []
        for i in range(first, min(n_patches, first + batch_size)):
            case = cases[i % len(cases)] if not train else cases[int(rng.integers(len(cases)))]
            image, target = extract_patch(case, sample_centre(case, rng), out_size)
            if train:
                image, target = augment(image, target, rng)
            images.append(image)
            targets.append(target)
        yield torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(targets).astype(np.int64))
