"""Outputs are all or nothing and never a user's file (issue 15 items 7-9): kills and SIGTERM
while writing, a full disk, a read-only folder, a closed pipe, a port in use, pairs.csv."""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import kill_outputs
from bad_inputs import _cohort_csv, _pair, _run
from ichkit.cli import main

POINTS = int(os.environ.get("ICH_KILL_POINTS", "2"))  # bench/kill_outputs.py runs 20


@pytest.mark.parametrize("trials", [kill_outputs.segment_trials, kill_outputs.run_trials], ids=["segment", "run"])
def test_kill_while_writing_leaves_old_or_new_set(trials, tmp_path):
    result = trials(tmp_path, POINTS, seed=15)
    assert len(result["trials"]) == POINTS


# --- the commit journal (ichkit.atomic): a set of outputs killed between its renames
_KILLED_COMMIT = """
import json, os, signal, sys
from pathlib import Path
import ichkit.atomic as atomic
folder, kill_at, files = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
real, renamed = os.replace, []
def replace(src, dst):  # SIGKILL before the journal (-1), right after it (0) or after k renames
    journal = Path(dst).name.startswith(atomic.JOURNAL)
    if journal and kill_at == -1:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    renamed.extend([] if journal else [dst])
    if kill_at == len(renamed):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
with atomic.atomic_files({name: folder / name for name in files}) as tmp:
    for name, source in files.items():
        tmp[name].write_bytes(Path(source).read_bytes())
"""


def _commit(folder, files: dict, kill_at: int = 99) -> int:
    """Publish `files` (name -> source file) into `folder` in a child, SIGKILLed at `kill_at`."""
    argv = [sys.executable, "-c", _KILLED_COMMIT, str(folder), str(kill_at), json.dumps({k: str(v) for k, v in files.items()})]
    return subprocess.run(argv, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))).returncode


def _two_sets(tmp_path):
    """An `ich segment`-like set (mask + sidecar) published whole, and a different new one."""
    (ct, old), (_, new) = _pair(tmp_path, "old"), _pair(tmp_path, "new", grow=3)
    for name, mask in (("old", old), ("new", new)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"provenance": {"model": {"id": name}}}))  # the sidecar
    out = tmp_path / "out"
    assert _commit(out, {"s_seg.nii.gz": old, "s_volumes.json": tmp_path / "old.json"}) == 0
    return ct, out, {"s_seg.nii.gz": new, "s_volumes.json": tmp_path / "new.json"}


def _hidden_files(out):
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _mask_of(path):
    from ichkit.io import load_mask

    return int(load_mask(path).array.sum())


def _model(out):
    return json.loads((out / "s_volumes.json").read_text())["provenance"]["model"]["id"]


@pytest.mark.parametrize("reader", ["load_mask", "find_mask", "of_mask"])
def test_a_set_killed_between_its_renames_is_completed_before_a_reader_reads_it(reader, tmp_path):
    from ichkit.app.segment import find_mask
    from ichkit.segment.source import MaskSource

    ct, out, new = _two_sets(tmp_path)
    assert _commit(out, new, kill_at=1) == -signal.SIGKILL
    assert (out / "s_seg.nii.gz").read_bytes() == new["s_seg.nii.gz"].read_bytes()  # on disk: a mixed set
    assert _model(out) == "old"
    assert any(name.startswith(".ichkit-journal.") for name in _hidden_files(out))
    if reader == "of_mask":  # the sidecar read beside a mask names the new mask's model
        assert MaskSource.of_mask(out / "s_seg.nii.gz").model_id == "new"
    else:
        mask = find_mask({}, out) if reader == "find_mask" else out / "s_seg.nii.gz"
        assert _mask_of(mask) == _mask_of(new["s_seg.nii.gz"])  # the reader rolled the journal forward first
    assert _model(out) == "new"
    assert _hidden_files(out) == []


def test_a_set_killed_right_after_its_journal_is_completed_by_the_next_write(tmp_path):
    from ichkit.atomic import write_text

    _, out, new = _two_sets(tmp_path)
    assert _commit(out, new, kill_at=0) == -signal.SIGKILL
    assert _model(out) == "old"  # nothing renamed yet
    write_text(out / "other.txt", "another output")  # the first write into the folder (this process)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in new} == {k: v.read_bytes() for k, v in new.items()}
    assert _hidden_files(out) == []


def test_a_set_killed_before_its_journal_is_rolled_back_by_the_next_write(tmp_path):
    from ichkit.atomic import write_text

    _, out, new = _two_sets(tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _commit(out, new, kill_at=-1) == -signal.SIGKILL
    assert len(_hidden_files(out)) == 3  # the two temporaries and the journal's, all complete
    assert _mask_of(out / "s_seg.nii.gz") == _mask_of(tmp_path / "old_mask.nii.gz")  # a reader: the old set
    write_text(out / "other.txt", "another output")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "other.txt"} == before
    assert _hidden_files(out) == []


def test_a_journal_of_a_live_writer_is_completed_once_and_not_undone(tmp_path, monkeypatch):
    """A reader may finish a live writer's commit; the writer then finds its renames done."""
    import ichkit.atomic as atomic

    out, real = tmp_path / "out", atomic._roll_forward

    def reader_first(journal):
        monkeypatch.setattr(atomic, "_roll_forward", real)
        atomic.recover(out)  # a reader, between the writer's journal and its renames
        assert (out / "a.txt").read_text() == "new a" and (out / "b.txt").read_text() == "new b"
        real(journal)

    monkeypatch.setattr(atomic, "_roll_forward", reader_first)
    with atomic.atomic_files({"a": out / "a.txt", "b": out / "b.txt"}) as tmp:
        tmp["a"].write_text("new a")
        tmp["b"].write_text("new b")
    assert [(p.name, p.read_text()) for p in sorted(out.iterdir())] == [("a.txt", "new a"), ("b.txt", "new b")]


def _segment(ct, out, *extra):
    return main(["segment", str(ct), "-o", str(out), "--device", "cpu", "--no-progress", *extra])


def _fake_model(monkeypatch, mask):
    """The writing is under test, not the network: segmentation = the mask beside the CT."""
    import ichkit.segment.run
    from ichkit.io import load_mask
    from ichkit.segment.postprocess import Removed

    def segment_ct(ct, entry, device, **kw):
        labels = load_mask(mask, ct)
        return ichkit.segment.run.Segmented(labels=labels, result=None, removed=Removed(), entry=entry)

    monkeypatch.setattr(ichkit.segment.run, "segment_ct", segment_ct)


def test_disk_full_keeps_the_previous_set_and_stale_temporaries_go(tmp_path, monkeypatch, capsys):
    ct, mask = _pair(tmp_path)
    _fake_model(monkeypatch, mask)
    out = tmp_path / "seg"
    out.mkdir()
    stale = out / f".s_ct_seg.nii.gz.{2**22 + 12345}.k1ll3d_x.part.nii.gz"  # a killed writer's (pid above pid_max)
    stale.write_bytes(b"half")
    assert _segment(ct, out) == 0
    assert not stale.exists()
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import ichkit.cli.segment_cmd

    def full(path, obj):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ichkit.cli.segment_cmd, "write_json", full)  # the last file of the set fails
    capsys.readouterr()
    assert _segment(ct, out, "--overwrite") == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("warning: ")]
    assert lines == [f"error: {out}: cannot be written: No space left on device"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # previous set whole, no temporary


def _unwritable(folder):
    """A folder this process cannot write into, even as root (chattr +i), or None."""
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        return None
    return folder


def test_read_only_output_folder_is_refused_before_the_model_runs(tmp_path, capsys):
    ct, _ = _pair(tmp_path)
    ro = _unwritable(tmp_path / "ro")
    if ro is None:
        pytest.skip("cannot make a read-only folder here (root without chattr)")
    try:
        assert _segment(ct, ro / "out") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {ro / 'out'}: cannot be written") and err.count("\n") == 1, err
        assert "demo model" not in err  # refused before the model was chosen
    finally:
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
        ro.chmod(0o755)


def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    ct, mask = _pair(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "ichkit", "volume", str(ct), str(mask), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head -0` would, before the command writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == "", err


def test_view_on_a_port_in_use_is_one_line(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["view", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --port {port}: cannot serve on 127.0.0.1:{port}") and err.count("\n") == 1, err


def test_pairs_csv_agrees_with_ich_volume_followup(tmp_path, capsys):
    (ct, mask), (ct2, mask2) = _pair(tmp_path, "a"), _pair(tmp_path, "b", grow=4)
    cohort = _cohort_csv(tmp_path, [f"a,{ct},{mask},P1,baseline", f"b,{ct2},{mask2},P1,followup"])
    assert main(_run(cohort, tmp_path / "out")) == 0
    with open(tmp_path / "out" / "pairs.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    capsys.readouterr()
    assert main(["volume", str(ct), str(mask), "--followup", str(ct2), str(mask2), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)["expansion"]
    assert verdict["growth_ml"] > 0 and verdict["relative_growth"] > 0.33  # a box 4 voxels wider per side
    assert row["he"] == str(int(verdict["expansion"])) == "1"
    assert float(row["abs_growth_ml"]) == pytest.approx(verdict["growth_ml"], abs=1e-4)
    assert float(row["rel_growth"]) == pytest.approx(verdict["relative_growth"], abs=1e-4)
    assert row["revised_he"] == ("" if verdict["revised_expansion"] is None else str(int(verdict["revised_expansion"])))


def test_run_with_a_full_disk_fails_the_scan_and_a_resume_redoes_it(tmp_path, monkeypatch, capsys):
    import ichkit.batch.scan_task as scan_task
    from ichkit.atomic import atomic_path

    ct, mask = _pair(tmp_path)
    cohort = _cohort_csv(tmp_path, [f"s1,{ct},{mask},,"])
    real = scan_task.write_json

    def full(path, obj):
        if path.name != scan_task.RESULT:
            return real(path, obj)
        with atomic_path(path):  # the disk fills while the temporary is written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(scan_task, "write_json", full)
    assert main(_run(cohort, tmp_path / "out")) == 2  # every scan failed
    with open(tmp_path / "out" / "failures.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["code"] == "bad_output" and "No space left on device" in row["reason"]
    monkeypatch.setattr(scan_task, "write_json", real)  # space freed: the resume redoes the scan
    assert main(_run(cohort, tmp_path / "out")) == 0
    assert json.loads((tmp_path / "out" / "scans" / "s1" / "status.json").read_text())["state"] == "done"
