"""`ich demo`: the main job on the embedded default sample (a phantom head CT).

Makes the phantom, segments it with the best installed model (the phantom-trained demo model on
a fresh install), measures the hematoma (mesh / voxel / ABC/2), extracts its radiomics and
prints the result beside the phantom's ground truth; the files land in OUTDIR for Slicer.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_writable, write_json
from ..labels import IPH
from ..models.registry import DEMO_NOTICE
from .common import add_json, add_output, emit, int_range
from .report_cmd import summary_text


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded phantom sample")
    add_output(p, "-o", "--outdir", default="ich-demo", help="output folder (default: ./ich-demo)", kind="folder")
    p.add_argument("--seed", type=int_range(0), default=0, help="phantom seed (default 0)")
    p.add_argument("--model", metavar="ID", help="segmentation model (default: the best installed one)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo")
    add_json(p)
    p.set_defaults(func=run)


def _dice(a, b) -> float:
    total = int(a.sum() + b.sum())
    return 2 * int((a & b).sum()) / total if total else 1.0


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..anatomy.text import readout_lines
    from ..app.segment import model_record, output_paths
    from ..io import load_ct, load_mask, save_labelmap
    from ..measure import measure
    from ..phantom import make_phantom, write_phantom
    from ..radiomics import extract
    from ..report import FILES, TimePoint, build_report, render, run_readout_safely, write_report
    from ..scores import Clinical
    from ..segment.run import segment_ct
    from ..segment.source import MaskSource

    outdir = Path(args.outdir)
    name = f"phantom_{args.seed:03d}"
    paths = output_paths(outdir, name)
    for path in (outdir / f"{name}_ct.nii.gz", paths["labels_nifti"], paths["labels_seg_nrrd"], outdir / f"{name}_result.json",
                 *(outdir / f for f in FILES)):
        check_writable(path, args.overwrite)
    files = write_phantom(make_phantom(args.seed), outdir, name, overwrite=True)
    ct = load_ct(files["ct"])
    truth = load_mask(files["labels"], ct)
    seg = segment_ct(ct, args.model)
    save_labelmap(seg.labels, paths["labels_nifti"], overwrite=True)
    save_labelmap(seg.labels, paths["labels_seg_nrrd"], overwrite=True)
    volumes = measure(seg.labels).to_dict()
    truth_volumes = measure(truth).to_dict()
    model = model_record(seg.entry)
    result = {
        "sample": "phantom (synthetic head CT, not a patient)",
        "model": model,
        "notice": DEMO_NOTICE if seg.entry.demo else None,
        "volumes": volumes,
        "truth": {k: {"voxel_ml": v["voxel_ml"], "mesh_ml": v["mesh_ml"]} for k, v in truth_volumes.items()},
        "dice_iph": _dice(seg.labels.array == IPH, truth.array == IPH),
    }
    lines = [f"phantom sample in {outdir}/ (synthetic head CT, not a patient)",
             f"segmented by {seg.entry.id} {seg.entry.version}" + (f" - {DEMO_NOTICE}" if seg.entry.demo else "")]
    for key in ("IPH", "IVH"):
        if key in volumes or key in truth_volumes:
            v = volumes.get(key, {"mesh_ml": 0.0, "voxel_ml": 0.0, "abc2_ml": 0.0})
            lines.append(f"{key}: mesh {v['mesh_ml']:.2f} mL, voxel {v['voxel_ml']:.2f} mL, ABC/2 (main hematoma) {v['abc2_ml']:.2f} mL "
                         f"(truth {truth_volumes.get(key, {}).get('voxel_ml', 0.0):.2f} mL)")
    lines.append(f"IPH Dice against the phantom's truth: {result['dice_iph']:.3f}")
    if (seg.labels.array == IPH).any():
        features = extract(ct, seg.labels, params="default", label=IPH)
        result["radiomics"] = features
        lines.append(f"radiomics of the segmented IPH: {len(features)} features (default parameters)")
    point = TimePoint("baseline", ct, seg.labels, MaskSource.from_model(model, paths["labels_nifti"]),
                      run_readout_safely(ct, seg.labels))
    report = build_report([point], Clinical())  # no clinical inputs: the scores say what they miss
    write_report(render([point], report), outdir, overwrite=True)
    result["readout"], result["scores"] = report["timepoints"][0].get("readout"), report["scores"]
    lines += readout_lines(report["timepoints"][0]["readout"]) + [summary_text(report)]
    write_json(outdir / f"{name}_result.json", result)
    lines.append(f"all results in {outdir}/{name}_result.json; the clinical report in {outdir}/report.html")
    emit(args, {k: v for k, v in result.items() if k != "radiomics"} | {"n_features": len(result.get("radiomics", {}))}, "\n".join(lines))
    return 0
