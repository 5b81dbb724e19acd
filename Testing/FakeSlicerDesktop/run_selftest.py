"""Fake (stand-in for desktop Slicer's self-test runner, the module panel's "Reload and Test"):
runs one ICH module's ScriptedLoadableModuleTest in this process with this folder's stand-ins.

    python Testing/FakeSlicerDesktop/run_selftest.py ICHSegment [TEMPORARY_PATH]

As in Slicer (`ScriptedLoadableModule.runTest`), the module's `<Module>Test` class is created and
its `runTest()` called; a failure raises, so the exit status is non-zero with the traceback.
`slicer.app.temporaryPath` is TEMPORARY_PATH when given. This folder goes on sys.path only here,
in a process of its own, so the stand-ins reach neither other tests nor the `ich` child processes
the self-tests start (those run the real backend with the real interpreter).
"""

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULES = ("ICHSegment", "ICHPredict", "ICHSynth")


def main(argv):
    module_name = argv[0]
    if module_name not in MODULES:
        raise SystemExit(f"usage: run_selftest.py {{{','.join(MODULES)}}} [TEMPORARY_PATH]")
    sys.path[:0] = [str(HERE), *(str(ROOT / name) for name in MODULES), str(ROOT)]  # ROOT: ichkit and ICHToolkitLib, as installed beside the modules
    import slicer

    if len(argv) > 1:
        slicer.app.temporaryPath = argv[1]
    module = importlib.import_module(module_name)
    start = time.monotonic()
    getattr(module, f"{module_name}Test")().runTest()
    print(f"{module_name}Test passed in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
