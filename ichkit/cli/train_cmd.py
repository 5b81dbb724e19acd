"""`ich train segment DATASET`: train a segmentation network (nnU-Net v2 engine).

`train` is a group: the classification and synthesis trainers join it as further subcommands.
"""

from __future__ import annotations

from pathlib import Path

from ..progress import tqdm_bar
from ..segment.training.architectures import ARCHITECTURES
from ..segment.training.nnunet_train import train as train_segmentation
from ..segment.training.presets import PRESETS as SEGMENT_PRESETS
from .common import COUNT, NON_NEGATIVE, add_device, add_json, add_output, add_progress, emit, int_range, resolve_device
from .features_cmd import add_vaegan_trainer
from .finetune_cmd import add_finetune_trainer
from .synth_cmd import add_synth_trainer


def register(sub) -> None:
    p = sub.add_parser("train", help="train models (segment; more trainers to come)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True
    s = kinds.add_parser("segment", help="train a segmentation network on a dataset built by `ich dataset build`")
    s.add_argument("dataset", help="dataset folder DatasetNNN_Name (imagesTr/, labelsTr/, dataset.json, patients.csv)")
    s.add_argument("--arch", default="nnunet", choices=list(ARCHITECTURES), help="network: nnunet (nnU-Net's U-Net, default), "
                   "swinunetr or unetr (MONAI, inside nnU-Net's trainer), umamba (not bundled)")
    s.add_argument("--preset", default="seed", choices=sorted(SEGMENT_PRESETS), help="seed: the methods' recipe (default); nnunet: nnU-Net defaults; smoke: tiny CI run")
    add_device(s)
    s.add_argument("--fold", default=0, type=_fold, help="cross-validation fold (patient-grouped) or 'all' (default 0)")
    s.add_argument("--epochs", type=COUNT, default=None, help="override the preset's number of epochs")
    s.add_argument("--resume", action="store_true", help="continue from the fold's latest checkpoint")
    add_output(s, "-o", "--output", default=None, help="work folder for preprocessed data and results (default: DATASET_work next to the dataset)", kind="folder")
    add_json(s)
    add_progress(s)
    s.set_defaults(func=run_segment)
    _register_classify(kinds)
    add_vaegan_trainer(kinds)
    add_synth_trainer(kinds)
    add_finetune_trainer(kinds)


def _fold(text: str) -> int | str:
    return "all" if text == "all" else int(text)


def run_segment(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..segment.training.export import export_torchscript

    device = resolve_device(args.device)
    dataset = Path(args.dataset)
    work = Path(args.output) if args.output else dataset.parent / f"{dataset.name}_work"
    preset = SEGMENT_PRESETS[args.preset].with_overrides(epochs=args.epochs)
    progress, close = tqdm_bar("training", enabled=not args.no_progress)
    try:
        result = train_segmentation(dataset, work, preset, arch=args.arch, fold=args.fold, device=device, resume=args.resume, progress=progress)
    finally:
        close()
    exported = export_torchscript(result.model_dir, result.fold, result.fold_dir / "torchscript")
    payload = {"model_dir": result.model_dir, "fold": result.fold, "epochs_done": result.epochs_done,
               "resumed_from_epoch": result.resumed_from_epoch, "torchscript": exported[0].parent}
    start = f" (resumed at epoch {result.resumed_from_epoch})" if result.resumed_from_epoch else ""
    emit(args, payload, f"trained fold {result.fold} to epoch {result.epochs_done}{start}: {result.model_dir}\n"
                        f"lean CPU export: {exported[0].parent}")
    return 0


CLASSIFY_TASKS = ("he", "ht", "location")  # the keys of ichkit.classify.tasks.TASKS (kept literal: no torch at --help)


def _register_classify(kinds) -> None:
    c = kinds.add_parser("classify", help="train a classifier (he: ViT on ROI slices; ht: CTNet; location: DTViT)")
    c.add_argument("--task", required=True, choices=CLASSIFY_TASKS, help="he, ht or location")
    c.add_argument("--data", required=True, help="manifest.csv of a classification dataset (`ich dataset classify`)")
    c.add_argument("--arch", default=None, help="architecture (see ichkit.classify.models.MODELS; default: the preset's, else the task's)")
    c.add_argument("--preset", default="seed", choices=["seed", "smoke"], help="seed: the paper's recipe (default); smoke: tiny CI run")
    c.add_argument("--ratio", default=None, help="positives:negatives in training, 1:1, 1:2 or 1:4 (synthetic positives first, then oversampling)")
    c.add_argument("--synthetic", default=None, help="manifest of synthetic images (added to training only)")
    c.add_argument("--pretrained", default=None, help="local ImageNet weights file (never downloaded)")
    c.add_argument("--epochs", type=COUNT, default=None, help="override the preset's number of epochs")
    c.add_argument("--cam-guidance", type=NON_NEGATIVE, default=None, metavar="WEIGHT",
                   help="train the Grad-CAM heatmap onto the dilated hematoma (the manifest's guide maps) with this loss weight; 0: off")
    add_device(c)
    c.add_argument("--workers", type=int_range(0), default=0, help="data-loading processes (0: in the training process)")
    c.add_argument("--resume", action="store_true", help="continue from OUTDIR/checkpoint.pt")
    add_output(c, "-o", "--output", required=True, help="output folder (checkpoint.pt, model.pt, history.json)", kind="folder")
    add_json(c)
    add_progress(c)
    c.set_defaults(func=run_classify)


def run_classify(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..classify.tasks import get_task
    from ..classify.train import PRESETS, train_classifier

    task = get_task(args.task)
    preset = PRESETS[task.name][args.preset].with_overrides(epochs=args.epochs, cam_guidance=args.cam_guidance)
    device = resolve_device(args.device)
    progress, close = tqdm_bar("training", enabled=not args.no_progress)
    try:
        result = train_classifier(task, args.data, args.output, preset, arch=args.arch, ratio=args.ratio, synthetic=args.synthetic,
                                  pretrained=args.pretrained, device=device, workers=args.workers, resume=args.resume, progress=progress)
    finally:
        close()
    last = result.history[-1] if result.history else {}
    payload = {"model": result.model_path, "epochs_done": result.epochs_done, "resumed_from_epoch": result.resumed_from_epoch, "last_epoch": last}
    start = f" (resumed at epoch {result.resumed_from_epoch})" if result.resumed_from_epoch else ""
    scores = " ".join(f"{k} {v:.3f}" for k, v in last.items() if k.endswith("_auc"))
    emit(args, payload, f"trained {task.name} to epoch {result.epochs_done}{start}: {result.model_path}  {scores}")
    return 0
