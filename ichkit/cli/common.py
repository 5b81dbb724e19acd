"""Helpers shared by the subcommands: JSON output and the common options."""

from __future__ import annotations

import json
import sys
from typing import Any


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
    from ..validate import ValidationPolicy

    return ValidationPolicy(tilt=args.tilt, series=args.series if series else None)


def emit(args, payload: Any, human: str) -> None:
    """Print JSON when --json was given, else the human-readable text."""
    if getattr(args, "json", False):
        from ..atomic import _jsonable

        json.dump(payload, sys.stdout, indent=2, default=_jsonable)
        sys.stdout.write("\n")
    else:
        print(human)
