"""Reader study of synthetic images (spec 8): an anonymised kit for the raters and the scoring of
their sheets.

The kit mixes real and synthetic minority-class images in random order under random ids; every
image is re-encoded from its pixels alone as an 8-bit PNG of one common size, so neither file
name, format, size nor metadata tells its origin. The answer key (id -> origin and source) is
written beside the kit, not in it. Scoring uses `agreement.py`: per-dimension means,
Mann-Whitney U (real vs synthetic, on each image's mean over raters), ICC(2,1) over all images,
Fleiss' kappa of the real/synthetic calls and the majority-vote identification rate.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..atomic import check_writable, write_json, write_text
from ..errors import OptionError, TableError
from . import agreement
from .images import load_resized, save_png
from .manifest import image_path, read_manifest, real_rows_of_class

READERS = 3  # spec 8: three raters
READER_IMAGE_SIZE = 256
READER_SEED = 0
LIKERT = (1, 5)
LIKERT_ACCEPTABLE = 3  # "scoring >= 3": the share of acceptable synthetic images the paper reports
DIMENSIONS = ("quality", "authenticity")
CALLS = ("real", "synthetic")
SHEET_COLUMNS = ("image_id", *DIMENSIONS, "call")
KEY_COLUMNS = ("image_id", "origin", "source", "model_id", "seed")
KIT = "kit"
KEY = "answer_key.csv"
ID_BITS = 40  # random image ids: 10 hex digits

INSTRUCTIONS = """Reader study: {n} images, in any order.
For every image id in your sheet, fill in:
  quality       1-5  overall image quality (clarity, noise, artifacts): 1 very poor ... 5 excellent
  authenticity  1-5  plausibility of the hematoma and surrounding structures (shape, density): 1 implausible ... 5 fully realistic
  call          real | synthetic  your judgement of the image's origin
Some images are real CT regions of interest, some are generated. Score each image on its own.
"""


def _write_csv(path: Path, columns, rows) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return write_text(path, buf.getvalue())


def _read_csv(path: Path, columns) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            rows = list(reader)
    except OSError as exc:
        raise TableError(path, f"cannot read ({exc.strerror})") from None
    if missing:
        raise TableError(path, f"missing column(s) {', '.join(missing)}")
    return rows


def _pick(rows: list[dict], n: int, rng, source, what: str) -> list[dict]:
    if n > len(rows):
        raise OptionError(source, f"asks for {n} {what} images, the manifest has {len(rows)}")
    return [rows[i] for i in sorted(rng.choice(len(rows), n, replace=False))]


def reader_study(real: str | Path, synthetic: str | Path, out_dir: str | Path, *, n_real: int = 100, n_synthetic: int = 100,
                 raters: int = READERS, seed: int = READER_SEED, size: int = READER_IMAGE_SIZE, cls: str = "he",
                 overwrite: bool = False) -> dict:
    """Write `out_dir/kit/` (images/, one sheet per rater, instructions) and `out_dir/answer_key.csv`."""
    if raters < 1:
        raise OptionError(None, f"--raters must be at least 1, got {raters}")
    out_dir = Path(out_dir)
    key_path = check_writable(out_dir / KEY, overwrite)
    check_writable(out_dir / KIT, overwrite)
    rng = np.random.default_rng(seed)
    reals = _pick(real_rows_of_class(real, read_manifest(real), cls), n_real, rng, real, "real")
    synth = _pick([r for r in read_manifest(synthetic) if r["synthetic"]], n_synthetic, rng, synthetic, "synthetic")
    chosen = [("real", r) for r in reals] + [("synthetic", r) for r in synth]
    ids = set()
    while len(ids) < len(chosen):
        ids.add(f"{int(rng.integers(0, 2**ID_BITS)):010x}")
    ids = [str(i) for i in rng.permutation(sorted(ids))]
    key = []
    for image_id, (origin, row) in zip(ids, chosen):
        save_png(out_dir / KIT / "images" / f"{image_id}.png", load_resized(image_path(row), size))
        key.append({"image_id": image_id, "origin": origin, "source": str(image_path(row).resolve()), "model_id": row.get("model_id", ""),
                    "seed": row.get("seed", "")})
    key.sort(key=lambda r: r["image_id"])  # random ids: sorted order is a random mix
    sheets = []
    for k in range(1, raters + 1):
        sheets.append(_write_csv(out_dir / KIT / f"sheet_rater{k}.csv", SHEET_COLUMNS, [{"image_id": r["image_id"]} for r in key]))
    write_text(out_dir / KIT / "instructions.txt", INSTRUCTIONS.format(n=len(key)))
    _write_csv(key_path, KEY_COLUMNS, key)
    return {"kit": out_dir / KIT, "key": key_path, "sheets": sheets, "n_real": n_real, "n_synthetic": n_synthetic}


def read_key(path: str | Path) -> dict[str, bool]:
    """image id -> True when synthetic."""
    rows = _read_csv(Path(path), ("image_id", "origin"))
    bad = sorted({r["origin"] for r in rows} - set(CALLS))
    if bad or not rows:
        raise TableError(path, f"origin must be one of {', '.join(CALLS)}" + (f", got {', '.join(bad)}" if bad else "; the key is empty"))
    return {r["image_id"]: r["origin"] == "synthetic" for r in rows}


def read_sheet(path: str | Path, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(scores (images, dimensions) int, calls (images,) bool synthetic) in `ids` order."""
    path = Path(path)
    rows = {r["image_id"]: r for r in _read_csv(path, SHEET_COLUMNS)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise TableError(path, f"no row for image(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    scores = np.zeros((len(ids), len(DIMENSIONS)), int)
    calls = np.zeros(len(ids), bool)
    for i, image_id in enumerate(ids):
        r = rows[image_id]
        for d, dim in enumerate(DIMENSIONS):
            value = (r[dim] or "").strip()
            if not value.isdigit() or not LIKERT[0] <= int(value) <= LIKERT[1]:
                raise TableError(path, f"image {image_id}: {dim} must be an integer {LIKERT[0]}-{LIKERT[1]}, got {value!r}")
            scores[i, d] = int(value)
        call = (r["call"] or "").strip().lower()
        if call not in CALLS:
            raise TableError(path, f"image {image_id}: call must be {' or '.join(CALLS)}, got {call!r}")
        calls[i] = call == "synthetic"
    return scores, calls


def _describe(x: np.ndarray) -> dict:
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else None, "n": int(x.size)}


def score(key: str | Path, sheets: list[str | Path]) -> dict:
    """The reader-study statistics of the filled `sheets` (one per rater) against the answer key."""
    truth_of = read_key(key)
    ids = sorted(truth_of)
    truth = np.array([truth_of[i] for i in ids])
    read = [read_sheet(s, ids) for s in sheets]
    scores = np.stack([s for s, _ in read], axis=-1)  # (images, dimensions, raters)
    calls = np.stack([c for _, c in read], axis=1)  # (images, raters)
    several = len(sheets) >= 2
    out: dict = {"images": len(ids), "real": int((~truth).sum()), "synthetic": int(truth.sum()), "raters": len(sheets)}
    for d, dim in enumerate(DIMENSIONS):
        per_image = scores[:, d, :].mean(axis=1)
        real, synth = per_image[~truth], per_image[truth]
        out[dim] = {"real": _describe(real), "synthetic": _describe(synth),
                    "mann_whitney": agreement.mann_whitney(real, synth) if real.size and synth.size else None,
                    "synthetic_acceptable": float(np.mean(synth >= LIKERT_ACCEPTABLE)) if synth.size else None,
                    "icc_2_1": agreement.icc_2_1(scores[:, d, :]) if several else None}
    out["calls"] = {"fleiss_kappa": agreement.fleiss_kappa(agreement.category_counts(calls, [False, True])) if several else None,
                    "identification": agreement.majority_identification(calls, truth)}
    return out


def reader_score(key: str | Path, sheets: list[str | Path], out: str | Path, *, overwrite: bool = False) -> dict:
    out = check_writable(out, overwrite)
    result = score(key, sheets)
    write_json(out, {"key": str(key), "sheets": [str(s) for s in sheets], **result})
    return result
