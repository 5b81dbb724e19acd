"""The three modules' own self-tests (ICHSegmentTest, ICHPredictTest, ICHSynthTest), unchanged,
against slicer-core's real MRML scene and the real backend (`ich segment`, `ich predict`,
`ich synth` child processes with the shipped demo models).

Only desktop Slicer's Qt application is stood in for, by Testing/FakeSlicerDesktop (every file
and class says Fake...): `qt` progress bar and label, `slicer.app`, `slicer.i18n`, and the Qt-free
parts of `slicer.ScriptedLoadableModule` and `slicer.parameterNodeWrapper`. Each self-test runs
in a process of its own (FakeSlicerDesktop/run_selftest.py), so the stand-ins never enter this
process's `sys.modules`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("slicer", reason="the slicer-core wheel (import slicer) is not installed")

RUNNER = Path(__file__).resolve().parent / "FakeSlicerDesktop" / "run_selftest.py"


@pytest.mark.parametrize("module", ["ICHSegment", "ICHPredict", "ICHSynth"])
def test_module_selftest(module, tmp_path, ich_cache):
    temporary = tmp_path / "slicer-temp"
    temporary.mkdir()
    proc = subprocess.run([sys.executable, str(RUNNER), module, str(temporary)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{module}Test failed:\n{proc.stdout}\n{proc.stderr}"
    assert f"{module}Test passed" in proc.stdout
