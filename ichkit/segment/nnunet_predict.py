"""Inference with nnU-Net v2's own predictor on a trained results folder (the reference path).

`model_dir` is nnU-Net's `Trainer__Plans__3d_fullres` folder (plans.json, dataset.json,
fold_*/checkpoint_final.pth); every trained fold is ensembled, as nnU-Net does. The network is
handed to the predictor directly (manual initialisation), so trainer classes defined outside
nnU-Net (ours) need no registration. For CPU deployment `lean.py` gives the same masks faster.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..image import Volume
from ..progress import Progress, silent
from .nnunet_model import class_lookup, load_network
from .nnunet_env import nnunet_quiet_stdout
from .result import SegmentationResult

CHECKPOINT = "checkpoint_final.pth"


class NnUNetSegmenter:
    def __init__(self, model_dir: str | Path, device: str = "cpu", tta: bool = False, folds: list[int | str] | None = None,
                 model_id: str | None = None, step_size: float = 0.5):
        self.model_dir = Path(model_dir)
        self.folds = folds or sorted(p.parent.name.removeprefix("fold_") for p in self.model_dir.glob(f"fold_*/{CHECKPOINT}"))
        if not self.folds:
            raise ModelError(self.model_dir, f"holds no trained fold (fold_*/{CHECKPOINT})")
        self.device, self.tta, self.step_size = device, tta, step_size
        self.model_id = model_id or self.model_dir.parent.name
        self._predictor = None

    def _build(self):
        # deferred: torch and nnU-Net load only when the predictor is built (the engine table imports this module)
        import torch
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        weights = []
        for fold in self.folds:
            network, plans, dataset, ckpt, config = load_network(self.model_dir, fold, CHECKPOINT)
            weights.append(network.state_dict())
        with nnunet_quiet_stdout():
            predictor = nnUNetPredictor(tile_step_size=self.step_size, use_gaussian=True, use_mirroring=self.tta,
                                        perform_everything_on_device=self.device != "cpu", device=torch.device(self.device),
                                        verbose=False, allow_tqdm=False)
        predictor.manual_initialization(network, PlansManager(plans), config, weights, dataset, ckpt["trainer_name"],
                                        ckpt.get("inference_allowed_mirroring_axes"))
        self.classes = {v: k for k, v in dataset["labels"].items()}
        return predictor

    def predict(self, ct: Volume, progress: Progress = silent) -> SegmentationResult:
        if self._predictor is None:
            self._predictor = self._build()
        progress(0, 1, "nnU-Net predictor")
        image = np.ascontiguousarray(ct.array, dtype=np.float32)[None]
        classes = self._predictor.predict_single_npy_array(image, {"spacing": list(ct.spacing[::-1])}, None, None, False)
        progress(1, 1, "nnU-Net predictor")
        lut, names = class_lookup(self.classes)
        labels = ct.with_array(lut[np.asarray(classes, dtype=np.uint8)], segments=names)
        return SegmentationResult(labels=labels, probabilities=None, model_id=self.model_id, class_names=names)
