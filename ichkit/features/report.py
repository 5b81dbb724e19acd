"""The benchmark's output folder: `auc.csv` (classifier x input x split, AUC with DeLong and
bootstrap CIs, F1, sensitivity, specificity, PPV, NPV), `folds.csv`, `importance.csv`,
`predictions_<split>.csv` (one score column per pipeline: `ich evaluate` reads them) and
`statistics.json` (Friedman, pairwise Wilcoxon, the settings and the cases left out).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..atomic import check_writable, write_json
from .pipeline import BenchmarkResult
from .settings import BenchmarkSettings
from .tables import write_table

FILES = ("auc.csv", "folds.csv", "importance.csv", "statistics.json", "predictions_cv.csv", "predictions_external.csv")


def check_outputs(out_dir: str | Path, overwrite: bool) -> None:
    for name in FILES:
        check_writable(Path(out_dir) / name, overwrite)


def write_benchmark(result: BenchmarkResult, out_dir: str | Path, cases: dict[str, tuple[list[str], np.ndarray]],
                    s: BenchmarkSettings, meta: dict) -> dict[str, Path]:
    """`cases`: split -> (scan ids, labels) in the order of the predictions."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"auc": write_table(result.rows, out_dir / "auc.csv"),
             "folds": write_table(result.folds, out_dir / "folds.csv")}
    if result.importance:
        paths["importance"] = write_table(result.importance, out_dir / "importance.csv")
    for split, scores in result.predictions.items():
        ids, y = cases[split]
        rows = [{"id": i, "label": int(v)} | {name: float(sc[k]) for name, sc in scores.items()} for k, (i, v) in enumerate(zip(ids, y))]
        paths[f"predictions_{split}"] = write_table(rows, out_dir / f"predictions_{split}.csv")
    paths["statistics"] = write_json(out_dir / "statistics.json", {
        "statistics": result.statistics, "skipped_inputs": result.skipped_inputs, "settings": asdict(s), **meta})
    return paths
