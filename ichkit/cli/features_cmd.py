"""`ich features extract COHORT.csv -o DIR` and `ich features benchmark DIR --outcome he6 -o OUT`:
radiomics and latent deep features, and 002's classifier benchmark (spec 4).

`ich train vaegan` (the autoencoder behind the ae set) is registered by `add_vaegan_trainer`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import TableError
from ..features.settings import BASELINE_COLUMN, FOLLOWUP_COLUMN, HE_OUTCOMES, PRESETS, SETS, preset
from ..progress import tqdm_bar
from .common import COUNT, add_json, add_output, add_progress, emit


def register(sub) -> None:
    p = sub.add_parser("features", help="radiomics + latent deep features and the classifier benchmark (002)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    e = verbs.add_parser("extract", help="feature sets of a cohort CSV (id/scan_id, patient_id, ct, mask[, label]) into a folder")
    e.add_argument("cohort", help="cohort CSV (paths relative to it); `ich phantom`'s cohort.csv works")
    add_output(e, "-o", "--output", required=True, metavar="DIR", help="features folder", kind="folder")
    e.add_argument("--sets", default=",".join(SETS), help=f"comma-separated among {', '.join(SETS)} (default all)")
    e.add_argument("--ae-model", metavar="CHECKPOINT", help="VAE-GAN checkpoint.pt from `ich train vaegan` (needed by the ae set)")
    e.add_argument("--seg-weights", metavar="PT", help="state dict of a trained MONAI BasicUNet; without it a random fixed-seed encoder (tests only)")
    e.add_argument("--preset", default="default", choices=sorted(PRESETS), help="default: the methods' sizes; smoke: tiny CI run")
    e.add_argument("--workers", type=COUNT, default=1, help="pyradiomics worker processes (default 1)")
    e.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_json(e)
    add_progress(e)
    e.set_defaults(func=run_extract)

    b = verbs.add_parser("benchmark", help="six classifiers x seven inputs: patient-grouped stratified CV, refit, external test")
    b.add_argument("features", help="features folder from `ich features extract`")
    b.add_argument("--outcome", required=True, help=f"a 0/1 column of the labels table, or {'/'.join(HE_OUTCOMES)} (growth above 3/6/9 mL)")
    b.add_argument("--labels", metavar="CSV", help="table with id and the outcome column(s) (default: FEATURES/cohort.csv)")
    b.add_argument("--baseline-column", default=BASELINE_COLUMN, help=f"he*: baseline volume column in mL (default {BASELINE_COLUMN})")
    b.add_argument("--followup-column", default=FOLLOWUP_COLUMN, help=f"he*: follow-up volume column in mL (default {FOLLOWUP_COLUMN})")
    b.add_argument("--external", metavar="DIR", help="features folder of the external test cohort (labels from its cohort.csv)")
    b.add_argument("--external-labels", metavar="CSV", help="labels table of the external cohort (default: EXTERNAL/cohort.csv)")
    b.add_argument("--classifiers", help="comma-separated subset (default all six)")
    b.add_argument("--inputs", help="comma-separated subset of the seven inputs (default: all whose sets exist)")
    b.add_argument("--preset", default="default", choices=sorted(PRESETS), help="default: 1000 trees, NMF 128; smoke: tiny CI run")
    add_output(b, "-o", "--output", required=True, metavar="DIR", help="output folder (auc.csv, folds.csv, importance.csv, statistics.json, predictions)", kind="folder")
    b.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_json(b)
    add_progress(b)
    b.set_defaults(func=run_benchmark)


def add_vaegan_trainer(kinds) -> None:
    """`ich train vaegan --data COHORT.csv -o DIR`: the autoencoder of the ae feature set."""
    v = kinds.add_parser("vaegan", help="train the VAE-GAN autoencoder on crops around the dilated hematoma (002)")
    v.add_argument("--data", required=True, metavar="COHORT.csv", help="cohort CSV with ct and mask columns")
    add_output(v, "-o", "--output", required=True, metavar="DIR", help="folder for checkpoint.pt and history.json", kind="folder")
    v.add_argument("--epochs", type=COUNT, default=None, help="override the preset's number of epochs")
    v.add_argument("--preset", default="default", choices=sorted(PRESETS), help="default: 64^3 crops, 512 x 4^3 latent; smoke: tiny CI run")
    v.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    v.add_argument("--overwrite", action="store_true", help="start afresh over an existing checkpoint")
    add_json(v)
    add_progress(v)
    v.set_defaults(func=run_train_vaegan)


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run_extract(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..features.extract import extract_features

    report, close = tqdm_bar("features", enabled=not args.no_progress and not args.json)
    try:
        summary = extract_features(args.cohort, args.output, tuple(_split(args.sets) or ()), preset(args.preset),
                                   seg_weights=args.seg_weights, ae_checkpoint=args.ae_model, workers=args.workers,
                                   overwrite=args.overwrite, progress=report)
    finally:
        close()
    lines = [f"{name}: {info['features']} features, {len(info['failed'])} failed ({info['source']})" for name, info in summary["sets"].items()]
    emit(args, summary, f"{args.output}: {summary['scans']} scans\n  " + "\n  ".join(lines))
    return 0


def _labelled(folder, labels_csv, args):
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..features.tables import load_features, outcome_labels

    table = load_features(folder)
    labels_csv = labels_csv or Path(folder) / "cohort.csv"
    labels = outcome_labels(labels_csv, args.outcome, baseline=args.baseline_column, followup=args.followup_column)
    ids = [i for i in table.ids if i in labels]
    if not ids:
        raise TableError(labels_csv, f"no scan of {folder} has a value for outcome {args.outcome!r}")
    return table.take(ids), np.array([labels[i] for i in ids])


def run_benchmark(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..features.pipeline import benchmark
    from ..features.report import check_outputs, write_benchmark

    check_outputs(args.output, args.overwrite)
    s = PRESETS[args.preset].benchmark
    train, y = _labelled(args.features, args.labels, args)
    external = _labelled(args.external, args.external_labels, args) if args.external else None
    report, close = tqdm_bar("benchmark", enabled=not args.no_progress and not args.json)
    try:
        result = benchmark(train, y, s, external=external, classifiers=_split(args.classifiers), inputs=_split(args.inputs), progress=report)
    finally:
        close()
    cases = {"cv": (train.ids, y)} | ({"external": (external[0].ids, external[1])} if external else {})
    meta = {"outcome": args.outcome, "features": args.features, "external": args.external,
            "cases": {k: len(v[0]) for k, v in cases.items()}, "left_out": train.dropped}
    paths = write_benchmark(result, args.output, cases, s, meta)
    best = max(result.rows, key=lambda r: (r["split"] == "external", r["auc"]))
    friedman = result.statistics.get("cv", {}).get("friedman")
    text = (f"{args.output}: {len(result.rows)} results; best {best['classifier']} on {best['input']} ({best['split']}) "
            f"AUC {best['auc']:.3f} [{best['delong_low']:.3f}, {best['delong_high']:.3f}]"
            + (f"\nFriedman across inputs (cv): chi2 {friedman['statistic']:.2f}, p {friedman['p']:.3g}" if friedman else ""))
    emit(args, {"outputs": paths, "best": best, "statistics": result.statistics}, text)
    return 0


def run_train_vaegan(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..features.extract import cohort_rows
    from ..features.vaegan import train_vaegan

    s = preset(args.preset, epochs=args.epochs).vaegan
    report, close = tqdm_bar("vaegan", enabled=not args.no_progress and not args.json)
    try:
        result = train_vaegan(cohort_rows(args.data), args.output, s, resume=args.resume, overwrite=args.overwrite, progress=report)
    finally:
        close()
    start = f" (resumed at epoch {result.resumed_from_epoch})" if result.resumed_from_epoch else ""
    emit(args, result.__dict__, f"trained on {result.scans} scans to epoch {result.epochs_done}{start}: {result.checkpoint}"
         + "".join(f"\n  skipped {k}: {v}" for k, v in result.skipped.items()))
    return 0
