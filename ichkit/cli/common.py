"""Helpers shared by the subcommands: JSON output and the common options."""

from __future__ import annotations

import json
import sys
from typing import Any


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def add_progress(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def emit(args, payload: Any, human: str) -> None:
    """Print JSON when --json was given, else the human-readable text."""
    if getattr(args, "json", False):
        from ..atomic import _jsonable

        json.dump(payload, sys.stdout, indent=2, default=_jsonable)
        sys.stdout.write("\n")
    else:
        print(human)
