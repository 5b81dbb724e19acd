"""The brain-region atlas (BLAST-CT's, Apache-2.0), loaded through the model registry.

The atlas is data, not code: it ships like a model (URL, SHA-256, licence, card) and is read
from the model cache, checked before use. It is never downloaded implicitly: a read-out on a
machine without it fails at once with the command that installs it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import ModelError
from ..image import Volume
from ..models import cache, load_registry

ATLAS_ID = "blast-ct-atlas"
LABELS_FILE, REGIONS_FILE, MASK_FILE = "atlas_labels.csv", "atlas_template_space.nii.gz", "ct_template_mask.nii.gz"

DEEP, LOBAR, INFRATENTORIAL, INTRAVENTRICULAR = "deep", "lobar", "infratentorial", "intraventricular"
CLASSES = (DEEP, LOBAR, INFRATENTORIAL, INTRAVENTRICULAR)

# region name without its side prefix (lower case) -> location class of the DTViT study.
# Documented choices (docs/readout.md): basal forebrain is deep (subcortical grey matter under the
# striatum), hippocampus is lobar (mesial temporal lobe), the ventricle is its own class.
REGION_CLASS = {
    "brainstem": INFRATENTORIAL,
    "cerebellum": INFRATENTORIAL,
    "basalforebrain": DEEP,
    "basalganglia": DEEP,
    "basalganglia-lentiform-nucleus": DEEP,
    "caudate": DEEP,
    "thalamusproper": DEEP,
    "hippocampus": LOBAR,
    "insula": LOBAR,
    "frontallobe-inferior-orbital": LOBAR,
    "frontallobe-lateral": LOBAR,
    "frontallobe-medial": LOBAR,
    "occipitallobe": LOBAR,
    "parietallobe": LOBAR,
    "temporallobe": LOBAR,
    "ventricle": INTRAVENTRICULAR,
}


@dataclass(frozen=True)
class Region:
    index: int
    name: str
    side: str | None  # "left", "right" or None for midline structures
    klass: str


@dataclass(frozen=True, eq=False)  # hashed by identity: per-atlas caches key on it
class Atlas:
    regions: Volume  # uint8 region index per 1 mm voxel (0: none)
    mask: Volume  # uint8 template (intracranial) mask on the same grid
    table: dict[int, Region]
    version: str

    def region(self, index: int) -> Region | None:
        return self.table.get(int(index))


def parse_region(index: int, name: str) -> Region:
    lower = name.lower()
    side = next((s for s in ("left", "right") if lower.startswith(s)), None)
    base = lower[len(side):] if side else lower
    if base not in REGION_CLASS:
        raise ModelError(ATLAS_ID, f"region {name!r} of {LABELS_FILE} has no location class")
    return Region(index, name, side, REGION_CLASS[base])


def _read(path) -> Volume:
    try:
        return Volume.from_sitk(sitk.ReadImage(str(path)))
    except RuntimeError as exc:
        raise ModelError(path, f"cannot be read as an image ({str(exc).splitlines()[0]})") from None


def read_atlas(folder, version: str = "local") -> Atlas:
    """The atlas from a folder holding BLAST-CT's three localisation files."""
    folder = Path(folder)
    with open(folder / LABELS_FILE, newline="", encoding="utf-8") as fh:
        table = {int(r["ROIIndex"]): parse_region(int(r["ROIIndex"]), r["ROIName"].strip()) for r in csv.DictReader(fh)}
    regions, mask = _read(folder / REGIONS_FILE), _read(folder / MASK_FILE)
    if not regions.same_geometry(mask):
        raise ModelError(folder / MASK_FILE, "template mask and region map are on different grids")
    regions = regions.with_array(np.rint(regions.array).astype(np.uint8))
    mask = mask.with_array((mask.array > 0.5).astype(np.uint8))
    return Atlas(regions, mask, table, version)


@lru_cache(maxsize=1)
def load_atlas() -> Atlas:
    """The installed, SHA-256-checked atlas; a one-line ModelError naming the install command if absent."""
    entry = load_registry().get(ATLAS_ID)
    paths = cache.verified_paths(entry)
    return read_atlas(paths[REGIONS_FILE].parent, entry.version)
