"""`ich features extract`: the feature sets of a cohort into a features folder (see `tables`).

radiomics and shape come from pyradiomics (`ichkit.radiomics`); seg from the segmentation
encoder (`latents_seg`); ae from a trained VAE-GAN checkpoint (`vaegan`, `ich train vaegan`).
One failing scan never stops the cohort: its row carries the error and the benchmark leaves it out.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_writable, write_json
from ..errors import ICHError, OptionError
from ..io import load_cohort_ct, load_mask
from ..progress import Progress, silent
from ..cohort import read_cohort
from ..radiomics import extract_cohort
from .settings import SETS, FeatureSettings
from .tables import write_table


def cohort_rows(path: str | Path) -> list[dict]:
    """Cohort rows with resolved paths, the patient id and every other column (`ichkit.cohort`)."""
    return [scan.as_row() for scan in read_cohort(path, require_mask=True)]


def _per_scan(rows: list[dict], compute, what: str, progress: Progress) -> list[dict]:
    """`compute(ct, mask, label)` for every row; an error becomes the row's `error`."""
    out = []
    for i, row in enumerate(rows):
        progress(i, len(rows), f"{what} {row['id']}")
        result = {"id": row["id"], "patient_id": row["patient_id"], "error": ""}
        try:
            ct = load_cohort_ct(row)
            label = int(row.get("label") or 1)
            result |= compute(ct, load_mask(row["mask"], ct, extra_labels=(label,)), label)
        except ICHError as exc:
            result["error"] = exc.message
        out.append(result)
    return out


def _radiomics(rows, params, workers, progress) -> list[dict]:
    keep = ("id", "ct", "mask", "label")
    results = extract_cohort(rows, params, workers=workers, progress=progress)
    return [{"id": r["id"], "patient_id": row["patient_id"], "error": r["error"]}
            | {k: v for k, v in r.items() if k not in keep and k != "error"} for r, row in zip(results, rows)]


def extract_features(cohort: str | Path, out_dir: str | Path, sets: tuple[str, ...] = SETS,
                     settings: FeatureSettings = FeatureSettings(), *, seg_weights: str | Path | None = None,
                     ae_checkpoint: str | Path | None = None, workers: int = 1, overwrite: bool = False,
                     progress: Progress = silent) -> dict:
    """Write `cohort.csv`, one `<set>.csv` per set and `features.json`; returns the summary."""
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise OptionError(None, f"unknown feature set(s) {', '.join(unknown)} (known: {', '.join(SETS)})")
    if "ae" in sets and ae_checkpoint is None:
        raise OptionError(None, "the ae set needs a VAE-GAN checkpoint (--ae-model; train one with `ich train vaegan`)")
    out_dir = Path(out_dir)
    targets = [out_dir / "cohort.csv", out_dir / "features.json", *(out_dir / f"{s}.csv" for s in sets)]
    for path in targets:
        check_writable(path, overwrite)
    rows = cohort_rows(cohort)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(rows, out_dir / "cohort.csv")
    tables, provenance = {}, {}
    if "radiomics" in sets:
        tables["radiomics"] = _radiomics(rows, settings.seg.radiomics_params, workers, progress)
        provenance["radiomics"] = f"pyradiomics preset {settings.seg.radiomics_params}"
    if "shape" in sets:
        if "radiomics" in tables:
            tables["shape"] = [{k: v for k, v in r.items() if k in ("id", "patient_id", "error") or "_shape_" in k} for r in tables["radiomics"]]
        else:
            tables["shape"] = _radiomics(rows, "shape", workers, progress)
        provenance["shape"] = "pyradiomics shape features"
    if "seg" in sets:
        # deferred: latents_seg imports torch and MONAI, which only the seg set needs
        from .latents_seg import SegEncoder, seg_latents

        encoder = SegEncoder(settings.seg, seg_weights)
        tables["seg"] = _per_scan(rows, lambda ct, mask, label: seg_latents(ct, encoder), "seg", progress)
        provenance["seg"] = encoder.provenance
    if "ae" in sets:
        # deferred: vaegan imports torch, which only the ae set needs
        from .vaegan import VAEGANEncoder

        ae = VAEGANEncoder(ae_checkpoint)
        tables["ae"] = _per_scan(rows, ae, "ae", progress)
        provenance["ae"] = ae.provenance
    for name, table in tables.items():
        write_table(table, out_dir / f"{name}.csv")
    summary = {"cohort": str(cohort), "scans": len(rows), "sets": {
        name: {"features": len(table[0]) - 3 if table else 0, "failed": {r["id"]: r["error"] for r in table if r["error"]},
               "source": provenance[name]} for name, table in tables.items()}}
    write_json(out_dir / "features.json", summary)
    return summary
