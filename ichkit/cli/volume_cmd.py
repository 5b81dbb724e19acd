"""`ich volume CT MASK [--followup CT2 MASK2]`: mesh / voxel / ABC/2 volumes and the HE verdict."""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from ..labels import BY_KEY
from .common import NON_NEGATIVE, add_ct_options, add_json, ct_policy, emit


def register(sub) -> None:
    p = sub.add_parser("volume", help="hematoma volumes (mesh, voxel, ABC/2) and, with --followup, the expansion verdict")
    p.add_argument("ct", help="baseline CT (DICOM folder, .nii(.gz), .nrrd, .mha)")
    p.add_argument("mask", help="label mask on the CT's grid (.nii(.gz), .nrrd, .seg.nrrd)")
    p.add_argument("--followup", nargs=2, metavar=("CT2", "MASK2"), help="follow-up CT and mask: adds the hematoma expansion verdict")
    p.add_argument("--label-map", metavar="V=KEY,...", help="mask value to product label, e.g. '1=IPH,2=IVH,3=edema' (unlisted values are ignored)")
    p.add_argument("--abc2", choices=["count", "kothari"], default="count", help="ABC/2's C: every slice with hematoma (default) or Kothari's 1/0.5/0 weights")
    p.add_argument("--abc2-all", action="store_true", help="ABC/2 over every component of a label together (default: the main hematoma, its largest connected component)")
    p.add_argument("--abc2-components", action="store_true", help="also list ABC/2 and voxel volume of each connected component")
    p.add_argument("--abs-ml", type=NON_NEGATIVE, default=6.0, help="HE: absolute growth above this (mL, default 6)")
    p.add_argument("--rel", type=NON_NEGATIVE, default=0.33, help="HE: relative growth above this (default 0.33)")
    p.add_argument("--ivh-growth-ml", type=NON_NEGATIVE, default=1.0, help="revised HE: IVH growth of at least this (mL, default 1)")
    add_ct_options(p)
    add_json(p)
    p.set_defaults(func=run)


def parse_label_map(text: str | None) -> dict[int, int]:
    """'1=IPH,2=IVH' -> {1: 1, 2: 2} (mask value -> product label value)."""
    if not text:
        return {}
    mapping = {}
    for item in text.split(","):
        value, _, key = item.partition("=")
        label = BY_KEY.get(key.strip().lower())
        if not value.strip().isdigit() or int(value) > 255 or label is None:
            raise OptionError(None, f"--label-map: bad entry {item!r}; expected VALUE=KEY with KEY one of IPH, IVH, edema, EAH")
        mapping[int(value)] = label.value
    return mapping


def _load(ct_path, mask_path, mapping, policy=None):
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..io import load_ct, load_mask

    ct = load_ct(ct_path, policy)
    mask = load_mask(mask_path, ct, extra_labels=range(256) if mapping else ())  # a map names every value it uses
    if mapping:
        lut = np.zeros(256, dtype=np.uint8)
        for value, label in mapping.items():
            lut[value] = label
        mask = mask.with_array(lut[mask.array])
    return mask


def _table(name: str, measures) -> str:
    lines = [f"{name}", f"  {'region':<11}{'mesh mL':>9}{'voxel mL':>10}{'ABC/2 mL':>10}{'slices':>8}{'max slice':>11}{'parts':>7}"]
    for key, r in measures.regions.items():
        lines.append(f"  {key:<11}{r.mesh_ml:>9.2f}{r.voxel_ml:>10.2f}{r.abc2_ml:>10.2f}{r.slices:>8d}{r.max_area_slice:>11d}{r.components:>7d}")
        for part in r.abc2_components or ():
            lines.append(f"    component {part['component']}: voxel {part['voxel_ml']:.2f} mL, ABC/2 {part['abc2_ml']:.2f} mL")
    scope = next(iter(measures.regions.values())).abc2_scope if measures.regions else ""
    return "\n".join(lines + [f"  ABC/2 of the {scope}"] if scope else lines)


def _verdict_text(v) -> str:
    rel = f"{v.relative_growth:+.0%}" if v.relative_growth is not None else "n/a"
    flags = ", ".join(f"{k}: {'yes' if on else 'no'}" for k, on in v.thresholds.items())
    text = f"{v.region} {v.baseline_ml:.2f} -> {v.followup_ml:.2f} mL ({v.growth_ml:+.2f} mL, {rel}): HE {'YES' if v.expansion else 'no'}\n  {flags}"
    if v.revised_expansion is not None:
        text += f"\n  revised HE (IVH {v.ivh_baseline_ml:.2f} -> {v.ivh_followup_ml:.2f} mL): {'YES' if v.revised_expansion else 'no'}"
    return text


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..measure.expansion import expansion_verdict
    from ..measure import measure

    mapping = parse_label_map(args.label_map)
    opts = dict(c_rule=args.abc2, abc2_scope="all" if args.abc2_all else "main", per_component=args.abc2_components)
    baseline = measure(_load(args.ct, args.mask, mapping, ct_policy(args)), **opts)
    payload = {"baseline": baseline.to_dict(), "abc2_c_rule": args.abc2}
    text = [_table(f"baseline {args.mask}", baseline)]
    if args.followup:
        followup = measure(_load(*args.followup, mapping, ct_policy(args, series=False)), **opts)
        verdict = expansion_verdict(baseline.to_dict(), followup.to_dict(), abs_ml=args.abs_ml, rel=args.rel, ivh_growth_ml=args.ivh_growth_ml)
        payload |= {"followup": followup.to_dict(), "expansion": verdict.to_dict()}
        text += [_table(f"follow-up {args.followup[1]}", followup), _verdict_text(verdict)]
    emit(args, payload, "\n".join(text))
    return 0
