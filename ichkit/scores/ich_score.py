"""The ICH score for 30-day mortality.

Hemphill JC 3rd, Bonovich DC, Besmertis L, Manley GT, Johnston SC. The ICH score: a simple,
reliable grading scale for intracerebral hemorrhage. Stroke 2001;32:891-897.
GCS 3-4 = 2, 5-12 = 1, 13-15 = 0; ICH volume >= 30 cm3 = 1 (measured by ABC/2 on the initial
CT); intraventricular hemorrhage = 1; infratentorial origin = 1; age >= 80 years = 1.
"""

from __future__ import annotations

from .common import NO_IVH_NOTE, Clinical, Imaging, Item, ScoreResult, evaluate

REFERENCE = "Hemphill JC 3rd et al. The ICH score: a simple, reliable grading scale for intracerebral hemorrhage. Stroke 2001;32:891-897"
VOLUME_ML = 30.0
# 30-day mortality per total in the UCSF cohort (n = 152); nobody in it scored 6
MORTALITY_30D = {0: "0 %", 1: "13 %", 2: "26 %", 3: "72 %", 4: "97 %", 5: "100 %", 6: "no patient in the derivation cohort scored 6"}

ITEMS = {
    "gcs": Item("GCS", "clinical", "3-4: 2, 5-12: 1, 13-15: 0", lambda g: 2 if g <= 4 else 1 if g <= 12 else 0, 2),
    "volume": Item("ICH volume", "imaging", ">= 30 mL: 1", lambda v: int(v >= VOLUME_ML), 1),
    "ivh": Item("intraventricular hemorrhage", "imaging", "yes: 1", int, 1),
    "infratentorial": Item("infratentorial origin", "imaging", "yes: 1", int, 1),
    "age": Item("age", "clinical", ">= 80 years: 1", lambda a: int(a >= 80), 1),
}


def ich_score(imaging: Imaging, clinical: Clinical, *, volume: str = "abc2") -> ScoreResult:
    """`volume`: "abc2" (the paper's: ABC/2 of the main hematoma, default) or "mesh"."""
    used, other = (imaging.ich_abc2_ml, imaging.ich_mesh_ml) if volume == "abc2" else (imaging.ich_mesh_ml, imaging.ich_abc2_ml)
    used_name, other_name = ("ABC/2 of the " + imaging.abc2_scope, "mesh volume") if volume == "abc2" else ("mesh volume", "ABC/2")
    notes = [f"volume used: {used_name}"]
    if imaging.ivh is False:
        notes.append(NO_IVH_NOTE)
    if used is not None and other is not None and (used >= VOLUME_ML) != (other >= VOLUME_ML):
        notes.append(f"the {other_name} ({other:.1f} mL) would score the volume item {int(other >= VOLUME_ML)}, not {int(used >= VOLUME_ML)}")
    why = imaging.why
    result = evaluate("ich_score", "ICH score", REFERENCE, [
        (ITEMS["gcs"], clinical.gcs, ""),
        (ITEMS["volume"], used, why.get("ich_volume", "")),
        (ITEMS["ivh"], imaging.ivh, why.get("ivh", "")),
        (ITEMS["infratentorial"], imaging.infratentorial, why.get("infratentorial", "")),
        (ITEMS["age"], clinical.age, ""),
    ], notes)
    if result.total is not None:
        result.interpretation = f"30-day mortality {MORTALITY_30D[result.total]} in the derivation cohort"
    return result
