"""`ich inspect CT`: load and validate a CT, print its geometry and intensity summary."""

from __future__ import annotations

import numpy as np

from .common import add_ct_options, add_json, ct_policy, emit


def register(sub) -> None:
    p = sub.add_parser("inspect", help="load and validate a CT; print geometry and HU summary")
    p.add_argument("ct", help="DICOM folder, .nii(.gz), .nrrd, .nhdr, .mha or .mhd")
    add_ct_options(p)
    add_json(p)
    p.set_defaults(func=run)


def summarize(vol) -> dict:
    a = vol.array
    return {
        "source": vol.meta.get("source"),
        "format": vol.meta.get("format"),
        "size_xyz": list(vol.shape[::-1]),
        "spacing_mm": list(vol.spacing),
        "origin_mm": list(vol.origin),
        "direction": vol.direction.round(6).tolist(),
        "hu": {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean()), "p50": float(np.median(a))},
        "tilt_corrected": bool(vol.meta.get("tilt_corrected", False)),
        "z_resampled": bool(vol.meta.get("z_resampled", False)),
        "acquisition": {k: vol.meta[k] for k in ("Modality", "Manufacturer", "SliceThickness", "KVP", "ConvolutionKernel") if k in vol.meta},
    }


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..io import load_ct

    vol = load_ct(args.ct, ct_policy(args))
    info = summarize(vol)
    sx, sy, sz = info["size_xyz"]
    text = (
        f"{args.ct}: CT {sx} x {sy} x {sz} voxels, spacing {' x '.join(f'{s:.3g}' for s in vol.spacing)} mm, "
        f"HU {info['hu']['min']:.0f}..{info['hu']['max']:.0f} (median {info['hu']['p50']:.0f})"
    )
    emit(args, info, text)
    return 0
