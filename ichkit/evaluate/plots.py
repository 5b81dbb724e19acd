"""ROC, calibration, learning-curve and Bland-Altman plots as PNG files.

Uses matplotlib's object API with the Agg canvas (no pyplot global state, no display needed) and
writes atomically, so a killed job never leaves a half-written image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path

FIGURE_SIZE_IN = (5.0, 5.0)
DPI = 150


def _save(fig, path: str | Path) -> Path:
    # deferred: matplotlib comes with the [ml] extra and loads only when a plot is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return Path(path)


def _square_axes(title: str, xlabel: str, ylabel: str):
    # deferred: matplotlib comes with the [ml] extra and loads only when a plot is drawn
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_SIZE_IN)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title=title, aspect="equal")
    return fig, ax


def plot_roc(y, scores: dict[str, np.ndarray], aucs: dict[str, float], path: str | Path) -> Path:
    """One ROC curve per model; the legend shows each AUC."""
    # deferred: scikit-learn takes ~1.5 s to import; only the ROC plot needs it
    from sklearn.metrics import roc_curve

    fig, ax = _square_axes("ROC", "1 - specificity", "sensitivity")
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(y, score)
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {aucs[name]:.3f})")
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def plot_calibration(curves: dict[str, dict], path: str | Path) -> Path:
    """Observed fraction against mean predicted probability per bin (from `calibration_curve`)."""
    fig, ax = _square_axes("Calibration", "mean predicted probability", "observed fraction")
    for name, c in curves.items():
        ax.plot(c["mean_predicted"], c["observed_fraction"], marker="o", linewidth=1.5, label=name)
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, path)


def plot_curves(curves: dict[str, list[float]], path: str | Path, title: str, xlabel: str, ylabel: str) -> Path:
    """One line per model over steps 1..n (e.g. a validation score per epoch)."""
    # deferred: matplotlib comes with the [ml] extra and loads only when a plot is drawn
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=FIGURE_SIZE_IN)
    ax = fig.add_subplot()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", linewidth=1.5, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def plot_bland_altman(pairs: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str, unit: str = "ml") -> Path:
    """Difference (predicted - true) against the mean of both, per model, with its bias and 95 %
    limits of agreement (bias ± 1.96 SD) as a solid and two dashed lines in the model's colour."""
    # deferred: matplotlib comes with the [ml] extra and loads only when a plot is drawn
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_SIZE_IN)
    ax = fig.add_subplot()
    ax.axhline(0.0, color="0.6", linewidth=1)
    for i, (name, (true, pred)) in enumerate(pairs.items()):
        true, pred = np.asarray(true, float), np.asarray(pred, float)
        diff = pred - true
        colour = f"C{i}"
        bias = float(diff.mean())
        sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
        ax.scatter((pred + true) / 2, diff, s=18, color=colour, label=f"{name} (bias {bias:+.2f}, LoA ±{1.96 * sd:.2f} {unit})")
        ax.axhline(bias, color=colour, linewidth=1.2)
        for limit in (bias - 1.96 * sd, bias + 1.96 * sd):
            ax.axhline(limit, color=colour, linewidth=1, linestyle="--")
    ax.set(xlabel=f"mean of predicted and true volume ({unit})", ylabel=f"predicted - true ({unit})", title=title)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)
