"""Training presets: every hyperparameter of a segmentation training, named, in one place.

`seed` is the methods' recipe (study 000: SGD lr 0.001, Nesterov momentum 0.99, weight decay
3e-5, Dice + cross-entropy, 500 epochs, batch 2); `nnunet` keeps nnU-Net's own defaults; `smoke`
is a tiny network on small patches for a few iterations, so CI trains for real on a CPU.
The hyperparameters apply to every --arch; the widths of nnU-Net's U-Net and of the MONAI
networks are separate fields because they do not translate into each other.
Fields left at None keep what nnU-Net's planner chose for the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Preset:
    name: str
    epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50
    initial_lr: float = 1e-2
    momentum: float = 0.99  # SGD, Nesterov (nnU-Net's optimiser)
    weight_decay: float = 3e-5
    foreground_oversampling: float = 0.33  # share of patches centred on a labelled voxel (nnU-Net's default)
    save_every: int = 50  # epochs between checkpoint_latest.pth writes (what --resume restarts from)
    final_validation: bool = True  # nnU-Net's full-image validation of the fold after training
    # plans overrides (None: the planner's choice)
    batch_size: int | None = None
    patch_size: tuple[int, int, int] | None = None  # voxels, network axis order (z, y, x for axial CT)
    spacing: tuple[float, float, float] | None = None  # target spacing (x, y, z) mm
    base_features: int | None = None  # features of the first stage; doubled per stage up to max_features
    max_features: int = 320
    convs_per_stage: int | None = None
    min_feature_map: int = 4  # edge length below which an axis is no longer pooled
    transformer_size: str = "full"  # widths of the MONAI archs (monai_nets): "full" as published, "tiny" for CI
    # CT normalisation window (HU) replacing the dataset's foreground percentiles: nnU-Net clips
    # to the labelled voxels' 0.5-99.5 % range, which for hematoma labels hides CSF and brain
    intensity_window_hu: tuple[float, float] | None = None
    # runtime
    data_workers: int | None = None  # nnU-Net augmentation processes (nnUNet_n_proc_DA); 0 = in-process
    seed: int | None = None  # fixes torch / numpy / random for reproducible runs

    def with_overrides(self, **kw) -> "Preset":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    @property
    def custom_plans(self) -> bool:
        return any(v is not None for v in (self.batch_size, self.patch_size, self.base_features, self.convs_per_stage, self.intensity_window_hu))


PRESETS: dict[str, Preset] = {
    "seed": Preset("seed", epochs=500, initial_lr=1e-3, momentum=0.99, weight_decay=3e-5, batch_size=2),
    "nnunet": Preset("nnunet"),
    "smoke": Preset(
        "smoke", epochs=2, iterations_per_epoch=4, val_iterations_per_epoch=2, save_every=1, final_validation=False,
        batch_size=2, patch_size=(8, 32, 32), base_features=4, max_features=16, convs_per_stage=1, transformer_size="tiny",
        data_workers=0, seed=0,
    ),
}
