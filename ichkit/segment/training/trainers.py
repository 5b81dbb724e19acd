"""nnU-Net v2 trainer subclasses, one per preset and architecture, built from the `Preset` fields.

nnU-Net sets its hyperparameters in `nnUNetTrainer.__init__`; the subclass overwrites them from
its preset and passes the momentum to the SGD optimiser (nnU-Net hard-codes 0.99). The loss
stays nnU-Net's Dice + cross-entropy, as the methods ask. A `progress` callback, when set,
hears about every finished epoch. Checkpoints are written atomically: nnU-Net writes them in
place, and a kill during the write would leave a torn file that `--resume` cannot read.
The MONAI networks (`monai_nets`) are named by the plans, so nnU-Net's own
`build_network_architecture` builds them; their trainer only turns deep supervision off, which
they lack (nnU-Net's switch reaches into its U-Net's decoder).
"""

from __future__ import annotations

import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from ...atomic import atomic_path
from ...progress import Progress, silent
from .architectures import ARCHITECTURES
from .presets import PRESETS, Preset


class ICHTrainer(nnUNetTrainer):
    preset: Preset = PRESETS["nnunet"]
    progress: Progress = staticmethod(silent)

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        p = self.preset
        self.num_epochs = p.epochs
        self.num_iterations_per_epoch = p.iterations_per_epoch
        self.num_val_iterations_per_epoch = p.val_iterations_per_epoch
        self.initial_lr = p.initial_lr
        self.weight_decay = p.weight_decay
        self.save_every = p.save_every
        self.oversample_foreground_percent = p.foreground_oversampling

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay,
                                    momentum=self.preset.momentum, nesterov=True)
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)

    def save_checkpoint(self, filename: str) -> None:
        if self.local_rank != 0 or self.disable_checkpointing:
            return super().save_checkpoint(filename)
        with atomic_path(filename) as tmp:
            super().save_checkpoint(str(tmp))

    def on_epoch_end(self):
        super().on_epoch_end()
        self.progress(self.current_epoch, self.num_epochs, f"epoch {self.current_epoch}/{self.num_epochs}")


class MonaiTrainer(ICHTrainer):
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.enable_deep_supervision = False

    def set_deep_supervision_enabled(self, enabled: bool) -> None:
        """Nothing to switch: the network has a single output."""


def trainer_name(preset: Preset, arch: str = "nnunet") -> str:
    """nnUNetTrainerICH_<preset>, plus _<arch> for the MONAI networks; it names the results folder."""
    return f"nnUNetTrainerICH_{preset.name}" if ARCHITECTURES[arch].network is None else f"nnUNetTrainerICH_{preset.name}_{arch}"


def trainer_class(preset: Preset, arch: str = "nnunet") -> type[ICHTrainer]:
    """The trainer of a preset and an architecture of `training.architectures.ARCHITECTURES`."""
    base = ICHTrainer if ARCHITECTURES[arch].network is None else MonaiTrainer
    return type(trainer_name(preset, arch), (base,), {"preset": preset, "__module__": __name__})


nnUNetTrainerICH_seed = trainer_class(PRESETS["seed"])
nnUNetTrainerICH_nnunet = trainer_class(PRESETS["nnunet"])
nnUNetTrainerICH_smoke = trainer_class(PRESETS["smoke"])
