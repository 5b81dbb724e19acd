"""nnU-Net's folders for one call: its environment variables set on entry, restored on exit.

nnU-Net v2 reads nnUNet_raw / nnUNet_preprocessed / nnUNet_results from the environment each
time it needs them, so scoping the variables to a `with` block keeps trainings of different
datasets (and the user's own nnU-Net setup) apart without touching the global environment.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

PREPROCESSED = "nnUNet_preprocessed"
RESULTS = "nnUNet_results"


@dataclass(frozen=True)
class NnUNetFolders:
    raw: Path  # the folder holding DatasetNNN_Name/
    preprocessed: Path
    results: Path

    @classmethod
    def for_training(cls, dataset_dir: Path, work_dir: Path) -> "NnUNetFolders":
        return cls(dataset_dir.parent, work_dir / PREPROCESSED, work_dir / RESULTS)


@contextlib.contextmanager
def nnunet_env(folders: NnUNetFolders | None = None, **extra: str | int | None) -> Iterator[None]:
    """Set nnU-Net's variables (and any `extra` ones that are not None) for the block only."""
    values = {k: str(v) for k, v in (extra or {}).items() if v is not None}
    if folders is not None:
        values |= {"nnUNet_raw": str(folders.raw), "nnUNet_preprocessed": str(folders.preprocessed), "nnUNet_results": str(folders.results)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def nnunet_quiet_stdout() -> Iterator[None]:
    """nnU-Net prints its logs; send them to stderr so our stdout stays machine-readable."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
