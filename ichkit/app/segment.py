"""A segmentation job from request to result: the request that becomes `ich segment`'s command
line, the names of its outputs, its provenance record, and the reading of a finished job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..atomic import recover
from ..errors import OptionError
from ..io.formats import SEG_SUFFIX, VOLUME_SUFFIXES
from ..models import load_registry
from ..models.cache import is_installed
from ..models.registry import DEMO_NOTICE
from ..segment.source import MASK_SUFFIX, SIDECAR_SUFFIX, MaskSource
from .jobs import ich_argv

DEVICES = ("cpu", "cuda")
ENSEMBLE_MAX = 12  # BLAST-CT's networks


@dataclass(frozen=True)
class SegmentRequest:
    """What a front end asks of `ich segment`; `argv()` is the one place its command line is built."""

    ct: Path
    outdir: Path
    model: str | None = None
    device: str | None = None
    overwrite: bool = False
    ensemble: int = 1  # BLAST-CT networks averaged; > 1 adds each label's volume interval and a disagreement map
    python: str | None = None  # desktop Slicer's PythonSlicer; default: this interpreter

    def __post_init__(self):
        if not str(self.ct).strip():
            raise OptionError(None, "no CT given")
        if not 1 <= self.ensemble <= ENSEMBLE_MAX:
            raise OptionError(None, f"ensemble {self.ensemble}: choose 1 to {ENSEMBLE_MAX} networks")
        if self.device not in (None, *DEVICES):
            raise OptionError(None, f"device {self.device!r}: choose one of {', '.join(DEVICES)}")

    def argv(self) -> list[str]:
        argv = ich_argv("segment", self.ct, "-o", self.outdir, "--json", python=self.python)
        return (argv + (["--overwrite"] if self.overwrite else []) + (["--model", self.model] if self.model else [])
                + (["--device", self.device] if self.device else []) + (["--ensemble", str(self.ensemble)] if self.ensemble > 1 else []))


def model_choices() -> list[tuple[str, str]]:
    """(model id, text for a model list): every segmentation model of the registry (a fine-tuned
    one once registered), installed ones first, demo ones flagged."""
    entries = sorted(load_registry().list("segmentation"), key=lambda e: (not is_installed(e), e.id))
    return [(e.id, f"{e.id} {e.version}" + (" (installed)" if is_installed(e) else " (download on first use)")
             + (f" - {DEMO_NOTICE}" if e.demo else "")) for e in entries]


def output_name(ct_path: Path) -> str:
    """The scan's name without its image suffix (a DICOM folder keeps its folder name)."""
    name = Path(ct_path).resolve().name
    for suffix in (SEG_SUFFIX, *VOLUME_SUFFIXES, ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def output_paths(outdir: Path, name: str, probabilities: bool = False, ensemble: int = 1) -> dict[str, Path]:
    paths = {
        "labels_nifti": outdir / f"{name}{MASK_SUFFIX}",
        "labels_seg_nrrd": outdir / f"{name}{SEG_SUFFIX}",
        "volumes_json": outdir / f"{name}{SIDECAR_SUFFIX}",
    }
    if probabilities:
        paths["probabilities"] = outdir / f"{name}_probabilities.nii.gz"
    if ensemble > 1:
        paths["disagreement"] = outdir / f"{name}_disagreement.nii.gz"
    return paths


def ensemble_record(entry, result) -> dict:
    """Members, their voxel volumes and each label's [min, max] across them (JSON)."""
    return {
        "members": list(entry.members),
        "member_voxel_ml": result.member_voxel_ml,
        "interval_ml": {k: [min(v), max(v)] for k, v in result.member_voxel_ml.items()},
        "note": "each network's own mask, voxel volumes before small-component removal; "
                "disagreement: fraction of networks whose label differs from the ensemble's",
    }


def model_record(entry) -> dict:
    """The registry entry as every output names the model that made a mask."""
    return {"id": entry.id, "version": entry.version, "architecture": entry.architecture, "demo": entry.demo, "licence": entry.licence}


def provenance(model: dict | None, ct_path: str | Path | None, *, created: bool = True, **step) -> dict:
    """The one provenance record of a mask: the model that made it (`model_record`, or
    `MaskSource.model()`; None: a user's file), ichkit's version, when, the CT (None: not named,
    as in `ich run`'s per-scan result, which names the scan by its id, never by a path that may
    identify the patient), and what the writing step adds (`device`, `postprocess`, `edited`).
    `created=False` leaves the time out of an output that must be byte-identical on a rerun."""
    when = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds")} if created else {}
    return {"model": model, "ichkit_version": __version__, **when, "input": None if ct_path is None else str(ct_path), **step}


def volumes_record(ct_path: str | Path, paths: dict[str, Path], volumes: dict, provenance: dict) -> dict:
    """What `<name>_volumes.json` holds beside the mask (read back by `MaskSource.of_mask`)."""
    return {"ct": str(ct_path), "files": {k: str(v) for k, v in paths.items()}, "volumes": volumes, "provenance": provenance}


def find_mask(result: dict, outdir: Path) -> Path | None:
    """The mask a finished job wrote: the `*_seg.nii.gz` among its result's files, else in OUTDIR
    (once a set the job's kill left unfinished is completed: never a mask of another run)."""
    recover(outdir)
    named = [Path(v) for v in result.get("files", {}).values() if str(v).endswith(MASK_SUFFIX)]
    found = [p for p in named if p.exists()] or sorted(Path(outdir).glob(f"*{MASK_SUFFIX}"))
    return found[0] if found else None


def read_output(result: dict, outdir: Path) -> tuple[Path, MaskSource] | None:
    """A finished `ich segment` as (mask path, its source), None when it wrote no mask."""
    mask = find_mask(result, outdir)
    return None if mask is None else (mask, MaskSource.from_provenance(result.get("provenance"), mask))


@dataclass(frozen=True)
class EnsembleOutput:
    """What a finished `ich segment --ensemble N` (N > 1) adds to a mask, as the front ends show it."""

    members: int
    interval_ml: dict[str, tuple[float, float]]  # label key -> (min, max) voxel volume across the networks
    disagreement: Path | None  # the map, where the job wrote it


def read_ensemble(result: dict) -> EnsembleOutput | None:
    """The ensemble part of a finished job's result; None for one network."""
    record = result.get("ensemble")
    if not record:
        return None
    path = result.get("files", {}).get("disagreement")
    return EnsembleOutput(len(record["members"]), {k: (float(lo), float(hi)) for k, (lo, hi) in record["interval_ml"].items()},
                          Path(path) if path and Path(path).is_file() else None)
