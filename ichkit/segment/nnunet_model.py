"""What an nnU-Net v2 model folder and its TorchScript export hold, read by the inference engines
(`lean.py`, `nnunet_predict.py`), the benchmarks and the exporter (`training/export.py`): the file
names, the facts format, the class lookup and the network loader.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checkpoint import load_checkpoint
from ..errors import ModelError
from ..labels import label_for_name

NETWORK_FILE = "network.pt"
FACTS_FILE = "preprocessing.json"
PLANS_FILE = "plans.json"
DATASET_FILE = "dataset.json"
FACTS_FORMAT = "ichkit-nnunet-torchscript"
FACTS_VERSION = 1
CONFIGURATION = "3d_fullres"


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(path, f"is not readable JSON ({exc})") from None


def class_lookup(classes: dict[int, str]):
    """Network class index -> product label value (by name, `ichkit.labels`), as a uint8 lookup table,
    plus {product value: the model's class name}; unknown names keep their index."""
    lut = np.zeros(256, np.uint8)
    names = {}
    for k, name in classes.items():
        if k:
            label = label_for_name(name)
            lut[k] = label.value if label else k
            names[int(lut[k])] = name
    return lut, names


def load_network(model_dir: Path, fold: int | str, checkpoint: str = "checkpoint_final.pth"):
    """nnU-Net's network for one fold, weights loaded, deep supervision off; plus (plans, dataset, checkpoint)."""
    # deferred: nnU-Net (and torch) load only when a network is loaded (the bench and the lean engine import this module)
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    model_dir = Path(model_dir)
    plans, dataset = read_json(model_dir / PLANS_FILE), read_json(model_dir / DATASET_FILE)
    ckpt_path = model_dir / f"fold_{fold}" / checkpoint
    if not ckpt_path.is_file():
        raise ModelError(ckpt_path, "does not exist (the fold is not trained, or training has not finished)")
    ckpt = load_checkpoint(ckpt_path)
    manager = PlansManager(plans)
    config = manager.get_configuration(model_dir.name.split("__")[-1] if "__" in model_dir.name else CONFIGURATION)
    labels = manager.get_label_manager(dataset)
    network = get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                     config.network_arch_init_kwargs_req_import, 1, labels.num_segmentation_heads,
                                     allow_init=True, deep_supervision=False)
    state = {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in ckpt["network_weights"].items()}
    network.load_state_dict(state)
    return network.eval(), plans, dataset, ckpt, config
