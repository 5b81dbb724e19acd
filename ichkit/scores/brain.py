"""The BRAIN score for hematoma growth (>= 6 mL at 24 h).

Wang X, Arima H, Al-Shahi Salman R, et al. Clinical prediction algorithm (BRAIN) to determine risk
of hematoma growth in acute intracerebral hemorrhage. Stroke 2015;46:376-381 (INTERACT1 and 2).
Baseline ICH volume <= 10 mL = 0, 10-20 = 5, > 20 = 7; Recurrent ICH = 4; Anticoagulation with
warfarin at onset = 6; Intraventricular extension = 2; Number of hours from onset to baseline CT
<= 1 = 5, 1-2 = 4, 2-3 = 3, 3-4 = 2, 4-5 = 1, > 5 = 0 (0-24). The paper gives the probability of
growth only at its ends in the abstract (3.4 % at 0, 85.8 % at 24), so none is shown per total.
"""

from __future__ import annotations

from .common import NO_IVH_NOTE, Clinical, Imaging, Item, ScoreResult, evaluate

REFERENCE = "Wang X et al. Clinical prediction algorithm (BRAIN) to determine risk of hematoma growth in acute intracerebral hemorrhage. Stroke 2015;46:376-381"


def _volume_points(ml: float) -> int:
    return 0 if ml <= 10 else 5 if ml <= 20 else 7


def _hour_points(h: float) -> int:
    return next((p for limit, p in ((1, 5), (2, 4), (3, 3), (4, 2), (5, 1)) if h <= limit), 0)


ITEMS = {
    "volume": Item("baseline ICH volume", "imaging", "<= 10 mL: 0, 10-20: 5, > 20: 7", _volume_points, 7),
    "recurrent": Item("recurrent ICH", "clinical", "yes: 4", lambda v: 4 * int(v), 4),
    "warfarin": Item("anticoagulation with warfarin at onset", "clinical", "yes: 6", lambda v: 6 * int(v == "warfarin"), 6),
    "ivh": Item("intraventricular extension", "imaging", "yes: 2", lambda v: 2 * int(v), 2),
    "hours": Item("hours from onset to CT", "clinical", "<= 1: 5, 1-2: 4, 2-3: 3, 3-4: 2, 4-5: 1, > 5: 0", _hour_points, 5),
}


def brain_score(imaging: Imaging, clinical: Clinical) -> ScoreResult:
    """The volume is the mesh volume of the IPH label: INTERACT measured it by planimetry."""
    why = imaging.why
    notes = ["volume used: mesh volume of the IPH label (the trials measured planimetric volume)"]
    if imaging.ivh is False:
        notes.append(NO_IVH_NOTE)
    if clinical.anticoagulant == "other":
        notes.append("the score counts warfarin only; another anticoagulant scores 0 here")
    vol = imaging.ich_mesh_ml
    return evaluate("brain", "BRAIN score", REFERENCE, [
        (ITEMS["volume"], vol, why.get("ich_volume", "")),
        (ITEMS["recurrent"], clinical.recurrent_ich, ""),
        (ITEMS["warfarin"], clinical.anticoagulant, ""),
        (ITEMS["ivh"], imaging.ivh, why.get("ivh", "")),
        (ITEMS["hours"], clinical.onset_hours, ""),
    ], notes)
