"""Reading a predictions CSV: one row per case, a 0/1 label column and one score column per model.

Every problem is a `TableError` naming the file, so the CLI prints one line and exits 2.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import TableError, UnreadableFileError


def _read_rows(path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFileError(path, f"cannot read the CSV ({exc.__class__.__name__}: {exc})") from None


def _column(path: Path, rows: list[dict], name: str) -> np.ndarray:
    values = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        text = (row.get(name) or "").strip()
        try:
            values.append(float(text))
        except ValueError:
            raise TableError(path, f"column {name!r} line {line}: {text!r} is not a number") from None
    out = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(out)):
        bad = int(np.flatnonzero(~np.isfinite(out))[0]) + 2
        raise TableError(path, f"column {name!r} line {bad}: NaN or infinite value")
    return out


def load_predictions(path: str | Path, label_col: str, score_cols: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(labels as int 0/1, {score column: scores}); both classes must be present."""
    path = Path(path)
    header, rows = _read_rows(path)
    missing = [c for c in [label_col, *score_cols] if c not in header]
    if missing:
        raise TableError(path, f"missing column(s) {', '.join(missing)} (columns: {', '.join(header) or 'none'})")
    if not rows:
        raise TableError(path, "no data rows")
    y = _column(path, rows, label_col)
    if not np.isin(y, (0, 1)).all():
        others = sorted(set(np.unique(y).tolist()) - {0.0, 1.0})[:5]
        raise TableError(path, f"label column {label_col!r} must hold only 0 and 1 (found {others})")
    if np.unique(y).size < 2:
        raise TableError(path, f"label column {label_col!r} holds a single class ({int(y[0])}); AUC needs both")
    return y.astype(int), {c: _column(path, rows, c) for c in score_cols}
