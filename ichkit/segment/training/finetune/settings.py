"""Fine-tuning settings and limits, importable without torch (the CLI's --help reads them)."""

from __future__ import annotations

from dataclasses import dataclass

MIN_CASES = 10  # documented minimum: five patient-grouped folds leave >= 2 held-out and 8 training cases
OUT_PATCH = 30  # config.json input_patch_size 110 = 30 + 2 * MARGIN (deepmedic.MARGIN = 40)


@dataclass(frozen=True)
class FinetuneSettings:
    """Defaults: BLAST-CT's RMSprop (momentum 0.6, alpha 0.9, weight decay 1e-4) at a tenth of its
    learning rate; fewer, smaller batches than its 1000 patches x 10 per epoch, sized for a CPU.

    Why a warm-up: RMSprop divides by a running gradient norm that starts at zero, so its first
    steps move every weight by about the learning rate whatever its gradient; on a converged
    network that raised the training loss from 0.1 to 11 within three steps (loaded-CPU probe,
    lr 3e-4), with a 20-step linear warm-up it stayed below 1.6."""

    epochs: int = 12
    patches_per_epoch: int = 96
    val_patches: int = 48
    batch_size: int = 4
    lr: float = 1e-4
    warmup_steps: int = 20  # linear learning-rate warm-up from zero over the first steps
    patience: int = 3  # epochs without a lower held-out loss before stopping
    freeze_context: bool = False  # train only the 1 mm pathway and the head
    out_patch: int = OUT_PATCH
    seed: int = 0
