"""Kill `ich segment` and `ich run` while they write (SIGKILL or SIGTERM at seeded random points)
and check what is left: on disk right after the kill, a complete old or new set or a pending
commit journal (a SIGKILL inside the rename window); once the product's readers have run
`atomic.recover`, a complete old or new set, never a mix; and a rerun that finishes with no
temporary left (issue 15). Used by Testing/test_output_safety.py (a few points) and
bench/kill_outputs.py (20 points).

Old and new differ on purpose, so that a mix would show: `ich segment` alternates
--min-component-ml between 0 (labels kept) and 1000 mL (every label removed); `ich run` alternates
--radiomics between shape and none (a config change redoes every scan).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ichkit.atomic import JOURNAL
from ichkit.phantom import write_phantom_cohort

SMALL = dict(shape=(12, 128, 128), spacing=(2.0, 2.0, 5.0))
KEEP, DROP = "0", "1000"  # --min-component-ml: every label kept / every label removed


def _ich(*argv: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "ichkit", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env)


def _hidden(out: Path, pid: int | None = None, journal_only: bool = False) -> bool:
    """A temporary (file or staging folder) or a commit journal of process `pid` (of any when
    None) exists in OUT or OUT/scans: the command is writing. Their names carry the writer's pid."""
    mine = f".{pid}." if pid else "."
    for folder in (out, out / "scans"):
        try:
            with os.scandir(folder) as entries:
                if any(mine in e.name and (_journal(e.name) or (not journal_only and e.name.startswith(".") and ".part" in e.name))
                       for e in entries):
                    return True
        except OSError:
            pass
    return False


def _journal(name: str) -> bool:
    """A complete journal: the commit is decided (its temporary, `.part`, is not yet one)."""
    return name.startswith(JOURNAL) and name.endswith(".json")


AIMS = ("journal", "writes", "anywhere")  # in turn: 2 CI points aim at the rename window and the writes


def _kill_at(proc: subprocess.Popen, out: Path, rng: random.Random, span: float, aim: str) -> dict:
    """Kill at `aim`: a SIGKILL the moment a commit journal appears (inside the rename window),
    within 20 ms of the first temporary appearing (the writes of a small phantom take a few ms:
    polled without sleeping to catch them), or anywhere in the run."""
    sig = signal.SIGKILL if aim == "journal" else rng.choice([signal.SIGKILL, signal.SIGTERM])
    delay = {"anywhere": rng.uniform(0.0, span), "writes": rng.uniform(0.0, 0.02), "journal": 0.0}[aim]
    start = time.monotonic()
    if aim != "anywhere":
        while proc.poll() is None and not _hidden(out, proc.pid, journal_only=aim == "journal") and time.monotonic() - start < 10 * span:
            pass
    time.sleep(delay)
    mid_write = _hidden(out, proc.pid)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return {"signal": sig.name, "aim": aim, "killed": killed, "mid_write": killed and mid_write, "rc": proc.returncode,
            "journal_pending": _hidden(out, journal_only=True)}


# --- ich segment
def segment_setup(folder: Path) -> tuple[Path, Path]:
    ct = Path(write_phantom_cohort(folder / "ph", 1, seed=11, **SMALL)[0]["ct"])
    return folder / "ph" / ct, folder / "seg"


def _segment(ct: Path, out: Path, min_ml: str) -> subprocess.Popen:
    return _ich("segment", str(ct), "-o", str(out), "--device", "cpu", "--overwrite", "--no-progress", "--min-component-ml", min_ml)


MIXED = "mixed"  # on disk after a SIGKILL between the final renames, until a reader recovers it


def segment_state(out: Path, name: str) -> str | None:
    """KEEP or DROP when the files on disk form one whole set, None when there are none, MIXED
    when a prefix of the set (in the order `ich segment` renames its files) is from the other run:
    only a SIGKILL that lands between those renames (microseconds apart, longer on a loaded
    machine) can do that, since SIGINT and SIGTERM wait for the renames; the commit's journal is
    then pending. Reads the files directly, not through the product's (recovering) readers."""
    import slicerio
    import SimpleITK as sitk

    paths = [out / f"{name}_seg.nii.gz", out / f"{name}.seg.nrrd", out / f"{name}_volumes.json"]
    present = [p.exists() for p in paths]
    if not any(present):
        return None
    assert all(present), f"partial set: {[p.name for p in paths if p.exists()]}"
    record = json.loads(paths[2].read_text())
    labelled = [
        int(np.count_nonzero(sitk.GetArrayFromImage(sitk.ReadImage(str(paths[0]))))) > 0,
        len(slicerio.read_segmentation(str(paths[1]))["segments"]) > 0,
        record["provenance"]["postprocess"]["min_component_ml"] == 0,
    ]
    assert bool(record["volumes"]) == labelled[2], "volumes.json contradicts itself"
    if len(set(labelled)) == 1:
        return KEEP if labelled[0] else DROP
    assert labelled in ([not labelled[2]] * 2 + [labelled[2]], [labelled[0]] + [not labelled[0]] * 2), \
        f"the files come from different runs, not in rename order: {labelled}"
    return MIXED


def _old_new(found: str, old: str, new: str) -> str:
    return "old" if found == old else "new" if found == new else found


def segment_trials(folder: Path, points: int, seed: int) -> dict:
    from ichkit.app.segment import find_mask

    ct, out = segment_setup(folder)
    name = ct.name[: -len(".nii.gz")]
    t0 = time.time()
    proc = _segment(ct, out, KEEP)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    span = (out / f"{name}_volumes.json").stat().st_mtime - t0  # start to published outputs
    rng, trials, state = random.Random(seed), [], KEEP
    for k in range(points):
        target = DROP if state == KEEP else KEEP
        trial = _kill_at(_segment(ct, out, target), out, rng, span, AIMS[k % len(AIMS)])
        try:
            on_disk = segment_state(out, name)
            assert on_disk in (state, target) or (on_disk == MIXED and trial["journal_pending"]), (trial, on_disk)
            find_mask({}, out)  # a product reader: completes a pending commit before it reads
            after = segment_state(out, name)
        except AssertionError as exc:
            raise AssertionError(f"after {trial}: {exc}") from None
        assert after in (state, target) and not _hidden(out, journal_only=True), (trial, after)
        trial["left"], trial["after_recovery"] = (_old_new(x, state, target) for x in (on_disk, after))
        trials.append(trial)
        state = after
    proc = _segment(ct, out, KEEP)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert segment_state(out, name) == KEEP
    assert not _hidden(out), "a temporary survived the rerun"
    return {"seconds_to_outputs": span, "trials": trials}


# --- ich run
def run_setup(folder: Path) -> tuple[Path, Path]:
    """Four scans, two patients: two segmented by the demo model, two with their masks."""
    rows = write_phantom_cohort(folder / "ph", 4, seed=12, **SMALL)
    cohort = folder / "ph" / "run.csv"
    with open(cohort, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scan_id", "ct", "mask", "patient_id", "timepoint"])
        for k, r in enumerate(rows):
            w.writerow([r["scan_id"], r["ct"], r["mask"] if k % 2 else "", f"P{k // 2}", ("baseline", "followup")[k % 2]])
    return cohort, folder / "run"


def _run(cohort: Path, out: Path, radiomics: str) -> subprocess.Popen:
    return _ich("run", str(cohort), "-o", str(out), "--device", "cpu", "--no-progress", "--radiomics", radiomics)


def reports_on_disk(out: Path) -> str:
    """"whole" when each report on disk is the one the marker names, else "mixed" (a SIGKILL
    inside the rename window of the reports' commit, its journal pending). No recovery."""
    import hashlib

    from ichkit.batch.folder import MARKER, REPORTS

    named = json.loads((out / MARKER).read_text())["reports"]
    return "whole" if all(hashlib.sha256((out / n).read_bytes()).hexdigest() in named.get(n, []) for n in REPORTS) else "mixed"


def run_state(cohort: Path, out: Path, configs: dict) -> dict[str, str]:
    """Each scan folder whole under one of the configs; reports recognised by the marker (read
    by the product's reader, which completes a pending commit first)."""
    from ichkit.batch import read_cohort
    from ichkit.batch.folder import MARKER, read_marker
    from ichkit.batch.scan_task import is_complete, read_status

    states = {}
    for scan in read_cohort(cohort):
        whole = [name for name, cfg in configs.items() if is_complete(out, scan, cfg)]
        status = read_status(out, scan)
        assert whole or status is None, f"scan {scan.scan_id}: status without its complete outputs"
        if whole:
            states[scan.scan_id] = whole[0]
    assert read_marker(out) is not None, f"{MARKER} missing"
    assert reports_on_disk(out) == "whole", "a report is not one this run published"
    return states


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name not in ("status.json", ".lock")}


def run_trials(folder: Path, points: int, seed: int) -> dict:
    from ichkit.batch.scan_task import TaskConfig

    cohort, out = run_setup(folder)
    configs = {"shape": TaskConfig(radiomics="shape"), "none": TaskConfig(radiomics=None)}
    t0 = time.time()
    proc = _run(cohort, out, "shape")
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    span = (out / "summary.csv").stat().st_mtime - t0  # start to published reports
    reference = _outputs(out)
    rng, trials, current = random.Random(seed), [], "shape"
    for k in range(points):
        target = "none" if current == "shape" else "shape"
        trial = _kill_at(_run(cohort, out, target), out, rng, span, AIMS[k % len(AIMS)])
        try:
            trial["reports_on_disk"] = reports_on_disk(out)
            assert trial["reports_on_disk"] == "whole" or trial["journal_pending"], trial
            states = run_state(cohort, out, configs)
        except AssertionError as exc:
            raise AssertionError(f"after {trial}: {exc}") from None
        assert not _hidden(out, journal_only=True), trial
        trial["left"] = "new" if set(states.values()) == {target} else "old" if set(states.values()) == {current} else "mixed scans (resumable)"
        trials.append(trial)
        current = target if trial["left"] == "new" else current
    proc = _run(cohort, out, "shape")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert set(run_state(cohort, out, configs).values()) == {"shape"}
    assert _outputs(out) == reference, "the rerun differs from an uninterrupted run"
    assert not _hidden(out), "a temporary survived the rerun"
    return {"seconds_to_outputs": span, "trials": trials}
