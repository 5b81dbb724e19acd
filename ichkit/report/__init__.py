"""The clinical report of one patient: volumes, imaging read-out, published scores and, with
follow-ups, the change table; as JSON (for front ends and archives) and as printable HTML.

`build_report` gives the JSON-able dict (the one function a front end needs), `report_images`
the key images, `report_html` the page; `write_report` writes `report.json` and `report.html`
(and `report_sr.dcm`, a DICOM SR from `dicom_sr.dicom_sr_bytes`, for a DICOM CT on request).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import _jsonable, atomic_files, check_writable
from .build import TimePoint, build_report, key_slice, run_readout_safely
from .html import report_html
from .images import timepoint_images

FILES = ("report.json", "report.html")
SR_FILE = "report_sr.dcm"


def report_images(timepoints: list[TimePoint], report: dict) -> list[dict]:
    """Key images of every time point (signs and midline drawn on the baseline and follow-ups)."""
    out = []
    for tp, point in zip(timepoints, report["timepoints"]):
        out += timepoint_images(tp.name, tp.ct, tp.labels, tp.readout, key_slice(point["volumes"]))
    return out


def render(timepoints: list[TimePoint], report: dict) -> dict[str, str]:
    """File name -> text of every report file, built in memory before anything is written."""
    return {"report.json": json.dumps(report, indent=2, default=_jsonable) + "\n",
            "report.html": report_html(report, report_images(timepoints, report))}


def write_report(files: dict[str, str | bytes], outdir: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Check every output first, then publish them as one set (all or nothing, even under SIGKILL)."""
    outdir = Path(outdir)
    paths = {name: check_writable(outdir / name, overwrite) for name in files}
    with atomic_files(paths) as tmps:
        for name, data in files.items():
            if isinstance(data, bytes):
                tmps[name].write_bytes(data)
            else:
                tmps[name].write_text(data, encoding="utf-8")
    return paths


__all__ = ["FILES", "SR_FILE", "TimePoint", "build_report", "render", "report_html", "report_images", "run_readout_safely", "write_report"]
