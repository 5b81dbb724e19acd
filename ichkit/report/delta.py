"""The follow-up table: one patient's baseline and any number of follow-ups side by side.

Per label and volume kind (mesh, voxel, ABC/2 of the main hematoma): the value at each time
point and its absolute and relative change from baseline; per follow-up the HE verdicts of
`ichkit.measure.expansion` against baseline; per time point the signs present and the midline shift.
Inputs are JSON (`Measurements.to_dict()`, read-out dicts), so saved reports can be re-tabled.
"""

from __future__ import annotations

from ..measure.expansion import expansion_verdict
from ..measure import MEASURED_LABELS, TOTAL_KEY
from ..labels import LABELS

VOLUMES = ("mesh_ml", "voxel_ml", "abc2_ml")
REGION_ORDER = [LABELS[v].key for v in MEASURED_LABELS] + [TOTAL_KEY]


def signs_present(signs: dict | None) -> dict:
    """{"status", "reason", "present": [sign names]} of one read-out's signs part."""
    if not signs:
        return {"status": "undetermined", "reason": "no read-out", "present": []}
    table = signs.get("signs", {})
    return {"status": signs.get("status"), "reason": signs.get("reason"),
            "present": [name for name, entry in table.items() if isinstance(entry, dict) and entry.get("present")]}


def midline_summary(midline: dict | None) -> dict:
    if not midline:
        return {"status": "undetermined", "reason": "no read-out", "shift_mm": None, "direction": None}
    return {"status": midline.get("status"), "reason": midline.get("reason"), "shift_mm": midline.get("shift_mm"),
            "direction": midline.get("direction")}


def delta_table(names: list[str], measures: list[dict], readouts: list[dict | None]) -> dict:
    """`names[0]` is the baseline; a label absent at a time point counts 0 mL there."""
    present = {key for m in measures for key in m}
    rows = []
    for region in (r for r in REGION_ORDER if r in present):
        for volume in VOLUMES:
            values = [float(m[region][volume]) if region in m else 0.0 for m in measures]
            base = values[0]
            rows.append({
                "region": region, "volume": volume, "values": values,
                "change_ml": [None] + [v - base for v in values[1:]],
                "change_rel": [None] + [(v - base) / base if base > 0 else None for v in values[1:]],
            })
    verdicts = [{"followup": name, **expansion_verdict(measures[0], m).to_dict()} for name, m in zip(names[1:], measures[1:])]
    return {
        "timepoints": names,
        "rows": rows,
        "expansion": verdicts,
        "expansion_volume": "mesh_ml",
        "signs": [signs_present((r or {}).get("signs")) for r in readouts],
        "midline": [midline_summary((r or {}).get("midline")) for r in readouts],
    }
