"""`ich demo`: the main job on the embedded default sample (a phantom head CT).

Makes the phantom, measures its hematoma (mesh / voxel / ABC/2), extracts its radiomics and
prints the result; the files land in OUTDIR so the user can open them in Slicer.
"""

from __future__ import annotations

from pathlib import Path

from .common import add_json, emit


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded phantom sample")
    p.add_argument("-o", "--outdir", default="ich-demo", help="output folder (default: ./ich-demo)")
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo")
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..atomic import check_writable, write_json
    from ..io import load_ct, load_mask
    from ..measure import measure
    from ..phantom import make_phantom, write_phantom
    from ..radiomics import extract

    outdir = Path(args.outdir)
    check_writable(outdir / "phantom_000_ct.nii.gz", args.overwrite)
    phantom = make_phantom(args.seed)
    files = write_phantom(phantom, outdir, "phantom_000", overwrite=True)
    ct = load_ct(files["ct"])
    labels = load_mask(files["labels"], ct)
    volumes = measure(labels).to_dict()
    features = extract(ct, labels, params="default", label=1)
    result = {
        "sample": "phantom (synthetic head CT, not a patient)",
        "files": {k: str(v) for k, v in files.items()},
        "truth_ml": phantom.volumes_ml,
        "volumes": volumes,
        "radiomics": {"n_features": len(features), "selected": {k: features[k] for k in sorted(features) if k.startswith("original_shape_")}},
    }
    write_json(outdir / "phantom_000_result.json", {**result, "radiomics": features})
    iph = volumes["IPH"]
    lines = [
        f"phantom sample written to {outdir}/ (synthetic head CT, not a patient)",
        f"IPH: mesh {iph['mesh_ml']:.2f} mL, voxel {iph['voxel_ml']:.2f} mL, ABC/2 {iph['abc2_ml']:.2f} mL (truth {phantom.volumes_ml['IPH']:.2f} mL)",
    ]
    if "IVH" in volumes:
        lines.append(f"IVH: mesh {volumes['IVH']['mesh_ml']:.2f} mL, voxel {volumes['IVH']['voxel_ml']:.2f} mL")
    lines.append(f"radiomics: {len(features)} features (default parameters); all results in {outdir}/phantom_000_result.json")
    emit(args, result, "\n".join(lines))
    return 0
