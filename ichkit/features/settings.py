"""Every default number of the radiomics + latent pipeline (spec 4, from 002), in one import-light
place so the CLI can build its help without importing torch or scikit-learn.

`PRESETS["smoke"]` shrinks networks, trees and NMF so the whole pipeline runs in seconds in CI; it
changes sizes only, never the method.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

SETS = ("radiomics", "shape", "seg", "ae")  # the feature sets, each one <set>.csv in a features folder
HE_OUTCOMES = {"he3": 3.0, "he6": 6.0, "he9": 9.0}  # name -> absolute growth threshold (mL)
BASELINE_COLUMN = "IPH_ml"  # `ich phantom` and `ich volume` name the hematoma volume so
FOLLOWUP_COLUMN = "followup_IPH_ml"


@dataclass(frozen=True)
class SegLatentSettings:
    """Segmentation-encoder latents: the head resampled to isotropic cubes, one encoder pass each."""

    sizes: tuple[int, ...] = (128, 64)  # cube edges in voxels (002's two scales)
    # MONAI BasicUNet channels (conv_0, down_1..down_4, decoder head): down_4 is 512 x 8^3 at 128^3
    features: tuple[int, ...] = (32, 64, 128, 256, 512, 32)
    seed: int = 0  # the randomly initialised fallback encoder (tests only) is drawn from it
    radiomics_params: str = "full"  # pyradiomics preset: original + wavelet + LoG (002: ~1,700 features)


@dataclass(frozen=True)
class VAEGANSettings:
    """VAE-GAN on crops around the dilated hematoma (002 section 2.5; Larsen et al. 2016)."""

    crop_size: int = 64  # crop edge in voxels
    dilation: int = 5  # edge of the cubic structuring element (voxels of the crop grid)
    min_spacing_mm: float = 1.0  # isotropic crop spacing; larger when the dilated lesion would not fit
    window_level_hu: float = 50.0  # 0-100 HU keeps brain, clot (50-90 HU) and edema apart
    window_width_hu: float = 100.0
    mask_outside: bool = True  # voxels outside the dilated mask set to 0 (only lesion and rim remain)
    channels: tuple[int, ...] = (64, 128, 256, 512)  # one stride-2 stage each: 64^3 -> 512 x 4^3
    epochs: int = 100
    batch_size: int = 4
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # the usual GAN Adam setting
    kl_weight: float = 1e-3
    adversarial_weight: float = 1e-2
    seed: int = 0


@dataclass(frozen=True)
class BenchmarkSettings:
    """Classifiers, cross-validation, NMF and statistics of `ich features benchmark`."""

    nmf_components: int = 128  # per feature set (002); capped by the set's columns and the fold's rows
    nmf_max_iter: int = 500
    n_trees: int = 1000  # random forest, extra trees and XGBoost (002)
    l1_ratio: float = 0.5  # elastic-net logistic regression (002)
    max_iter: int = 5000  # saga needs many iterations to converge
    folds: int = 5
    seed: int = 0
    n_jobs: int = 1
    n_boot: int = 2000  # bootstrap CI replicates
    level: float = 0.95
    threshold: float = 0.5  # for F1, sensitivity, specificity, PPV, NPV
    alpha: float = 0.05  # Friedman significance gate for the pairwise Wilcoxon tests (002)
    importance_repeats: int = 5  # group permutation importance repeats per fold


@dataclass(frozen=True)
class FeatureSettings:
    seg: SegLatentSettings = field(default_factory=SegLatentSettings)
    vaegan: VAEGANSettings = field(default_factory=VAEGANSettings)
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)


PRESETS = {
    "default": FeatureSettings(),
    "smoke": FeatureSettings(
        seg=SegLatentSettings(sizes=(64, 32), features=(4, 8, 16, 32, 64, 4), radiomics_params="default"),
        vaegan=VAEGANSettings(crop_size=16, min_spacing_mm=2.0, channels=(8, 16, 32, 64), epochs=2, batch_size=8),
        benchmark=BenchmarkSettings(nmf_components=8, nmf_max_iter=200, n_trees=50, max_iter=500, n_boot=200,
                                    importance_repeats=2),
    ),
}


def preset(name: str, **vaegan_overrides) -> FeatureSettings:
    """A preset, with VAE-GAN overrides (e.g. epochs from the command line) where not None."""
    base = PRESETS[name]
    changes = {k: v for k, v in vaegan_overrides.items() if v is not None}
    return replace(base, vaegan=replace(base.vaegan, **changes)) if changes else base
