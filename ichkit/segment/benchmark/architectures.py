"""Architecture benchmark: every arch trained alike, scored on the same held-out patients.

Each arch of `training.architectures.ARCHITECTURES` trains with one preset on one patient-grouped fold
(the splits of `dataset.patient_folds`, so no patient of the validation cases was trained on),
then nnU-Net's predictor segments the fold's validation cases and `evaluate.segmentation` scores
them against the truth per class. A training that already reached the preset's epochs is reused
and an unfinished one resumed, so a killed benchmark continues where it stopped, and models
trained by `ich train segment` in the same work folder count too.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...atomic import check_writable, write_text
from ...checkpoint import load_checkpoint
from ...errors import OptionError
from ...evaluate.plots import plot_bland_altman, plot_curves
from ...evaluate.segmentation import mask_agreement, mean_sd
from ...io import load_ct, load_mask
from ...progress import Progress, silent
from ..training.dataset import check_dataset_dir, patient_folds, read_patients
from ..nnunet_model import class_lookup
from ..nnunet_predict import CHECKPOINT, NnUNetSegmenter
from ..training.nnunet_train import CHECKPOINTS_FOR_RESUME, N_FOLDS, check_architecture, results_folder, train
from ..training.presets import Preset

TABLE_CSV, TABLE_MD, CASES_CSV = "bench_seg.csv", "bench_seg.md", "bench_seg_cases.csv"
PSEUDO_DICE_PNG, BLAND_ALTMAN_PNG = "pseudo_dice.png", "bland_altman_{}.png"
METRICS = {"dice": "Dice", "iou": "IoU", "hd95_mm": "HD95 (mm)", "abs_volume_error_ml": "ΔV (ml)", "rel_volume_error_pct": "ΔV (%)"}


@dataclass(frozen=True)
class BenchResult:
    table: list[dict]  # one row per arch: epochs, cases, <class>_<metric>_mean / _sd / _n
    files: list[Path]
    reused: list[str]  # archs whose finished training was reused


def _shifted(progress: Progress, offset: int, total: int, arch: str) -> Progress:
    """One arch's share of the benchmark's progress."""
    return lambda done, _total, what="": progress(offset + done, total, f"{arch}: {what}")


def _final_checkpoint(fold_dir: Path) -> dict | None:
    path = fold_dir / CHECKPOINT
    return load_checkpoint(path) if path.is_file() else None


def _train_or_reuse(dataset_dir, work_dir, preset, arch, fold, device, progress) -> tuple[Path, dict, bool]:
    """The arch's results folder, its final checkpoint, and whether it was reused as it was."""
    model_dir = results_folder(dataset_dir, work_dir, preset, arch)
    fold_dir = model_dir / f"fold_{fold}"
    final = _final_checkpoint(fold_dir)
    if final is not None and final["current_epoch"] >= preset.epochs:
        return model_dir, final, True
    resume = any((fold_dir / c).is_file() for c in CHECKPOINTS_FOR_RESUME)
    train(dataset_dir, work_dir, preset, arch=arch, fold=fold, device=device, resume=resume, progress=progress)
    return model_dir, _final_checkpoint(fold_dir), False


def _score_cases(model_dir: Path, dataset_dir: Path, cases: list[str], fold, device, progress) -> list[dict]:
    """Per case and class: `mask_agreement` of nnU-Net's prediction with the dataset's label map."""
    dataset = json.loads((dataset_dir / "dataset.json").read_text())
    classes = {v: k for k, v in dataset["labels"].items()}
    lut, names = class_lookup(classes)
    ending = dataset["file_ending"]
    segmenter = NnUNetSegmenter(model_dir, device=device, folds=[fold])
    rows = []
    for i, case in enumerate(cases):
        ct = load_ct(dataset_dir / "imagesTr" / f"{case}_0000{ending}")
        true = lut[load_mask(dataset_dir / "labelsTr" / f"{case}{ending}", ct, allow_empty=True).array]
        pred = segmenter.predict(ct).labels.array
        for value, name in names.items():
            rows.append({"case_id": case, "class": name,
                         **mask_agreement(pred == value, true == value, ct.spacing[::-1], ct.voxel_volume_ml)})
        progress(i + 1, len(cases), f"segmented {case}")
    return rows


def _summary(arch: str, epochs: int, rows: list[dict]) -> dict:
    row = {"arch": arch, "epochs": epochs, "cases": len({r["case_id"] for r in rows})}
    for name in dict.fromkeys(r["class"] for r in rows):
        for metric in METRICS:
            mean, sd, n = mean_sd([r[metric] for r in rows if r["class"] == name])
            row |= {f"{name}_{metric}_mean": mean, f"{name}_{metric}_sd": sd, f"{name}_{metric}_n": n}
    return row


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _markdown(table: list[dict], class_names: list[str], preset: Preset, fold) -> str:
    def cell(row, name, metric):
        mean, sd, n = (row[f"{name}_{metric}_{k}"] for k in ("mean", "sd", "n"))
        if n == 0:
            return "n/a"
        text = f"{mean:.3f}" if np.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"
        return text if n == row["cases"] else f"{text} (n={n})"

    head = ["arch", "epochs", "cases"] + [f"{name} {label}" for name in class_names for label in METRICS.values()]
    lines = [f"Preset `{preset.name}`, fold {fold} (patient-grouped); mean ± SD over the fold's validation cases; "
             "ΔV = absolute volume error, in ml and in % of the true volume.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        cells = [row["arch"], str(row["epochs"]), str(row["cases"])] + [cell(row, n, m) for n in class_names for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bench_segmentation(dataset_dir: str | Path, work_dir: str | Path, out_dir: str | Path, archs: list[str], preset: Preset, *,
                       fold: int | str = 0, device: str = "cpu", overwrite: bool = False, progress: Progress = silent) -> BenchResult:
    """Train (or reuse) each arch on `fold`, score the fold's validation cases, write tables and plots into `out_dir`."""
    dataset_dir, out_dir = check_dataset_dir(dataset_dir), Path(out_dir)
    if not archs or len(set(archs)) != len(archs):
        raise OptionError(None, f"--archs {','.join(archs)}: name each architecture once")
    for arch in archs:
        check_architecture(arch, device)
    if not (dataset_dir / "dataset.json").is_file():
        raise OptionError(dataset_dir, "is not a dataset (no dataset.json); build one with `ich dataset build`")
    splits = patient_folds(read_patients(dataset_dir), N_FOLDS)  # the folds `train` writes for nnU-Net
    if fold == "all" or not 0 <= int(fold) < len(splits):
        raise OptionError(None, f"--fold {fold}: the benchmark needs held-out patients; the dataset's make folds 0..{len(splits) - 1}")
    cases = splits[int(fold)]["val"]
    dataset = json.loads((dataset_dir / "dataset.json").read_text())
    class_names = [k for k, v in sorted(dataset["labels"].items(), key=lambda kv: kv[1]) if v]
    outputs = [out_dir / n for n in (TABLE_CSV, TABLE_MD, CASES_CSV, PSEUDO_DICE_PNG)] + [out_dir / BLAND_ALTMAN_PNG.format(n) for n in class_names]
    for path in outputs:
        check_writable(path, overwrite)  # before hours of training, not after

    steps = preset.epochs + len(cases)  # progress: the epochs, then one step per validation case, per arch
    table, case_rows, curves, reused = [], [], {}, []
    for k, arch in enumerate(archs):
        model_dir, final, was_reused = _train_or_reuse(dataset_dir, work_dir, preset, arch, fold, device,
                                                       _shifted(progress, k * steps, len(archs) * steps, arch))
        reused += [arch] if was_reused else []
        rows = _score_cases(model_dir, dataset_dir, cases, fold, device,
                            _shifted(progress, k * steps + preset.epochs, len(archs) * steps, arch))
        case_rows += [{"arch": arch, **r} for r in rows]
        table.append(_summary(arch, final["current_epoch"], rows))
        curves[arch] = [float(v) for v in final["logging"]["mean_fg_dice"]]

    write_text(out_dir / TABLE_CSV, _csv(table))
    write_text(out_dir / TABLE_MD, _markdown(table, class_names, preset, fold))
    write_text(out_dir / CASES_CSV, _csv(case_rows))
    plot_curves(curves, out_dir / PSEUDO_DICE_PNG, f"nnU-Net pseudo-Dice, fold {fold}", "epoch", "mean foreground pseudo-Dice")
    for name in class_names:
        pairs = {arch: (np.array([r["true_ml"] for r in case_rows if r["arch"] == arch and r["class"] == name]),
                        np.array([r["pred_ml"] for r in case_rows if r["arch"] == arch and r["class"] == name])) for arch in archs}
        plot_bland_altman(pairs, out_dir / BLAND_ALTMAN_PNG.format(name), f"{name} volume, fold {fold}")
    return BenchResult(table, outputs, reused)
