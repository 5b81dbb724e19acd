"""Atomic output: write to a temporary name in the same folder, then rename.

A killed job therefore never leaves a half-written file under the final name, and a reader
sees either the old file or the new one. `atomic_files` extends this to a set of files in one
folder (a command's outputs), all or nothing even under SIGKILL: every temporary is written and
fsynced, then a journal naming the renames is put in the folder (the commit point), then the
renames are done and the journal deleted. `recover` rolls a journal that a kill left forward;
writers run it before writing into a folder, readers of finished sets before reading (the `io`
loaders, `MaskSource.of_mask`, `app.segment.find_mask`, `batch.folder.read_marker`), so no one
ever sees a mixed set. Temporaries carry the writer's pid; those of a dead writer without a
journal are removed by the next write (rolled back). A journal, not a new folder per run: a folder of outputs is the user's
layout and holds the sets of many scans, and renaming a folder fails on Windows while any file
in it is open, where a journal left by a failed rename is simply completed later.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import OutputError, OutputExistsError

_UMASK = os.umask(0)
os.umask(_UMASK)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
JOURNAL = ".ichkit-journal"  # JOURNAL.PID.RANDOM.json: the renames of one decided commit


def check_writable(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace an existing user file unless asked."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path, "already exists; pass --overwrite to replace it")
    return path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PART = re.compile(r"^\..+?\.(?:(\d+)\.)?[A-Za-z0-9_]{8}\.part")  # .NAME.PID.RANDOM.part[SUFFIX]
_CLEANED: set[str] = set()


def _listing(folder: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []


def recover(folder: str | Path) -> None:
    """Complete the commits in `folder` that a kill cut short (roll their journals forward).
    Safe at any time and from any process: a journal is only written once its set is whole."""
    for entry in _listing(os.fspath(folder)):
        if entry.name.startswith(JOURNAL + ".") and entry.name.endswith(".json"):
            _roll_forward(Path(entry.path))


def clean(folder: str | Path) -> None:
    """`recover`, then delete the temporaries of writers that died before their commit (their
    pid is gone, or they predate pids in the name): the folder holds only whole sets."""
    recover(folder)
    for entry in _listing(os.fspath(folder)):
        m = _PART.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not (m.group(1) and _alive(int(m.group(1)))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _clean_once(folder: Path) -> None:
    """`clean` before the first write into a folder, once per process: a listing per write
    would make writing N files into one folder O(N^2)."""
    key = os.path.abspath(folder)
    if key not in _CLEANED:
        _CLEANED.add(key)
        clean(key)


def _temporary(path: Path, suffix: str | None) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_once(path.parent)
        suffix = suffix if suffix is not None else "".join(path.suffixes)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=f".part{suffix}", dir=path.parent)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(path, "cannot be written: a file stands where its folder should be") from None
    except OSError as exc:
        raise _write_error(path, exc) from None
    os.close(fd)
    return Path(tmp)


def _write_error(path: Path, exc: OSError) -> Exception:
    """Disk full, quota, read-only: the user's problem (exit 2), not an internal error."""
    if exc.errno in _NO_SPACE:
        return OutputError(path, f"cannot be written: {os.strerror(exc.errno)}")
    return exc


def _fsync(path: str | Path) -> None:
    """Flush a file (or, on POSIX, a folder's entries) to disk; Windows cannot open a folder."""
    if os.name == "nt" and os.path.isdir(path):
        return
    fd = os.open(path, os.O_RDONLY if os.path.isdir(path) else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_journal(folder: Path, renames: list[list[str]]) -> Path:
    """The commit point: the list of renames, whole on disk, under its final name."""
    fd, tmp = tempfile.mkstemp(prefix=f"{JOURNAL}.{os.getpid()}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(renames, f)
            f.flush()
            os.fsync(f.fileno())
        journal = folder / (Path(tmp).name[: -len(".part")] + ".json")
        os.replace(tmp, journal)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync(folder)
    return journal


def _roll_forward(journal: Path) -> None:
    """Do a journal's renames (those not done yet), make them durable, delete the journal."""
    folder = journal.parent
    try:
        renames = [(tmp, final) for tmp, final in json.loads(journal.read_text())
                   if _PART.match(tmp) and Path(tmp).name == tmp and Path(final).name == final]  # our temporaries, in this folder
    except FileNotFoundError:  # its writer finished meanwhile
        return
    except (OSError, ValueError, TypeError) as exc:
        raise OutputError(journal, f"is not a readable journal of an unfinished set of outputs ({exc}); move it away") from None
    try:
        for tmp, final in renames:
            with contextlib.suppress(FileNotFoundError):  # renamed already
                os.replace(folder / tmp, folder / final)
        _fsync(folder)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal)
    except OSError as exc:
        raise OutputError(folder, f"holds an unfinished set of outputs ({journal.name}) that cannot be completed: "
                                  f"{exc.strerror or exc}; it is completed by the next command that can write here") from None


@contextlib.contextmanager
def signals_held():
    """Defer SIGINT/SIGTERM during the few renames that publish a set of files. Python runs
    signal handlers in the main thread only, and may run one whose signal arrived just before
    (so a signal mask is not enough): the handlers are swapped for one that only takes note,
    and what it noted is handed to the previous handler once the set is whole."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda signum, frame: noted.append(signum))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if noted:
            handler = previous.get(noted[0])
            if callable(handler):
                handler(noted[0], None)  # e.g. raises KeyboardInterrupt, now that the set is whole
            elif handler in (signal.SIG_DFL, None):
                os.kill(os.getpid(), noted[0])


@contextlib.contextmanager
def atomic_files(paths: dict[str, Path], suffixes: dict[str, str] | None = None) -> Iterator[dict[str, Path]]:
    """Yield a temporary path per output (all in one folder); publish them all only if the
    block succeeds. One file is one rename; a set is committed through a journal."""
    paths = {key: Path(p) for key, p in paths.items()}
    folders = {p.parent for p in paths.values()}
    if len(folders) != 1:
        raise ValueError(f"a set of outputs must share one folder, not {sorted(map(str, folders))}")
    folder = folders.pop()
    tmps: dict[str, Path] = {}
    journal = None
    try:
        for key, path in paths.items():
            tmps[key] = _temporary(path, (suffixes or {}).get(key))
        try:
            yield tmps
            with signals_held():
                for tmp in tmps.values():
                    if len(tmps) > 1:
                        _fsync(tmp)  # whole on disk before the journal says so
                    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
                if len(tmps) == 1:
                    (key, tmp), = tmps.items()
                    os.replace(tmp, paths[key])
                else:
                    journal = _write_journal(folder, [[tmp.name, paths[key].name] for key, tmp in tmps.items()])
                    _roll_forward(journal)
        except OSError as exc:
            raise _write_error(folder if len(paths) > 1 else paths[next(iter(paths))], exc) from exc
    finally:
        if journal is None:  # not committed: roll back (a journal's temporaries are its to rename)
            for tmp in tmps.values():
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    with atomic_files({"out": Path(path)}, {"out": suffix} if suffix is not None else None) as tmps:
        yield tmps["out"]


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
