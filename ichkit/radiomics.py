"""Handcrafted radiomics of the hematoma with pyradiomics (spec 4), one scan or a cohort.

Parameter presets live in `ichkit/resources/radiomics/` (`shape`, `default`, `full`; their comments say
why each CT setting was chosen); any pyradiomics YAML/JSON parameter file works too. A cohort runs
in worker processes and never aborts on one bad scan: the scan's row carries the error instead.
"""

from __future__ import annotations

import csv
import functools
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path
from .errors import EmptyMaskError, ICHError, OptionError
from .image import Volume
from .io import load_cohort_ct, load_mask
from .progress import Progress, silent
from .resources import resource_path

PRESETS = ("shape", "default", "full")
COHORT_COLUMNS = ("id", "ct", "mask", "label")  # ct and mask are required
RESULT_COLUMNS = ("id", "ct", "mask", "label", "error")


def params_file(params: str | Path) -> Path:
    """A preset name or a parameter file path -> the file."""
    if str(params) in PRESETS:
        return resource_path(f"radiomics/{params}.yaml")
    path = Path(params)
    if not path.is_file():
        raise OptionError(path, f"is neither a parameter file nor a preset ({', '.join(PRESETS)})")
    return path


def quiet_pyradiomics() -> None:
    """pyradiomics logs every step at INFO and many warnings at WARNING; keep only errors."""
    # deferred: pyradiomics loads only when features are extracted
    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)


@functools.lru_cache(maxsize=8)
def _extractor(path: str):
    # deferred: pyradiomics loads only when features are extracted
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    quiet_pyradiomics()
    try:
        return RadiomicsFeatureExtractor(path)
    except Exception as exc:  # pyradiomics raises schema errors of its own types
        raise OptionError(path, f"invalid pyradiomics parameter file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None


def extract(ct: Volume, mask: Volume, params: str | Path = "default", label: int = 1) -> dict[str, float]:
    """Feature name -> value for one scan (pyradiomics' diagnostics left out)."""
    extractor = _extractor(str(params_file(params)))
    if not np.any(mask.array == label):
        raise EmptyMaskError(mask.meta.get("source"), f"label {label} is not present in the mask")
    with np.errstate(all="ignore"):
        result = extractor.execute(ct.to_sitk(), mask.to_sitk(), label=label)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def _init_worker(threads: int) -> None:
    """One worker per core share: cap ITK's threads so workers do not oversubscribe the CPU."""
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    quiet_pyradiomics()


def _extract_row(row: Mapping, params: str) -> dict:
    out = {c: row.get(c, "") for c in COHORT_COLUMNS} | {"error": ""}
    try:
        ct = load_cohort_ct(row)
        label = int(row.get("label") or 1)
        out |= extract(ct, load_mask(row["mask"], ct, extra_labels=(label,)), params, label)
    except ICHError as exc:
        out["error"] = exc.message
    except Exception as exc:  # noqa: BLE001 - one failing scan must not abort the cohort
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return out


def write_rows(rows: list[dict], path: str | Path) -> Path:
    """Write result rows as CSV atomically; feature columns in first-seen order."""
    columns = list(RESULT_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def extract_cohort(
    rows: Iterable[Mapping],
    params: str | Path = "default",
    *,
    out: str | Path | None = None,
    workers: int = 1,
    progress: Progress = silent,
) -> list[dict]:
    """Features of every scan in `rows` (dicts with id, ct, mask, label), in input order.

    `workers` > 1 runs scans in that many processes (spawned: ITK's threads make fork unsafe).
    A scan that fails gets an `error` message and no features; `out` receives the CSV.
    """
    rows = list(rows)
    params = str(params_file(params))
    _extractor(params)  # a bad parameter file fails here, once, not once per scan
    results: list[dict | None] = [None] * len(rows)
    progress(0, len(rows), "radiomics")
    if workers <= 1:
        for i, row in enumerate(rows):
            results[i] = _extract_row(row, params)
            progress(i + 1, len(rows), str(row.get("id", i)))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
            futures = {pool.submit(_extract_row, row, params): i for i, row in enumerate(rows)}
            for done, future in enumerate(as_completed(futures), start=1):
                i = futures[future]
                results[i] = future.result()
                progress(done, len(rows), str(rows[i].get("id", i)))
    if out is not None:
        write_rows(results, out)
    return results
