"""An ensemble's uncertainty as the workstation shows it: each label's voxel volume range across the
networks beside its volume, and the disagreement map (per voxel, the fraction of networks whose
label differs from the ensemble's) as a colour overlay. Pure Python and numpy (no browser in tests).
"""

from __future__ import annotations

from ..app.segment import ENSEMBLE_MAX, EnsembleOutput
from ..image import Volume

ENSEMBLE_CHOICES = list(range(1, ENSEMBLE_MAX + 1))
ENSEMBLE_HELP = ("BLAST-CT networks averaged (the blast-ct-v1 ensemble; 1: the single network). Each network adds roughly "
                 "the single network's time, so N networks take about N times as long. N > 1 shows each label's volume "
                 "range across the networks and a map of where they disagree.")
DISAGREE_OPACITY = 0.6
DISAGREE_RAMP_FROM = 0.35  # the heat ramp's red: one network of twelve disagreeing is drawn red, not near-black


def disagreement_window() -> tuple[float, float]:
    """(window, level) mapping fractions 0..1 onto the ramp's DISAGREE_RAMP_FROM..1."""
    window = 1.0 / (1.0 - DISAGREE_RAMP_FROM)
    return window, window * (0.5 - DISAGREE_RAMP_FROM)


def interval_texts(ensemble: EnsembleOutput | None) -> dict[str, str]:
    """Label key -> "lo-hi" mL across the networks (labels the networks found)."""
    return {key: f"{lo:.2f}-{hi:.2f}" for key, (lo, hi) in (ensemble.interval_ml.items() if ensemble else ())}


def interval_caption(ensemble: EnsembleOutput | None) -> str:
    if ensemble is None:
        return ""
    return f"range: each of the {ensemble.members} networks' own voxel volume (before small-component removal)"


def disagreement_note(disagreement: Volume, members: int) -> str:
    """How much of the scan the networks disagree on, and the slice with the most of it."""
    a = disagreement.array > 0
    if not a.any():
        return f"the {members} networks agree on every voxel"
    voxels = int(a.sum())
    ml = voxels * float(disagreement.spacing[0] * disagreement.spacing[1] * disagreement.spacing[2]) / 1000.0
    worst = int(a.reshape(a.shape[0], -1).sum(axis=1).argmax()) + 1
    return f"the {members} networks disagree on {voxels} voxels ({ml:.2f} mL), most on slice {worst}"
