"""The networks `ich train segment --arch` can train: nnU-Net's planned U-Net or a MONAI network
named in its plans, and why one cannot run on this machine. Apart from the training run so that
the trainers (which subclass nnU-Net's) and the run read one table without importing each other."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from .monai_nets import SWINUNETR, UNETR, MonaiNetwork


def _umamba_available(device: str) -> str | None:
    # deferred: torch loads only when a network trains (`ich --help` loads this module)
    import torch

    missing = [what for what, ok in (("a CUDA GPU (--device cuda)", device == "cuda" and torch.cuda.is_available()),
                                     ("the mamba-ssm package", importlib.util.find_spec("mamba_ssm") is not None)) if not ok]
    if missing:
        return f"U-Mamba needs {' and '.join(missing)}, which this machine lacks; use --arch nnunet"
    return "U-Mamba's trainer is not bundled with this version of ichkit; use --arch nnunet"


def _needs_monai(name: str) -> Callable[[str], str | None]:
    def check(device: str) -> str | None:
        missing = [m for m in ("monai", "einops") if importlib.util.find_spec(m) is None]
        return f"{name} needs the {' and '.join(missing)} package(s): pip install 'ichkit[ml]'" if missing else None

    return check


@dataclass(frozen=True)
class Architecture:
    """One --arch: why it cannot run on this machine (None: it can) and, unless it is nnU-Net's
    planned U-Net, the MONAI network that the plans name instead."""

    unavailable: Callable[[str], str | None]  # device -> reason
    network: MonaiNetwork | None = None


ARCHITECTURES = {
    "nnunet": Architecture(lambda device: None),
    "umamba": Architecture(_umamba_available),
    "swinunetr": Architecture(_needs_monai("SwinUNETR"), SWINUNETR),
    "unetr": Architecture(_needs_monai("UNETR"), UNETR),
}
