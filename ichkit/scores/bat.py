"""The BAT score for hematoma expansion on non-contrast CT.

Morotti A, Dowlatshahi D, Boulouis G, et al. Predicting intracerebral hemorrhage expansion with
noncontrast computed tomography: the BAT score. Stroke 2018;49:1163-1169.
Blend sign = 1, Any intrahematoma hypodensity = 2, Time from onset to NCCT < 2.5 h = 2 (0-5);
a total >= 3 marked high risk of expansion (sensitivity 0.50, specificity 0.89 in derivation).
"""

from __future__ import annotations

from .common import Clinical, Imaging, Item, ScoreResult, evaluate

REFERENCE = "Morotti A et al. Predicting intracerebral hemorrhage expansion with noncontrast computed tomography: the BAT score. Stroke 2018;49:1163-1169"
HOURS = 2.5
HIGH_RISK = 3

ITEMS = {
    "blend": Item("blend sign", "imaging", "present: 1", int, 1),
    "hypodensity": Item("any hypodensity", "imaging", "present: 2", lambda v: 2 * int(v), 2),
    "timing": Item("time from onset to CT", "clinical", "< 2.5 h: 2", lambda h: 2 if h < HOURS else 0, 2),
}


def bat_score(imaging: Imaging, clinical: Clinical) -> ScoreResult:
    why = imaging.why
    result = evaluate("bat", "BAT score", REFERENCE, [
        (ITEMS["blend"], imaging.blend_sign, why.get("blend_sign", "")),
        (ITEMS["hypodensity"], imaging.hypodensity, why.get("hypodensity", "")),
        (ITEMS["timing"], clinical.onset_hours, ""),
    ], ["derived in patients without coagulopathy"])
    if result.total is not None:
        result.interpretation = ("high" if result.total >= HIGH_RISK else "lower") + f" risk of expansion (high: >= {HIGH_RISK})"
    return result
