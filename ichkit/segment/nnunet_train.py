"""Training a segmentation network with nnU-Net v2's Python API (plan, preprocess, train).

The steps are nnU-Net's own (fingerprint -> ExperimentPlanner -> DefaultPreprocessor ->
nnUNetTrainer); what we add is the preset (plans overrides and trainer hyperparameters),
patient-grouped folds, per-call folders, and checkpoints that `resume=True` continues from
(nnU-Net's checkpoint_final / checkpoint_latest / checkpoint_best, in that order).
Under torchrun (WORLD_SIZE > 1) every rank trains its share on its own GPU (nnU-Net's DDP).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..errors import OptionError
from ..progress import Progress, silent
from .dataset import SPLITS_JSON, check_dataset_dir, write_patient_splits
from .nnunet_env import NnUNetFolders, nnunet_env
from .presets import Preset

CONFIGURATION = "3d_fullres"
BASE_PLANS = "nnUNetPlans"
PREPARED_MARKER = "ichkit_prepared_{}.json"  # beside (not inside) nnU-Net's data folder, which it scans
CHECKPOINTS_FOR_RESUME = ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth")
N_FOLDS = 5


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path  # nnU-Net's Trainer__Plans__configuration folder (plans.json, dataset.json, fold_*/)
    fold: int | str
    epochs_done: int
    resumed_from_epoch: int

    @property
    def fold_dir(self) -> Path:
        return self.model_dir / f"fold_{self.fold}"


def _umamba_available(device: str) -> str | None:
    import importlib.util

    import torch

    missing = [what for what, ok in (("a CUDA GPU (--device cuda)", device == "cuda" and torch.cuda.is_available()),
                                     ("the mamba-ssm package", importlib.util.find_spec("mamba_ssm") is not None)) if not ok]
    if missing:
        return f"U-Mamba needs {' and '.join(missing)}, which this machine lacks; use --arch nnunet"
    return "U-Mamba's trainer is not bundled with this version of ichkit; use --arch nnunet"


# architecture -> check returning why it cannot run here (None: it can)
ARCHITECTURES = {"nnunet": lambda device: None, "umamba": _umamba_available}


def check_architecture(arch: str, device: str) -> None:
    if arch not in ARCHITECTURES:
        raise OptionError(None, f"--arch {arch}: unknown (known: {', '.join(ARCHITECTURES)})")
    problem = ARCHITECTURES[arch](device)
    if problem:
        raise OptionError(None, f"--arch {arch}: {problem}")


def derive_plans(plans: dict, preset: Preset) -> dict:
    """nnU-Net's plans with the preset's overrides applied to the 3d_fullres configuration only.

    Changing the patch size or the widths re-derives the topology with nnU-Net's own rule
    (get_pool_and_conv_props), so strides and kernels always fit the patch.
    """
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    plans = deepcopy(plans)
    name = f"{BASE_PLANS}_{preset.name}" if preset.custom_plans or preset.spacing else BASE_PLANS
    cfg = plans["configurations"][CONFIGURATION]
    if preset.spacing is not None:
        zyx = list(preset.spacing)[::-1]
        cfg["spacing"] = [float(zyx[i]) for i in plans["transpose_forward"]]
    arch = cfg["architecture"]["arch_kwargs"]
    if preset.patch_size or preset.base_features or preset.convs_per_stage or preset.spacing:
        patch = list(preset.patch_size or cfg["patch_size"])
        _, strides, kernels, patch, _ = get_pool_and_conv_props(cfg["spacing"], patch, preset.min_feature_map, 999999)
        n = len(strides)
        base = preset.base_features or arch["features_per_stage"][0]
        convs = preset.convs_per_stage or arch["n_conv_per_stage"][0]
        arch.update(n_stages=n, features_per_stage=[min(base * 2**i, preset.max_features) for i in range(n)],
                    kernel_sizes=kernels, strides=strides, n_conv_per_stage=[convs] * n, n_conv_per_stage_decoder=[convs] * (n - 1))
        cfg["patch_size"] = [int(p) for p in patch]
    if preset.batch_size is not None:
        cfg["batch_size"] = preset.batch_size
    if preset.intensity_window_hu is not None:
        lo, hi = preset.intensity_window_hu
        plans["foreground_intensity_properties_per_channel"]["0"].update(
            percentile_00_5=float(lo), percentile_99_5=float(hi), mean=(lo + hi) / 2, std=(hi - lo) / 4)
    cfg["data_identifier"] = f"{name}_{CONFIGURATION}"
    plans["plans_name"] = name
    plans["configurations"] = {CONFIGURATION: cfg}
    return plans


@contextlib.contextmanager
def _nnunet_quiet_stdout():
    """nnU-Net prints its logs; send them to stderr so our stdout stays machine-readable."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def prepare(dataset_dir: Path, folders: NnUNetFolders, preset: Preset, n_folds: int = N_FOLDS, processes: int | None = None) -> str:
    """Fingerprint, plan and preprocess once per plans variant; returns the plans identifier."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor

    name = dataset_dir.name
    pre = folders.preprocessed / name
    processes = processes or os.cpu_count() or 1
    base_file = pre / f"{BASE_PLANS}.json"
    if not base_file.is_file():
        DatasetFingerprintExtractor(name, processes, verbose=False).run(overwrite_existing=True)
        ExperimentPlanner(name, plans_name=BASE_PLANS).plan_experiment()
    plans = derive_plans(json.loads(base_file.read_text()), preset)
    plans_id = plans["plans_name"]
    marker = pre / PREPARED_MARKER.format(plans["configurations"][CONFIGURATION]["data_identifier"])
    if not marker.is_file():
        write_json(pre / f"{plans_id}.json", plans)
        DefaultPreprocessor(verbose=False).run(name, CONFIGURATION, plans_id, processes)
        gt = pre / "gt_segmentations"
        gt.mkdir(exist_ok=True)
        for label in sorted((dataset_dir / "labelsTr").iterdir()):
            shutil.copyfile(label, gt / label.name)
        write_json(marker, {"plans": plans_id, "dataset": str(dataset_dir)})
    write_patient_splits(dataset_dir, pre, n_folds)
    return plans_id


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _ddp_rank() -> tuple[int, int]:
    """(rank, world size) under torchrun; (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def train(
    dataset_dir: str | Path,
    work_dir: str | Path,
    preset: Preset,
    *,
    fold: int | str = 0,
    device: str = "cpu",
    resume: bool = False,
    progress: Progress = silent,
) -> TrainResult:
    """Plan, preprocess (first time only) and train one fold; `resume` continues the latest checkpoint."""
    import torch
    import torch.distributed as dist

    from .trainers import trainer_class

    dataset_dir = check_dataset_dir(dataset_dir)
    if not (dataset_dir / "dataset.json").is_file():
        raise OptionError(dataset_dir, "is not a dataset (no dataset.json); build one with `ich dataset build`")
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError(None, "--device cuda: no CUDA device is available on this machine; use --device cpu")
    folders = NnUNetFolders.for_training(dataset_dir, Path(work_dir).resolve())
    rank, world = _ddp_rank()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if preset.seed is not None:
        _seed_everything(preset.seed + rank)
    with nnunet_env(folders), _nnunet_quiet_stdout():
        if rank == 0:
            plans_id = prepare(dataset_dir, folders, preset)  # (nnU-Net's planner changes torch's thread count)
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        if world > 1:
            dist.barrier()
            plans_id = derive_plans(json.loads((folders.preprocessed / dataset_dir.name / f"{BASE_PLANS}.json").read_text()), preset)["plans_name"]
        pre = folders.preprocessed / dataset_dir.name
        n_splits = len(json.loads((pre / SPLITS_JSON).read_text()))
        if fold != "all" and not 0 <= int(fold) < n_splits:  # nnU-Net would silently fall back to a random split
            raise OptionError(None, f"--fold {fold}: the dataset's patients make {n_splits} folds (0..{n_splits - 1}, or 'all')")
        plans = json.loads((pre / f"{plans_id}.json").read_text())
        plans["continue_training"] = resume
        dataset_json = json.loads((pre / "dataset.json").read_text())
        trainer = trainer_class(preset)(plans, CONFIGURATION, fold, dataset_json, torch.device(device))
        trainer.progress = progress
        start = 0
        checkpoint = next((Path(trainer.output_folder) / c for c in CHECKPOINTS_FOR_RESUME if (Path(trainer.output_folder) / c).is_file()), None)
        if resume and checkpoint is not None:
            trainer.load_checkpoint(str(checkpoint))
            start = trainer.current_epoch
        elif checkpoint is not None and not resume:
            raise OptionError(trainer.output_folder, "holds a checkpoint from an earlier training; pass --resume to continue it, or another -o folder")
        with nnunet_env(nnUNet_n_proc_DA=preset.data_workers):
            trainer.run_training()
            if preset.final_validation:
                trainer.perform_actual_validation()
        if world > 1:
            dist.destroy_process_group()
    return TrainResult(Path(trainer.output_folder_base), fold, trainer.current_epoch, start)
