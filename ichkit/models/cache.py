"""The per-user model cache: `<root>/models/<id>/<version>/<file>` plus an install marker.

`<root>` is `$ICHKIT_CACHE`, else `$XDG_CACHE_HOME/ichkit`, else `~/.cache/ichkit`. Files are
placed one by one (each atomically, each SHA-256-checked) and the marker `installed.json` is
written last, so an interrupted download or import never looks installed. Small demo models may
instead ship with the product in `ichkit/resources/models/<id>/`: those count as installed, read-only.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import atomic_path, write_json
from ..errors import ModelError
from ..resources import resources_dir
from .checksum import sha256_file

if TYPE_CHECKING:  # annotations only: the registry imports this module for the user manifest's path
    from .registry import ModelEntry, ModelFile

CACHE_ENV = "ICHKIT_CACHE"
MARKER = "installed.json"
USER_MANIFEST = "user_models.json"


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ichkit"


def models_dir() -> Path:
    return cache_root() / "models"


def model_dir(entry: ModelEntry) -> Path:
    return models_dir() / entry.id / entry.version


def user_manifest_path() -> Path:
    return models_dir() / USER_MANIFEST


def bundled_dir(entry: ModelEntry) -> Path:
    return resources_dir() / "models" / entry.id


def _complete(folder: Path, entry: ModelEntry) -> bool:
    return all((folder / f.name).is_file() and (folder / f.name).stat().st_size == f.size for f in entry.files)


def installed_dir(entry: ModelEntry) -> Path | None:
    """Where the model's files are: the cache (marker written), else the product's bundled copy."""
    if (model_dir(entry) / MARKER).is_file() and _complete(model_dir(entry), entry):
        return model_dir(entry)
    return bundled_dir(entry) if _complete(bundled_dir(entry), entry) else None


def is_installed(entry: ModelEntry) -> bool:
    """Cheap check (marker, presence, sizes); `verified_paths` does the full SHA-256 check."""
    return installed_dir(entry) is not None


def check_file(path: Path, f: ModelFile, model_id: str) -> None:
    """Refuse a file whose digest differs from the registry's: corrupt, truncated or another version."""
    digest = sha256_file(path)
    if digest != f.sha256:
        raise ModelError(
            path,
            f"SHA-256 {digest[:12]}... does not match {f.name} of model {model_id} (expected {f.sha256[:12]}...); "
            "the file is corrupt or a different version and is refused",
        )


def verified_paths(entry: ModelEntry) -> dict[str, Path]:
    """Paths of an installed model's files, each re-checked against its SHA-256 before use."""
    folder = installed_dir(entry)
    if folder is None:
        raise ModelError(entry.id, f"is not installed; run `ich models download {entry.id}` or, offline, `ich models import PATH`")
    paths = {f.name: folder / f.name for f in entry.files}
    for f in entry.files:
        check_file(paths[f.name], f, entry.id)
    return paths


def install_file(entry: ModelEntry, f: ModelFile, source: Path) -> Path:
    """Copy `source` into the cache under its registry name; the copy is checked before the rename."""
    dest = model_dir(entry) / f.name
    with atomic_path(dest, suffix="") as tmp:
        shutil.copyfile(source, tmp)
        check_file(tmp, f, entry.id)
    return dest


def mark_installed(entry: ModelEntry, how: str) -> Path:
    return write_json(
        model_dir(entry) / MARKER,
        {
            "id": entry.id,
            "version": entry.version,
            "how": how,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": {f.name: f.sha256 for f in entry.files},
        },
    )


def remove(entry: ModelEntry) -> bool:
    """Delete every cached version of the model; True if anything was there."""
    folder = models_dir() / entry.id
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True
