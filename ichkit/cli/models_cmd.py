"""`ich models`: list, download, import, remove and describe the models of the registry."""

from __future__ import annotations

from dataclasses import asdict

from ..models import cache, load_registry
from ..models.cache import is_installed
from ..progress import tqdm_bar
from .common import add_json, add_progress, emit


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list, download, import and remove models", description=__doc__)
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("list", help="models of the registry and whether they are installed")
    add_json(p)
    p.set_defaults(func=run_list)

    p = sub.add_parser("download", help="download a model into the cache (SHA-256 checked)")
    p.add_argument("model_id", metavar="ID")
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run_download)

    p = sub.add_parser("import", help="install models from a zip or folder (offline machines, nnU-Net results)")
    p.add_argument("path", metavar="PATH")
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run_import)

    p = sub.add_parser("remove", help="delete a model from the cache")
    p.add_argument("model_id", metavar="ID")
    add_json(p)
    p.set_defaults(func=run_remove)

    p = sub.add_parser("info", help="print a model's card and facts")
    p.add_argument("model_id", metavar="ID")
    add_json(p)
    p.set_defaults(func=run_info)


def _row(entry) -> dict:
    return {
        "id": entry.id,
        "version": entry.version,
        "task": entry.task,
        "architecture": entry.architecture,
        "installed": is_installed(entry),
        "demo": entry.demo,
        "licence": entry.licence,
        "size_bytes": entry.size,
        "origin": "user" if entry.user else "registry",
    }


def run_list(args) -> int:
    rows = [_row(e) for e in load_registry().list()]
    cols = ("id", "version", "task", "installed", "demo", "licence")
    widths = {c: max([len(c)] + [len(_cell(r[c])) for r in rows]) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(_cell(r[c]).ljust(widths[c]) for c in cols) for r in rows]
    emit(args, rows, "\n".join(lines))
    return 0


def _cell(value) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def run_download(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..models.download import download

    entry = load_registry().get(args.model_id)
    report, close = tqdm_bar(f"download {entry.id}", enabled=not (args.no_progress or args.json))
    try:
        folder = download(entry, report)
    finally:
        close()
    emit(args, {**_row(entry), "path": str(folder)}, f"{entry.id} {entry.version} installed in {folder}")
    return 0


def run_import(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..models.importer import import_models

    report, close = tqdm_bar("import", enabled=not (args.no_progress or args.json))
    try:
        result = import_models(args.path, progress=report)
    finally:
        close()
    lines = [f"installed {mid}" for mid in result.installed]
    lines += [f"{mid} was already installed" for mid in result.already_installed]
    lines += [f"installed user model {mid} (see `ich models info {mid}`)" for mid in result.user_models]
    lines += [f"not installed: {mid} lacks {', '.join(names)}" for mid, names in result.incomplete.items()]
    emit(args, asdict(result), "\n".join(lines))
    return 0


def run_remove(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..models.importer import remove_user_entry

    entry = load_registry().get(args.model_id)
    existed = cache.remove(entry)
    if entry.user:
        remove_user_entry(entry.id)
    if cache.is_installed(entry):
        text = f"{entry.id} ships with ichkit in {cache.bundled_dir(entry)}; only cached copies were removed"
    else:
        text = f"removed {entry.id}" if existed else f"{entry.id} is not installed; nothing removed"
    emit(args, {"id": entry.id, "removed": existed}, text)
    return 0


def run_info(args) -> int:
    entry = load_registry().get(args.model_id)
    row = _row(entry)
    facts = [
        f"{entry.id} {entry.version}: {entry.title or entry.architecture}",
        f"task {entry.task}, engine {entry.architecture}, licence {entry.licence}, {'DEMO (phantoms only), ' if entry.demo else ''}"
        f"{'installed' if row['installed'] else 'not installed'}, {len(entry.files)} file(s), {entry.size / 1e6:.1f} MB",
        "classes: " + ", ".join(f"{k} {v}" for k, v in sorted(entry.classes.items())),
        "files (for an offline install, fetch these and run `ich models import FOLDER`):",
        *(f"  {f.name}  {f.size} bytes  sha256 {f.sha256}  {f.url or '(import only)'}" for f in entry.files),
        "",
    ]
    card = entry.card_text()
    emit(args, {**row, "entry": entry.to_dict(), "model_card": card}, "\n".join(facts) + card)
    return 0
