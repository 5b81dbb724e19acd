"""Where a mask came from, read once for every layer that shows it (the report, the app layer,
the front ends): a registry model with the file it wrote, or a file the user gave.

A mask written by `ich segment` (or exported by a front end) has a sidecar beside it,
`<name>_volumes.json`, whose `provenance` record (`ichkit.app.segment.provenance`) names the model;
`MaskSource.of_mask` reads it back, so a mask given as a file still says which model made it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..atomic import recover
from ..io.formats import SEG_SUFFIX
from ..models.registry import DEMO_NOTICE

MASK_SUFFIX = "_seg.nii.gz"  # the label map `ich segment` writes beside `<name>.seg.nrrd`
SIDECAR_SUFFIX = "_volumes.json"  # its volumes and provenance record


def sidecar_path(mask: str | Path) -> Path | None:
    """`<name>_volumes.json` beside `<name>_seg.nii.gz` or `<name>.seg.nrrd`; None for another name."""
    path = Path(mask)
    for suffix in (MASK_SUFFIX, SEG_SUFFIX):
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)] + SIDECAR_SUFFIX)
    return None


@dataclass(frozen=True)
class MaskSource:
    """A model (id, version, demo flag) with the file it wrote, or a file the user gave."""

    model_id: str
    model_version: str = ""
    demo: bool = False
    path: str = ""

    @classmethod
    def from_file(cls, path: str | Path) -> "MaskSource":
        return cls(model_id="file", path=str(path))

    @classmethod
    def from_model(cls, model: dict, path: str | Path = "") -> "MaskSource":
        """From a provenance record's model (`{id, version, demo, ...}`, `app.segment.model_record`)."""
        return cls(model["id"], model.get("version") or "", bool(model.get("demo", False)), str(path))

    @classmethod
    def from_provenance(cls, record: dict | None, path: str | Path) -> "MaskSource":
        """The mask at `path` as a provenance record names it; a record without a model: a user's file."""
        model = (record or {}).get("model")
        return cls.from_model(model, path) if isinstance(model, dict) and model.get("id") else cls.from_file(path)

    @classmethod
    def of_mask(cls, path: str | Path) -> "MaskSource":
        """A mask file's source, from its sidecar when it has a readable one, else a user's file
        (the pair read once a commit a kill left unfinished is completed: never another run's)."""
        sidecar = sidecar_path(path)
        if sidecar:
            recover(sidecar.parent)
        try:
            record = json.loads(sidecar.read_text())["provenance"] if sidecar else None
        except (OSError, ValueError, KeyError, TypeError):
            record = None
        return cls.from_provenance(record if isinstance(record, dict) else None, path)

    @property
    def kind(self) -> str:
        return "file" if self.model_id == "file" else "model"

    def model(self) -> dict | None:
        """The provenance record's `model` as far as the source knows it; None for a user's file."""
        return None if self.kind == "file" else {"id": self.model_id, "version": self.model_version, "demo": self.demo}

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        if self.kind == "file":
            return f"mask file {Path(self.path).name}" if self.path else "mask given as a file"
        text = f"model {self.model_id}" + (f" {self.model_version}" if self.model_version else "")
        return text + (f" ({DEMO_NOTICE})" if self.demo else "")
