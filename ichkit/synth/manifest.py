"""ROI image manifests (the CSV of `ichkit.classify`, one row per image) as the synthesis commands
use them: the minority class, image paths relative to the manifest, provenance columns.

Reading is the classifier trainer's own `read_manifest`, so both sides accept the same files.
"""

from __future__ import annotations

from pathlib import Path

from ..classify.train import read_manifest
from ..errors import OptionError, TableError

# class name on the command line -> label value of its rows (HE task: 1 = hematoma expansion)
MINORITY_CLASSES = {"he": 1}
SYNTHETIC_COLUMNS = ("png", "seed", "model_id", "sampler", "steps")  # provenance of generated rows

__all__ = ["MINORITY_CLASSES", "SYNTHETIC_COLUMNS", "read_manifest", "image_path", "class_label", "real_rows_of_class"]


def image_path(row: dict) -> Path:
    """A row's image file: relative paths are relative to its manifest's folder."""
    p = Path(row["path"])
    return p if p.is_absolute() else Path(row["_base"]) / p


def class_label(name: str) -> int:
    if name not in MINORITY_CLASSES:
        raise OptionError(None, f"unknown class {name!r}; choose one of {', '.join(MINORITY_CLASSES)}")
    return MINORITY_CLASSES[name]


def real_rows_of_class(manifest: str | Path, rows: list[dict], name: str) -> list[dict]:
    """The real (synthetic == 0) rows of class `name`; none is a `TableError`."""
    label = class_label(name)
    try:
        chosen = [r for r in rows if int(r["label"]) == label and not r["synthetic"]]
    except ValueError:
        raise TableError(manifest, "the label column must hold integers") from None
    if not chosen:
        raise TableError(manifest, f"no real row with label {label} (class {name!r})")
    return chosen
