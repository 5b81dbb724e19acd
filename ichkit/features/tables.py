"""The features folder and the outcome labels.

A features folder (written by `ich features extract`) holds `cohort.csv` (id, patient_id and the
cohort's own columns, e.g. outcomes) and one `<set>.csv` per feature set (id, patient_id, error,
then the features). Outcomes are a 0/1 column, or `he3`/`he6`/`he9`: absolute hematoma growth
above 3/6/9 mL (002) from a baseline and a follow-up volume column, judged by `ichkit.measure.expansion`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..errors import OptionError, TableError, UnreadableFileError
from ..measure.expansion import expansion_verdict
from .settings import BASELINE_COLUMN, FOLLOWUP_COLUMN, HE_OUTCOMES, SETS

KEY_COLUMNS = ("id", "patient_id", "error")
TRUE_VALUES, FALSE_VALUES = {"1", "true", "yes"}, {"0", "false", "no"}


def read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFileError(path, f"cannot read the CSV ({type(exc).__name__}: {exc})") from None


def write_table(rows: list[dict], path: str | Path) -> Path:
    """CSV of `rows` (columns in first-seen order), written atomically."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())


@dataclass
class FeatureTable:
    """Scans with every available set extracted: ids, patients, the matrix and each set's columns."""

    ids: list[str]
    patients: np.ndarray
    X: np.ndarray
    names: list[str]
    columns: dict[str, np.ndarray]  # set -> column indices into X
    dropped: dict[str, str]  # scan id -> why it is left out

    def take(self, ids: list[str]) -> "FeatureTable":
        pos = {i: k for k, i in enumerate(self.ids)}
        rows = [pos[i] for i in ids]
        return FeatureTable(list(ids), self.patients[rows], self.X[rows], self.names, self.columns, self.dropped)


def load_features(folder: str | Path, sets: tuple[str, ...] = SETS) -> FeatureTable:
    """Join the sets present in `folder` (among `sets`) on scan id."""
    folder = Path(folder)
    present = [s for s in sets if (folder / f"{s}.csv").is_file()]
    if not present:
        raise OptionError(folder, f"holds none of {', '.join(f'{s}.csv' for s in sets)} (run `ich features extract`)")
    tables, dropped = {}, {}
    for name in present:
        rows = read_rows(folder / f"{name}.csv")
        tables[name] = {}
        for r in rows:
            if r.get("error"):
                dropped[r["id"]] = f"{name}: {r['error']}"
            else:
                tables[name][r["id"]] = r
    first = read_rows(folder / f"{present[0]}.csv")
    ids = [r["id"] for r in first if all(r["id"] in tables[s] for s in present)]
    for r in first:
        if r["id"] not in dropped and r["id"] not in ids:
            dropped[r["id"]] = "missing from a feature set"
    blocks, names, columns, start = [], [], {}, 0
    for name in present:
        cols = [c for c in _header(folder / f"{name}.csv") if c not in KEY_COLUMNS]
        blocks.append(np.array([[_number(tables[name][i].get(c)) for c in cols] for i in ids], dtype=float).reshape(len(ids), len(cols)))
        names += cols
        columns[name] = np.arange(start, start + len(cols))
        start += len(cols)
    if "radiomics" in columns and "shape" not in columns:  # the shape set is a part of the radiomics
        columns["shape"] = np.array([i for i in columns["radiomics"] if "_shape_" in names[i]])
    patients = np.array([tables[present[0]][i].get("patient_id") or i for i in ids])
    return FeatureTable(ids, patients, np.hstack(blocks), names, columns, dropped)


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


def _flag(path, column, text) -> int | None:
    value = (text or "").strip().lower()
    if value == "":
        return None
    if value in TRUE_VALUES or value in FALSE_VALUES:
        return int(value in TRUE_VALUES)
    try:
        number = float(value)
    except ValueError:
        number = None
    if number in (0.0, 1.0):
        return int(number)
    raise TableError(path, f"outcome column {column!r} holds {text!r}; it must be 0/1 (or true/false)")


def _he(threshold: float, row: dict, baseline: str, followup: str) -> int | None:
    before, after = _number(row.get(baseline)), _number(row.get(followup))
    if np.isnan(before) or np.isnan(after):
        return None
    measures = lambda ml: {"IPH": {"ml": ml}}  # noqa: E731
    verdict = expansion_verdict(measures(before), measures(after), thresholds=(threshold,), revised=False, volume="ml")
    return int(verdict.thresholds[f"> {threshold:g} mL"])


def outcome_labels(path: str | Path, outcome: str, *, baseline: str = BASELINE_COLUMN,
                   followup: str = FOLLOWUP_COLUMN) -> dict[str, int]:
    """Scan id -> 0/1 from the table at `path`; scans with no value are left out."""
    rows = read_rows(path)
    header = list(rows[0]) if rows else []
    if "id" not in header and "scan_id" not in header:
        raise TableError(path, "needs an id (or scan_id) column")
    needed = [baseline, followup] if outcome in HE_OUTCOMES else [outcome]
    missing = [c for c in needed if c not in header]
    if missing:
        raise TableError(path, f"missing column(s) {', '.join(missing)} for outcome {outcome!r} (columns: {', '.join(header)})")
    out = {}
    for row in rows:
        value = (_he(HE_OUTCOMES[outcome], row, baseline, followup) if outcome in HE_OUTCOMES
                 else _flag(path, outcome, row.get(outcome)))
        if value is not None:
            out[row.get("id") or row["scan_id"]] = value
    return out
