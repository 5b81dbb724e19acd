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


# --- input hardening (issue 15 items 2-5)

import warnings  # noqa: E402

import numpy as np  # noqa: E402

from bad_inputs import ACCEPTED, YAW_10  # noqa: E402
from dicom_factory import sample_series, step_positions, write_series  # noqa: E402
from ichkit.errors import GantryTiltError, ICHWarning, MixedSeriesError  # noqa: E402
from ichkit.validate import ValidationPolicy  # noqa: E402


def _load_warnings(path, policy=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = load_ct(path, policy)
    return vol, [str(w.message) for w in caught if issubclass(w.category, ICHWarning)]


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_inputs_load_with_one_stated_warning(name, tmp_path, capsys):
    build, expected = ACCEPTED[name]
    ct = build(tmp_path)
    _, messages = _load_warnings(ct)
    assert messages == [] if expected is None else (len(messages) == 1 and expected in messages[0]), messages
    assert main(["inspect", str(ct)]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == (0 if expected is None else 1) and all(ln.startswith("warning: ") for ln in err), err


def test_step_and_shoot_tilted_oblique_series_lands_in_the_right_place(tmp_path):
    """HU = a linear function of world position: linear interpolation (in-plane shift, then
    between slices) reproduces it exactly, so every interior voxel must hold the value of its own
    world point, up to the rounding of stored values (0.5 HU per interpolated value). A slice
    shifted the wrong way by one pixel (1 mm) would be off by 2 HU at least."""
    table_z = step_positions()

    def hu(world):
        return 2.0 * world[..., 0] + 3.0 * world[..., 1] + 4.0 * world[..., 2] + 600.0

    ct = write_series(tmp_path / "dicom", sample_series(hu, (64, 64), table_z, spacing=(1.0, 1.0), orientation=YAW_10, gantry_tilt_deg=20.0),
                      spacing=(1.0, 1.0, 5.0), positions=table_z, orientation=YAW_10, gantry_tilt_deg=20.0)
    vol, messages = _load_warnings(ct)
    assert len(messages) == 1 and "tilt of 20.0 deg" in messages[0] and "2.35 mm grid" in messages[0]
    assert np.allclose(vol.direction.T @ vol.direction, np.eye(3), atol=1e-6)
    k, j, i = np.indices(vol.shape)
    world = (vol.index_to_physical() @ np.stack([i, j, k, np.ones_like(i)]).reshape(4, -1))[:3].T.reshape(*vol.shape, 3)
    error = np.abs(vol.array - hu(world))
    assert error[:, 20:44, 20:44].max() <= 0.5 + 1e-3, error.max()  # slices drift by up to 16 mm (44 mm at 20 deg)
    assert vol.spacing[2] == pytest.approx(2.5 * np.cos(np.radians(20)), rel=1e-6)


def test_tilt_refuse_policy_and_cli_option(tmp_path, capsys):
    ct = ACCEPTED["dicom_gantry_tilt_15deg"][0](tmp_path)
    with pytest.raises(GantryTiltError):
        load_ct(ct, ValidationPolicy(tilt="refuse"))
    assert main(["inspect", str(ct), "--tilt", "refuse"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {ct}: the series was acquired with gantry tilt")


def test_series_option_picks_and_names(tmp_path, capsys):
    import pydicom

    from bad_inputs import _dicom_two_patients

    folder = _dicom_two_patients(same_series=False)(tmp_path)
    uids = sorted({p.name[0]: pydicom.dcmread(p).SeriesInstanceUID for p in folder.glob("*.dcm")}.items())
    with pytest.raises(MixedSeriesError, match="--series UID"):
        load_ct(folder)
    for prefix, uid in uids:  # a: slices at 0..35 mm, b: at 40..75 mm
        vol, messages = _load_warnings(folder, ValidationPolicy(series=uid))
        assert messages == [] and vol.shape[0] == 8 and vol.origin[2] == (0.0 if prefix == "a" else 40.0)
    assert main(["inspect", str(folder), "--series", uids[1][1], "--json"]) == 0
    assert main(["inspect", str(folder), "--series", "1.2.3.4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no CT series 1.2.3.4" in err and uids[0][1] in err


def test_view_series_opens_the_named_series(tmp_path):
    """`ich view --series UID` on a two-series folder: the workstation shows that series; without
    it, the one-line refusal. In its own process: the workstation's OpenGL (Mesa's LLVM) loaded
    beside torch's triton (its own LLVM) crashes a later import in this one."""
    pytest.importorskip("trame_slicer", reason="the workstation needs the [scene] extra")
    import pydicom

    from bad_inputs import _dicom_two_patients

    folder = _dicom_two_patients(same_series=False)(tmp_path)
    uids = sorted({p.name[0]: pydicom.dcmread(p).SeriesInstanceUID for p in folder.glob("*.dcm")}.items())
    script = f"""
from trame.app import get_server
from ichkit.errors import MixedSeriesError
from ichkit.validate import ValidationPolicy
from ichkit.web.app import Workstation
ws = Workstation(get_server("view-series", client_type="vue3"), workdir={str(tmp_path / "work")!r})
ws.load_files({str(folder)!r}, policy=ValidationPolicy(series={uids[1][1]!r}))
print(ws.session.baseline.ct.origin[2], ws.session.baseline.ct.shape[0])
try:
    ws.load_files({str(folder)!r})
except MixedSeriesError as exc:
    print("refused", "--series UID" in exc.message)
ws.close()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[:2] == ["40.0 8", "refused True"]  # b: slices at 40..75 mm


def test_no_patient_identity_in_mixed_series_messages(tmp_path):
    from bad_inputs import OTHER_PATIENT, _dicom_two_patients
    from dicom_factory import FAKE_IDENTITY

    for same in (True, False):
        with pytest.raises(MixedSeriesError) as info:
            load_ct(_dicom_two_patients(same_series=same)(tmp_path / str(same)))
        assert not any(v in info.value.message for v in [*FAKE_IDENTITY.values(), *OTHER_PATIENT.values()])


@pytest.mark.parametrize("name", ["mha_truncated", "nifti_plain_zero_spacing_z", "dicom_corrupt_jpegls_slice"])
def test_real_process_one_line_for_header_and_decoder_errors(name, tmp_path):
    """ITK, niftilib and pydicom print to stderr from C or their own loggers: none of it may show."""
    ct, _ = CASES[name][0](tmp_path)
    proc = subprocess.run([sys.executable, "-m", "ichkit", "inspect", str(ct)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr


@pytest.mark.parametrize("gaps, accepted", [
    ([5.0] * 7, True),
    ([2.5] * 7 + [5.0] * 6, True),  # step-and-shoot: thin posterior fossa, thick above
    ([2.5] * 7 + [3.75] + [5.0] * 5, True),  # with one transition gap between the two spacings
    ([1.0] * 4 + [2.5] * 3 + [5.0] * 3, True),  # three spacings
    ([5.0] * 3 + [10.0] + [5.0] * 3, False),  # a missing slice
    ([2.5] * 3 + [5.0] + [2.5] * 3 + [5.0] * 3, False),  # a spacing that comes back
    ([2.5] * 5 + [7.5] + [5.0] * 5, False),  # a "transition" outside both spacings: a missing slice
    ([2.5] * 6 + [5.0], False),  # one odd gap at an end
    ([1.0] * 2 + [2.0] * 2 + [3.0] * 2 + [4.0] * 2, False),  # four spacings
])
def test_spacing_rule(gaps, accepted):
    from ichkit.errors import SliceSpacingError
    from ichkit.io.dicom import _spacing_runs

    if accepted:
        assert sum(n for _, n in _spacing_runs("f", np.array(gaps), 0.05)) == len(gaps)
    else:
        with pytest.raises(SliceSpacingError):
            _spacing_runs("f", np.array(gaps), 0.05)


@pytest.mark.parametrize("command", ["inspect", "volume", "radiomics", "segment", "predict", "readout", "report", "view"])
def test_ct_loading_commands_take_series_and_tilt(command):
    from ichkit.cli import build_parser

    extra = {"volume": ["m.nii.gz"], "segment": ["-o", "out"], "predict": ["--task", "he", "-o", "out"],
             "readout": ["--mask", "m.nii.gz"], "report": ["--mask", "m.nii.gz", "-o", "out"]}.get(command, [])
    args = build_parser().parse_args([command, "ct", *extra, "--series", "1.2.3", "--tilt", "refuse"])
    assert (args.series, args.tilt) == ("1.2.3", "refuse")


def test_cohort_series_column_picks_the_series_of_ich_run(tmp_path):
    """Two studies of one patient in one folder: the cohort's `series` column is `--series`."""
    import csv
    from dataclasses import replace

    import pydicom

    from dicom_factory import head_like
    from ichkit.batch.scan_task import input_fingerprint
    from ichkit.cohort import read_cohort
    from ichkit.io import save_labelmap

    folder = write_series(tmp_path / "dicom", head_like(), prefix="a")
    write_series(folder, head_like(), positions=[40.0 + 5 * k for k in range(8)], prefix="b")  # another grid
    uid = {p: pydicom.dcmread(next(folder.glob(f"{p}*.dcm"))).SeriesInstanceUID for p in "ab"}
    ct_a = load_ct(folder, ValidationPolicy(series=uid["a"]))
    labels = np.zeros(ct_a.shape, np.uint8)
    labels[3:6, 28:36, 28:36] = 1
    mask = save_labelmap(ct_a.with_array(labels), tmp_path / "mask_a.nii.gz")
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("scan_id,ct,mask,series\n" + "".join(f"s_{k},{folder},{mask},{uid.get(k, '')}\n" for k in ("a", "b", "none")))
    assert main(["run", str(cohort), "-o", str(tmp_path / "out"), "--no-progress", "--radiomics", "none"]) == 0  # one of three done
    with open(tmp_path / "out" / "summary.csv", newline="") as f:
        states = {r["scan_id"]: r["state"] for r in csv.DictReader(f)}
    with open(tmp_path / "out" / "failures.csv", newline="") as f:
        failures = {r["scan_id"]: r for r in csv.DictReader(f)}
    assert states == {"s_a": "done", "s_b": "failed", "s_none": "failed"}
    assert failures["s_b"]["code"] == "geometry_mismatch"  # series b was read: mask a does not fit its grid
    assert failures["s_none"]["code"] == "mixed_series" and "series column" in failures["s_none"]["reason"]
    scan = read_cohort(cohort)[0]
    assert input_fingerprint(replace(scan, series=uid["b"])) != input_fingerprint(scan)  # another series: redone


def test_detilt_shift_is_scipys_bilinear_shift():
    from scipy.ndimage import shift

    from ichkit.io.dicom import _shift_bilinear

    image = np.random.default_rng(0).normal(size=(40, 56)).astype(np.float32)
    for dy, dx in [(0.3, -2.7), (-5.5, 3.25), (0.0, 0.0), (2.0, -1.0), (-0.01, 10.99)]:
        expected = shift(image, (dy, dx), order=1, mode="grid-constant", cval=-3.0)
        assert np.abs(_shift_bilinear(image, dy, dx, -3.0) - expected).max() < 1e-5  # float32 rounding


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
