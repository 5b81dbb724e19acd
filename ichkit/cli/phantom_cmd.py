"""`ich phantom OUTDIR`: write synthetic head CT phantoms with exact ground truth (a cohort)."""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from ..progress import tqdm_bar
from .common import COUNT, add_json, add_output, add_progress, emit, int_range


def register(sub) -> None:
    p = sub.add_parser("phantom", help="write synthetic head CT phantoms with ground-truth labels and a cohort CSV")
    add_output(p, "outdir", metavar="OUTDIR", help="output folder (created if missing)", kind="folder")
    p.add_argument("--n", type=COUNT, default=1, help="number of phantoms (default 1)")
    p.add_argument("--seed", type=int_range(0), default=0, help="cohort seed (default 0)")
    p.add_argument("--brace", action="store_true", help="add a fixation-brace arc behind the head")
    p.add_argument("--no-ivh", action="store_true", help="no intraventricular blood")
    p.add_argument("--overwrite", action="store_true", help="replace existing phantom files")
    p.add_argument("--workers", type=COUNT, default=1, help="worker processes (default 1; the same files for any count)")
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..phantom import write_phantom_cohort

    if args.n < 1:
        raise OptionError(None, f"--n must be at least 1, got {args.n}")
    outdir = Path(args.outdir)
    report, close = tqdm_bar("phantoms", enabled=not args.no_progress)
    try:
        rows = write_phantom_cohort(outdir, args.n, args.seed, progress=report, overwrite=args.overwrite,
                                    brace=args.brace, ivh=not args.no_ivh, workers=args.workers)
    finally:
        close()
    payload = {"outdir": str(outdir), "cohort_csv": str(outdir / "cohort.csv"), "phantoms": rows}
    lines = [f"{len(rows)} phantom(s) written to {outdir}/ (synthetic head CT, not patients); cohort: {outdir / 'cohort.csv'}"]
    lines += [f"  {r['patient_id']}: IPH {r['IPH_ml']:.2f} mL, IVH {r['IVH_ml']:.2f} mL" for r in rows]
    emit(args, payload, "\n".join(lines))
    return 0
