"""`ich dataset build COHORT -o DATASET`: a cohort of CT + mask scans -> an nnU-Net v2 raw dataset."""

from __future__ import annotations

from .common import add_json, add_progress, emit


def register(sub) -> None:
    p = sub.add_parser("dataset", help="build training datasets from cohorts of CT + mask")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    b = actions.add_parser("build", help="cohort CSV (patient_id, scan_id, ct, mask) -> nnU-Net v2 raw layout")
    b.add_argument("source", help="cohort CSV, or a folder holding cohort.csv (paths relative to the CSV)")
    b.add_argument("-o", "--output", required=True, help="dataset folder, named DatasetNNN_Name (e.g. Dataset501_ICH)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing dataset.json and its images")
    b.add_argument("--workers", type=int, default=1, help="worker processes reading and writing scans (default 1)")
    add_json(b)
    add_progress(b)
    b.set_defaults(func=run)


def run(args) -> int:
    from ..progress import tqdm_bar
    from ..segment.dataset import build_dataset

    progress, close = tqdm_bar("dataset", enabled=not args.no_progress)
    try:
        dataset = build_dataset(args.source, args.output, overwrite=args.overwrite, progress=progress,
                                workers=args.workers)
    finally:
        close()
    labels = ", ".join(f"{v} {k}" for k, v in dataset["labels"].items())
    emit(args, {"dataset": args.output, **dataset},
         f"{args.output}: {dataset['numTraining']} cases (labels: {labels}); patients in patients.csv")
    return 0
