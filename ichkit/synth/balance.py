"""UKAN-Balanced (1:1) and UKAN-Semibalanced (1:2) training sets (spec 8): real images plus enough
synthetic minority images to reach the ratio, as one manifest the classifier trainer reads.

Synthetic images join the training split only. With a `split` column, the ratio is computed on
the `train` rows and the synthetic rows are marked `train`; validation and test rows pass
through untouched. Without one, the whole real manifest is the training set (the trainer's own
hold-out only ever draws real patients). The count rule and the choice of rows are the classifier
trainer's `balance`, so a set built here equals one the trainer would build in memory.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..atomic import check_writable
from ..classify.roi import write_manifest
from ..classify.train import EVAL_SPLITS, TRAIN_SPLITS, balance, parse_ratio, read_manifest
from ..errors import TableError
from .manifest import image_path

BALANCE_SEED = 0


def _relative_to(row: dict, folder: Path) -> dict:
    return {**row, "path": os.path.relpath(image_path(row).resolve(), folder.resolve())}


def balanced_manifest(real: str | Path, synthetic: str | Path, ratio: str, out: str | Path, *,
                      seed: int = BALANCE_SEED, overwrite: bool = False) -> dict:
    """Write the balanced manifest `out`; returns the counts of its training rows."""
    out = check_writable(out, overwrite)
    k = parse_ratio(ratio)
    rows, generated = read_manifest(real), read_manifest(synthetic)
    not_synthetic = [r for r in generated if not r["synthetic"]]
    if not_synthetic:
        raise TableError(synthetic, f"{len(not_synthetic)} row(s) are not marked synthetic; give the manifest `ich synth sample` wrote")
    has_split = "split" in rows[0]
    train = [r for r in rows if not has_split or r["split"] in TRAIN_SPLITS]
    held = [r for r in rows if has_split and r["split"] not in TRAIN_SPLITS]
    if any(r["synthetic"] for r in held):
        raise TableError(real, f"synthetic rows are already in the {'/'.join(EVAL_SPLITS)} split; they belong to training only")
    unknown = sorted({r["split"] for r in held} - set(EVAL_SPLITS))
    if unknown:
        raise TableError(real, f"unknown split value(s) {', '.join(unknown)}; use {', '.join(TRAIN_SPLITS + EVAL_SPLITS)}")
    positives = [r for r in generated if int(r["label"]) == 1]
    n_real = sum(1 for r in train if not r["synthetic"])
    balanced = balance(train, k, positives, seed)  # the real rows, then the added ones
    real_rows, added = balanced[:n_real], balanced[n_real:]
    short = sum(1 for r in added if not r["synthetic"])
    if short:
        raise TableError(synthetic, f"1:{k} needs {len(added)} synthetic image(s), the manifest has {len(positives)}; "
                                    f"sample at least {short} more with `ich synth sample --n`")
    if has_split:
        added = [{**r, "split": TRAIN_SPLITS[0]} for r in added]
    write_manifest(out, [_relative_to(r, out.parent) for r in real_rows + added + held], _columns(real, synthetic))
    return {"manifest": out, "ratio": f"1:{k}", "negatives": sum(int(r["label"]) == 0 for r in real_rows),
            "real_positives": sum(int(r["label"]) == 1 for r in real_rows), "synthetic_positives": len(added),
            "held_out": len(held)}


def _columns(real: str | Path, synthetic: str | Path) -> list[str]:
    """The real manifest's columns, then the synthetic one's extra (provenance) columns."""
    first = _header(real)
    return first + [c for c in _header(synthetic) if c not in first]


def _header(path: str | Path) -> list[str]:
    with open(path, newline="") as fh:
        return next(csv.reader(fh))
