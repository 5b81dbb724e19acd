"""The read-out in words, written once for every place a person reads it (`ich readout`, the
report, the risk panels of Slicer and the web workstation).

Slices are numbered from 1, as viewers count; the read-out's JSON keeps the array's 0-based
z index (`SLICE_INDEX`). Each row keeps the figures it was written from, for front ends that
lay them out themselves.
"""

from __future__ import annotations

SLICE_INDEX = "0-based z index of the CT array; the texts say slice index + 1, as viewers count"


def slice_text(index: int) -> str:
    """`slice k` for a 0-based z index: the number a viewer shows."""
    return f"slice {int(index) + 1}"


def _location_rows(loc: dict) -> list[dict]:
    if loc.get("status") != "determined":
        return [{"part": "location", "status": "undetermined", "text": f"Location: undetermined ({loc.get('reason') or 'no read-out'})"}]
    reg = loc.get("registration") or {}
    quality = f"atlas registration Dice {reg['dice']:.2f} (minimum {reg.get('min_dice')})" if reg.get("dice") is not None else "registration quality not reported"
    rows = []
    for name, r in (loc.get("labels") or {}).items():
        if r.get("status") == "determined":
            volume = f" {r['volume_ml']:.1f} mL" if r.get("volume_ml") is not None else ""
            centroid = f", centroid in {r['centroid_region']}" if r.get("centroid_region") else ""
            text = f"{name}{volume}: {r['class']}, {r['side']}, most in {r['largest_region']} ({100 * r['largest_region_fraction']:.0f} %){centroid}; {quality}"
        else:
            text = f"{name}: location undetermined ({r.get('reason')})"
        rows.append({"part": "location", "label": name, "status": r.get("status"), "class": r.get("class"), "side": r.get("side"),
                     "region": r.get("largest_region"), "registration_dice": reg.get("dice"), "text": text})
    return rows


def _sign_rows(signs: dict) -> list[dict]:
    if signs.get("status", "undetermined") == "undetermined":
        return [{"part": "signs", "status": "undetermined", "text": f"NCCT signs: undetermined ({signs.get('reason') or 'no read-out'})"}]
    rows = []
    for name, e in (signs.get("signs") or {}).items():
        if not isinstance(e, dict) or "present" not in e:
            continue
        value = "not measured" if e.get("value") is None else f"{e['value']:g}"
        rule = f"{e.get('comparison', '')} {e.get('threshold')} {e.get('unit', '')}".strip()
        where = f", {slice_text(e['slice'])}" if e.get("slice") is not None else ""
        rows.append({"part": "signs", "sign": name, "present": bool(e["present"]), "value": e.get("value"), "threshold": e.get("threshold"),
                     "comparison": e.get("comparison"), "unit": e.get("unit"), "slice": e.get("slice"),
                     "text": f"{name.replace('_', ' ')}: {'present' if e['present'] else 'absent'} ({value} vs {rule}{where})"})
    return rows


def _midline_row(mid: dict) -> dict:
    if mid.get("status", "undetermined") == "undetermined":
        return {"part": "midline", "status": "undetermined", "text": f"Midline shift: undetermined ({mid.get('reason') or 'no read-out'})"}
    toward = f" toward the patient's {mid['direction']}" if mid.get("direction") else ""
    where = f" ({slice_text(mid['slice'])})" if mid.get("slice") is not None else ""
    return {"part": "midline", "status": mid["status"], "shift_mm": mid["shift_mm"], "direction": mid.get("direction"), "slice": mid.get("slice"),
            "text": f"Midline shift: {mid['shift_mm']:.1f} mm{toward}{where}"}


def readout_rows(readout: dict | None) -> list[dict]:
    """Location per label with the registration quality, each sign against its threshold, the
    midline shift: one row each, `part` and `text` always, figures where determined."""
    r = readout or {}
    return [*_location_rows(r.get("location") or {}), *_sign_rows(r.get("signs") or {}), _midline_row(r.get("midline") or {})]


def readout_lines(readout: dict | None) -> list[str]:
    return [row["text"] for row in readout_rows(readout)]
