"""A fine-tuned network as a registry model: `blast-ct-v1-ft-<name>` in the per-user manifest.

The entry copies the parent's engine, classes, spacing and normalisation (the network and its
preprocessing are unchanged; only weights moved), names the parent in its card and source, and
is installed into the cache like an imported model (copied, SHA-256-checked, marker last), so
`ich segment --model`, the batch runner, Slicer and the web workstation find it; the parent
stays installed.
"""

from __future__ import annotations

import re
from pathlib import Path

from ....errors import ModelError, OptionError
from ....models import cache
from ....models.checksum import sha256_file
from ....models.importer import _save_user_entry
from ....models.registry import ModelEntry, ModelFile, Registry

ID_PREFIX = "-ft-"  # blast-ct-v1-single -> blast-ct-v1-ft-<name>
ENGINE = "deepmedic-blast-ct"
WEIGHTS_NAME = "model.pt"


def check_parent(entry: ModelEntry) -> None:
    if entry.architecture != ENGINE or len(entry.member_files()) != 1:
        raise ModelError(entry.id, "cannot be fine-tuned here: --from needs a single BLAST-CT network (blast-ct-v1-single)")


def finetuned_id(parent: ModelEntry, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise OptionError(None, f"--name {name!r}: use letters and digits")
    base = re.sub(r"-single$", "", parent.id)
    return f"{base}{ID_PREFIX}{slug}"


def check_new_id(model_id: str, registry: Registry, overwrite: bool) -> None:
    """Before training: a built-in id is never replaced, an earlier fine-tuning only with --overwrite."""
    if model_id in registry:
        if not registry.get(model_id).user:
            raise OptionError(None, f"{model_id!r} is a built-in model; choose another --name")
        if not overwrite:
            raise OptionError(None, f"a model {model_id!r} is already installed; pass --overwrite to replace it or choose another --name")


def register_finetuned(parent: ModelEntry, model_id: str, weights: Path, card: str, source: str) -> ModelEntry:
    digest = sha256_file(weights)
    entry = ModelEntry(
        id=model_id,
        version=f"{parent.version}-ft.{digest[:12]}",
        task=parent.task,
        architecture=parent.architecture,
        classes=dict(parent.classes),
        spacing=parent.spacing,
        normalisation=dict(parent.normalisation),
        files=(ModelFile(name=WEIGHTS_NAME, url=None, sha256=digest, size=weights.stat().st_size),),
        members=(WEIGHTS_NAME,),
        licence=f"{parent.licence} (parent {parent.id}); fine-tuned weights: the site's own",
        model_card=card,
        demo=False,
        title=f"{parent.title or parent.id}, fine-tuned ({model_id})",
        source=source,
        user=True,
    )
    cache.install_file(entry, entry.files[0], weights)
    cache.mark_installed(entry, how=source)
    _save_user_entry(entry)
    return entry
