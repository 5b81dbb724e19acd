"""`ich run COHORT.csv -o OUT`: the whole pipeline over a cohort, resumable after a kill."""

from __future__ import annotations

from ..errors import TableError
from ..progress import tqdm_bar
from .common import COUNT, add_device, add_json, add_output, add_progress, emit, resolve_device


def register(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline over a cohort CSV (resumable)")
    p.add_argument("cohort", help="CSV with scan_id, ct and optional mask, patient_id, timepoint")
    add_output(p, "-o", "--outdir", required=True, help="output folder (reused to resume)", kind="folder")
    p.add_argument("--workers", type=COUNT, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--engine", choices=["local", "dask"], default="local", help="local processes (default) or a Dask cluster")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: start a local cluster)")
    p.add_argument("--model", help="segmentation model id for scans without a mask (default: best installed)")
    add_device(p, default="cpu")
    p.add_argument("--radiomics", default="shape", help="radiomics parameter set (shape, default, full, a file) or 'none'")
    p.add_argument("--overwrite", action="store_true", help="replace reports (summary.csv, ...) edited since the run wrote them")
    p.add_argument("--report", action="store_true", help="also write each scan's clinical report (report.json, report.html; clinical inputs from the optional columns age, gcs, onset_hours, anticoagulant, recurrent_ich)")
    p.add_argument("--readout", action="store_true", help="also write each scan's imaging read-out (readout.json: atlas location, expansion signs, midline shift) and add its columns to summary.csv")
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..batch import RunConfig, read_cohort, run_cohort
    from ..batch.scan_task import TaskConfig

    if args.readout:
        # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
        from ..anatomy.atlas import load_atlas

        load_atlas()  # a missing atlas fails the command once, not every scan
    scans = read_cohort(args.cohort)
    if args.device == "cuda":
        resolve_device(args.device)  # once, before the run, not once per scan
    task = TaskConfig(model=args.model, device=args.device, radiomics=None if args.radiomics == "none" else args.radiomics, report=args.report, readout=args.readout)
    progress, close = tqdm_bar("scans", enabled=not args.no_progress)
    try:
        summary = run_cohort(scans, args.outdir, RunConfig(task=task, workers=args.workers, engine=args.engine, scheduler=args.scheduler, overwrite=args.overwrite), progress)
    finally:
        close()
    emit(args, summary, f"{summary['done']} of {summary['n']} scans done, {summary['failed']} failed (see {args.outdir}/failures.csv); summary in {args.outdir}/summary.csv")
    if summary["done"] == 0:
        raise TableError(args.cohort, f"every scan failed ({summary['failed']} of {summary['n']}); the reasons are in {args.outdir}/failures.csv")
    return 0
