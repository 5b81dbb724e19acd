"""`ich predict CT [--mask MASK] --task he|ht|location|all -o OUT`: classifier probabilities with
an uncertainty interval, Grad-CAM heatmaps on the CT grid (NIfTI) and PNG overlays."""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_writable, write_json
from ..errors import OptionError, warn
from .common import COUNT, add_ct_options, add_device, add_json, add_output, ct_policy, emit, resolve_device

TASK_CHOICES = ("he", "ht", "location", "all")


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify a CT: hematoma expansion, haemorrhagic transformation, location")
    p.add_argument("ct", help="CT: NIfTI, NRRD, MHA or a DICOM folder")
    p.add_argument("--mask", default=None, help="hematoma mask on the CT grid (needed by --task he)")
    p.add_argument("--task", required=True, choices=TASK_CHOICES, help="which classifier(s); all = the three")
    p.add_argument("--model", default=None, help="model id from the registry or a training folder (single task only; default: the task's demo model)")
    p.add_argument("--passes", type=COUNT, default=None, help="MC-dropout passes for the 90%% interval (default 20)")
    p.add_argument("--no-cam", action="store_true", help="skip the Grad-CAM heatmaps")
    add_device(p)
    add_output(p, "-o", "--output", required=True, help="output folder (predictions.json, <task>_gradcam.nii.gz, <task>_overlay_*.png)", kind="folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_ct_options(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..classify.predict import MC_PASSES, load_classifier, predict
    from ..classify.explain import overlay_png
    from ..io import load_ct, load_mask, save_volume

    tasks = ["he", "ht", "location"] if args.task == "all" else [args.task]
    if args.model and len(tasks) > 1:
        raise OptionError(None, "--model names one model: use it with a single --task")
    ct = load_ct(args.ct, ct_policy(args))
    mask = load_mask(args.mask, ct) if args.mask else None
    if mask is None and args.task == "all":
        warn(args.ct, "no --mask: the HE classifier (ROI slices around the hematoma) is skipped")
        tasks.remove("he")
    out = Path(args.output)
    report_path = check_writable(out / "predictions.json", args.overwrite)
    device = resolve_device(args.device)
    results, lines = {}, []
    for task in tasks:
        clf = load_classifier(task, args.model, device)
        pred = predict(clf, ct, mask, passes=args.passes or MC_PASSES, cam=not args.no_cam, device=device)
        if pred.heatmap is not None:
            heat = save_volume(ct.with_array(pred.heatmap, kind="gradcam"), out / f"{task}_gradcam.nii.gz", overwrite=args.overwrite)
            pred.result["heatmap"] = heat.name
            pred.result["overlays"] = [overlay_png(img, cam, check_writable(out / f"{task}_overlay_{z:03d}.png", args.overwrite)).name
                                       for z, img, cam in pred.previews]
        results[task] = pred.result
        lo, hi = pred.result["interval"]
        note = f"  [{pred.result['warning']}]" if pred.result.get("warning") else ""
        lines.append(f"{task}: {pred.result['class']} (p={pred.result['probability']:.3f}, 90% interval {lo:.3f}-{hi:.3f}){note}")
    write_json(report_path, {"ct": str(args.ct), "mask": args.mask, "results": results})
    emit(args, {"output": out, "results": results}, "\n".join(lines + [f"written to {out}"]))
    return 0
