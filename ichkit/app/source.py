"""Where a mask came from, and how every front end says it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..models.registry import DEMO_NOTICE


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
        """From a job's `{id, version, demo}` record (`segment.model_of`)."""
        return cls(model["id"], model.get("version", ""), bool(model.get("demo", False)), str(path))

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        if self.model_id == "file":
            return f"mask file {Path(self.path).name}" if self.path else "mask file"
        text = f"model {self.model_id}" + (f" {self.model_version}" if self.model_version else "")
        return text + (f" ({DEMO_NOTICE})" if self.demo else "")
