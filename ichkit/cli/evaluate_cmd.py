"""`ich evaluate PREDICTIONS.csv`: AUC with DeLong and bootstrap CIs, threshold metrics,
calibration and Brier per model; the paired DeLong test between models; ROC and calibration
plots when an output folder is given."""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

from ..atomic import check_writable, write_json
from ..errors import OptionError, warn
from ..evaluate.settings import BIN_STRATEGIES, EvaluationSettings
from .common import COUNT, add_json, add_output, emit, int_range

REPORT_NAME, ROC_NAME, CALIBRATION_NAME = "evaluation.json", "roc.png", "calibration.png"


def _threshold(text: str) -> float | str:
    """'youden' or any finite number (scores need not be probabilities)."""
    if text == "youden":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number or 'youden', not {text!r}")
    return value


def register(sub) -> None:
    d = EvaluationSettings()
    p = sub.add_parser("evaluate", help="AUC (DeLong + bootstrap CIs), threshold metrics, calibration, DeLong tests")
    p.add_argument("predictions", help="CSV with one row per case: a 0/1 label column and score columns")
    p.add_argument("--label-col", default="y", help="label column, 1 = positive (default: y)")
    p.add_argument("--score-col", action="append", help="score column of one model; repeat for several (default: p)")
    p.add_argument("--threshold", type=_threshold, default=d.threshold, help=f"decision threshold: a number or 'youden' (default {d.threshold})")
    p.add_argument("--fit-on", metavar="CSV", help="fit the Youden threshold on this separate CSV (same columns) instead of on PREDICTIONS, whose metrics would be optimistic")
    p.add_argument("--n-boot", type=COUNT, default=d.n_boot, help=f"bootstrap replicates (default {d.n_boot})")
    p.add_argument("--seed", type=int_range(0), default=d.seed, help=f"bootstrap seed (default {d.seed})")
    p.add_argument("--bins", type=COUNT, default=d.calibration_bins, help=f"calibration bins (default {d.calibration_bins})")
    p.add_argument("--bin-strategy", choices=BIN_STRATEGIES, default=d.calibration_strategy, help=f"calibration binning (default {d.calibration_strategy})")
    add_output(p, "-o", "--outdir", help="write evaluation.json, roc.png and calibration.png here", kind="folder")
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    add_json(p)
    p.set_defaults(func=run)


def _summary(path: str, report: dict) -> str:
    lines = [f"{path}:"]
    for name, m in report["models"].items():
        t = m["at_threshold"]
        lo, hi = m["auc_ci_delong"]
        blo, bhi = m["auc_ci_bootstrap"]
        fmt = {k: "n/a" if t[k]["value"] is None else f"{t[k]['value']:.3f}" for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy", "f1")}
        brier = "n/a" if m["brier"] is None else f"{m['brier']:.3f}"
        note = " (optimistic: fitted on these cases)" if m["threshold"]["optimistic"] else ""
        lines.append(
            f"  {name}: AUC {m['auc']:.3f} (DeLong {lo:.3f}-{hi:.3f}, bootstrap {blo:.3f}-{bhi:.3f}); "
            f"at {t['threshold']:.3g}{note}: sens {fmt['sensitivity']} spec {fmt['specificity']} "
            f"PPV {fmt['ppv']} NPV {fmt['npv']} acc {fmt['accuracy']} F1 {fmt['f1']}; Brier {brier}"
        )
    for r in report["delong_pairs"]:
        lines.append(f"  DeLong {r['a']} vs {r['b']}: diff {r['difference']:+.3f}, z {r['z']:.2f}, p {r['p']:.4g} (Holm {r['p_holm']:.4g})")
    return "\n".join(lines)


def run(args) -> int:
    # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
    from ..evaluate.predictions import load_predictions
    from ..evaluate.report import evaluate

    score_cols = args.score_col or ["p"]
    if args.fit_on and args.threshold != "youden":
        raise OptionError(args.fit_on, "--fit-on only applies to --threshold youden")
    if args.n_boot < 1 or args.bins < 1:
        raise OptionError(None, "--n-boot and --bins must be at least 1")
    outputs = []
    if args.outdir:
        outputs = [Path(args.outdir) / n for n in (REPORT_NAME, ROC_NAME, CALIBRATION_NAME)]
        for out in outputs:
            check_writable(out, args.overwrite)
    y, scores = load_predictions(args.predictions, args.label_col, score_cols)
    fit_on = None
    if args.fit_on:
        fy, fscores = load_predictions(args.fit_on, args.label_col, score_cols)
        fit_on = {c: (fy, fscores[c]) for c in score_cols}
    settings = EvaluationSettings(args.threshold, n_boot=args.n_boot, seed=args.seed, calibration_bins=args.bins, calibration_strategy=args.bin_strategy)
    report = evaluate(y, scores, settings, fit_on)
    report["predictions"] = str(args.predictions)
    if args.threshold == "youden" and not args.fit_on:
        warn(args.predictions, "Youden threshold fitted on the evaluated cases: threshold metrics are optimistic (use --fit-on)")
    for name, m in report["models"].items():
        if not m["scores_are_probabilities"]:
            warn(args.predictions, f"column {name!r} is not in [0, 1]: no Brier score or calibration")
    if args.outdir:
        _write_outputs(args.predictions, report, y, scores, outputs)
    emit(args, report, _summary(args.predictions, report))
    return 0


def _write_outputs(source: str, report: dict, y, scores: dict, outputs: list[Path]) -> None:
    """Plots first (when matplotlib is installed), then the JSON report listing every file."""
    report_path, roc_path, cal_path = outputs
    written = [report_path]
    if importlib.util.find_spec("matplotlib") is None:
        warn(source, "matplotlib is not installed: no plots (pip install matplotlib)")
    else:
        # deferred: the command's own modules load only when it runs, so `ich --help` stays fast
        from ..evaluate.plots import plot_calibration, plot_roc

        written.append(plot_roc(y, scores, {n: m["auc"] for n, m in report["models"].items()}, roc_path))
        curves = {n: m["calibration"] for n, m in report["models"].items() if m["calibration"] is not None}
        if curves:
            written.append(plot_calibration(curves, cal_path))
    report["files"] = [str(p) for p in written]
    write_json(report_path, report)
