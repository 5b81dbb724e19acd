"""The product's data files (model registry and schema, model cards, bundled demo models,
radiomics presets) live in this package, so a built wheel carries them and a non-editable install
finds them through `importlib.resources`; `ICHKIT_RESOURCES` overrides the location."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def resources_dir() -> Path:
    override = os.environ.get("ICHKIT_RESOURCES")
    return Path(override) if override else Path(str(files(__name__)))


def resource_path(relative: str) -> Path:
    path = resources_dir() / relative
    if not path.exists():
        raise FileNotFoundError(f"resource {relative!r} not found under {resources_dir()}")
    return path
