"""One registry of classifier architectures (timm-style): `create_model(name, **kw)`.

Every model takes images in [0, 1] (the 40/80 window) with one channel: (B, 1, H, W) for the 2D
models, (B, 1, D, H, W) for CTNet; ImageNet normalisation and the grey -> RGB copy happen
inside, so data, inference and Grad-CAM all feed the same tensors. Each model names its output
heads (`heads`: head -> slice of the logits), the layer Grad-CAM reads (`cam_layer()`) and, for
ViTs, the patch grid the tokens reshape to (`token_grid`).

Weights: never from a hub (HF_HUB_OFFLINE=1); ImageNet weights only from a local file passed as
`pretrained=PATH` (loaded with weights_only, SHA-256 logged).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from ..errors import ModelError, OptionError  # noqa: E402
from ..models.checksum import sha256_file  # noqa: E402
from .tasks import LOCATION_CLASSES  # noqa: E402

log = logging.getLogger("ichkit.classify")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DROPOUT = 0.2  # in the heads only; kept on at inference for MC-dropout uncertainty

# ViT sizes: timm architecture plus overrides; "micro" is a shippable demo size (not in the papers)
VIT_SIZES: dict[str, tuple[str, dict]] = {
    "large": ("vit_large_patch16_224", {}),
    "base": ("vit_base_patch16_224", {}),
    "small": ("vit_small_patch16_224", {}),
    "tiny": ("vit_tiny_patch16_224", {}),
    "micro": ("vit_tiny_patch16_224", {"embed_dim": 64, "depth": 4, "num_heads": 2}),
}


class GreyToImageNet(nn.Module):
    """[0, 1] grey images -> 3-channel ImageNet-normalised tensors (what pretrained nets expect)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x):
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std


def load_pretrained(net: nn.Module, path: str | os.PathLike) -> None:
    """Local ImageNet weights into `net`; heads whose shapes differ (the new classes) stay random."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(path, f"cannot read pretrained weights ({exc})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = net.state_dict()
    kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not kept:
        raise ModelError(path, "no tensor of these weights fits the architecture")
    net.load_state_dict(kept, strict=False)
    log.info("pretrained weights %s sha256 %s: %d of %d tensors loaded", path, sha256_file(path), len(kept), len(own))


class _TwoStage(nn.Module):
    """forward = classify(features(x)); every dropout lives in `classify`, so MC dropout runs the
    trunk once and only the heads N times (last-layer MC dropout)."""

    # where a CAM cell of stride S sits on the input (ichkit.classify.explain): "centre" when cell j covers
    # pixels [S*j, S*j + S) (ViT patches), "start" when it is centred on pixel S*j (strided convolutions
    # padded to keep the size, as in CTNet and ResNet)
    cam_anchor = "centre"

    def forward(self, x):
        return self.classify(self.features(x))

    def features(self, x):
        """The trunk `net` on the ImageNet-style input `prep` gives (subclasses with other trunks override)."""
        return self.net(self.prep(x))

    def classify(self, f):
        return self.head(f)


class ViTClassifier(_TwoStage):
    """A timm ViT on one-channel images (spec 5: HE on ROI slices)."""

    def __init__(self, size: str = "base", num_classes: int = 2, img_size: int = 224, patch_size: int = 16,
                 dropout: float = DROPOUT, pretrained: str | None = None, pool: str = "token"):
        super().__init__()
        self.prep = GreyToImageNet()
        self.net = _timm_vit(size, img_size, patch_size, pretrained, pool)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.net.num_features, num_classes))
        self.heads = {"label": slice(0, num_classes)}

    def cam_layer(self) -> nn.Module:
        """Spec 5: the final block's LayerNorm (class-token pooling). With pool="avg" the pooled
        tokens themselves (the last block's output): every token gets the same gradient there, so
        Grad-CAM is exactly CAM (Zhou et al.) of the patch tokens."""
        return self.net.norm if self.net.global_pool == "avg" else self.net.blocks[-1].norm1

    @property
    def token_grid(self) -> tuple[int, int]:
        return tuple(self.net.patch_embed.grid_size)


POOLS = ("token", "avg")  # the class token (the papers) or the mean of the patch tokens


def _timm_vit(size, img_size, patch_size, pretrained, pool: str = "token") -> nn.Module:
    """The encoder without a classifier (num_classes=0): the class token's features, or with
    pool="avg" the mean of the patch tokens (LayerNorm after the mean, timm's fc_norm)."""
    # deferred: timm comes with the [ml] extra; only the ViT architectures need it
    import timm

    if size not in VIT_SIZES:
        raise OptionError(None, f"ViT size {size!r} is not one of {', '.join(VIT_SIZES)}")
    if pool not in POOLS:
        raise OptionError(None, f"ViT pooling {pool!r} is not one of {', '.join(POOLS)}")
    arch, over = VIT_SIZES[size]
    net = timm.create_model(arch, pretrained=False, num_classes=0, img_size=img_size, patch_size=patch_size, global_pool=pool, **over)
    if pretrained:
        load_pretrained(net, pretrained)
    return net


class MLPHead(nn.Sequential):
    def __init__(self, dim: int, out: int, dropout: float):
        super().__init__(nn.Dropout(dropout), nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, out))


class _DualHeads:
    """Spec 7's two MLP heads (ICH vs normal; location) in place of a model's `head`. Logits are
    concatenated [ich(2) | location(3)] so one tensor flows through losses and Grad-CAM."""

    def _dual_heads(self, dim: int, dropout: float, locations: tuple[str, ...]) -> None:
        del self.head
        self.ich_head = MLPHead(dim, 2, dropout)
        self.location_head = MLPHead(dim, len(locations), dropout)
        self.heads = {"ich": slice(0, 2), "location": slice(2, 2 + len(locations))}

    def classify(self, f):
        return torch.cat([self.ich_head(f), self.location_head(f)], dim=1)


class DualTaskViT(_DualHeads, ViTClassifier):
    """DTViT (spec 7): one ViT encoder, two MLP heads."""

    def __init__(self, size: str = "large", img_size: int = 224, patch_size: int = 16, dropout: float = DROPOUT,
                 pretrained: str | None = None, locations: tuple[str, ...] = LOCATION_CLASSES, pool: str = "token"):
        super().__init__(size, 2, img_size, patch_size, dropout, pretrained, pool)
        self._dual_heads(self.net.num_features, dropout, locations)


class ResidualBlock3d(nn.Module):
    """Two 3x3x3 convolutions; identity shortcut when shapes match, 1x1x1 projection when not."""

    def __init__(self, cin: int, cout: int, stride: int | tuple[int, int, int]):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
            nn.Conv3d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm3d(cout),
        )
        same = cin == cout and stride in (1, (1, 1, 1))
        self.shortcut = nn.Identity() if same else nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class CTNet(_TwoStage):
    """CTNet (spec 6): conv stem, stacked residual blocks (each stage after the first strides its
    first block by `stage_stride`), global average pooling, dropout and a linear head, on the whole
    NCCT (1, 28, H, W).

    `stage_stride` (z, y, x) of the stages after the first: one triple for all of them, or one
    per stage; the default halves every axis in each. NCCT slices are thick (5 mm against ~1-4 mm
    in-plane), so not striding in z keeps the 5 mm slice grid through the trunk, and the last
    stage's cells (what Grad-CAM reads) stay one slice thick instead of 20 mm.

    Grad-CAM reads stage `cam_stage` (default the penultimate): the last stage's cells are twice
    as coarse, and their linear upsampling spreads the heat one cell (16 mm on the demo model)
    past the lesion. On the HT demo model's held-out phantoms the share of Grad-CAM mass inside
    the 10 mm-dilated hematoma is 0.70 at the penultimate stage against 0.54 at the last.
    """

    cam_anchor = "start"

    def __init__(self, num_classes: int = 2, widths: tuple[int, ...] = (16, 32, 64, 128), blocks: tuple[int, ...] = (1, 1, 1, 1),
                 stem_stride: tuple[int, int, int] = (1, 2, 2), dropout: float = DROPOUT,
                 stage_stride: tuple = (2, 2, 2), cam_stage: int = -2):
        super().__init__()
        if len(widths) != len(blocks):
            raise OptionError(None, f"CTNet needs one block count per stage width ({len(widths)} widths, {len(blocks)} counts)")
        if not -len(widths) <= cam_stage < len(widths):
            raise OptionError(None, f"CTNet's cam_stage {cam_stage} is not one of its {len(widths)} stages")
        self.cam_stage = cam_stage
        self.stem = nn.Sequential(nn.Conv3d(1, widths[0], (3, 7, 7), stem_stride, (1, 3, 3), bias=False),
                                  nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True))
        strides = [tuple(t) for t in stage_stride] if isinstance(stage_stride[0], (tuple, list)) else [tuple(stage_stride)] * (len(widths) - 1)
        if len(strides) != len(widths) - 1:
            raise OptionError(None, f"CTNet needs one stride per stage after the first ({len(widths) - 1}), got {len(strides)}")
        stages, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            stages.append(nn.Sequential(*[ResidualBlock3d(cin if j == 0 else w, w, strides[i - 1] if (i > 0 and j == 0) else 1)
                                          for j in range(n)]))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))
        self.heads = {"label": slice(0, num_classes)}

    def features(self, x):
        return self.pool(self.stages(self.stem(x)))

    def classify(self, f):
        return self.head(f)

    def cam_layer(self) -> nn.Module:
        return self.stages[self.cam_stage]


class TorchvisionClassifier(_TwoStage):
    """CNN baselines (torchvision, random init unless a local weights file is given)."""

    def __init__(self, arch: str, num_classes: int = 2, pretrained: str | None = None, dropout: float = DROPOUT):
        super().__init__()
        # deferred: torchvision adds ~1 s to torch's import; only the CNN baselines need it
        import torchvision

        self.prep = GreyToImageNet()
        self.net = getattr(torchvision.models, arch)(weights=None)
        if pretrained:
            load_pretrained(self.net, pretrained)
        fc_name = "fc" if hasattr(self.net, "fc") else "classifier"
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(getattr(self.net, fc_name).in_features, num_classes))
        setattr(self.net, fc_name, nn.Identity())
        self._cam = "layer4" if hasattr(self.net, "layer4") else "features"
        self.cam_anchor = "start" if self._cam == "layer4" else "centre"  # DenseNet's average pools cover their cells
        self.heads = {"label": slice(0, num_classes)}

    def cam_layer(self) -> nn.Module:
        return getattr(self.net, self._cam)


class DualTaskCNN(_DualHeads, TorchvisionClassifier):
    """The DTViT study's CNN baselines for the location task: a torchvision trunk with spec 7's two heads."""

    def __init__(self, arch: str, pretrained: str | None = None, dropout: float = DROPOUT, locations: tuple[str, ...] = LOCATION_CLASSES):
        super().__init__(arch, 2, pretrained, dropout)
        self._dual_heads(self.head[-1].in_features, dropout, locations)


def _drop(kw: dict, *names) -> dict:
    """Model factories share one call signature; each ignores what it does not use."""
    return {k: v for k, v in kw.items() if k not in names}


MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, factory: Callable[..., nn.Module]) -> None:
    MODELS[name] = factory


for _size in VIT_SIZES:
    register_model("vit_he" if _size == "base" else f"vit_he_{_size}", functools.partial(ViTClassifier, _size))
    register_model("dtvit_location" if _size == "large" else f"dtvit_location_{_size}", functools.partial(DualTaskViT, _size))
register_model("ctnet_ht", lambda **kw: CTNet(**_drop(kw, "img_size", "patch_size", "pretrained")))
register_model("ctnet_ht_small", lambda **kw: CTNet(**{"widths": (8, 16, 32), "blocks": (1, 1, 1), "stem_stride": (1, 1, 1),
                                                      **_drop(kw, "img_size", "patch_size", "pretrained")}))
register_model("resnet18", lambda **kw: TorchvisionClassifier("resnet18", **_drop(kw, "img_size", "patch_size")))
register_model("densenet121", lambda **kw: TorchvisionClassifier("densenet121", **_drop(kw, "img_size", "patch_size")))
for _cnn in ("resnet18", "densenet121"):
    register_model(f"{_cnn}_location", functools.partial(lambda cnn, **kw: DualTaskCNN(cnn, **_drop(kw, "img_size", "patch_size")), _cnn))

# which kind of input each architecture reads: 2D images (ROI or whole slices) or a 3D volume
VOLUME_MODELS = frozenset({"ctnet_ht", "ctnet_ht_small"})


def create_model(name: str, **kw) -> nn.Module:
    """Build architecture `name` (see MODELS) with its keyword arguments."""
    if name not in MODELS:
        raise OptionError(None, f"unknown architecture {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kw)


def is_volume_model(name: str) -> bool:
    return name in VOLUME_MODELS
