"""The cohort CSV, read one way for every command (run, radiomics, features, dataset).

Columns: `ct` (required); `scan_id` (or `id`; default: the CT's file name), `mask`, `label`
(the mask value to analyse, default 1), `patient_id` (default: the scan id), `timepoint`
(`baseline` / `followup`: pairs of one patient give the HE verdict; one of each per patient),
`series` (the SeriesInstanceUID to read when `ct` is a DICOM folder holding several series). Any
other column is kept in `extra` (e.g. an outcome). A UTF-8 byte-order mark (Excel) is skipped. Relative paths are taken relative to the CSV's folder; `ich phantom`'s
cohort.csv reads as it is.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OptionError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Scan:
    scan_id: str
    ct: str
    mask: str | None = None
    patient_id: str | None = None
    timepoint: str | None = None
    label: int = 1
    series: str | None = None  # SeriesInstanceUID within a DICOM folder (`ValidationPolicy.series`)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def as_row(self) -> dict:
        """A flat dict (`id`, `ct`, `mask`, `label`, `patient_id`, `series` if given, and the extra columns)."""
        return ({"id": self.scan_id, "ct": self.ct, "mask": self.mask, "label": self.label,
                 "patient_id": self.patient_id or self.scan_id, "timepoint": self.timepoint or ""}
                | ({"series": self.series} if self.series else {}) | self.extra)


KNOWN = {"scan_id", "id", "ct", "mask", "label", "patient_id", "timepoint", "series"}


def _scan_id(row: dict) -> str:
    sid = (row.get("scan_id") or row.get("id") or "").strip()
    if sid:
        return sid
    name = Path((row.get("ct") or "").strip().rstrip("/")).name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def read_cohort(path: str | Path, *, require_mask: bool = False) -> list[Scan]:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OptionError(path, f"cannot read the cohort CSV ({exc.__class__.__name__})") from None
    needed = {"ct", "mask"} if require_mask else {"ct"}
    if not rows or not needed <= set(rows[0]):
        raise OptionError(path, f"a cohort CSV needs the column(s) {' and '.join(sorted(needed))} and at least one row (optional: scan_id, mask, label, patient_id, timepoint, series)")
    scans, seen, timepoints = [], set(), {}
    for n, row in enumerate(rows, start=2):
        sid = _scan_id(row)
        if not SAFE_ID.match(sid):
            raise OptionError(path, f"line {n}: scan_id {sid!r} must be 1-128 letters, digits, '.', '_' or '-'")
        if sid in seen:
            raise OptionError(path, f"line {n}: scan_id {sid!r} appears twice")
        seen.add(sid)
        if require_mask and not (row.get("mask") or "").strip():
            raise OptionError(path, f"line {n}: scan {sid!r} has no mask")
        try:
            label = int(row.get("label") or 1)
        except ValueError:
            raise OptionError(path, f"line {n}: label {row.get('label')!r} is not an integer") from None
        timepoint = (row.get("timepoint") or "").strip().lower() or None
        if timepoint not in (None, "baseline", "followup"):
            raise OptionError(path, f"line {n}: timepoint must be baseline or followup, not {timepoint!r}")
        patient = (row.get("patient_id") or "").strip()
        if timepoint and patient:
            first = timepoints.setdefault((patient, timepoint), (n, sid))
            if first != (n, sid):  # rows, not the patient id, are named: no identifier in messages
                raise OptionError(path, f"lines {first[0]} and {n}: scans {first[1]!r} and {sid!r} are both the {timepoint} of one patient")
        scans.append(
            Scan(
                scan_id=sid,
                ct=_resolve(path, row["ct"]),
                mask=_resolve(path, row.get("mask")) if (row.get("mask") or "").strip() else None,
                patient_id=(row.get("patient_id") or "").strip() or None,
                timepoint=timepoint,
                label=label,
                series=(row.get("series") or "").strip() or None,
                extra={k: v for k, v in row.items() if k not in KNOWN and k is not None},
            )
        )
    return scans


def _resolve(csv_path: Path, value: str) -> str:
    p = Path(value.strip())
    return str(p if p.is_absolute() else (csv_path.parent / p))
