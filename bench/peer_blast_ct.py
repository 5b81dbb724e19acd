"""Runs the peer (blast-ct 2.1.0 from PyPI) inside ITS OWN interpreter ($ICH_PEER_PYTHON).

Used by Testing/test_blast_ct.py and bench/bench_blast_ct.py through a subprocess, so the peer's
code never shares a process (or a venv) with ichkit. Two commands:

  patch WEIGHTS IN.npy OUT.npy         the peer's DeepMedic on patches (N, 1, D, H, W) -> softmax
  grid CT.nii.gz OUT.npy               the peer's reoriented 1 mm input grid (voxels; geometry in OUT.npy.json)
  infer WEIGHTS... --image CT.nii.gz --out MASK.nii.gz
                                       the peer's own test-time pipeline (reorient, 1 mm, 30^3
                                       tiles, back to native), as its `blast-ct` command runs it
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch


def run_patch(args: argparse.Namespace) -> None:
    from blast_ct.models.deepmedic import DeepMedic

    model = DeepMedic(input_channels=1, num_classes=5)
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    x = torch.from_numpy(np.load(args.input))
    with torch.no_grad():
        logits, _ = model(x)
    np.save(args.output, torch.softmax(logits, dim=1).numpy())


def run_grid(args: argparse.Namespace) -> None:
    import SimpleITK as sitk
    from blast_ct.nifti.rescale import reorient_image, rescale

    img = rescale([1.0, 1.0, 1.0], reorient_image(sitk.ReadImage(args.image), False))
    np.save(args.output, sitk.GetArrayFromImage(img))
    with open(args.output + ".json", "w") as f:
        json.dump({"origin": img.GetOrigin(), "direction": img.GetDirection()}, f)


def run_infer(args: argparse.Namespace) -> None:
    import pandas as pd
    from blast_ct.inference import run_inference

    config = os.path.join(os.path.dirname(__import__("blast_ct").__file__), "data", "config.json")
    job = tempfile.mkdtemp(prefix="blast_ct_peer_")
    try:
        csv = os.path.join(job, "test.csv")
        pd.DataFrame({"id": ["im_0"], "image": [os.path.abspath(args.image)]}).to_csv(csv, index=False)
        if args.batch_size:
            with open(config) as f:
                cfg = json.load(f)
            cfg["test"]["batch_size"] = args.batch_size
            config = os.path.join(job, "config.json")
            with open(config, "w") as f:
                json.dump(cfg, f)
        run_inference(job_dir=os.path.join(job, "run"), test_csv_path=csv, config_file=config, device="cpu",
                      saved_model_paths=" ".join(args.weights), write_prob_maps=False, do_localisation=False,
                      save_atlas_and_brain_mask_native_space=False, num_reg_runs=1, overwrite=True,
                      native_space=True)
        shutil.copyfile(os.path.join(job, "run", "predictions", "im_0_prediction.nii.gz"), args.out)
    finally:
        shutil.rmtree(job, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("patch")
    p.add_argument("weights")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=run_patch)
    p = sub.add_parser("grid")
    p.add_argument("image")
    p.add_argument("output")
    p.set_defaults(func=run_grid)
    p = sub.add_parser("infer")
    p.add_argument("weights", nargs="+")
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=0, help="0: the peer's config (32 on CPU)")
    p.set_defaults(func=run_infer)
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
