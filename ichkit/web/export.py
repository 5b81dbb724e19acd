"""What the workstation writes: the mask under `ich segment`'s names with its sidecar
(`<case>_volumes.json`: volumes and the one provenance record, `app.segment`), measurements (CSV),
a report, and ground truth for training (nnU-Net layout with the same record).

The set is written together (`atomic_files`) and refuses to replace an existing file unless
`overwrite` is given, as the CLI does. A mask exported here and loaded again anywhere (`ich
report`, the workstation) still names the model that made it and whether a reader edited it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..app import groundtruth
from ..app.segment import output_paths, provenance, volumes_record
from ..atomic import _jsonable, atomic_files, check_writable
from ..io import save_labelmap
from ..labels import LABELS
from .report import report_html
from .state import Scan

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
    """`<case>_seg.nii.gz`, `<case>.seg.nrrd` and `<case>_volumes.json` (`app.segment.output_paths`),
    `<case>_volumes.csv` and `<case>_report.html`."""
    outdir = Path(outdir)
    paths = output_paths(outdir, scan.name) | {"csv": outdir / f"{scan.name}_volumes.csv", "html": outdir / f"{scan.name}_report.html"}
    for path in paths.values():
        check_writable(path, overwrite)
    record = volumes_record(scan.path, paths, scan.measurements,
                            provenance(scan.source.model() if scan.source else None, scan.path, edited=scan.edited))
    with atomic_files(paths) as tmp:
        save_labelmap(scan.labels, tmp["labels_seg_nrrd"], names=_names(scan), overwrite=True)
        save_labelmap(scan.labels, tmp["labels_nifti"], overwrite=True)
        tmp["volumes_json"].write_text(json.dumps(record, indent=2, default=_jsonable) + "\n")
        tmp["csv"].write_text(measurements_csv(scan))
        tmp["html"].write_text(report_html(scan, verdict))
    return paths


def save_ground_truth(scan: Scan, dataset: str | Path, case_id: str | None = None, *, overwrite: bool = False) -> dict[str, Path]:
    """CT and refined mask into an nnU-Net dataset folder with a provenance record (`ichkit.app.groundtruth`)."""
    return groundtruth.save_ground_truth(
        scan.ct, scan.labels, dataset, case_id or scan.name, ct_path=scan.path, source=scan.source,
        edited=scan.edited, measurements=scan.measurements, overwrite=overwrite,
    )
