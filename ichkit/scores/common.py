"""What every score shares: the clinical inputs a clinician types, the points of one item, and
a result that stays honest when an input is missing ("incomplete", never a default GCS)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from ..errors import OptionError

ANTICOAGULANTS = ("none", "warfarin", "other")  # "other": a DOAC or heparin (BRAIN counts warfarin only)


@dataclass(frozen=True)
class Clinical:
    """Inputs the scan cannot give; None = not known (the scores then say what is missing)."""

    age: float | None = None  # years
    gcs: int | None = None  # Glasgow Coma Scale total at presentation, 3-15
    onset_hours: float | None = None  # symptom onset (or last seen well) to the baseline CT, hours
    anticoagulant: str | None = None  # one of ANTICOAGULANTS, at symptom onset
    recurrent_ich: bool | None = None  # a previous ICH

    def __post_init__(self) -> None:
        """One-line errors that name the field: a wrong input must not become a wrong score."""
        if self.gcs is not None and (int(self.gcs) != self.gcs or not 3 <= self.gcs <= 15):
            raise OptionError(None, f"gcs: {self.gcs} is not a Glasgow Coma Scale total (an integer 3-15)")
        if self.age is not None and not 0 <= self.age <= 130:
            raise OptionError(None, f"age: {self.age:g} years is not an age (0-130)")
        if self.onset_hours is not None and not 0 <= self.onset_hours < 24 * 365:
            raise OptionError(None, f"onset_hours: {self.onset_hours:g} h; time from onset to CT must be 0 or more hours (and under a year)")
        if self.anticoagulant is not None and self.anticoagulant not in ANTICOAGULANTS:
            raise OptionError(None, f"anticoagulant: {self.anticoagulant!r}; one of {', '.join(ANTICOAGULANTS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> "Clinical":
        """From text fields (a cohort CSV's optional columns age, gcs, onset_hours,
        anticoagulant, recurrent_ich); blank or absent = not known."""
        def text(key):
            v = (row.get(key) or "").strip()
            return v or None

        def number(key):
            v = text(key)
            try:
                return None if v is None else float(v)
            except ValueError:
                raise OptionError(None, f"{key}: {v!r} is not a number") from None

        gcs, recurrent = number("gcs"), text("recurrent_ich")
        if recurrent is not None and recurrent.lower() not in ("yes", "no"):
            raise OptionError(None, f"recurrent_ich: {recurrent!r}; yes or no")
        return cls(age=number("age"), gcs=int(gcs) if gcs is not None and gcs == int(gcs) else gcs, onset_hours=number("onset_hours"),
                   anticoagulant=text("anticoagulant"), recurrent_ich=None if recurrent is None else recurrent.lower() == "yes")


@dataclass(frozen=True)
class Imaging:
    """What the scores read from the scan; None with a reason in `why` when it is not known."""

    ich_abc2_ml: float | None = None  # ABC/2 of the main IPH hematoma
    ich_mesh_ml: float | None = None  # mesh volume of the whole IPH label
    abc2_scope: str = ""
    ivh: bool | None = None
    infratentorial: bool | None = None
    blend_sign: bool | None = None
    hypodensity: bool | None = None
    why: dict[str, str] = field(default_factory=dict)  # field -> why it is unknown

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Item:
    """One line of a score's table: its points as a function of one input."""

    name: str
    source: str  # "imaging" or "clinical"
    rule: str  # the published points, in words
    points: Callable[[object], int]
    max_points: int


@dataclass
class ScoreResult:
    key: str
    name: str
    reference: str
    max_total: int
    items: list[dict]  # item, source, rule, value, points (None when the input is missing)
    missing: list[str]  # "GCS (clinical)" / "infratentorial origin (imaging: location undetermined ...)"
    notes: list[str]
    interpretation: str | None = None

    @property
    def status(self) -> str:
        return "incomplete" if self.missing else "complete"

    @property
    def total(self) -> int | None:
        return None if self.missing else sum(i["points"] for i in self.items)

    def _known(self, source: str | None = None) -> int:
        return sum(i["points"] for i in self.items if i["points"] is not None and (source is None or i["source"] == source))

    def to_dict(self) -> dict:
        """JSON-ready; an incomplete score gives the points known so far and the range of totals
        the missing inputs still allow, so its imaging part is never lost."""
        open_points = sum(i["max_points"] for i in self.items if i["points"] is None)
        return {
            "key": self.key, "name": self.name, "reference": self.reference, "status": self.status,
            "total": self.total, "max_total": self.max_total, "imaging_points": self._known("imaging"),
            "known_points": self._known(), "possible_totals": [self._known(), self._known() + open_points],
            "missing": self.missing, "interpretation": self.interpretation, "items": self.items, "notes": self.notes,
        }


NO_IVH_NOTE = "IVH read from the mask's IVH label (2): none is labelled; check that the mask's source labels IVH"


def evaluate(key: str, name: str, reference: str, items: list[tuple[Item, object, str]], notes: list[str] | None = None) -> ScoreResult:
    """Score each (item, value, why-missing) with value None meaning unknown."""
    rows, missing = [], []
    for item, value, why in items:
        known = value is not None
        rows.append({"item": item.name, "source": item.source, "rule": item.rule, "value": value,
                     "points": item.points(value) if known else None, "max_points": item.max_points})
        if not known:
            missing.append(f"{item.name} ({item.source}{': ' + why if why else ''})")
    return ScoreResult(key, name, reference, sum(i.max_points for i, _, _ in items), rows, missing, notes or [])
