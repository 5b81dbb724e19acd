"""ROC and calibration plots as PNG files.

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return Path(path)


def _square_axes(title: str, xlabel: str, ylabel: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_SIZE_IN)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=xlabel, ylabel=ylabel, title=title, aspect="equal")
    return fig, ax


def plot_roc(y, scores: dict[str, np.ndarray], aucs: dict[str, float], path: str | Path) -> Path:
    """One ROC curve per model; the legend shows each AUC."""
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
