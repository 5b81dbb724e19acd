"""`ich bench-seg DATASET --archs nnunet,swinunetr,unetr -o OUT`: the segmentation-architecture benchmark;
`ich bench-seg DATASET --models PARENT,FINETUNED -o OUT`: installed models compared on the held-out fold."""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from ..progress import tqdm_bar
from ..segment.training.presets import PRESETS
from .common import COUNT, add_device, add_json, add_output, add_progress, emit, resolve_device
from .train_cmd import _fold


def register(sub) -> None:
    p = sub.add_parser("bench-seg", help="train several segmentation architectures alike and compare them on held-out patients")
    p.add_argument("dataset", help="dataset folder DatasetNNN_Name built by `ich dataset build`")
    p.add_argument("--archs", default="nnunet,swinunetr,unetr", help="comma-separated architectures of `ich train segment --arch` (default nnunet,swinunetr,unetr)")
    p.add_argument("--models", default=None, help="instead of training: compare these installed registry models (comma-separated, the first is the "
                   "reference) on the fold's held-out cases, with paired Wilcoxon tests, e.g. blast-ct-v1-single,blast-ct-v1-ft-site")
    p.add_argument("--preset", default="seed", choices=sorted(PRESETS), help="training preset shared by every arch (default seed)")
    p.add_argument("--fold", default=0, type=_fold, help="patient-grouped fold whose validation cases are scored (default 0)")
    p.add_argument("--epochs", type=COUNT, default=None, help="override the preset's number of epochs")
    add_device(p)
    p.add_argument("--work", default=None, help="nnU-Net work folder; trainings found there are reused (default: DATASET_work next to the dataset, as `ich train segment`)")
    add_output(p, "-o", "--output", required=True, help="folder for bench_seg.csv / .md, bench_seg_cases.csv and the PNG plots", kind="folder")
    p.add_argument("--overwrite", action="store_true", help="replace the tables and plots of an earlier run")
    add_json(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..segment.benchmark.architectures import TABLE_MD, bench_segmentation

    device = resolve_device(args.device)
    if args.models is not None:
        return _compare(args, device)
    dataset = Path(args.dataset)
    work = Path(args.work) if args.work else dataset.parent / f"{dataset.name}_work"
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    preset = PRESETS[args.preset].with_overrides(epochs=args.epochs)
    progress, close = tqdm_bar("bench-seg", enabled=not args.no_progress)
    try:
        result = bench_segmentation(dataset, work, args.output, archs, preset, fold=args.fold, device=device,
                                    overwrite=args.overwrite, progress=progress)
    finally:
        close()
    reused = f" (reused: {', '.join(result.reused)})" if result.reused else ""
    emit(args, {"table": result.table, "files": result.files, "reused": result.reused},
         (Path(args.output) / TABLE_MD).read_text() + f"\nwrote {len(result.files)} files to {args.output}{reused}")
    return 0


def _compare(args, device: str) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..segment.benchmark.compare_models import COMPARE_MD, compare_models

    if args.fold == "all":
        raise OptionError(None, "--fold all: the comparison needs held-out patients; name one fold")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    progress, close = tqdm_bar("bench-seg", enabled=not args.no_progress)
    try:
        result = compare_models(args.dataset, models, args.output, fold=args.fold, device=device, overwrite=args.overwrite, progress=progress)
    finally:
        close()
    emit(args, {"table": result.table, "tests": result.tests, "files": result.files},
         (Path(args.output) / COMPARE_MD).read_text() + f"\nwrote {len(result.files)} files to {args.output}")
    return 0
