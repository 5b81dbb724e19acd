"""The whole analysis of one scan on this machine's cores (issue 19's goal: <= 30 s on 2 cores):
segmentation with blast-ct-v1-single, volumes, full radiomics, the imaging read-out and the
classifiers, as a user runs them in one session: `ich segment`, `ich radiomics --params full`,
`ich readout` and `ich predict --task all` called one after another in one process (the imports
are paid once, as in the workstation or a batch worker). The baseline, in the same run, is the same
chain with BLAST-CT on the full grid (the path before the intracranial mask). Input: the
real-geometry phantom of bench/bench_blast_ct.py (skull, scalp, head holder, 0.48 x 0.48 x 5 mm,
512 x 512 x 28, int16 HU, gantry tilted 15 degrees). Each chain is its own process: wall seconds
and peak RSS of its tree (bench/measure.py); each step's seconds are printed by the chain.

  .venv/bin/python bench/bench_analysis.py [--weights DIR] [--no-baseline]

The weights are imported into a private model cache (the user's cache stays untouched).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # children run without PYTHONPATH (bench/measure.py): this tree, not an installed ichkit
sys.path.insert(0, str(ROOT / "bench"))
from measure import run_measured  # noqa: E402

WEIGHTS = ROOT.parent / "shared" / "models" / "blast-ct-v1"
SHAPE, SPACING, SEED, TILT = (28, 512, 512), (0.48, 0.48, 5.0), 0, (15.0, 0.0)


def chain(ct: str, out: str, full_grid: bool) -> None:
    """Child process: the four commands in a row, each step's wall seconds."""
    t0 = time.perf_counter()
    from ichkit.cli import main as ich

    if full_grid:  # the baseline: BLAST-CT as it ran before the intracranial mask
        from ichkit.segment import blast_ct

        blast_ct.BlastCTSegmenter.__init__.__kwdefaults__["intracranial"] = False
    mask = f"{out}/seg/ct_seg.nii.gz"
    steps = [("segment", ["segment", ct, "-o", f"{out}/seg", "--model", "blast-ct-v1-single", "--no-progress"]),
             ("radiomics full", ["radiomics", ct, mask, "--params", "full", "-o", f"{out}/radiomics.csv", "--no-progress"]),
             ("read-out", ["readout", ct, "--mask", mask, "-o", f"{out}/readout.json"]),
             ("classifiers", ["predict", ct, "--mask", mask, "--task", "all", "-o", f"{out}/predict"])]
    for name, argv in steps:
        t = time.perf_counter()
        rc = ich(argv)
        print(f"  {name:15s} {time.perf_counter() - t:6.1f} s (exit {rc})", flush=True)
        if rc:
            sys.exit(rc)
    print(f"  {'chain':15s} {time.perf_counter() - t0:6.1f} s from process start (imports included)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=WEIGHTS)
    p.add_argument("--no-baseline", action="store_true", help="skip the full-grid chain")
    p.add_argument("--chain", nargs=3, metavar=("CT", "OUT", "FULL"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.chain:
        return chain(args.chain[0], args.chain[1], args.chain[2] == "1")
    with tempfile.TemporaryDirectory(prefix="bench_analysis_") as tmp:
        os.environ["ICHKIT_CACHE"] = f"{tmp}/cache"  # inherited by the chains
        import SimpleITK as sitk

        from ichkit.models.importer import import_models
        from ichkit.phantom import make_phantom
        from ichkit.phantom.tilt import tilt

        import_models(args.weights)
        ph = tilt(make_phantom(SEED, shape=SHAPE, spacing=SPACING, brace=True), *TILT)
        ct = f"{tmp}/ct.nii.gz"
        sitk.WriteImage(ph.ct.to_sitk(), ct)
        print(f"phantom seed {SEED}: {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} at {SPACING} mm, head holder, tilt {TILT} deg; "
              f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}; truth {ph.volumes_ml}", flush=True)
        rows = []
        for name, full in [("ours (inside the skull)", "0")] + ([] if args.no_baseline else [("baseline (full grid)", "1")]):
            print(f"running {name} ...", flush=True)
            wall, gb = run_measured([sys.executable, str(Path(__file__).resolve()), "--chain", ct, f"{tmp}/{full}", full])
            rows.append((name, wall, gb))
            print(f"  {wall:.1f} s wall, {gb:.2f} GB peak", flush=True)
    print(f"\n{'chain':26s} {'wall s':>7s} {'peak GB':>8s}")
    for name, wall, gb in rows:
        print(f"{name:26s} {wall:7.1f} {gb:8.2f}" + (f"  {rows[1][1] / wall:.2f}x faster than the baseline" if wall is rows[0][1] and len(rows) > 1 else ""))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
