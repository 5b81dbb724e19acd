"""2D ROI images on disk: windowed intensities in [0, 1] stored as NPY (float) or 8-bit PNG.

Every synthesis command reads and writes images through these functions, so a real ROI (NPY
from `ichkit.classify.roi`) and a generated one look the same to the trainer, the metrics and
the readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..atomic import atomic_path
from ..classify.roi import resize2d, save_npy
from ..errors import OptionError, UnreadableFileError
from .manifest import image_path, read_manifest

IMAGE_SUFFIXES = (".npy", ".png")
PNG_LEVELS = 255


def load_image(path: str | Path) -> np.ndarray:
    """(H, W) float32 in [0, 1]; integer NPY and PNG are scaled by their type's maximum."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            with Image.open(path) as im:
                a = np.asarray(im.convert("L"))
    except (OSError, ValueError) as exc:
        raise UnreadableFileError(path, f"cannot read image ({exc})") from None
    if a.ndim != 2:
        raise UnreadableFileError(path, f"expected a 2D grayscale image, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        return (a / np.iinfo(a.dtype).max).astype(np.float32)
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise UnreadableFileError(path, "float images must hold windowed values in [0, 1]")
    return a


def load_resized(path: str | Path, size: int) -> np.ndarray:
    img = load_image(path)
    return img if img.shape == (size, size) else np.clip(resize2d(img, (size, size)), 0.0, 1.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0.0, 1.0) * PNG_LEVELS).astype(np.uint8)


def save_png(path: str | Path, img: np.ndarray) -> Path:
    """An 8-bit grayscale PNG written from pixels alone (no text chunks: nothing but the image)."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(to_uint8(img), mode="L").save(tmp, format="PNG")
    return Path(path)


def save_image_npy(path: str | Path, img: np.ndarray) -> Path:
    return save_npy(Path(path), np.asarray(img, dtype=np.float32))


def image_files(source: str | Path, select: Callable[[dict], bool] | None = None) -> list[Path]:
    """The images of a folder (NPY and PNG, sorted) or of a manifest CSV (its rows' paths, those
    rows only that `select` accepts)."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif source.is_file():
        files = [image_path(r) for r in read_manifest(source) if select is None or select(r)]
    else:
        raise UnreadableFileError(source, "no such folder or manifest")
    if not files:
        raise OptionError(source, "holds no image (.npy or .png)")
    return files
