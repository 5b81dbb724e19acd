"""`ich segment CT -o OUTDIR`: AI segmentation with a registry model, cleaned, measured, recorded.

Writes `<name>_seg.nii.gz`, `<name>.seg.nrrd` (Slicer segment names and colours),
`<name>_volumes.json` (volumes plus the provenance sidecar: model id, version, demo flag,
ichkit version, time) and, with --probabilities, `<name>_probabilities.nii.gz`. With
--ensemble N > 1, `<name>_disagreement.nii.gz` (per voxel, the fraction of the N networks whose
label differs from the ensemble's) and, in the JSON, each label's volume interval across them.
Every output is checked for --overwrite before the model runs; the set is written all or nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..atomic import atomic_files, atomic_path, check_writable, write_json
from ..errors import ModelError, OptionError
from ..models import load_registry
from ..models.registry import DEMO_NOTICE
from ..progress import tqdm_bar
from ..segment.postprocess import MIN_COMPONENT_ML
from .common import NON_NEGATIVE, add_ct_options, add_device, add_json, add_output, add_progress, ct_policy, emit, resolve_device


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="AI hemorrhage segmentation with a registry model", description=__doc__)
    p.add_argument("ct", metavar="CT", help="head CT: DICOM folder, NIfTI, NRRD or MHA")
    add_output(p, "-o", "--outdir", required=True, help="output folder", kind="folder")
    p.add_argument("--model", metavar="ID", help="registry model (default: the best installed one; see `ich models list`)")
    add_device(p)
    p.add_argument(
        "--min-component-ml", type=NON_NEGATIVE, metavar="X", default=MIN_COMPONENT_ML,
        help="drop connected components smaller than X mL, per label (default: %(default)s)",
    )
    p.add_argument("--probabilities", action="store_true", help="also write the class probabilities (4D NIfTI)")
    p.add_argument("--ensemble", type=int, metavar="N", default=1,
                   help="average the first N of BLAST-CT's 12 networks (model blast-ct-v1 unless --model names another "
                        "BLAST-CT ensemble); N > 1 also reports each label's volume range across them and a disagreement map")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_ct_options(p)
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run)


def save_probabilities(result, grid, path: Path, model_id: str) -> Path:
    """Class probabilities as one 4D NIfTI (x, y, z, class), on the CT grid."""
    import SimpleITK as sitk  # deferred: SimpleITK loads only when the command runs, so `ich --help` stays fast

    probs = getattr(result.probabilities, "array", result.probabilities)
    if probs is None:
        raise ModelError(model_id, "does not report class probabilities; run without --probabilities")
    channels = [grid.with_array(np.asarray(p, dtype=np.float32)).to_sitk() for p in probs]
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.JoinSeries(channels), str(tmp), useCompression=True)
    return path


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    import SimpleITK as sitk
    from ..app.segment import ensemble_record, model_record, output_name, output_paths, provenance, volumes_record
    from ..io import load_ct, save_labelmap
    from ..measure import measure
    from ..segment.engines import default_segmentation_model
    from ..segment.run import segment_ct

    if args.min_component_ml < 0:
        raise OptionError(None, f"--min-component-ml {args.min_component_ml}: must be 0 or more")
    ct_path, outdir = Path(args.ct), Path(args.outdir)
    paths = output_paths(outdir, output_name(ct_path), args.probabilities, args.ensemble)
    for path in paths.values():
        check_writable(path, args.overwrite)
    registry = load_registry()
    if args.ensemble != 1:
        # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
        from ..segment.blast_ct import MODEL_ID, ensemble_entry

        entry = ensemble_entry(registry.get(args.model or MODEL_ID), args.ensemble)
    else:
        entry = registry.get(args.model) if args.model else default_segmentation_model(registry)
    device = resolve_device(args.device)

    ct = load_ct(ct_path, ct_policy(args))
    show = not (args.no_progress or args.json)
    report, close = tqdm_bar(f"segment ({entry.id})", enabled=show)
    try:
        seg = segment_ct(ct, entry, device, min_component_ml=args.min_component_ml, probabilities=args.probabilities, progress=report)
    finally:
        close()
    result, labels, removed = seg.result, seg.labels, seg.removed

    volumes = measure(labels).to_dict()
    record = volumes_record(ct_path, paths, volumes, provenance(
        model_record(entry), ct_path, device=device, postprocess={"min_component_ml": args.min_component_ml, "removed": asdict(removed)}))
    if args.ensemble > 1:
        record["ensemble"] = ensemble_record(entry, result)
    with atomic_files(paths) as tmp:  # the whole set or none of it (checked for --overwrite above)
        if args.probabilities:
            save_probabilities(result, labels, tmp["probabilities"], entry.id)
        if "disagreement" in paths:
            sitk.WriteImage(result.disagreement.to_sitk(), str(tmp["disagreement"]), useCompression=True)
        save_labelmap(labels, tmp["labels_nifti"], overwrite=True)
        save_labelmap(labels, tmp["labels_seg_nrrd"], overwrite=True)
        write_json(tmp["volumes_json"], record)

    lines = [f"mask produced by model {entry.id} {entry.version} on {device}"]
    if entry.demo:
        lines.append(DEMO_NOTICE)
        record["notice"] = DEMO_NOTICE
    lines += [f"{key}: {v['mesh_ml']:.2f} mL (mesh), {v['voxel_ml']:.2f} mL (voxels)" for key, v in volumes.items()] or ["no hemorrhage found"]
    if args.ensemble > 1:
        lines += [f"{k}: {lo:.2f}-{hi:.2f} mL across {args.ensemble} networks" for k, (lo, hi) in record["ensemble"]["interval_ml"].items()]
    lines += [f"wrote {p}" for p in paths.values()]
    emit(args, record, "\n".join(lines))
    return 0
