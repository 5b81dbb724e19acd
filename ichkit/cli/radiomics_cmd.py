"""`ich radiomics CT MASK` (one scan) or `ich radiomics --cohort COHORT.csv -o OUT.csv` (many)."""

from __future__ import annotations

from ..atomic import check_writable
from ..errors import OptionError
from ..progress import tqdm_bar
from .common import COUNT, add_ct_options, add_json, add_output, add_progress, ct_policy, emit, int_range


def register(sub) -> None:
    p = sub.add_parser("radiomics", help="pyradiomics features of the hematoma, for one scan or a cohort CSV")
    p.add_argument("ct", nargs="?", help="CT (DICOM folder, .nii(.gz), .nrrd, .mha)")
    p.add_argument("mask", nargs="?", help="label mask on the CT's grid")
    p.add_argument("--cohort", metavar="CSV", help="cohort CSV with columns id, ct, mask[, label] (paths relative to the CSV)")
    p.add_argument("--params", default="default", help="shape, default (107 features), full (1,316: + wavelet, LoG) or a pyradiomics parameter file")
    p.add_argument("--label", type=int_range(1, 255), default=1, help="label value to describe (default 1, IPH)")
    add_output(p, "-o", "--output", metavar="OUT.csv", help="write the features as CSV (one row per scan)", kind="file")
    p.add_argument("--workers", type=COUNT, default=1, help="cohort: worker processes (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_ct_options(p)
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run)


def _cohort(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..cohort import read_cohort
    from ..radiomics import extract_cohort

    if not args.output:
        raise OptionError(None, "--cohort needs -o OUT.csv")
    check_writable(args.output, args.overwrite)
    report, close = tqdm_bar("radiomics", enabled=not args.no_progress and not args.json)
    try:
        rows = extract_cohort([s.as_row() for s in read_cohort(args.cohort, require_mask=True)], args.params, out=args.output, workers=args.workers, progress=report)
    finally:
        close()
    failed = [r for r in rows if r["error"]]
    summary = {"output": args.output, "scans": len(rows), "failed": len(failed), "errors": {r["id"]: r["error"] for r in failed}}
    text = f"{args.output}: {len(rows) - len(failed)} of {len(rows)} scans extracted" + "".join(f"\n  {r['id']}: {r['error']}" for r in failed)
    emit(args, summary, text)
    return 0


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..io import load_ct, load_mask
    from ..radiomics import extract, write_rows

    if args.cohort:
        return _cohort(args)
    if not (args.ct and args.mask):
        raise OptionError(None, "give CT and MASK, or --cohort CSV")
    if args.output:
        check_writable(args.output, args.overwrite)
    ct = load_ct(args.ct, ct_policy(args))
    features = extract(ct, load_mask(args.mask, ct, extra_labels=(args.label,)), args.params, args.label)
    if args.output:
        write_rows([{"id": args.ct, "ct": args.ct, "mask": args.mask, "label": args.label, "error": ""} | features], args.output)
    text = "\n".join(f"{name}\t{value:.6g}" for name, value in features.items())
    emit(args, features, f"{text}\n{len(features)} features" + (f" -> {args.output}" if args.output else ""))
    return 0
