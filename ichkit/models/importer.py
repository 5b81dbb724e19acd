"""`ich models import PATH`: install models from a zip or a folder, for machines without internet.

Two kinds of content are recognised:
- files of registry models, matched by SHA-256 (whatever their names); a file that carries a
  registry file's name but not its digest is corrupt or another version, and the whole import is
  refused before anything is copied;
- nnU-Net v2 results folders (plans.json, dataset.json, fold_*/checkpoint_final.pth), installed
  as user models with an entry generated from their plans and stored in the user manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_json
from ..errors import ModelError
from ..progress import Progress, silent
from . import cache
from .checksum import sha256_file
from .registry import ModelEntry, ModelFile, Registry, load_manifest, load_registry, manifest_document

NNUNET_ARCHITECTURE = "nnunet-v2"
NNUNET_CHECKPOINT = "checkpoint_final.pth"
NNUNET_METADATA = ("plans.json", "dataset.json", "dataset_fingerprint.json")
DEFAULT_NNUNET_CONFIGURATION = "3d_fullres"


@dataclass
class ImportReport:
    installed: list[str] = field(default_factory=list)
    already_installed: list[str] = field(default_factory=list)
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    user_models: list[str] = field(default_factory=list)


def import_models(path: str | Path, registry: Registry | None = None, progress: Progress = silent) -> ImportReport:
    """Install every complete model found in `path` (a .zip or a folder); refuse corrupt files."""
    path = Path(path)
    registry = registry or load_registry()
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="ichkit-import-") as tmp:
            _extract(path, Path(tmp))
            return _import_folder(Path(tmp), path, registry, progress)
    if path.is_dir():
        return _import_folder(path, path, registry, progress)
    raise ModelError(path, "is neither a folder nor a zip file" if path.exists() else "does not exist")


def _extract(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)  # zipfile drops absolute paths and '..' components
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(archive, f"cannot be unpacked ({exc})") from None


def _import_folder(root: Path, shown: Path, registry: Registry, progress: Progress) -> ImportReport:
    report = ImportReport()
    nnunet_dirs = find_nnunet_results(root)
    candidates = [p for p in sorted(root.rglob("*")) if p.is_file() and not any(d in p.parents for d in nnunet_dirs)]
    builtin = [e for e in registry.list() if not e.user]
    found = _hash_matching(candidates, builtin, progress)
    complete = []
    for entry in builtin:
        missing = [f.name for f in entry.files if f.sha256 not in found]
        if len(missing) == len(entry.files):
            continue
        if missing:
            report.incomplete[entry.id] = missing
        elif cache.is_installed(entry):
            report.already_installed.append(entry.id)
        else:
            complete.append(entry)
    for entry in complete:
        for f in entry.files:
            cache.install_file(entry, f, found[f.sha256])
        cache.mark_installed(entry, how=f"import from {shown}")
        report.installed.append(entry.id)
    for folder in nnunet_dirs:
        origin = str(folder) if root == shown else f"{shown}:{folder.relative_to(root).as_posix()}"
        report.user_models.append(import_nnunet(folder, registry, progress, origin).id)
    if not (report.installed or report.already_installed or report.user_models):
        expected = ", ".join(f"{e.id} ({e.files[0].name}, ...)" for e in builtin)
        detail = f"incomplete: {_describe(report.incomplete)}" if report.incomplete else f"expected files of {expected}"
        raise ModelError(shown, f"holds no complete model to import; {detail}")
    return report


def _describe(incomplete: dict[str, list[str]]) -> str:
    return "; ".join(f"{mid} lacks {', '.join(names)}" for mid, names in incomplete.items())


def _hash_matching(candidates: list[Path], entries: list[ModelEntry], progress: Progress) -> dict[str, Path]:
    """SHA-256 -> path for the files that belong to a registry model; corrupt namesakes raise.

    Only files whose name or size matches a registry file are hashed, so importing a folder that
    also holds scans or notes stays fast.
    """
    by_name: dict[str, list[tuple[ModelEntry, ModelFile]]] = {}
    for entry in entries:
        for f in entry.files:
            by_name.setdefault(Path(f.name).name, []).append((entry, f))
    sizes = {f.size for e in entries for f in e.files}
    wanted = [p for p in candidates if p.name in by_name or p.stat().st_size in sizes]
    found: dict[str, Path] = {}
    for i, path in enumerate(wanted):
        progress(i, len(wanted), path.name)
        digest = sha256_file(path)
        namesakes = by_name.get(path.name, [])
        if namesakes and all(digest != f.sha256 for _, f in namesakes):
            entry, f = namesakes[0]
            owners = ", ".join(sorted({e.id for e, _ in namesakes}))
            raise ModelError(
                path,
                f"SHA-256 {digest[:12]}... does not match {f.name} of {owners} (expected {f.sha256[:12]}...); "
                "the file is corrupt or a different version: import refused, nothing installed",
            )
        found.setdefault(digest, path)
    progress(len(wanted), len(wanted), "checked")
    return found


# --- nnU-Net v2 results folders ------------------------------------------------------------


def find_nnunet_results(root: Path) -> list[Path]:
    """Folders laid out as nnU-Net v2 writes a trained configuration."""
    return sorted(
        p.parent
        for p in root.rglob("plans.json")
        if (p.parent / "dataset.json").is_file() and any(p.parent.glob(f"fold_*/{NNUNET_CHECKPOINT}"))
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(path, f"is not readable JSON ({exc})") from None


def _configuration(folder: Path, plans: dict) -> tuple[str, dict]:
    """The trained configuration (from the `Trainer__Plans__config` folder name), inheritance resolved."""
    configs = plans.get("configurations", {})
    parts = folder.name.split("__")
    if len(parts) == 3:
        name = parts[2]
    elif len(configs) == 1:
        name = next(iter(configs))
    else:
        name = DEFAULT_NNUNET_CONFIGURATION
    if name not in configs:
        raise ModelError(folder, f"plans.json has no configuration {name!r} (has: {', '.join(configs) or 'none'})")
    merged: dict = {}
    chain: list[str] = []
    step = name
    while step in configs and step not in chain:
        chain.append(step)
        merged = {**configs[step], **merged}
        step = configs[step].get("inherits_from")
    return name, merged


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def nnunet_entry(folder: Path, files: list[ModelFile], origin: str) -> ModelEntry:
    """A registry entry generated from an nnU-Net results folder's plans and dataset description."""
    plans, dataset = _read_json(folder / "plans.json"), _read_json(folder / "dataset.json")
    config_name, config = _configuration(folder, plans)
    labels = dataset.get("labels", {})
    if not labels or not all(isinstance(v, int) for v in labels.values()):
        raise ModelError(folder / "dataset.json", "needs integer label values (region-based nnU-Net models are not supported)")
    spacing_t = config.get("spacing")
    backward = plans.get("transpose_backward", [0, 1, 2])
    spacing = tuple(float(spacing_t[j]) for j in backward)[::-1] if spacing_t and len(spacing_t) == 3 else None
    scheme = (config.get("normalization_schemes") or ["unknown"])[0]
    intensity = plans.get("foreground_intensity_properties_per_channel", {}).get("0", {})
    dataset_name = plans.get("dataset_name") or folder.parent.name
    combined = hashlib.sha256("".join(f"{f.name}:{f.sha256}\n" for f in files).encode()).hexdigest()
    folds = sorted(Path(f.name).parent.name for f in files if f.name.endswith(NNUNET_CHECKPOINT))
    entry_id = _slug(f"nnunet-{dataset_name}-{config_name}")
    card = (
        f"# {dataset_name} ({config_name}), imported nnU-Net v2 model\n\n"
        f"User-trained model imported from `{origin}`; {len(folds)} fold(s): {', '.join(folds)}.\n"
        f"Trainer and plans: `{folder.name}`. Labels: "
        + ", ".join(f"{v} {k}" for k, v in sorted(labels.items(), key=lambda kv: kv[1]))
        + ".\n\nNo model card was supplied: its training data, validation and licence are those "
        "of whoever trained it. Not cleared for clinical use.\n"
    )
    return ModelEntry(
        id=entry_id,
        version=f"sha-{combined[:12]}",
        task="segmentation",
        architecture=NNUNET_ARCHITECTURE,
        classes={int(v): k for k, v in labels.items()},
        spacing=spacing,
        normalisation={"method": scheme, **{k: float(v) for k, v in intensity.items() if isinstance(v, (int, float))}},
        files=tuple(files),
        members=tuple(f.name for f in files if f.name.endswith(NNUNET_CHECKPOINT)),
        licence="unknown (user-imported model)",
        model_card=card,
        demo=False,
        title=f"nnU-Net v2 {dataset_name} {config_name}",
        source=f"imported from {origin}",
        user=True,
    )


def import_nnunet(folder: Path, registry: Registry, progress: Progress = silent, origin: str | None = None) -> ModelEntry:
    """Copy an nnU-Net results folder into the cache and record its generated entry."""
    sources = [folder / n for n in NNUNET_METADATA if (folder / n).is_file()] + sorted(folder.glob(f"fold_*/{NNUNET_CHECKPOINT}"))
    files = []
    for i, src in enumerate(sources):
        progress(i, len(sources), src.name)
        # kept under the results folder's own name: nnU-Net reads the configuration from it
        name = f"{folder.name}/{src.relative_to(folder).as_posix()}"
        files.append(ModelFile(name=name, url=None, sha256=sha256_file(src), size=src.stat().st_size))
    entry = nnunet_entry(folder, files, origin or str(folder))
    if entry.id in registry and not registry.get(entry.id).user:
        raise ModelError(folder, f"would be named {entry.id!r}, which is a built-in model; rename the dataset folder")
    for f, src in zip(files, sources):
        cache.install_file(entry, f, src)
    cache.mark_installed(entry, how=f"import from {origin or folder}")
    _save_user_entry(entry)
    progress(len(sources), len(sources), entry.id)
    return entry


def _save_user_entry(entry: ModelEntry) -> None:
    """Add or replace the entry in the user manifest (one entry per id, the latest import wins)."""
    path = cache.user_manifest_path()
    entries = load_manifest(path, user=True) if path.exists() else []
    for old in entries:
        if old.id == entry.id and old.version != entry.version and cache.model_dir(old).exists():
            shutil.rmtree(cache.model_dir(old))
    entries = [e for e in entries if e.id != entry.id] + [entry]
    write_json(path, manifest_document(entries))


def remove_user_entry(model_id: str) -> None:
    path = cache.user_manifest_path()
    if path.exists():
        write_json(path, manifest_document([e for e in load_manifest(path, user=True) if e.id != model_id]))
