"""Helpers shared by the subcommands: JSON output, the common options, option types that refuse
NaN and out-of-range values, and the one check of every output path before any work starts."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..atomic import _jsonable
from ..errors import OptionError, OutputError

DEVICES = ("cpu", "cuda")


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def add_progress(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_ct_options(parser) -> None:
    """How a CT is read: which series of a DICOM folder, and what to do with gantry tilt."""
    parser.add_argument("--series", metavar="UID", help="DICOM folder with several series: read the series with this SeriesInstanceUID")
    parser.add_argument("--tilt", choices=["resample", "refuse"], default="resample",
                        help="gantry-tilted DICOM: shift slices onto an orthogonal grid (default) or refuse the series")


def ct_policy(args, series: bool = True):
    """The `ValidationPolicy` that `add_ct_options` asked for (`series=False`: a second CT)."""
    # deferred: validate loads SimpleITK, which `ich --help` does without
    from ..validate import ValidationPolicy

    return ValidationPolicy(tilt=args.tilt, series=args.series if series else None)


def emit(args, payload: Any, human: str) -> None:
    """Print JSON when --json was given, else the human-readable text."""
    if getattr(args, "json", False):
        json.dump(payload, sys.stdout, indent=2, default=_jsonable)
        sys.stdout.write("\n")
    else:
        print(human)


# --- option types: argparse turns an ArgumentTypeError into the one-line `error:` of ich
def _number(cast: type, low: float | None, high: float | None) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if cast is int else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{text} must be at least {low:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} must be at most {high:g}")
        return value

    parse.__name__ = "integer" if cast is int else "number"  # argparse names the type in its message
    return parse


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer option within [low, high]."""
    return _number(int, low, high)


def float_range(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """A finite number within [low, high]."""
    return _number(float, low, high)


COUNT = int_range(1)  # workers, images, epochs, passes: at least one
NON_NEGATIVE = float_range(0.0)  # volumes in mL, weights
PORT = int_range(0, 65535)


def add_device(parser, default: str | None = None) -> None:
    parser.add_argument("--device", choices=DEVICES, default=default, help="cpu or cuda (default: cuda when available, else cpu)" if default is None else f"cpu or cuda (default {default})")


def resolve_device(requested: str | None) -> str:
    """The device to run on, refused before any work when CUDA was asked for but is absent."""
    import torch  # deferred: torch is heavy and only model commands need it

    if requested == "cuda" and not torch.cuda.is_available():
        raise OptionError(None, "--device cuda: no CUDA device is available (use --device cpu)")
    return requested or ("cuda" if torch.cuda.is_available() else "cpu")


# --- outputs
def add_output(parser, *flags: str, kind: str = "folder", **kw) -> None:
    """An output option; `main` checks it (see `prepare_outputs`) before the command runs."""
    action = parser.add_argument(*flags, **kw)
    outputs = [*(parser.get_default("_outputs") or []), (action.dest, kind)]
    parser.set_defaults(_outputs=outputs)


def prepare_outputs(args) -> None:
    """The one place where output paths are checked: a folder that is a file, a file that is a
    folder, or a read-only place is refused (exit 2) before any model runs."""
    for dest, kind in getattr(args, "_outputs", None) or []:
        value = getattr(args, dest, None)
        if value:
            check_output(Path(value), kind)


def check_output(path: Path, kind: str) -> None:
    if kind == "folder" and path.exists() and not path.is_dir():
        raise OutputError(path, "is a file; the output must be a folder")
    if kind == "file" and path.is_dir():
        raise OutputError(path, "is a folder; the output must be a file")
    place = path if kind == "folder" else path.parent
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise OutputError(path, f"cannot be created: {place} is a file, not a folder")
    try:  # a real write, since permission bits say nothing for root or read-only mounts
        with tempfile.TemporaryFile(dir=place, prefix=".ich-write-check."):
            pass
    except OSError as exc:
        raise OutputError(path, f"cannot be written: {place} is not writable ({os.strerror(exc.errno or 0)})") from None


class OneLineParser(argparse.ArgumentParser):
    """Option errors as one `error:` line and exit 2, like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message.splitlines()[0]} (see {self.prog} --help)\n")
