"""`ich train finetune`: check everything, fine-tune, register, compare with the parent, write the card.

Every refusal (parent, name, dataset size, labels, spacing, output) happens before the first
file is written, so bad input leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ....atomic import write_text
from ....models import cache, load_registry
from ....models.download import ensure_installed
from ....progress import Progress, silent
from ...benchmark.compare_models import COMPARE_MD, compare_models
from .data import read_ground_truth
from .register import check_new_id, check_parent, finetuned_id, register_finetuned
from .train import FinetuneResult, FinetuneSettings, finetune

CARD, COMPARE_DIR = "card.md", "compare"


@dataclass
class FinetuneOutcome:
    model_id: str
    result: FinetuneResult
    comparison: object | None  # compare_models.CompareResult, when run


def _card(parent, model_id: str, result: FinetuneResult, comparison) -> str:
    gt, before, best = result.ground_truth, result.history[0], result.history[result.best_epoch]
    s = result.settings
    dice = sorted(k for k in best if k.startswith("val_dice_"))
    lines = [
        f"# {model_id}: {parent.id} fine-tuned on a site's own ground truth", "",
        f"Fine-tuned from `{parent.id}` {parent.version} on the site's dataset `{gt.dataset.name}`: "
        f"{len(gt.train)} training case(s), {len(gt.val)} held-out case(s) (patient-grouped fold {gt.fold} of 5).",
        f"Kept epoch {result.best_epoch} of {result.epochs_done} (lowest held-out loss; epoch 0 is the parent"
        f"{', unchanged: no epoch beat it' if result.best_epoch == 0 else ''}); learning rate {s.lr:g}, "
        f"{s.patches_per_epoch} patches of {s.out_patch}^3 per epoch{', context pathways frozen' if s.freeze_context else ''}.", "",
        "Held-out patches, before (the parent) and after:", "",
        "| figure | parent | fine-tuned |", "|---|---|---|",
        f"| cross-entropy | {before['val_loss']:.4f} | {best['val_loss']:.4f} |",
        *[f"| {k[len('val_'):].replace('_', ' ')} | {before.get(k, float('nan')):.3f} | {best[k]:.3f} |" for k in dice],
    ]
    if comparison is not None:
        lines += ["", f"Whole held-out scans (`{COMPARE_DIR}/{COMPARE_MD}`), as `ich segment` outputs them:", ""]
        lines += [f"- {r['model']} {r['label']}: Dice {r['dice_mean']:.3f}, volume error {r['abs_volume_error_ml_mean']:.2f} ml"
                  for r in comparison.table]
    lines += ["", "Validated only on the held-out cases above, from the same site. Not cleared for clinical use: "
              "compare it with the parent (`ich bench-seg DATASET --models PARENT,THIS`) before switching.", ""]
    return "\n".join(lines)


def run_finetune(parent_id: str, dataset: str | Path, out: str | Path, name: str, settings: FinetuneSettings = FinetuneSettings(), *,
                 fold: int = 0, resume: bool = False, overwrite: bool = False, compare: bool = True, device: str = "cpu",
                 progress: Progress = silent) -> FinetuneOutcome:
    registry = load_registry()
    parent = registry.get(parent_id)
    check_parent(parent)
    model_id = finetuned_id(parent, name)
    check_new_id(model_id, registry, overwrite or resume)
    gt = read_ground_truth(dataset, fold)
    ensure_installed(parent, progress)
    weights = cache.verified_paths(parent)[parent.member_files()[0].name]
    result = finetune(weights, gt, out, settings, parent_id=parent.id, resume=resume, device=device, progress=progress)
    source = f"fine-tuned from {parent.id} {parent.version} on {gt.dataset.name} ({len(gt.train)} training, {len(gt.val)} held-out cases)"
    entry = register_finetuned(parent, model_id, result.weights, _card(parent, model_id, result, None), source)
    comparison = None
    if compare:
        comparison = compare_models(gt.dataset, [parent, entry], Path(out) / COMPARE_DIR, fold=fold, device=device,
                                    overwrite=True, progress=progress)
    card = _card(parent, model_id, result, comparison)
    write_text(Path(out) / CARD, card)
    entry = register_finetuned(parent, model_id, result.weights, card, source)
    return FinetuneOutcome(entry.id, result, comparison)

