"""MONAI's SwinUNETR and UNETR behind nnU-Net's network-builder call, so that plans.json can name them.

nnU-Net rebuilds every network from its plans (`get_network_from_plans`: an import path plus
keyword arguments, called with input_channels, num_classes and deep_supervision): in training,
in its predictor, and in our export. Giving the MONAI networks a builder with that call and
recording it in the plans makes them rebuildable wherever nnU-Net's own U-Net is, with no
trainer class to look up. They stand in for nnFormer / UNETR++ in the architecture benchmark.
Neither has deep-supervision outputs, and both take only some patch sizes (`fit_patch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ModelError


def _no_deep_supervision(name: str, deep_supervision: bool | None) -> None:
    if deep_supervision:
        raise ModelError(None, f"{name} has no deep-supervision outputs; train it with deep supervision off (ichkit's trainer does)")


def swinunetr(input_channels: int, num_classes: int, deep_supervision: bool | None = False, **kwargs):
    # deferred: MONAI comes with the [ml] extra and takes ~5 s to import (`ich --help` loads this module)
    from monai.networks.nets import SwinUNETR

    _no_deep_supervision("SwinUNETR", deep_supervision)
    return SwinUNETR(in_channels=input_channels, out_channels=num_classes, **kwargs)


def unetr(input_channels: int, num_classes: int, deep_supervision: bool | None = False, **kwargs):
    # deferred: MONAI comes with the [ml] extra and takes ~5 s to import (`ich --help` loads this module)
    from monai.networks.nets import UNETR

    _no_deep_supervision("UNETR", deep_supervision)
    return UNETR(in_channels=input_channels, out_channels=num_classes, **kwargs)


@dataclass(frozen=True)
class MonaiNetwork:
    """How a MONAI network enters nnU-Net's plans: builder, patch constraint, widths per preset size."""

    builder: str  # import path recorded in plans.json (nnU-Net's network_class_name)
    patch_multiple: int  # every patch axis must be a multiple of it (the network's total downsampling)
    sizes: dict[str, dict]  # Preset.transformer_size -> builder kwargs
    patch_kwarg: str | None = None  # kwarg that receives the patch size (UNETR's position embedding is fixed to it)
    min_deepest_voxels: int = 1  # instance norm in training needs 2+ voxels in the deepest feature map

    @property
    def constraint(self) -> str:
        deepest = " and a deepest feature map of 2+ voxels" if self.min_deepest_voxels > 1 else ""
        return f"{self.builder.rsplit('.', 1)[-1]} needs every patch axis a multiple of {self.patch_multiple}{deepest}"

    def fit_patch(self, patch) -> list[int]:
        """The smallest patch holding `patch` that the network accepts (rounded up per axis; if the
        deepest feature map would be a single voxel, the axis the patch is longest along doubles)."""
        m = self.patch_multiple
        fitted = [max(m, -(-int(p) // m) * m) for p in patch]
        if np.prod(fitted) // m ** len(fitted) < self.min_deepest_voxels:
            fitted[int(np.argmax(patch))] *= self.min_deepest_voxels
        return fitted

    def plans_architecture(self, patch: list[int], size: str) -> dict:
        kwargs = dict(self.sizes[size])
        if self.patch_kwarg:
            kwargs[self.patch_kwarg] = list(patch)
        return {"network_class_name": self.builder, "arch_kwargs": kwargs, "_kw_requires_import": []}


SWINUNETR = MonaiNetwork(
    f"{__name__}.swinunetr", patch_multiple=32, min_deepest_voxels=2,
    sizes={"full": dict(feature_size=48, depths=[2, 2, 2, 2], num_heads=[3, 6, 12, 24]),  # the paper's (BTCV)
           "tiny": dict(feature_size=12, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])},  # 12: the smallest MONAI allows
)
UNETR = MonaiNetwork(
    f"{__name__}.unetr", patch_multiple=16, patch_kwarg="img_size",
    sizes={"full": dict(feature_size=16, hidden_size=768, mlp_dim=3072, num_heads=12),  # the paper's (ViT-B/16)
           "tiny": dict(feature_size=4, hidden_size=48, mlp_dim=96, num_heads=4)},
)
