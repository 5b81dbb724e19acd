"""`ich readout CT --mask M [-o OUT]`: where the hemorrhage is (atlas regions, side, class), the
NCCT expansion signs and the midline shift, each with its definition version; readout.json and
PNG key images in OUT."""

from __future__ import annotations

from pathlib import Path

from ..anatomy.text import readout_lines
from ..atomic import atomic_files, check_writable, write_json
from ..progress import tqdm_bar
from .common import add_ct_options, add_json, ct_policy, emit


def register(sub) -> None:
    p = sub.add_parser("readout", help="imaging read-out: atlas location, expansion signs, midline shift")
    p.add_argument("ct", help="CT: NIfTI, NRRD, MHA or a DICOM folder")
    p.add_argument("--mask", required=True, help="hemorrhage labels on the CT grid (1 IPH, 2 IVH, 3 edema, 4 EAH)")
    p.add_argument("-o", "--output", default=None, help="output folder: readout.json and the key images (PNG)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_ct_options(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..anatomy.atlas import load_atlas
    from ..anatomy.readout import run_readout
    from ..io import load_ct, load_mask
    from ..report.key_images import readout_images

    out = Path(args.output) if args.output else None
    if out is not None:
        check_writable(out / "readout.json", args.overwrite)  # fail before the work
    load_atlas()  # a missing atlas: one line naming the install command, before reading the scan
    ct = load_ct(args.ct, ct_policy(args))
    mask = load_mask(args.mask, ct)
    report, close = tqdm_bar("readout", enabled=not args.json)
    try:
        readout = run_readout(ct, mask, progress=report)
    finally:
        close()
    lines = readout_lines(readout)
    payload = {"readout": readout}
    if out is not None:
        images = readout_images(ct, mask, readout)
        paths = {name: check_writable(out / name, args.overwrite) for name in [*images, "readout.json"]}
        with atomic_files(paths, {name: ".png" for name in images}) as tmp:  # the key images and readout.json: all or none
            for name, png in images.items():
                tmp[name].write_bytes(png)
            write_json(tmp["readout.json"], {**readout, "images": sorted(images)})
        payload.update(output=out, images=sorted(images))
        lines.append(f"written to {out} (readout.json, {len(images)} key images)")
    emit(args, payload, "\n".join(lines))
    return 0
