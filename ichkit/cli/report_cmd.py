"""`ich report CT --mask M [--followup CT2 M2 ...] [clinical inputs] -o OUT`: the clinical report.

Writes OUT/report.json and OUT/report.html (printable, images inlined). Clinical inputs left out
make the scores "incomplete" with the list of what is missing; nothing is assumed. Every input is
checked, and both outputs for --overwrite, before any work; nothing is written on an error.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_writable
from .common import add_ct_options, add_json, ct_policy, emit


def register(sub) -> None:
    p = sub.add_parser("report", help="clinical report: volumes, read-out, ICH / BAT / BRAIN scores, follow-up table (JSON + HTML)", description=__doc__)
    p.add_argument("ct", metavar="CT", help="baseline head CT (DICOM folder, .nii(.gz), .nrrd, .mha)")
    p.add_argument("--mask", required=True, metavar="M", help="the baseline's label mask on the CT's grid")
    p.add_argument("--followup", action="append", nargs="+", metavar="CT2 M2", default=[], help="a follow-up CT and its mask (repeat for more)")
    p.add_argument("--age", type=float, help="age in years")
    p.add_argument("--gcs", type=float, help="Glasgow Coma Scale total at presentation (3-15)")
    p.add_argument("--onset-hours", type=float, help="hours from symptom onset (or last seen well) to the baseline CT")
    p.add_argument("--anticoagulant", choices=["none", "warfarin", "other"], help="anticoagulant at onset (BRAIN counts warfarin)")
    p.add_argument("--recurrent-ich", choices=["yes", "no"], help="a previous intracerebral hemorrhage")
    p.add_argument("--dicom-sr", action="store_true", help="also write report_sr.dcm, a DICOM SR of the volumes and complete scores for the PACS (CT given as a DICOM folder; it carries the series' patient identity, as a DICOM SEG does)")
    p.add_argument("--identifiers", action="store_true", help="put the input file paths into the report (left out by default)")
    p.add_argument("-o", "--outdir", required=True, help="output folder for report.json and report.html")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    add_ct_options(p)
    add_json(p)
    p.set_defaults(func=run)


def clinical_from(args):
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..scores import Clinical

    recurrent = None if args.recurrent_ich is None else args.recurrent_ich == "yes"
    gcs = args.gcs if args.gcs is None or args.gcs != int(args.gcs) else int(args.gcs)
    return Clinical(age=args.age, gcs=gcs, onset_hours=args.onset_hours, anticoagulant=args.anticoagulant, recurrent_ich=recurrent)


def request_of(args):
    """The parsed command line as the app layer's request, which checks it (the follow-up pairs,
    --dicom-sr's DICOM folder) once for `ich report` and every front end that starts it."""
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..app.report import ReportRequest

    return ReportRequest(Path(args.ct), Path(args.mask), Path(args.outdir), tuple(tuple(Path(p) for p in pair) for pair in args.followup),
                         clinical_from(args), args.dicom_sr, args.identifiers, args.overwrite)


def summary_text(report: dict) -> str:
    """The scores (and the follow-up verdicts) in a few lines; `ich demo` prints it too."""
    lines = []
    for s in report["scores"].values():
        total = s["total"] if s["total"] is not None else f"{s['possible_totals'][0]}-{s['possible_totals'][1]} possible"
        lines.append(f"{s['name']}: {s['status']}, {total} / {s['max_total']}" + (f" ({s['interpretation']})" if s["interpretation"] else "")
                     + (f"; missing: {', '.join(s['missing'])}" if s["missing"] else ""))
    for v in (report["followup"] or {}).get("expansion", []):
        lines.append(f"{v['followup']}: IPH {v['growth_ml']:+.2f} mL, HE {'YES' if v['expansion'] else 'no'}")
    if report["notice"]:
        lines.append(report["notice"])
    return "\n".join(lines)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..io import load_ct, load_mask
    from ..report import FILES, SR_FILE, TimePoint, build_report, render, run_readout_safely, write_report
    from ..segment.source import MaskSource

    request = request_of(args)  # bad clinical input and bad pairs fail before any loading
    for name in (*FILES, SR_FILE) if request.dicom_sr else FILES:
        check_writable(request.outdir / name, request.overwrite)
    loaded = []
    for i, (ct_path, mask_path) in enumerate(request.scans()):  # every input read and checked before the slow read-outs
        ct = load_ct(ct_path, ct_policy(args, series=i == 0))  # --series: the baseline's
        loaded.append((ct, load_mask(mask_path, ct), ct_path, mask_path))
    timepoints = [TimePoint("baseline" if i == 0 else f"follow-up {i}", ct, labels, MaskSource.of_mask(mask_path),
                            run_readout_safely(ct, labels), {"ct": str(ct_path), "mask": str(mask_path)})
                  for i, (ct, labels, ct_path, mask_path) in enumerate(loaded)]
    report = build_report(timepoints, request.clinical, identifiers=request.identifiers)
    files = render(timepoints, report)
    if request.dicom_sr:
        # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
        from ..report.dicom_sr import dicom_sr_bytes

        files[SR_FILE] = dicom_sr_bytes(report, request.ct)
    paths = write_report(files, request.outdir, overwrite=request.overwrite)
    emit(args, {"files": {k: str(v) for k, v in paths.items()}, "scores": report["scores"], "followup": report["followup"]},
         summary_text(report) + "\n" + "wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
