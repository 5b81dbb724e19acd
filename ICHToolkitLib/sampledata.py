"""The sample CTs: phantoms generated on first use (no download, no patient), checked by SHA-256.

Why generate: the phantom generator is deterministic, so the extension ships a seed instead of
megabytes. The digest is of the content (voxels and geometry of CT and labels), not of the
gzip stream, which differs between zlib builds; a mismatch means the generator changed and the
self-tests' expected volumes no longer hold, so it is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ichkit.errors import UnreadableFileError
from ichkit import scene as glue
from ichkit.image import Volume
from ichkit.io import load_ct, load_mask
from ichkit.phantom import make_phantom, write_phantom

CATEGORY = "ICH Toolkit"
SHAPE = (24, 256, 256)  # [z, y, x]: small enough to generate in about a second
SPACING = (0.9, 0.9, 5.0)


@dataclass(frozen=True)
class Sample:
    name: str
    seed: int
    sha256: str  # content digest of CT + labels (`content_sha256`)


SAMPLES = {s.name: s for s in (
    Sample("ICHPhantomBaseline", 0, "5fd15fe50e5e1c63a8ff5572236f130c14a8f42eed438b4cb19af215ac538433"),
    Sample("ICHPhantomFollowUp", 3, "be1ee5c730d5fb88f8332fcbbdbd1564378fe0008735f3273be13cdd4c15edf0"),
)}


def content_sha256(*volumes: Volume) -> str:
    digest = hashlib.sha256()
    for vol in volumes:
        digest.update(np.ascontiguousarray(vol.array).tobytes())
        digest.update(np.asarray([*vol.spacing, *vol.origin, *np.ravel(vol.direction)], np.float64).round(6).tobytes())
    return digest.hexdigest()


def sample_files(name: str, folder: str | Path) -> dict[str, Path]:
    """`<name>_ct.nii.gz`, `<name>_labels.nii.gz`, `<name>.json` in `folder`, generated if absent, verified."""
    sample = SAMPLES[name]
    folder = Path(folder)
    paths = {"ct": folder / f"{name}_ct.nii.gz", "labels": folder / f"{name}_labels.nii.gz", "json": folder / f"{name}.json"}
    if not all(p.is_file() for p in paths.values()):
        write_phantom(make_phantom(sample.seed, shape=SHAPE, spacing=SPACING), folder, name, overwrite=True)
    ct = load_ct(paths["ct"])
    digest = content_sha256(ct, load_mask(paths["labels"], ct, allow_empty=True))
    if digest != sample.sha256:
        raise UnreadableFileError(paths["ct"], f"sample content SHA-256 {digest[:12]}... differs from the expected {sample.sha256[:12]}...; delete the files to regenerate them")
    return paths


def load_sample(scene: Any, name: str, folder: str | Path) -> Any:
    """The sample CT as a volume node named `name` (brain window)."""
    node = glue.volume_to_node(scene, load_ct(sample_files(name, folder)["ct"]), name)
    node.GetDisplayNode().AutoWindowLevelOff()
    node.GetDisplayNode().SetWindowLevel(80, 40)
    return node


def register(icon: str | Path) -> None:
    """Desktop Slicer: one SampleData button per sample, generated into Slicer's download cache."""
    # deferred: Slicer's own modules, needed only for the desktop's sample buttons; the samples are made without them
    import SampleData
    import slicer

    def loader(source):
        folder = slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()
        return load_sample(slicer.mrmlScene, source.sampleName, folder)

    for name in SAMPLES:
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category=CATEGORY, sampleName=name, thumbnailFileName=str(icon), nodeNames=[name], customDownloader=loader,
        )
