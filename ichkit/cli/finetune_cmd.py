"""`ich train finetune --from blast-ct-v1-single --dataset DATASET -o OUT --name NAME`.

A verb of its own rather than `ich train segment --from`: `train segment` trains an nnU-Net from
scratch and its options (--arch, --preset, --fold all) mean nothing for a pretrained DeepMedic,
whose options (learning rate, patches, patience, frozen context) mean nothing there.
"""

from __future__ import annotations


from ..errors import OptionError
from ..progress import tqdm_bar
from ..segment.training.finetune.settings import MIN_CASES, FinetuneSettings
from .common import COUNT, add_device, add_json, add_output, add_progress, emit, int_range, resolve_device


def add_finetune_trainer(kinds) -> None:
    d = FinetuneSettings()
    f = kinds.add_parser("finetune", help="fine-tune BLAST-CT's network on your own ground truth; the result is a new model")
    f.add_argument("--from", dest="parent", default="blast-ct-v1-single", help="parent model (a single BLAST-CT network; default blast-ct-v1-single)")
    f.add_argument("--dataset", required=True, help=f"ground-truth dataset DatasetNNN_Name (saved ground truth or `ich dataset build`), at least {MIN_CASES} cases")
    add_output(f, "-o", "--output", required=True, help="work folder: checkpoint.pt (each epoch), model.pt, history.json, card.md, compare/")
    f.add_argument("--name", default=None, help="the new model is blast-ct-v1-ft-NAME (default: the dataset's name)")
    f.add_argument("--fold", type=int_range(0), default=0, help="patient-grouped fold held out for early stopping and the comparison (default 0)")
    f.add_argument("--epochs", type=COUNT, default=d.epochs, help=f"most epochs (default {d.epochs})")
    f.add_argument("--patches", type=COUNT, default=d.patches_per_epoch, help=f"training patches per epoch (default {d.patches_per_epoch})")
    f.add_argument("--val-patches", type=COUNT, default=d.val_patches, help=f"held-out patches scored after each epoch (default {d.val_patches})")
    f.add_argument("--batch-size", type=COUNT, default=d.batch_size, help=f"patches per step (default {d.batch_size})")
    f.add_argument("--patch", type=COUNT, default=d.out_patch, help=f"output patch edge in voxels (default {d.out_patch}, BLAST-CT's)")
    f.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr:g}, a tenth of BLAST-CT's)")
    f.add_argument("--warmup", type=COUNT, default=d.warmup_steps, help=f"steps of linear learning-rate warm-up (default {d.warmup_steps})")
    f.add_argument("--patience", type=COUNT, default=d.patience, help=f"stop after this many epochs without a lower held-out loss (default {d.patience})")
    f.add_argument("--freeze-context", action="store_true", help="train only the 1 mm pathway and the head")
    f.add_argument("--seed", type=int, default=d.seed, help="patch sampling seed")
    f.add_argument("--no-compare", action="store_true", help="skip segmenting the held-out scans with both models at the end")
    f.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    f.add_argument("--overwrite", action="store_true", help="replace an installed fine-tuned model of the same name")
    add_device(f)
    add_json(f)
    add_progress(f)
    f.set_defaults(func=run_finetune_cmd)


def run_finetune_cmd(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..app.finetune import default_name, summary
    from ..segment.training.finetune.pipeline import run_finetune

    if not 0 < args.lr < 1:
        raise OptionError(None, f"--lr {args.lr:g}: must be between 0 and 1")
    settings = FinetuneSettings(epochs=args.epochs, patches_per_epoch=args.patches, val_patches=args.val_patches,
                                batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup, patience=args.patience,
                                freeze_context=args.freeze_context, out_patch=args.patch, seed=args.seed)
    device = resolve_device(args.device)
    name = args.name or default_name(args.dataset)
    progress, close = tqdm_bar("fine-tuning", enabled=not args.no_progress)
    try:
        out = run_finetune(args.parent, args.dataset, args.output, name, settings, fold=args.fold, resume=args.resume,
                           overwrite=args.overwrite, compare=not args.no_compare, device=device, progress=progress)
    finally:
        close()
    r = out.result
    payload = {"model_id": out.model_id, "weights": r.weights, "best_epoch": r.best_epoch, "epochs_done": r.epochs_done,
               "resumed_from_epoch": r.resumed_from_epoch, "stopped_early": r.stopped_early, "history": r.history,
               "comparison": out.comparison.table if out.comparison else None}
    emit(args, payload, f"{summary(payload)}; use it with `ich segment --model {out.model_id}`")
    return 0
