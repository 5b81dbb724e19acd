"""The cohort CSV: one row per scan.

Columns: `scan_id` and `ct` (required); `mask` (use it instead of segmenting), `patient_id`,
`timepoint` (`baseline` / `followup`: pairs of one patient give the HE verdict). Relative paths
are taken relative to the CSV's folder.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Scan:
    scan_id: str
    ct: str
    mask: str | None = None
    patient_id: str | None = None
    timepoint: str | None = None


def read_cohort(path: str | Path) -> list[Scan]:
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OptionError(path, f"cannot read the cohort CSV ({exc.__class__.__name__})") from None
    if not rows or not {"scan_id", "ct"} <= set(rows[0]):
        raise OptionError(path, "a cohort CSV needs the columns scan_id and ct (optional: mask, patient_id, timepoint)")
    scans, seen = [], set()
    for n, row in enumerate(rows, start=2):
        sid = (row.get("scan_id") or "").strip()
        if not SAFE_ID.match(sid):
            raise OptionError(path, f"line {n}: scan_id {sid!r} must be 1-128 letters, digits, '.', '_' or '-'")
        if sid in seen:
            raise OptionError(path, f"line {n}: scan_id {sid!r} appears twice")
        seen.add(sid)
        timepoint = (row.get("timepoint") or "").strip().lower() or None
        if timepoint not in (None, "baseline", "followup"):
            raise OptionError(path, f"line {n}: timepoint must be baseline or followup, not {timepoint!r}")
        scans.append(
            Scan(
                scan_id=sid,
                ct=_resolve(path, row["ct"]),
                mask=_resolve(path, row.get("mask")) if (row.get("mask") or "").strip() else None,
                patient_id=(row.get("patient_id") or "").strip() or None,
                timepoint=timepoint,
            )
        )
    return scans


def _resolve(csv_path: Path, value: str) -> str:
    p = Path(value.strip())
    return str(p if p.is_absolute() else (csv_path.parent / p))
