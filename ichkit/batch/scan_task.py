"""The per-scan task: validate -> segment (or given mask) -> volumes -> radiomics -> report.

It is a plain function of (scan, outdir, config) so the local pool and a Dask cluster run the
same code. A scan's outputs are built in a hidden folder beside its own and swapped in whole
(`status.json` last): a scan whose status is `done` (with matching inputs and config) is
complete, anything else is redone, and a kill leaves the previous folder or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..anatomy.readout import summary_columns
from ..app.segment import model_record, provenance
from ..atomic import signals_held, write_json
from ..cohort import Scan
from ..errors import ICHError, OutputError
from ..io import load_cohort_ct, load_mask, save_labelmap
from ..measure import measure
from ..models import load_registry
from ..radiomics import extract
from ..report import TimePoint, build_report, render, run_readout_safely, write_report
from ..scores import Clinical
from ..segment.engines import create_segmenter, default_segmentation_model
from ..segment.postprocess import MIN_COMPONENT_ML
from ..segment.run import segment_ct
from ..segment.source import MaskSource
from .folder import LABELS, RADIOMICS, READOUT, RESULT, STATUS, remove_scan_folder

RETRIED = {"internal", OutputError.code}  # failures that are not the input's (a bug, a full disk): redone on resume


@dataclass(frozen=True)
class TaskConfig:
    """What decides a scan's outputs; a change of any field redoes finished scans."""

    model: str | None = None  # registry id; None = the default installed model
    device: str = "cpu"
    radiomics: str | None = "shape"  # parameter set, or None to skip radiomics
    min_component_ml: float = MIN_COMPONENT_ML
    report: bool = False  # also write the clinical report (report.json, report.html) per scan
    readout: bool = False  # also write the imaging read-out (readout.json) and its summary columns

    def digest(self) -> str:
        fields = asdict(self)
        for option in ("report", "readout"):
            if not fields[option]:  # runs made before the option existed stay complete
                del fields[option]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def scan_dir(outdir: Path, scan: Scan) -> Path:
    return Path(outdir) / "scans" / scan.scan_id


def input_fingerprint(scan: Scan) -> list:
    """Size and mtime of the inputs, and the series chosen: an edited input file or another
    series makes a finished scan stale."""
    out = [["series", scan.series]] if scan.series else []
    for p in (scan.ct, scan.mask):
        if p is None:
            continue
        path = Path(p)
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        out.append([str(p), sum(f.stat().st_size for f in files if f.exists()), max((f.stat().st_mtime_ns for f in files if f.exists()), default=0)])
    return out


def read_status(outdir: Path, scan: Scan) -> dict | None:
    try:
        return json.loads((scan_dir(outdir, scan) / STATUS).read_text())
    except (OSError, ValueError):
        return None


def is_complete(outdir: Path, scan: Scan, config: TaskConfig) -> bool:
    status = read_status(outdir, scan)
    if not status or status.get("config") != config.digest() or status.get("inputs") != input_fingerprint(scan):
        return False
    if status.get("code") in RETRIED:
        return False
    folder = scan_dir(outdir, scan)
    return all(_sha256(folder / name) == digest for name, digest in status.get("outputs", {}).items())


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


_SEGMENTERS: dict = {}


def _segment(ct, config: TaskConfig):
    """Segment with one loaded network per worker process (loaded on first use)."""
    key = (config.model, config.device)
    if key not in _SEGMENTERS:
        if os.environ.get("ICHKIT_TORCH_THREADS"):
            import torch  # deferred: torch loads only when a scan is segmented (a scan with a mask never needs it)

            torch.set_num_threads(int(os.environ["ICHKIT_TORCH_THREADS"]))
        registry = load_registry()
        entry = registry.get(config.model) if config.model else default_segmentation_model(registry)
        _SEGMENTERS[key] = (entry, create_segmenter(entry, config.device))
    entry, segmenter = _SEGMENTERS[key]
    return segment_ct(ct, entry, config.device, min_component_ml=config.min_component_ml, segmenter=segmenter)


def process_scan(scan: Scan, outdir: str | Path, config: TaskConfig) -> dict:
    """Run one scan; returns its status record (state done or failed). Never raises for bad input."""
    outdir = Path(outdir)
    folder = scan_dir(outdir, scan)
    stage = folder.parent / f".{scan.scan_id}.{os.getpid()}.part"
    if stage.exists():
        remove_scan_folder(stage)
    stage.mkdir(parents=True)
    started = time.time()
    status = {"scan_id": scan.scan_id, "config": config.digest(), "inputs": input_fingerprint(scan), "pid": os.getpid()}
    try:
        outputs = _run_steps(scan, stage, config)
        status.update(state="done", outputs={name: _sha256(stage / name) for name in outputs})
    except ICHError as exc:
        status.update(state="failed", code=exc.code, reason=exc.message)
    except Exception as exc:  # noqa: BLE001 - one scan's internal error must not stop the cohort
        status.update(state="failed", code="internal", reason=f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    status["seconds"] = round(time.time() - started, 3)
    write_json(stage / STATUS, status)
    _publish(stage, folder)
    return status


def _publish(stage: Path, folder: Path) -> None:
    """Swap the new scan folder in; `folder.recover_scans` finishes the swap after a kill -9."""
    old = stage.with_name(stage.name[: -len(".part")] + ".old")
    with signals_held():
        if folder.exists():
            os.replace(folder, old)
        os.replace(stage, folder)
    if old.exists():
        remove_scan_folder(old)


def _run_steps(scan: Scan, folder: Path, config: TaskConfig) -> list[str]:
    ct = load_cohort_ct(scan.as_row())
    outputs = []
    if scan.mask:
        labels = load_mask(scan.mask, ct)
        source = MaskSource.of_mask(scan.mask)  # a mask `ich segment` wrote still names its model
        record = provenance(source.model(), None, created=False)
    else:
        seg = _segment(ct, config)
        labels = seg.labels
        save_labelmap(labels, folder / LABELS)
        outputs.append(LABELS)
        record = provenance(model_record(seg.entry), None, created=False, device=config.device,
                            postprocess={"min_component_ml": config.min_component_ml, "removed": asdict(seg.removed)})
        source = MaskSource.from_model(record["model"])
    volumes = measure(labels).to_dict()
    result = {"scan_id": scan.scan_id, "patient_id": scan.patient_id, "timepoint": scan.timepoint, "volumes": volumes, "provenance": record}
    if config.radiomics and (labels.array == 1).any():
        features = extract(ct, labels, params=config.radiomics, label=1)
        write_json(folder / RADIOMICS, features)
        outputs.append(RADIOMICS)
        result["radiomics_features"] = len(features)
    if config.readout or config.report:
        readout = run_readout_safely(ct, labels)  # once for both outputs
        if config.readout:
            outputs.append(_write_readout(readout, folder, result))
        if config.report:
            outputs += _write_report(scan, ct, labels, source, readout, folder)
    write_json(folder / RESULT, result)
    outputs.append(RESULT)
    return outputs


def _write_readout(readout: dict, folder: Path, result: dict) -> str:
    """readout.json, and the read-out's summary columns in the result."""
    write_json(folder / READOUT, readout)
    result["readout"] = summary_columns(readout)
    return READOUT


def _write_report(scan: Scan, ct, labels, source, readout: dict, folder: Path) -> list[str]:
    """The scan's clinical report; clinical inputs from the cohort's optional columns."""
    tp = TimePoint("baseline", ct, labels, source, readout)
    return list(write_report(render([tp], build_report([tp], Clinical.from_row(scan.extra))), folder, overwrite=True))
