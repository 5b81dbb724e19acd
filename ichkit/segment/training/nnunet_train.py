"""Training a segmentation network with nnU-Net v2's Python API (plan, preprocess, train).

The steps are nnU-Net's own (fingerprint -> ExperimentPlanner -> DefaultPreprocessor ->
nnUNetTrainer); what we add is the preset (plans overrides and trainer hyperparameters),
patient-grouped folds, per-call folders, and checkpoints that `resume=True` continues from
(nnU-Net's checkpoint_final / checkpoint_latest / checkpoint_best, in that order).
Under torchrun (WORLD_SIZE > 1) every rank trains its share on its own GPU (nnU-Net's DDP).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...atomic import write_json
from ...errors import OptionError, warn
from ...progress import Progress, silent
from .dataset import SPLITS_JSON, check_dataset_dir, write_patient_splits
from .architectures import ARCHITECTURES
from ..nnunet_env import RESULTS, NnUNetFolders, nnunet_env, nnunet_quiet_stdout
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




def check_architecture(arch: str, device: str) -> None:
    if arch not in ARCHITECTURES:
        raise OptionError(None, f"--arch {arch}: unknown (known: {', '.join(ARCHITECTURES)})")
    problem = ARCHITECTURES[arch].unavailable(device)
    if problem:
        raise OptionError(None, f"--arch {arch}: {problem}")


def plans_name(preset: Preset, arch: str = "nnunet") -> str:
    """nnUNetPlans, plus the preset's name when it changes the plans, plus the arch when not nnU-Net's U-Net."""
    name = f"{BASE_PLANS}_{preset.name}" if preset.custom_plans or preset.spacing else BASE_PLANS
    return name if ARCHITECTURES[arch].network is None else f"{name}_{arch}"


def results_folder(dataset_dir: str | Path, work_dir: str | Path, preset: Preset, arch: str = "nnunet") -> Path:
    """nnU-Net's Trainer__Plans__configuration folder of a training, whether or not it ran yet."""
    # deferred: the trainers subclass nnU-Net's trainer (torch, nnU-Net)
    from .trainers import trainer_name

    dataset_dir = Path(dataset_dir)
    return (Path(work_dir).resolve() / RESULTS / dataset_dir.name
            / f"{trainer_name(preset, arch)}__{plans_name(preset, arch)}__{CONFIGURATION}")


def derive_plans(plans: dict, preset: Preset, arch: str = "nnunet") -> dict:
    """nnU-Net's plans with the preset's overrides applied to the 3d_fullres configuration only.

    Changing the patch size or the widths re-derives the topology with nnU-Net's own rule
    (get_pool_and_conv_props), so strides and kernels always fit the patch. A MONAI arch replaces
    the network in the plans and grows the patch to one it accepts (with a warning); its
    preprocessed data is the U-Net's (same data_identifier), since only the network differs.
    """
    # deferred: nnU-Net loads only when a training is planned (`ich --help` loads this module)
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    plans = deepcopy(plans)
    name = plans_name(preset)
    cfg = plans["configurations"][CONFIGURATION]
    if preset.spacing is not None:
        zyx = list(preset.spacing)[::-1]
        cfg["spacing"] = [float(zyx[i]) for i in plans["transpose_forward"]]
    unet = cfg["architecture"]["arch_kwargs"]
    if preset.patch_size or preset.base_features or preset.convs_per_stage or preset.spacing:
        patch = list(preset.patch_size or cfg["patch_size"])
        _, strides, kernels, patch, _ = get_pool_and_conv_props(cfg["spacing"], patch, preset.min_feature_map, 999999)
        n = len(strides)
        base = preset.base_features or unet["features_per_stage"][0]
        convs = preset.convs_per_stage or unet["n_conv_per_stage"][0]
        unet.update(n_stages=n, features_per_stage=[min(base * 2**i, preset.max_features) for i in range(n)],
                    kernel_sizes=kernels, strides=strides, n_conv_per_stage=[convs] * n, n_conv_per_stage_decoder=[convs] * (n - 1))
        cfg["patch_size"] = [int(p) for p in patch]
    if preset.batch_size is not None:
        cfg["batch_size"] = preset.batch_size
    if preset.intensity_window_hu is not None:
        lo, hi = preset.intensity_window_hu
        plans["foreground_intensity_properties_per_channel"]["0"].update(
            percentile_00_5=float(lo), percentile_99_5=float(hi), mean=(lo + hi) / 2, std=(hi - lo) / 4)
    cfg["data_identifier"] = f"{name}_{CONFIGURATION}"
    network = ARCHITECTURES[arch].network
    if network is not None:
        patch = network.fit_patch(cfg["patch_size"])
        if patch != cfg["patch_size"]:
            warn(None, f"--arch {arch}: patch {_xyz(cfg['patch_size'])} of preset {preset.name} does not fit: {network.constraint}; "
                       f"training on {_xyz(patch)}")
        cfg["patch_size"] = patch
        cfg["architecture"] = network.plans_architecture(patch, preset.transformer_size)
    plans["plans_name"] = plans_name(preset, arch)
    plans["configurations"] = {CONFIGURATION: cfg}
    return plans


def _xyz(patch) -> str:
    return " x ".join(str(int(p)) for p in patch)


def prepare(dataset_dir: Path, folders: NnUNetFolders, preset: Preset, arch: str = "nnunet", n_folds: int = N_FOLDS,
            processes: int | None = None) -> str:
    """Fingerprint, plan and preprocess once per preprocessed-data variant; returns the plans identifier."""
    # deferred: nnU-Net loads only when a training is planned (`ich --help` loads this module)
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
    plans = derive_plans(json.loads(base_file.read_text()), preset, arch)
    plans_id = plans["plans_name"]
    write_json(pre / f"{plans_id}.json", plans)
    marker = pre / PREPARED_MARKER.format(plans["configurations"][CONFIGURATION]["data_identifier"])
    if not marker.is_file():
        DefaultPreprocessor(verbose=False).run(name, CONFIGURATION, plans_id, processes)
        gt = pre / "gt_segmentations"
        gt.mkdir(exist_ok=True)
        for label in sorted((dataset_dir / "labelsTr").iterdir()):
            shutil.copyfile(label, gt / label.name)
        write_json(marker, {"plans": plans_id, "dataset": str(dataset_dir)})
    write_patient_splits(dataset_dir, pre, n_folds)
    return plans_id


def _seed_everything(seed: int) -> None:
    # deferred: torch loads only when a network trains (`ich --help` loads this module)
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
    arch: str = "nnunet",
    fold: int | str = 0,
    device: str = "cpu",
    resume: bool = False,
    progress: Progress = silent,
) -> TrainResult:
    """Plan, preprocess (first time only) and train one fold; `resume` continues the latest checkpoint."""
    # deferred: torch loads only when a network trains (`ich --help` loads this module)
    import torch
    import torch.distributed as dist

    # deferred: the trainers subclass nnU-Net's trainer (torch, nnU-Net)
    from .trainers import trainer_class

    check_architecture(arch, device)
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
    with nnunet_env(folders), nnunet_quiet_stdout():
        if rank == 0:
            plans_id = prepare(dataset_dir, folders, preset, arch)  # (nnU-Net's planner changes torch's thread count)
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        if world > 1:
            dist.barrier()
            plans_id = plans_name(preset, arch)
        pre = folders.preprocessed / dataset_dir.name
        n_splits = len(json.loads((pre / SPLITS_JSON).read_text()))
        if fold != "all" and not 0 <= int(fold) < n_splits:  # nnU-Net would silently fall back to a random split
            raise OptionError(None, f"--fold {fold}: the dataset's patients make {n_splits} folds (0..{n_splits - 1}, or 'all')")
        plans = json.loads((pre / f"{plans_id}.json").read_text())
        plans["continue_training"] = resume
        dataset_json = json.loads((pre / "dataset.json").read_text())
        trainer = trainer_class(preset, arch)(plans, CONFIGURATION, fold, dataset_json, torch.device(device))
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
