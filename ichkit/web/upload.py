"""Files the browser sends: one CT or mask file, a zip of a DICOM series, or a series' files.

Each upload gets its own folder under the server's work folder (deleted when the server exits).
Names come from the client, so only their last component is used and a zip member may not leave
its folder.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from trame.app.file_upload import ClientFile

from ..errors import ICHError, UnreadableFileError


def _safe_name(name: str) -> str:
    name = PurePosixPath(str(name).replace("\\", "/")).name
    if name in ("", ".", ".."):
        raise ICHError(None, f"cannot store an uploaded file named {name!r}")
    return name


def _unzip(data: bytes, name: str, dest: Path) -> Path:
    """Extract a zip into `dest`, dropping a single top folder; returns the folder with most files."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFileError(name, "is not a readable zip file") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    parts = [PurePosixPath(m.filename).parts for m in members]
    if not members or any(m.filename.startswith("/") for m in members) or any(".." in p for p in parts):
        raise UnreadableFileError(name, "holds no files, or paths outside its folder")
    strip = 1 if len({p[0] for p in parts}) == 1 and all(len(p) > 1 for p in parts) else 0
    for member, p in zip(members, parts):
        target = dest.joinpath(*p[strip:])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(member))
    folders = {}
    for f in dest.rglob("*"):
        if f.is_file():
            folders[f.parent] = folders.get(f.parent, 0) + 1
    return max(folders, key=folders.get)


def save_upload(files: list[dict], uploads: Path) -> Path:
    """Store the client's files; the path to load: the file, or the folder of a DICOM series."""
    uploads.mkdir(parents=True, exist_ok=True)
    folder = uploads / str(sum(1 for _ in uploads.iterdir()) + 1)
    folder.mkdir()
    clients = [ClientFile(f) for f in files]
    if len(clients) == 1 and clients[0].name.lower().endswith(".zip"):
        name = _safe_name(clients[0].name)
        return _unzip(clients[0].content, name, folder / name[: -len(".zip")])
    if len(clients) == 1:
        path = folder / _safe_name(clients[0].name)
        path.write_bytes(clients[0].content)
        return path
    series = folder / f"series_{folder.name}"
    series.mkdir()
    for client in clients:
        (series / _safe_name(client.name)).write_bytes(client.content)
    return series
