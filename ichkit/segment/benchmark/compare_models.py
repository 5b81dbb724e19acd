"""Registry models compared on a dataset's held-out fold: should a site switch models?

Every model segments the fold's validation cases exactly as `ich segment` would (`segment_ct`),
each case is scored per label against the dataset's truth (`mask_agreement`: Dice, IoU, HD95,
volume error), and every model is compared with the first (the reference, e.g. the parent of a
fine-tuned model) case by case: a paired two-sided Wilcoxon signed-rank test per label and
metric, and a Bland-Altman plot of the volumes per label. The fold is the one `ich train
finetune`, `ich train segment` and the architecture benchmark hold out (same patients, same seed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ...atomic import check_writable, write_text
from ...errors import OptionError
from ...evaluate.plots import plot_bland_altman
from ...evaluate.segmentation import mask_agreement, mean_sd
from ...io import load_ct, load_mask
from ...models import ModelEntry, load_registry
from ...progress import Progress, silent
from .architectures import BLAND_ALTMAN_PNG, METRICS, _csv
from ..training.dataset import check_dataset_dir, patient_folds, read_patients
from ..engines import create_segmenter
from ..nnunet_model import class_lookup
from ..run import segment_ct

COMPARE_CSV, COMPARE_MD, COMPARE_CASES_CSV, COMPARE_TESTS_CSV = "compare.csv", "compare.md", "compare_cases.csv", "compare_wilcoxon.csv"
N_FOLDS = 5  # as nnunet_train.N_FOLDS and finetune.data.N_FOLDS


@dataclass(frozen=True)
class CompareResult:
    table: list[dict]  # one row per model and label: <metric>_mean / _sd / _n
    tests: list[dict]  # per other model, label and metric: median paired difference and Wilcoxon p
    cases: list[dict]
    files: list[Path]


def held_out_cases(dataset_dir: Path, fold: int) -> list[str]:
    splits = patient_folds(read_patients(dataset_dir), N_FOLDS)
    if not 0 <= int(fold) < len(splits):
        raise OptionError(None, f"--fold {fold}: the dataset's patients make folds 0..{len(splits) - 1}")
    return splits[int(fold)]["val"]


def _paired(a: list[float], b: list[float]) -> tuple[float, float, int]:
    """Median of b - a over the cases where both are finite, and the Wilcoxon p (NaN when undefined)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        return float("nan"), float("nan"), 0
    diff = float(np.median(y - x))
    if x.size < 2 or np.all(x == y):
        return diff, float("nan"), int(x.size)
    return diff, float(stats.wilcoxon(x, y).pvalue), int(x.size)


def _markdown(table: list[dict], tests: list[dict], fold: int, n_cases: int) -> str:
    def cell(row, metric):
        mean, sd, n = (row[f"{metric}_{k}"] for k in ("mean", "sd", "n"))
        return "n/a" if n == 0 else (f"{mean:.3f}" if np.isnan(sd) else f"{mean:.3f} ± {sd:.3f}") + ("" if n == n_cases else f" (n={n})")

    head = ["model", "label"] + list(METRICS.values())
    lines = [f"Held-out fold {fold} (patient-grouped), {n_cases} case(s); mean ± SD; ΔV = absolute volume error.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([r["model"], r["label"]] + [cell(r, m) for m in METRICS]) + " |" for r in table]
    if tests:
        lines += ["", f"Paired against {tests[0]['reference']}: median difference (model - reference), two-sided Wilcoxon signed-rank p.", "",
                  "| model | label | metric | median diff | p | n |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['model']} | {t['label']} | {METRICS[t['metric']]} | {t['median_diff']:.3f} | {t['p']:.3g} | {t['n']} |" for t in tests]
    return "\n".join(lines) + "\n"


def compare_models(dataset_dir: str | Path, models: list, out_dir: str | Path, *, fold: int = 0, device: str = "cpu",
                   overwrite: bool = False, progress: Progress = silent) -> CompareResult:
    """Segment the held-out fold with each model (registry ids or entries; the first is the
    reference) and write the tables, the paired tests and one Bland-Altman plot per label."""
    dataset_dir, out_dir = check_dataset_dir(dataset_dir), Path(out_dir)
    if not (dataset_dir / "dataset.json").is_file():
        raise OptionError(dataset_dir, "is not a dataset (no dataset.json)")
    registry = load_registry()
    entries = [m if isinstance(m, ModelEntry) else registry.get(m) for m in models]
    if len(entries) < 2 or len({e.id for e in entries}) != len(entries):
        raise OptionError(None, "--models: name at least two different models (the first is the reference)")
    dataset = json.loads((dataset_dir / "dataset.json").read_text(encoding="utf-8"))
    lut, names = class_lookup({int(v): k for k, v in dataset["labels"].items()})
    cases = held_out_cases(dataset_dir, fold)
    outputs = [out_dir / n for n in (COMPARE_CSV, COMPARE_MD, COMPARE_CASES_CSV, COMPARE_TESTS_CSV)]
    outputs += [out_dir / BLAND_ALTMAN_PNG.format(n) for n in names.values()]
    for path in outputs:
        check_writable(path, overwrite)
    segmenters = {e.id: create_segmenter(e, device) for e in entries}
    ending = dataset["file_ending"]
    rows = []
    for i, case in enumerate(cases):
        ct = load_ct(dataset_dir / "imagesTr" / f"{case}_0000{ending}")
        true = lut[load_mask(dataset_dir / "labelsTr" / f"{case}{ending}", ct, allow_empty=True).array]
        for k, entry in enumerate(entries):
            progress(i * len(entries) + k, len(cases) * len(entries), f"{entry.id} on case {i + 1}/{len(cases)}")
            pred = segment_ct(ct, entry, device, segmenter=segmenters[entry.id]).labels.array
            for value, name in names.items():
                rows.append({"model": entry.id, "case_id": case, "label": name,
                             **mask_agreement(pred == value, true == value, ct.spacing[::-1], ct.voxel_volume_ml)})
    progress(len(cases) * len(entries), len(cases) * len(entries), "scored")
    table, tests = [], []
    for entry in entries:
        for name in names.values():
            mine = [r for r in rows if r["model"] == entry.id and r["label"] == name]
            row = {"model": entry.id, "label": name}
            for metric in METRICS:
                mean, sd, n = mean_sd([r[metric] for r in mine])
                row |= {f"{metric}_mean": mean, f"{metric}_sd": sd, f"{metric}_n": n}
            table.append(row)
            if entry is entries[0]:
                continue
            ref = [r for r in rows if r["model"] == entries[0].id and r["label"] == name]
            for metric in METRICS:
                diff, p, n = _paired([r[metric] for r in ref], [r[metric] for r in mine])
                tests.append({"reference": entries[0].id, "model": entry.id, "label": name, "metric": metric,
                              "median_diff": diff, "p": p, "n": n})
    write_text(out_dir / COMPARE_CSV, _csv(table))
    write_text(out_dir / COMPARE_MD, _markdown(table, tests, int(fold), len(cases)))
    write_text(out_dir / COMPARE_CASES_CSV, _csv(rows))
    write_text(out_dir / COMPARE_TESTS_CSV, _csv(tests))
    for name in names.values():
        pairs = {e.id: (np.array([r["true_ml"] for r in rows if r["model"] == e.id and r["label"] == name]),
                        np.array([r["pred_ml"] for r in rows if r["model"] == e.id and r["label"] == name])) for e in entries}
        plot_bland_altman(pairs, out_dir / BLAND_ALTMAN_PNG.format(name), f"{name} volume, held-out fold {fold}")
    return CompareResult(table, tests, rows, outputs)
