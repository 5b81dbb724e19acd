"""Published clinical scores filled in from the scan's read-out plus the clinician's inputs.

One module per score, each one small table of points with its reference (docs/scores.md). The
scan gives volumes, IVH, location and NCCT signs (`imaging_from`); what it cannot give
(`Clinical`) stays missing until typed, and the score then says "incomplete" with the list.
Left out: the HEP score (Yao 2015; its point table could not be cited exactly) and the 9-point
score (Brouwers 2014; it needs the CT-angiography spot sign).
"""

from __future__ import annotations

from ..labels import IPH, IVH, LABELS
from .bat import bat_score
from .brain import brain_score
from .common import ANTICOAGULANTS, Clinical, Imaging, ScoreResult
from .ich_score import ich_score

SCORES = {"ich_score": ich_score, "bat": bat_score, "brain": brain_score}
INFRATENTORIAL = "infratentorial"


def _status(part: dict | None) -> tuple[bool, str]:
    if not part:
        return False, "no read-out"
    if part.get("status", "undetermined") == "undetermined":  # every part says "determined" or "undetermined"
        return False, f"{part.get('status', 'undetermined')}: {part.get('reason', 'no reason given')}"
    return True, ""


def _location_class(location: dict) -> tuple[str | None, str]:
    """The class (deep / lobar / infratentorial) of the IPH where the read-out puts it, or the reason."""
    per_label = location.get("labels", {}).get(LABELS[IPH].key, {})
    cls = per_label.get("class") or location.get("class")
    return cls, "" if cls else f"IPH location {per_label.get('status', 'undetermined')}: {per_label.get('reason') or 'no class given'}"


def _sign(signs: dict, name: str) -> dict | None:
    table = signs.get("signs", signs)
    return next((v for k, v in table.items() if name in k and isinstance(v, dict) and "present" in v), None)


def imaging_from(measures: dict, readout: dict | None) -> Imaging:
    """The scores' imaging inputs from `Measurements.to_dict()` and `run_readout(ct, mask)`."""
    iph = measures.get(LABELS[IPH].key)
    why: dict[str, str] = {}
    loc_ok, loc_why = _status((readout or {}).get("location"))
    infratentorial = None
    if loc_ok and iph:
        cls, loc_why = _location_class(readout["location"])
        infratentorial = None if cls is None else cls == INFRATENTORIAL
    elif not iph:
        infratentorial, loc_why = False, ""  # no parenchymal clot: nothing of infratentorial origin
    if infratentorial is None:
        why["infratentorial"] = loc_why if loc_why.startswith("IPH") else f"location {loc_why}"
    signs_ok, signs_why = _status((readout or {}).get("signs"))
    found = {}
    for field, name in (("blend_sign", "blend"), ("hypodensity", "hypodensity")):
        entry = _sign(readout["signs"], name) if signs_ok else None
        found[field] = bool(entry["present"]) if entry and entry["present"] is not None else None
        if found[field] is None:
            why[field] = f"signs {signs_why}" if not signs_ok else f"the read-out has no {name} sign"
    return Imaging(
        ich_abc2_ml=float(iph["abc2_ml"]) if iph else 0.0,
        ich_mesh_ml=float(iph["mesh_ml"]) if iph else 0.0,
        abc2_scope=iph.get("abc2_scope", "") if iph else "",
        ivh=LABELS[IVH].key in measures,
        infratentorial=infratentorial,
        why=why,
        **found,
    )


def compute_scores(measures: dict, readout: dict | None, clinical: Clinical = Clinical()) -> dict[str, dict]:
    """Every score, JSON-ready, keyed as SCORES (what a report or a front end shows)."""
    imaging = imaging_from(measures, readout)
    return {key: score(imaging, clinical).to_dict() for key, score in SCORES.items()}


__all__ = ["ANTICOAGULANTS", "Clinical", "Imaging", "ScoreResult", "SCORES", "compute_scores", "imaging_from", "bat_score", "brain_score", "ich_score"]
