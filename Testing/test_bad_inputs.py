"""Bad-input suite: every malformed input gets its named error, exit code 2, one line naming the
file, no traceback and no output file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bad_inputs import CASES
from ichkit.cli import main
from ichkit.io import load_ct, load_mask


def test_suite_is_large_enough():
    assert len(CASES) >= 30
    assert len({err for _, err in CASES.values()}) >= 12


@pytest.mark.parametrize("name", sorted(CASES))
def test_named_error(name, tmp_path):
    build, expected = CASES[name]
    ct, mask = build(tmp_path)
    with pytest.raises(expected) as info:
        load_mask(mask, load_ct(ct))
    message = info.value.message
    assert "\n" not in message
    assert str(info.value.path) in (str(ct), str(mask)) or str(info.value.path).startswith(str(tmp_path))


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_exit_2_one_line_no_output(name, tmp_path, capsys):
    build, _ = CASES[name]
    ct, mask = build(tmp_path)
    out = tmp_path / "out" / "features.csv"
    rc = main(["radiomics", str(ct), str(mask), "-o", str(out)])
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert str(tmp_path) in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists() and not list(out.parent.glob("*")) if out.parent.exists() else True


def test_real_process_has_no_traceback(tmp_path):
    build, _ = CASES["truncated_gzip"]
    ct, _ = build(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "ichkit", "inspect", str(ct)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {ct}")


def test_thick_slices_warn_but_load(tmp_path, capsys):
    from bad_inputs import _ct

    ct = _ct(tmp_path, spacing=(0.5, 0.5, 10.0))
    assert main(["inspect", str(ct)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "10 mm exceeds 5 mm" in err


# --- output hardening (issue 15 items 1, 6-9): the CLI catalogue
from bad_inputs import CLI_CASES  # noqa: E402


def test_cli_catalogue_is_large_enough():
    assert len(CLI_CASES) >= 15


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_case(name, tmp_path, capsys, ich_cache):
    argv, expected, check = CLI_CASES[name](tmp_path)
    capsys.readouterr()
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == expected, captured.err
    assert "Traceback" not in captured.err + captured.out and "internal error" not in captured.err
    if expected == 2:
        lines = [ln for ln in captured.err.splitlines() if ln.strip() and not ln.startswith("warning: ")]
        assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    if check:
        check(tmp_path, captured.err)
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name], "a temporary survived"
