"""Where the product's resource files live (parameter files, model registry, icons).

Resources sit in the repository's top-level `Resources/` folder, shared by the Slicer extension
and the backend; `ICHKIT_RESOURCES` overrides the location (e.g. for a packaged install).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def resources_dir() -> Path:
    return Path(os.environ.get("ICHKIT_RESOURCES", REPO_ROOT / "Resources"))


def resource_path(relative: str) -> Path:
    path = resources_dir() / relative
    if not path.exists():
        raise FileNotFoundError(f"resource {relative!r} not found under {resources_dir()}")
    return path
