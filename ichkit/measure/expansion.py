"""Hematoma expansion (HE) between a baseline and a follow-up CT (spec 3).

HE (000): absolute growth > 6 mL or relative growth > 33 % of the hematoma (IPH) volume. 002 also
labels growth > 3, > 6 and > 9 mL; 12.5 mL is the other threshold found in the literature.
The revised definition (Yogendrakumar et al. 2018) also counts intraventricular extension: new
IVH at follow-up, or IVH growth >= 1 mL; it is reported only when either scan has an IVH label.
Inputs are `Measurements.to_dict()` outputs, so saved JSON measurements can be compared later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from ..labels import IPH, IVH, LABELS

Measures = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class ExpansionVerdict:
    region: str
    volume: str
    baseline_ml: float
    followup_ml: float
    growth_ml: float
    relative_growth: float | None  # None when the baseline volume is 0
    by_absolute: bool
    by_relative: bool
    expansion: bool
    thresholds: dict[str, bool]  # "> 3 mL": growth above that threshold
    ivh_baseline_ml: float | None
    ivh_followup_ml: float | None
    new_ivh: bool | None
    revised_expansion: bool | None  # None when neither scan has IVH labels (or revised=False)

    def to_dict(self) -> dict:
        return asdict(self)


def _volume(measures: Measures, key: str, volume: str) -> float:
    return float(measures[key][volume]) if key in measures else 0.0


def expansion_verdict(
    baseline: Measures,
    followup: Measures,
    *,
    abs_ml: float = 6.0,
    rel: float = 0.33,
    thresholds: tuple[float, ...] = (3, 6, 9, 12.5),
    revised: bool = True,
    ivh_growth_ml: float = 1.0,
    region: str = LABELS[IPH].key,
    ivh_region: str = LABELS[IVH].key,
    volume: str = "mesh_ml",
) -> ExpansionVerdict:
    """HE = growth > `abs_ml` or relative growth > `rel`; revised HE adds new IVH or IVH growth >= `ivh_growth_ml`."""
    before, after = _volume(baseline, region, volume), _volume(followup, region, volume)
    growth = after - before
    relative = growth / before if before > 0 else None
    by_abs = growth > abs_ml
    by_rel = relative is not None and relative > rel
    has_ivh = revised and (ivh_region in baseline or ivh_region in followup)
    ivh_before = _volume(baseline, ivh_region, volume) if has_ivh else None
    ivh_after = _volume(followup, ivh_region, volume) if has_ivh else None
    new_ivh = (ivh_before == 0.0 and ivh_after > 0.0) if has_ivh else None
    revised_he = (by_abs or by_rel or new_ivh or ivh_after - ivh_before >= ivh_growth_ml) if has_ivh else None
    return ExpansionVerdict(
        region=region,
        volume=volume,
        baseline_ml=before,
        followup_ml=after,
        growth_ml=growth,
        relative_growth=relative,
        by_absolute=by_abs,
        by_relative=by_rel,
        expansion=by_abs or by_rel,
        thresholds={f"> {t:g} mL": growth > t for t in thresholds},
        ivh_baseline_ml=ivh_before,
        ivh_followup_ml=ivh_after,
        new_ivh=new_ivh,
        revised_expansion=revised_he,
    )
