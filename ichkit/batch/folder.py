"""The output folder of `ich run`: recognised by a marker file the product wrote, never a folder
that merely looks like one, so a run never deletes or replaces files it did not write.

A new or empty folder is claimed (the marker is written); a marked folder is resumed; anything
else is refused. Inside a marked folder, a scan folder holding a file the run did not write is
refused too, and a report the user edited is replaced only with --overwrite: the marker keeps
the sha256 of every report the run wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..atomic import recover, write_text
from ..cohort import Scan
from ..errors import OutputError, OutputExistsError
from ..report import FILES as REPORT_FILES

MARKER = ".ichkit-run"
REPORTS = ("summary.csv", "failures.csv", "pairs.csv")
RESULT, RADIOMICS, LABELS, STATUS, READOUT = "result.json", "radiomics.json", "labels.nii.gz", "status.json", "readout.json"
SCAN_FILES = {RESULT, RADIOMICS, LABELS, STATUS, READOUT, *REPORT_FILES}  # what a scan folder may hold (--readout, --report)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _ours(name: str) -> bool:
    """A product file of a scan folder, or a temporary of one (hidden, `.part`)."""
    return name in SCAN_FILES or (name.startswith(".") and ".part" in name)


def read_marker(outdir: Path) -> dict | None:
    """The marker, with the reports it names (a publication a kill cut short is completed first)."""
    recover(outdir)
    try:
        marker = json.loads((outdir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("written_by") == "ich run" else None


def marker_text(reports: dict[str, list[str]]) -> str:
    """The marker: who wrote the folder, and the sha256 of each report it wrote."""
    return json.dumps({"written_by": "ich run", "reports": reports}, indent=2) + "\n"


def write_marker(outdir: Path, reports: dict[str, list[str]]) -> None:
    write_text(outdir / MARKER, marker_text(reports))


def claim(outdir: Path, scans: list[Scan], overwrite: bool) -> None:
    """Check the whole folder before any scan runs; mark a new one as a run folder."""
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(outdir, "is a file; the output must be a folder")
    marker = read_marker(outdir)
    if marker is None:
        if outdir.exists() and any(p.name != ".lock" for p in outdir.iterdir()):
            raise OutputError(outdir, f"is not empty and was not made by `ich run` (no {MARKER} file); choose a new or empty folder")
        write_marker(outdir, {})
        return
    for name in REPORTS:
        path = outdir / name
        if path.exists() and not overwrite and _sha256(path) not in marker.get("reports", {}).get(name, []):
            raise OutputExistsError(path, "was changed since `ich run` wrote it; pass --overwrite to replace it")
    for scan in scans:
        folder = outdir / "scans" / scan.scan_id
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise OutputError(folder, "is not a folder `ich run` made; move it away")
        foreign = sorted(p.name for p in folder.iterdir() if not _ours(p.name)) if folder.is_dir() else []
        if foreign:
            raise OutputError(folder / foreign[0], "was not written by `ich run`; move it out of the run folder (nothing was changed)")


def recover_scans(scans_dir: Path) -> None:
    """After a killed run (under the folder lock): put back a scan folder caught between its two
    renames, and drop half-built ones."""
    if not scans_dir.is_dir():
        return
    for entry in scans_dir.iterdir():
        name = entry.name
        if not name.startswith(".") or not entry.is_dir():
            continue
        scan_id = name[1:].rsplit(".", 2)[0]  # .<scan_id>.<pid>.part|old
        if name.endswith(".old") and not (scans_dir / scan_id).exists():
            os.replace(entry, scans_dir / scan_id)
        elif name.endswith((".old", ".part")):
            remove_scan_folder(entry)


def remove_scan_folder(folder: Path) -> None:
    """Delete a scan folder the run made: only its own files (a stranger's file keeps it)."""
    for p in folder.iterdir():
        if _ours(p.name) and not p.is_dir():
            p.unlink()
        elif _ours(p.name):
            shutil.rmtree(p)
    try:
        folder.rmdir()
    except OSError:
        pass
