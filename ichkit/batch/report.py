"""Cohort reports rebuilt from the per-scan status files: summary, failures, HE pairs.

The three are published as one set (`atomic_files`) with the run folder's marker, which records
their sha256: a report is replaced without --overwrite only while it is one the run wrote.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from ..atomic import atomic_files
from ..cohort import Scan
from ..anatomy.readout import SUMMARY_COLUMNS
from ..measure.expansion import expansion_verdict
from .folder import MARKER, marker_text
from .scan_task import RESULT, scan_dir

PAIR_COLUMNS = ["patient_id", "baseline", "followup", "he", "abs_growth_ml", "rel_growth", "revised_he"]
VOLUME_COLUMNS = [(label, key) for label in ("IPH", "IVH", "edema", "EAH") for key in ("mesh_ml", "voxel_ml", "abc2_ml")]


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _result(outdir: Path, scan: Scan) -> dict | None:
    try:
        return json.loads((scan_dir(outdir, scan) / RESULT).read_text())
    except (OSError, ValueError):
        return None


def write_reports(scans: list[Scan], statuses: dict, outdir: Path) -> dict:
    summary, failures, results = [], [], {}
    for scan in scans:
        status = statuses.get(scan.scan_id) or {"state": "missing"}
        row = {"scan_id": scan.scan_id, "patient_id": scan.patient_id or "", "timepoint": scan.timepoint or "", "state": status["state"]}
        if status["state"] == "done":
            res = _result(outdir, scan) or {}
            results[scan.scan_id] = res
            vols = res.get("volumes", {})
            for label, key in VOLUME_COLUMNS:
                if label in vols:
                    row[f"{label}_{key}"] = round(float(vols[label][key]), 4)
            record = res.get("provenance")  # absent in a scan finished before the record: its source is not known here
            row["labels_source"] = "" if record is None else (record.get("model") or {}).get("id", "given mask")
            row.update(res.get("readout", {}))
        else:
            failures.append({"scan_id": scan.scan_id, "code": status.get("code", status["state"]), "reason": status.get("reason", "not processed")})
        summary.append(row)
    columns = ["scan_id", "patient_id", "timepoint", "state", *[f"{l}_{k}" for l, k in VOLUME_COLUMNS], "labels_source"]
    if any("readout" in r for r in results.values()):
        columns += list(SUMMARY_COLUMNS)
    pairs = _expansion_pairs(scans, results)
    _publish(outdir, {
        "summary.csv": _csv(summary, columns),
        "failures.csv": _csv(failures, ["scan_id", "code", "reason"]),
        "pairs.csv": _csv(pairs, PAIR_COLUMNS),
    })
    return {"n": len(scans), "done": len(results), "failed": len(failures), "pairs": len(pairs), "outdir": str(outdir)}


def _publish(outdir: Path, reports: dict[str, str]) -> None:
    """The reports and the marker naming their sha256, as one set."""
    with atomic_files({MARKER: outdir / MARKER} | {name: outdir / name for name in reports}) as tmp:
        tmp[MARKER].write_text(marker_text({name: [hashlib.sha256(text.encode()).hexdigest()] for name, text in reports.items()}))
        for name, text in reports.items():
            tmp[name].write_text(text)


def _flag(value: bool | None) -> int | str:
    return "" if value is None else int(value)


def _expansion_pairs(scans: list[Scan], results: dict) -> list[dict]:
    by_patient: dict[str, dict[str, Scan]] = {}
    for s in scans:
        if s.patient_id and s.timepoint:
            by_patient.setdefault(s.patient_id, {})[s.timepoint] = s
    rows = []
    for pid, pair in sorted(by_patient.items()):
        base, follow = pair.get("baseline"), pair.get("followup")
        if not (base and follow and base.scan_id in results and follow.scan_id in results):
            continue
        v = expansion_verdict(results[base.scan_id]["volumes"], results[follow.scan_id]["volumes"])
        rows.append({
            "patient_id": pid, "baseline": base.scan_id, "followup": follow.scan_id, "he": _flag(v.expansion),
            "abs_growth_ml": round(v.growth_ml, 4), "rel_growth": "" if v.relative_growth is None else round(v.relative_growth, 4),
            "revised_he": _flag(v.revised_expansion),
        })
    return rows
