"""Downloading registry models into the cache: streamed, hashed on the fly, renamed only if verified.

`$ICHKIT_MODEL_MIRROR` (a base URL such as a hospital intranet server) replaces every file's URL
with `<mirror>/<id>/<version>/<name>`. Any network failure becomes a `ModelError` that tells the
user how to install the same files offline with `ich models import`.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from .. import __version__
from ..atomic import atomic_path
from ..errors import ModelError
from ..progress import Progress, silent
from ..resources import resource_path
from . import cache
from .checksum import sha256_file
from .registry import ModelEntry, ModelFile

MIRROR_ENV = "ICHKIT_MODEL_MIRROR"
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20


RESOURCE_SCHEME = "resources://"  # files shipped in the repository's Resources/ (the demo model): copied, never fetched


def file_url(entry: ModelEntry, f: ModelFile) -> str | None:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and not (f.url or "").startswith(RESOURCE_SCHEME):
        return f"{mirror.rstrip('/')}/{entry.id}/{entry.version}/{f.name}"
    return f.url


def _offline_hint(entry: ModelEntry) -> str:
    return (
        f"download the files on a connected machine (see `ich models info {entry.id}`), "
        "then install them here with `ich models import PATH`"
    )


def fetch(url: str, dest: Path, f: ModelFile, entry: ModelEntry, progress: Progress = silent, timeout_s: float = TIMEOUT_S) -> Path:
    """Stream `url` to a temporary file beside `dest`, hashing as it goes; rename only on a match."""
    request = urllib.request.Request(url, headers={"User-Agent": f"ichkit/{__version__}"})
    digest, done = hashlib.sha256(), 0
    try:
        with atomic_path(dest, suffix="") as tmp, urllib.request.urlopen(request, timeout=timeout_s) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(CHUNK_BYTES), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                progress(done, f.size, f.name)
            if digest.hexdigest() != f.sha256:
                raise ModelError(url, f"downloaded {done} bytes whose SHA-256 does not match {f.name} of model {entry.id}; refused (try again, or {_offline_hint(entry)})")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(url, f"cannot download {f.name} of model {entry.id} ({reason}); {_offline_hint(entry)}") from None
    return dest


def download(entry: ModelEntry, progress: Progress = silent, timeout_s: float = TIMEOUT_S) -> Path:
    """Install every file of `entry` that the cache lacks; returns the model's cache folder."""
    if cache.is_installed(entry):
        return cache.installed_dir(entry)
    folder = cache.model_dir(entry)
    for f in entry.files:
        dest = folder / f.name
        if dest.is_file() and dest.stat().st_size == f.size and sha256_file(dest) == f.sha256:
            continue
        url = file_url(entry, f)
        if url is None:
            raise ModelError(entry.id, f"{f.name} has no download URL; {_offline_hint(entry)}")
        if url.startswith(RESOURCE_SCHEME):
            _copy_resource(url, f, entry)
        else:
            fetch(url, dest, f, entry, progress, timeout_s)
    cache.mark_installed(entry, how="download")
    return folder


def _copy_resource(url: str, f: ModelFile, entry: ModelEntry) -> None:
    try:
        source = resource_path(url.removeprefix(RESOURCE_SCHEME))
    except FileNotFoundError:
        raise ModelError(url, f"{f.name} of model {entry.id} is missing from the toolkit's resources (incomplete installation)") from None
    cache.install_file(entry, f, source)


def ensure_installed(entry: ModelEntry, progress: Progress = silent) -> Path:
    """Download on first use, as users expect from a model registry."""
    return cache.installed_dir(entry) or download(entry, progress)
