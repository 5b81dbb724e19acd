"""The risk panel of every front end (Slicer ICHPredict, the web workstation) as plain data.

Order is the point: what the scan shows (the imaging read-out: location, NCCT signs, midline
shift), then the published scores filled in from it and the clinician's inputs, then the learned
classifiers with their model card's training data and figures. A classifier answered by a demo
model is hidden until the user asks (`show_demo`) and then stays marked with the demo notice.
`risk_panel` is a pure function of JSON-able inputs, so a changed clinical input re-scores at
once (no read-out is re-run) and the web front end can send its result as JSON unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..anatomy.text import readout_rows
from ..classify.predict import DEMO_MODELS
from ..errors import ModelError, OptionError
from ..classify.explain import GUIDED_NOTE
from ..models.registry import DEMO_NOTICE, load_registry
from ..scores import Clinical, compute_scores
from .jobs import ich_argv
from .predict import risk_rows

# form field -> (label, hint); the keys are `Clinical`'s fields, parsed by `Clinical.from_row`
CLINICAL_FIELDS = {
    "age": ("Age", "years"),
    "gcs": ("GCS", "3-15"),
    "onset_hours": ("Onset to CT", "hours"),
    "anticoagulant": ("Anticoagulant at onset", "none, warfarin or other"),
    "recurrent_ich": ("Previous ICH", "yes or no"),
}
DEMO_HIDDEN = f"hidden: {DEMO_NOTICE}; tick 'show demo model outputs' to see it"
FIGURES_START = ("held-out figures", "performance", "figures", "evaluation")


@dataclass(frozen=True)
class ReadoutRequest:
    """What a front end asks of `ich readout`; `argv()` is the one place its command line is built."""

    ct: Path
    mask: Path
    outdir: Path | None = None  # readout.json and key images; None: the JSON result only
    overwrite: bool = False
    python: str | None = None

    def argv(self) -> list[str]:
        argv = ich_argv("readout", self.ct, "--mask", self.mask, "--json", python=self.python)
        return argv + (["-o", str(self.outdir)] if self.outdir else []) + (["--overwrite"] if self.overwrite else [])


def parse_clinical(form: dict[str, Any]) -> Clinical:
    """The clinical inputs from form strings (blank = not known); a bad one raises `OptionError`
    with one line naming the field (`Clinical`'s own checks)."""
    return Clinical.from_row({k: "" if form.get(k) is None else str(form[k]) for k in CLINICAL_FIELDS})


def parse_clinical_fields(form: dict[str, Any]) -> tuple[Clinical, dict[str, str]]:
    """As `parse_clinical`, but a bad field is left unknown and its error returned (field ->
    line), so a form re-scores on every keystroke with what is valid and says what is not."""
    errors = {}
    for key in CLINICAL_FIELDS:
        try:
            parse_clinical({key: form.get(key)})
        except OptionError as exc:
            errors[key] = exc.message
    return parse_clinical({k: v for k, v in form.items() if k not in errors}), errors


def score_rows(measures: dict, readout: dict | None, clinical: Clinical) -> list[dict]:
    """`compute_scores` with one display line each: the total, or "incomplete" with what is
    missing and the imaging part that is known (pure arithmetic: instant on every keystroke)."""
    rows = []
    for s in compute_scores(measures, readout, clinical).values():
        if s["status"] == "complete":
            text = f"{s['name']}: {s['total']} / {s['max_total']}" + (f" ({s['interpretation']})" if s["interpretation"] else "")
        else:
            low, high = s["possible_totals"]
            text = (f"{s['name']}: incomplete, imaging part {s['imaging_points']}, total {low}-{high} / {s['max_total']}; "
                    f"missing: {'; '.join(s['missing'])}")
        rows.append({**s, "text": text})
    return rows


def card_summary(card: str) -> dict[str, str]:
    """The training-data section's opening and the figures paragraphs of a Markdown model card."""
    sections, title = {}, ""
    for block in (b.strip() for b in card.split("\n\n")):
        if block.startswith("## "):
            title, _, block = block.partition("\n")
            title = title[3:].strip()
            sections.setdefault(title, [])
        if block:
            sections.setdefault(title, []).append(block)
    training = next((blocks for t, blocks in sections.items() if t.lower().startswith("training data")), [])
    figures: list[str] = []
    for t, blocks in sections.items():
        for i, block in enumerate(blocks):
            if block.lower().startswith(FIGURES_START) or (t.lower().startswith(FIGURES_START[1:]) and i == 0):
                figures += blocks[i: i + 2] if i + 1 < len(blocks) and blocks[i + 1].startswith("|") else [block]
    return {"training_data": training[0] if training else "", "figures": "\n\n".join(figures)}


@functools.lru_cache(maxsize=None)  # cards are shipped files: read once, not on every re-score
def _card(model_id: str) -> dict[str, Any]:
    try:
        entry = load_registry().get(model_id)
        return {"model": model_id, "title": entry.title, "demo": bool(entry.demo), **card_summary(entry.card_text())}
    except ModelError as exc:
        return {"model": model_id, "title": "", "demo": False, "training_data": "", "figures": "", "card_error": exc.message}


def classifier_rows(prediction: dict | None, errors: dict[str, str] | None = None, show_demo: bool = False) -> list[dict]:
    """`risk_rows` with each model's card; a demo model's figures (probability, class) are left
    out unless `show_demo`, and every shown demo row carries the notice."""
    rows = []
    for r in risk_rows(prediction or {}, errors):
        card = dict(_card(r.get("model") or DEMO_MODELS[r["task"]]))
        demo = bool(r.get("demo")) or card["demo"]
        row = {**r, "demo": demo, "card": card, "hidden": demo and not show_demo, "notice": DEMO_NOTICE if demo else None}
        if row["hidden"]:
            row = {k: row[k] for k in ("task", "title", "demo", "hidden", "notice", "card")} | {"text": f"{r['title']}: {DEMO_HIDDEN}"}
        elif r["error"]:
            row["text"] = f"{r['title']}: {r['error']}" + (f" ({DEMO_NOTICE})" if demo else "")
        else:
            row["text"] = (f"{r['title']}: {100 * r['probability']:.0f} % (90 % interval {100 * r['low']:.0f}-{100 * r['high']:.0f} %), "
                           f"{r['label']}" + (f" - {DEMO_NOTICE.upper()}" if demo else "") + (f" ({GUIDED_NOTE})" if r["cam_guided"] else ""))
        rows.append(row)
    return rows


def risk_panel(measures: dict, readout: dict | None, clinical: Clinical = Clinical(), prediction: dict | None = None,
               *, errors: dict[str, str] | None = None, show_demo: bool = False) -> dict:
    """The whole panel, JSON-ready, in the order it is shown: sections readout, scores, classifiers."""
    classifiers = classifier_rows(prediction, errors, show_demo)
    return {
        "sections": [
            {"id": "readout", "title": "Imaging read-out", "rows": readout_rows(readout)},
            {"id": "scores", "title": "Clinical scores", "rows": score_rows(measures, readout, clinical)},
            {"id": "classifiers", "title": "Learned classifiers", "rows": classifiers},
        ],
        "clinical": clinical.to_dict(),
        "show_demo": show_demo,
        "hidden_demo": sum(1 for r in classifiers if r["hidden"]),
    }


def section_lines(section: dict) -> list[str]:
    """One section as text: its title, one line per row; for the classifiers, each distinct model
    card's training data and figures once after the rows (the three demo models share one card)."""
    lines = [section["title"], *(r["text"] for r in section["rows"])]
    cards = {}
    for r in section["rows"]:
        card = r.get("card")
        if card and (card["training_data"] or card["figures"]):
            cards.setdefault((card["training_data"], card["figures"]), []).append(card["model"])
    for (training, figures), models in cards.items():
        lines += [f"Model card of {', '.join(models)}:", f"Training data: {training}" if training else "", figures]
    return [line for line in lines if line]


def panel_lines(panel: dict) -> list[str]:
    """The whole panel as text lines, section after section."""
    return [line for s in panel["sections"] for line in section_lines(s)]
