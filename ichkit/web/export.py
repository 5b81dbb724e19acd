"""What the workstation writes: the mask (.seg.nrrd, NIfTI), measurements (CSV), a report, and
ground truth for training (nnU-Net layout with a provenance record).

Every file goes through the atomic writers and refuses to replace an existing file unless
`overwrite` is given, as the CLI does.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..app import groundtruth
from ..atomic import check_writable, write_text
from ..io import save_labelmap
from ..labels import LABELS
from .report import report_html
from .state import Scan

EXPORTS = ("seg.nrrd", "nii.gz", "csv", "html")
CSV_COLUMNS = ("case", "region", "mesh_ml", "voxel_ml", "abc2_ml", "max_area_slice", "slices", "source", "edited")


def _names(scan: Scan) -> dict[int, str]:
    return {v: lab.key for v, lab in LABELS.items()} | scan.labels.meta.get("segments", {})


def measurements_csv(scan: Scan) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for region, m in scan.measurements.items():
        writer.writerow({"case": scan.name, "region": region, **m, "source": scan.source.model_id if scan.source else "", "edited": scan.edited})
    return buf.getvalue()


def export_scan(scan: Scan, outdir: str | Path, *, overwrite: bool = False, verdict: dict | None = None) -> dict[str, Path]:
    """Write `<case>_seg.seg.nrrd`, `<case>_seg.nii.gz`, `<case>_volumes.csv` and `<case>_report.html`."""
    outdir = Path(outdir)
    stem = f"{scan.name}_seg"
    paths = {
        "seg.nrrd": outdir / f"{stem}.seg.nrrd",
        "nii.gz": outdir / f"{stem}.nii.gz",
        "csv": outdir / f"{scan.name}_volumes.csv",
        "html": outdir / f"{scan.name}_report.html",
    }
    for path in paths.values():
        check_writable(path, overwrite)
    save_labelmap(scan.labels, paths["seg.nrrd"], names=_names(scan), overwrite=overwrite)
    save_labelmap(scan.labels, paths["nii.gz"], overwrite=overwrite)
    write_text(paths["csv"], measurements_csv(scan))
    write_text(paths["html"], report_html(scan, verdict))
    return paths


def save_ground_truth(scan: Scan, dataset: str | Path, case_id: str | None = None, *, overwrite: bool = False) -> dict[str, Path]:
    """CT and refined mask into an nnU-Net dataset folder with a provenance record (`ichkit.app.groundtruth`)."""
    return groundtruth.save_ground_truth(
        scan.ct, scan.labels, dataset, case_id or scan.name, ct_path=scan.path, source=scan.source,
        edited=scan.edited, measurements=scan.measurements, overwrite=overwrite,
    )
