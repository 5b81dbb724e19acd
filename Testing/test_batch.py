"""Cohort runner: resume, atomic outputs, kill -9 at random points, bad inputs, Dask, privacy."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bad_inputs import CASES
from ichkit.batch import RunConfig, read_cohort, run_cohort
from ichkit.batch.scan_task import TaskConfig
from ichkit.phantom import write_phantom_cohort

SMALL = dict(shape=(12, 128, 128), spacing=(2.0, 2.0, 5.0))
TASK = TaskConfig(radiomics="default")  # enough work per scan (~0.5 s) to kill runs mid-scan


def _cohort(folder: Path, n: int) -> Path:
    rows = write_phantom_cohort(folder, n, seed=7, **SMALL)
    path = folder / "run.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scan_id", "ct", "mask", "patient_id", "timepoint"])
        for k, r in enumerate(rows):
            w.writerow([r["scan_id"], r["ct"], r["mask"], f"P{k // 2:03d}", "baseline" if k % 2 == 0 else "followup"])
    return path


@pytest.fixture(scope="module")
def cohort30(tmp_path_factory) -> Path:
    return _cohort(tmp_path_factory.mktemp("cohort30"), 30)


@pytest.fixture(scope="module")
def reference(cohort30, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    summary = run_cohort(read_cohort(cohort30), out, RunConfig(task=TASK, workers=1))
    assert summary["done"] == 30 and summary["failed"] == 0 and summary["pairs"] == 15
    return out


def _outputs(out: Path) -> dict[str, bytes]:
    """Every deterministic output (status files hold timings and pids, so they are left out)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "status.json"}


def _partial_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".part" in p.name]


def _run_cli(cohort: Path, out: Path, *extra: str, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ichkit", "run", str(cohort), "-o", str(out), "--no-progress", "--radiomics", TASK.radiomics, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def test_rerun_skips_finished_scans(cohort30, reference):
    status_before = {p: p.stat().st_mtime_ns for p in reference.rglob("status.json")}
    summary = run_cohort(read_cohort(cohort30), reference, RunConfig(task=TASK))
    assert summary["done"] == 30
    assert {p: p.stat().st_mtime_ns for p in reference.rglob("status.json")} == status_before


def test_partial_scan_is_redone(cohort30, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    victim = out / "scans" / "phantom_003_ct"
    (victim / "result.json").write_text('{"truncated": ')  # a corrupt output under a done status
    (victim / ".result.json.abc.part.json").write_text("partial")
    run_cohort(read_cohort(cohort30), out, RunConfig(task=TASK))
    assert _outputs(out) == _outputs(reference)
    assert not _partial_files(out)


def _done(out: Path) -> int:
    return sum(1 for p in out.glob("scans/*/status.json") if '"done"' in p.read_text())


def test_kill9_at_20_random_points(cohort30, reference, tmp_path):
    """kill -9 the whole process tree at 20 random points of one 30-scan batch (during start-up,
    mid-scan, between scans), each time restarting; the final rerun gives identical outputs."""
    out = tmp_path / "killed"
    rng = random.Random(20261125)
    kills = 0
    for trial in range(20):
        target = _done(out) + rng.randint(0, 1)
        proc = _run_cli(cohort30, out, "--workers", "2")
        while proc.poll() is None and _done(out) < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        for status in out.rglob("status.json"):  # whatever survived a kill is whole
            json.loads(status.read_text())
        for result in out.rglob("result.json"):
            if (result.parent / "status.json").exists():
                assert result.read_bytes() == (reference / result.relative_to(out)).read_bytes()
    assert kills == 20, f"only {kills} of 20 runs were still going when killed"
    assert _done(out) < 30
    proc = _run_cli(cohort30, out)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert _outputs(out) == _outputs(reference)
    assert not _partial_files(out)


def test_bad_inputs_fail_cleanly_and_batch_goes_on(tmp_path, cohort30):
    rows = []
    for name, (build, expected) in sorted(CASES.items()):
        folder = tmp_path / name
        folder.mkdir()
        ct, mask = build(folder)
        rows.append((name, ct, mask, expected))
    good = read_cohort(cohort30)[:2]
    cohort = tmp_path / "bad.csv"
    with open(cohort, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scan_id", "ct", "mask"])
        for name, ct, mask, _ in rows:
            w.writerow([name, ct, mask])
        for s in good:
            w.writerow([s.scan_id, s.ct, s.mask])
    proc = subprocess.run([sys.executable, "-m", "ichkit", "run", str(cohort), "-o", str(tmp_path / "out"), "--no-progress", "--workers", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    with open(tmp_path / "out" / "failures.csv") as f:
        failures = {r["scan_id"]: r for r in csv.DictReader(f)}
    assert set(failures) == {name for name, *_ in rows}
    for name, ct, mask, expected in rows:
        assert failures[name]["code"] == expected.code, (name, failures[name])
        assert "\n" not in failures[name]["reason"] and "internal error" not in failures[name]["reason"]
    with open(tmp_path / "out" / "summary.csv") as f:
        done = [r for r in csv.DictReader(f) if r["state"] == "done"]
    assert {r["scan_id"] for r in done} == {s.scan_id for s in good}


def test_dask_local_cluster_gives_the_same_outputs(cohort30, reference, tmp_path):
    pytest.importorskip("distributed")
    scans = read_cohort(cohort30)[:6]
    out = tmp_path / "dask"
    summary = run_cohort(scans, out, RunConfig(task=TASK, workers=2, engine="dask"))
    assert summary["done"] == 6
    for s in scans:
        rel = Path("scans") / s.scan_id / "result.json"
        assert (out / rel).read_bytes() == (reference / rel).read_bytes()


def test_no_identifying_dicom_tags_in_outputs_or_logs(tmp_path):
    import numpy as np

    from dicom_factory import FAKE_IDENTITY, head_like, write_series

    hu = head_like((8, 64, 64))
    hu[3:6, 28:36, 28:36] = 70.0
    series = write_series(tmp_path / "dicom", hu)
    mask = np.zeros(hu.shape, np.uint8)
    mask[3:6, 28:36, 28:36] = 1
    from ichkit.io import load_ct

    ct = load_ct(series)
    from ichkit.io import save_labelmap

    save_labelmap(ct.with_array(mask), tmp_path / "mask.nii.gz")
    cohort = tmp_path / "c.csv"
    cohort.write_text(f"scan_id,ct,mask\nscan1,{series},{tmp_path / 'mask.nii.gz'}\n")
    logs = []
    for cmd in (["inspect", str(series), "--json"], ["volume", str(series), str(tmp_path / "mask.nii.gz"), "--json"], ["--debug", "run", str(cohort), "-o", str(tmp_path / "out"), "--no-progress"]):
        proc = subprocess.run([sys.executable, "-m", "ichkit", *cmd], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        logs.append(proc.stdout + proc.stderr)
    texts = logs + [p.read_bytes().decode("latin-1") for p in (tmp_path / "out").rglob("*") if p.is_file()]
    for value in FAKE_IDENTITY.values():
        for variant in {value, value.replace("^", " ")}:
            assert not any(variant in t for t in texts), f"identifier {variant!r} leaked"
