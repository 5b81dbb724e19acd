"""`ich segment CT -o OUTDIR`: AI segmentation with a registry model, cleaned, measured, recorded.

Writes `<name>_seg.nii.gz`, `<name>.seg.nrrd` (Slicer segment names and colours),
`<name>_volumes.json` (volumes plus the provenance sidecar: model id, version, demo flag,
ichkit version, time) and, with --probabilities, `<name>_probabilities.nii.gz`. With
--ensemble N > 1, `<name>_disagreement.nii.gz` (per voxel, the fraction of the N networks whose
label differs from the ensemble's) and, in the JSON, each label's volume interval across them. Every output is
checked for --overwrite before the model runs, and written atomically.
"""

from __future__ import annotations

from pathlib import Path

from .common import add_json, add_progress, emit

from ..models.registry import DEMO_NOTICE


def register(subparsers) -> None:
    from ..segment.postprocess import MIN_COMPONENT_ML

    p = subparsers.add_parser("segment", help="AI hemorrhage segmentation with a registry model", description=__doc__)
    p.add_argument("ct", metavar="CT", help="head CT: DICOM folder, NIfTI, NRRD or MHA")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--model", metavar="ID", help="registry model (default: the best installed one; see `ich models list`)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    p.add_argument(
        "--min-component-ml", type=float, metavar="X", default=MIN_COMPONENT_ML,
        help="drop connected components smaller than X mL, per label (default: %(default)s)",
    )
    p.add_argument("--probabilities", action="store_true", help="also write the class probabilities (4D NIfTI)")
    p.add_argument("--ensemble", type=int, metavar="N", default=1,
                   help="average the first N of BLAST-CT's 12 networks (model blast-ct-v1 unless --model names another "
                        "BLAST-CT ensemble); N > 1 also reports each label's volume range across them and a disagreement map")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run)


def output_name(ct_path: Path) -> str:
    """The scan's name without its image suffix (a DICOM folder keeps its folder name)."""
    from ..io.formats import SEG_SUFFIX, VOLUME_SUFFIXES

    name = ct_path.resolve().name
    for suffix in (SEG_SUFFIX, *VOLUME_SUFFIXES, ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def output_paths(outdir: Path, name: str, probabilities: bool, ensemble: int = 1) -> dict[str, Path]:
    paths = {
        "labels_nifti": outdir / f"{name}_seg.nii.gz",
        "labels_seg_nrrd": outdir / f"{name}.seg.nrrd",
        "volumes_json": outdir / f"{name}_volumes.json",
    }
    if probabilities:
        paths["probabilities"] = outdir / f"{name}_probabilities.nii.gz"
    if ensemble > 1:
        paths["disagreement"] = outdir / f"{name}_disagreement.nii.gz"
    return paths


def ensemble_record(entry, result) -> dict:
    """Members, their voxel volumes and each label's [min, max] across them (JSON)."""
    return {
        "members": list(entry.members),
        "member_voxel_ml": result.member_voxel_ml,
        "interval_ml": {k: [min(v), max(v)] for k, v in result.member_voxel_ml.items()},
        "note": "each network's own mask, voxel volumes before small-component removal; "
                "disagreement: fraction of networks whose label differs from the ensemble's",
    }


def _device(requested: str | None) -> str:
    import torch

    from ..errors import OptionError

    if requested == "cuda" and not torch.cuda.is_available():
        raise OptionError(None, "--device cuda: no CUDA device is available (use --device cpu)")
    return requested or ("cuda" if torch.cuda.is_available() else "cpu")


def provenance(entry, device: str, ct_path: Path, postprocess: dict) -> dict:
    from datetime import datetime, timezone

    from .. import __version__

    return {
        "model": {"id": entry.id, "version": entry.version, "architecture": entry.architecture, "demo": entry.demo, "licence": entry.licence},
        "ichkit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "input": str(ct_path),
        "postprocess": postprocess,
    }


def save_probabilities(result, grid, path: Path, model_id: str) -> Path:
    """Class probabilities as one 4D NIfTI (x, y, z, class), on the CT grid."""
    import numpy as np
    import SimpleITK as sitk

    from ..atomic import atomic_path
    from ..errors import ModelError

    probs = getattr(result.probabilities, "array", result.probabilities)
    if probs is None:
        raise ModelError(model_id, "does not report class probabilities; run without --probabilities")
    channels = [grid.with_array(np.asarray(p, dtype=np.float32)).to_sitk() for p in probs]
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.JoinSeries(channels), str(tmp), useCompression=True)
    return path


def run(args) -> int:
    from dataclasses import asdict

    import SimpleITK as sitk

    from ..atomic import check_writable, write_json
    from ..errors import OptionError
    from ..io import load_ct, save_labelmap
    from ..measure import measure
    from ..models import default_segmentation_model, load_registry
    from ..progress import tqdm_bar
    from ..segment.run import segment_ct

    if args.min_component_ml < 0:
        raise OptionError(None, f"--min-component-ml {args.min_component_ml}: must be 0 or more")
    ct_path, outdir = Path(args.ct), Path(args.outdir)
    paths = output_paths(outdir, output_name(ct_path), args.probabilities, args.ensemble)
    for path in paths.values():
        check_writable(path, args.overwrite)
    registry = load_registry()
    if args.ensemble != 1:
        from ..segment.blast_ct import MODEL_ID, ensemble_entry

        entry = ensemble_entry(registry.get(args.model or MODEL_ID), args.ensemble)
    else:
        entry = registry.get(args.model) if args.model else default_segmentation_model(registry)
    device = _device(args.device)

    ct = load_ct(ct_path)
    show = not (args.no_progress or args.json)
    report, close = tqdm_bar(f"segment ({entry.id})", enabled=show)
    try:
        seg = segment_ct(ct, entry, device, min_component_ml=args.min_component_ml, probabilities=args.probabilities, progress=report)
    finally:
        close()
    result, labels, removed = seg.result, seg.labels, seg.removed

    if args.probabilities:
        save_probabilities(result, labels, paths["probabilities"], entry.id)
    if "disagreement" in paths:
        from ..atomic import atomic_path

        with atomic_path(paths["disagreement"]) as tmp:
            sitk.WriteImage(result.disagreement.to_sitk(), str(tmp), useCompression=True)
    save_labelmap(labels, paths["labels_nifti"], overwrite=args.overwrite)
    save_labelmap(labels, paths["labels_seg_nrrd"], overwrite=args.overwrite)
    volumes = measure(labels).to_dict()
    record = {
        "ct": str(ct_path),
        "files": {k: str(v) for k, v in paths.items()},
        "volumes": volumes,
        "provenance": provenance(entry, device, ct_path, {"min_component_ml": args.min_component_ml, "removed": asdict(removed)}),
    }
    if args.ensemble > 1:
        record["ensemble"] = ensemble_record(entry, result)
    write_json(paths["volumes_json"], record)

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
