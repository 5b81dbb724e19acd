"""`ich dataset build COHORT -o DATASET`: a cohort of CT + mask scans -> an nnU-Net v2 raw dataset.
`ich dataset classify COHORT --task he|ht|location --outcome COLUMN -o DIR`: the same cohort ->
the NPY samples and manifest.csv that `ich train classify` reads (with guide maps where a scan
has a hematoma in its mask)."""

from __future__ import annotations

from dataclasses import replace

from ..progress import tqdm_bar
from ..segment.training.dataset import build_dataset as build_nnunet_dataset
from .common import COUNT, add_json, add_output, add_progress, emit
from .train_cmd import CLASSIFY_TASKS


def register(sub) -> None:
    p = sub.add_parser("dataset", help="build training datasets from cohorts of CT + mask")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    b = actions.add_parser("build", help="cohort CSV (patient_id, scan_id, ct, mask) -> nnU-Net v2 raw layout")
    b.add_argument("source", help="cohort CSV, or a folder holding cohort.csv (paths relative to the CSV)")
    add_output(b, "-o", "--output", required=True, help="dataset folder, named DatasetNNN_Name (e.g. Dataset501_ICH)", kind="folder")
    b.add_argument("--overwrite", action="store_true", help="replace an existing dataset.json and its images")
    b.add_argument("--workers", type=COUNT, default=1, help="worker processes reading and writing scans (default 1)")
    add_json(b)
    add_progress(b)
    b.set_defaults(func=run)
    c = actions.add_parser("classify", help="cohort CSV (patient_id, scan_id, ct, mask, outcome) -> classifier samples + manifest.csv")
    c.add_argument("source", help="cohort CSV (paths relative to the CSV)")
    c.add_argument("--task", required=True, choices=CLASSIFY_TASKS, help="he: ROI slices; ht: whole volume; location: every slice")
    c.add_argument("--outcome", required=True, metavar="COLUMN",
                   help="the cohort column with each scan's class: 0/1 (he, ht), or deep / lobar / infratentorial or 0-2 (location)")
    c.add_argument("--size", type=COUNT, default=None, help="input size in pixels (default: the task's, 224 for the ViTs, 128 for CTNet)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing manifest.csv")
    add_output(c, "-o", "--output", required=True, help="dataset folder (manifest.csv, dataset.json, samples/)", kind="folder")
    add_json(c)
    add_progress(c)
    c.set_defaults(func=run_classify)


def run(args) -> int:
    progress, close = tqdm_bar("dataset", enabled=not args.no_progress)
    try:
        dataset = build_nnunet_dataset(args.source, args.output, overwrite=args.overwrite, progress=progress,
                                       workers=args.workers)
    finally:
        close()
    labels = ", ".join(f"{v} {k}" for k, v in dataset["labels"].items())
    emit(args, {"dataset": args.output, **dataset},
         f"{args.output}: {dataset['numTraining']} cases (labels: {labels}); patients in patients.csv")
    return 0


def run_classify(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..classify.tasks import build_dataset, cohort_scans, get_task, load_scan

    task = get_task(args.task)
    scans = cohort_scans(task, args.source, args.outcome)
    settings = task.settings() if args.size is None else replace(task.settings(), size=args.size)
    progress, close = tqdm_bar("dataset", enabled=not args.no_progress)
    try:
        rows = build_dataset(task, scans, args.output, settings, load=load_scan, progress=progress, overwrite=args.overwrite)
    finally:
        close()
    guided = sum(bool(r.get("guide")) for r in rows)
    emit(args, {"dataset": args.output, "task": task.name, "scans": len(scans), "samples": len(rows), "guided_samples": guided},
         f"{args.output}: {len(rows)} {task.name} samples from {len(scans)} scans ({guided} with a guide map)")
    return 0
