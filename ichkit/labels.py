"""Label values, segment names and colours, defined once for the whole product."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    value: int
    key: str
    name: str
    color: tuple[float, float, float]


BACKGROUND = 0
IPH = 1
IVH = 2
EDEMA = 3
EAH = 4

LABELS: dict[int, Label] = {
    IPH: Label(IPH, "IPH", "intraparenchymal hemorrhage", (0.85, 0.10, 0.10)),
    IVH: Label(IVH, "IVH", "intraventricular hemorrhage", (0.10, 0.45, 0.95)),
    EDEMA: Label(EDEMA, "edema", "perihematomal edema", (0.95, 0.85, 0.20)),
    EAH: Label(EAH, "EAH", "extra-axial hemorrhage", (0.60, 0.20, 0.80)),
}

BY_KEY = {lab.key.lower(): lab for lab in LABELS.values()} | {lab.name.lower(): lab for lab in LABELS.values()}


def label_for_name(name: str) -> Label | None:
    """Map a segment name (as found in a .seg.nrrd) to a product label, case-insensitively."""
    key = name.strip().lower()
    aliases = {"hematoma": "iph", "ich": "iph", "hemorrhage": "iph", "oedema": "edema", "phe": "edema"}
    return BY_KEY.get(aliases.get(key, key))
