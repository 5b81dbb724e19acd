"""Export an nnU-Net v2 trained fold as TorchScript plus the preprocessing facts it needs.

Why: nnU-Net's predictor pulls in its planners, readers and multiprocessing for every scan; the
lean path (`lean.py`) needs only the traced network and a handful of numbers from plans.json:
target spacing, CT normalisation, patch size, axis transposition, mirror axes, class names.
plans.json and dataset.json travel along, so that `nnunet_model_folder` can turn an export back
into an nnU-Net model folder (its own predictor, or fine-tuning from the shipped weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...atomic import atomic_path, write_json
from ...errors import ModelError
from ..nnunet_model import (CONFIGURATION, DATASET_FILE, FACTS_FILE, FACTS_FORMAT, FACTS_VERSION, NETWORK_FILE, PLANS_FILE,
                            load_network, read_json)


def preprocessing_facts(plans: dict, dataset: dict, ckpt: dict, config) -> dict:
    """Everything the lean sliding window needs, in the network's axis order (see `transpose_forward`)."""
    scheme = config.normalization_schemes[0]
    if scheme != "CTNormalization":
        raise ModelError(None, f"normalisation {scheme!r} is not supported by the TorchScript export (CT models only)")
    props = plans["foreground_intensity_properties_per_channel"]["0"]
    labels = dataset["labels"]
    if not all(isinstance(v, int) for v in labels.values()):
        raise ModelError(None, "region-based nnU-Net models are not supported by the TorchScript export")
    return {
        "format": FACTS_FORMAT,
        "version": FACTS_VERSION,
        "network": NETWORK_FILE,
        "axes": "network axes = the CT array [z, y, x] permuted by transpose_forward",
        "transpose_forward": list(plans["transpose_forward"]),
        "transpose_backward": list(plans["transpose_backward"]),
        "spacing": [float(s) for s in config.spacing],
        "patch_size": [int(p) for p in config.patch_size],
        # only nnU-Net's fully convolutional U-Nets (strides in their plans) run on other sizes than the patch
        "total_stride": ([int(v) for v in np.prod(np.asarray(config.pool_op_kernel_sizes), axis=0)]
                         if "strides" in config.network_arch_init_kwargs else None),
        "normalisation": {"method": "CTNormalization", "lower_hu": float(props["percentile_00_5"]), "upper_hu": float(props["percentile_99_5"]),
                          "mean": float(props["mean"]), "std": float(props["std"])},
        "mirror_axes": [int(a) for a in (ckpt.get("inference_allowed_mirroring_axes") or ())],
        "step_size": 0.5,
        "gaussian_sigma_scale": 0.125,
        "classes": {str(v): k for k, v in sorted(labels.items(), key=lambda kv: kv[1])},
        "source": {"dataset": plans.get("dataset_name"), "plans": plans.get("plans_name"), "trainer": ckpt.get("trainer_name"),
                   "epochs": ckpt.get("current_epoch")},
    }


def export_torchscript(model_dir: str | Path, fold: int | str, out_dir: str | Path, checkpoint: str = "checkpoint_final.pth",
                       half_weights: bool = False) -> list[Path]:
    """Trace the fold's network on one patch; write network.pt, preprocessing.json, plans.json and dataset.json into `out_dir`.

    `half_weights` stores the weights in float16 (half the file, for models shipped in a
    repository); the lean path turns them back into float32 when it loads them.
    """
    # deferred: torch loads only when a network is exported (the bench and the lean engine import this module)
    import torch

    network, plans, dataset, ckpt, config = load_network(Path(model_dir), fold, checkpoint)
    facts = preprocessing_facts(plans, dataset, ckpt, config)
    facts["weights_dtype"] = "float16" if half_weights else "float32"
    out_dir = Path(out_dir)
    with torch.no_grad():
        traced = torch.jit.trace(network, torch.zeros(1, 1, *facts["patch_size"]))
    if half_weights:
        traced = traced.half()
    with atomic_path(out_dir / NETWORK_FILE) as tmp:
        torch.jit.save(traced, str(tmp))
    write_json(out_dir / FACTS_FILE, facts)
    write_json(out_dir / PLANS_FILE, plans)
    write_json(out_dir / DATASET_FILE, dataset)
    return [out_dir / name for name in (NETWORK_FILE, FACTS_FILE, PLANS_FILE, DATASET_FILE)]


def nnunet_model_folder(exported_dir: str | Path, out_dir: str | Path) -> Path:
    """An export back as an nnU-Net v2 model folder (plans.json, dataset.json, fold_all/checkpoint_final.pth).

    The traced network keeps every parameter under its original name, so its state_dict is the
    trained weights; nnU-Net's stock trainer name lets `nnUNetv2_predict_from_modelfolder` load it.
    """
    # deferred: torch loads only when an export is turned back into a model folder (the bench and the lean engine import this module)
    import torch

    exported_dir, out_dir = Path(exported_dir), Path(out_dir)
    missing = [n for n in (NETWORK_FILE, FACTS_FILE, PLANS_FILE, DATASET_FILE) if not (exported_dir / n).is_file()]
    if missing:
        raise ModelError(exported_dir, f"lacks {', '.join(missing)} (exported before plans travelled along: export it again)")
    facts, plans, dataset = (read_json(exported_dir / n) for n in (FACTS_FILE, PLANS_FILE, DATASET_FILE))
    weights = torch.jit.load(str(exported_dir / NETWORK_FILE), map_location="cpu").float().state_dict()
    ckpt = {"network_weights": dict(weights), "trainer_name": "nnUNetTrainer", "current_epoch": facts["source"].get("epochs"),
            "init_args": {"plans": plans, "configuration": CONFIGURATION, "fold": "all", "dataset_json": dataset},
            "inference_allowed_mirroring_axes": tuple(facts["mirror_axes"])}
    write_json(out_dir / PLANS_FILE, plans)
    write_json(out_dir / DATASET_FILE, dataset)
    with atomic_path(out_dir / "fold_all" / "checkpoint_final.pth") as tmp:
        torch.save(ckpt, tmp)
    return out_dir
