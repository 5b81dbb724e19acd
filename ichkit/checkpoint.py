"""Loading training checkpoints with `torch.load(weights_only=True)`, as every weight file is.

nnU-Net's and our trainers' checkpoints hold numpy scalars in their logs (losses, pseudo-Dice);
those two numpy globals are allowed, nothing that can run code is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import OutputExistsError, UnreadableFileError


def resume_checkpoint(path: Path, resume: bool, what: str) -> Path:
    """The checkpoint a resumable training continues from: an existing one is refused without
    --resume (never trained over), and --resume without one is an error; `what` names the run."""
    if path.exists() and not resume:
        raise OutputExistsError(path, f"holds {what}; pass --resume to continue it or choose another output folder")
    if resume and not path.is_file():
        raise UnreadableFileError(path, "no checkpoint to resume from")
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    # deferred: torch loads only when a checkpoint is read
    import torch

    scalar_types = [type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)]
    with torch.serialization.safe_globals([np._core.multiarray.scalar, np.dtype, *scalar_types]):
        return torch.load(path, map_location=map_location, weights_only=True)
