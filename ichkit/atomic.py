"""Atomic output: write to a temporary name in the same folder, then rename.

A killed job therefore never leaves a half-written file under the final name, and a reader
sees either the old file or the new one. `atomic_files` extends this to a set of files (a
command's outputs): all are written first, then renamed together with SIGINT/SIGTERM held back,
so an interrupted or failed command leaves the whole previous set or the whole new one.
Temporaries carry the writer's pid; those of a dead writer are removed by the next write.
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

from .errors import OutputError, OutputExistsError

_UMASK = os.umask(0)
os.umask(_UMASK)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)


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


def remove_stale_parts(folder: str | Path) -> None:
    """Delete temporaries left in `folder` by writers that were killed (their pid is gone, or
    they predate pids in the name). Once per folder and process: a listing per write would make
    writing N files into one folder O(N^2)."""
    key = os.path.abspath(folder)
    if key in _CLEANED:
        return
    _CLEANED.add(key)
    with contextlib.suppress(OSError), os.scandir(key) as entries:
        for entry in entries:
            m = _PART.match(entry.name)
            if m and entry.is_file(follow_symlinks=False) and not (m.group(1) and _alive(int(m.group(1)))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _temporary(path: Path, suffix: str | None) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(path.parent)
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
    """Yield a temporary path per output; publish them all only if the block succeeds."""
    paths = {key: Path(p) for key, p in paths.items()}
    tmps: dict[str, Path] = {}
    try:
        for key, path in paths.items():
            tmps[key] = _temporary(path, (suffixes or {}).get(key))
        try:
            yield tmps
        except OSError as exc:
            where = next(iter(paths.values()))
            raise _write_error(where.parent if len(paths) > 1 else where, exc) from exc
        with signals_held():
            for key, tmp in tmps.items():
                os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
            for key, tmp in tmps.items():
                os.replace(tmp, paths[key])
    finally:
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
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
