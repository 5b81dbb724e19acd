"""Fake (stand-in for desktop Slicer's application object): `slicer.app` and `slicer.mrmlScene`.

The `slicer` meta-package of slicer-core imports every module of each `slicer/` folder on
sys.path and copies its public names onto `slicer`, so this folder (without `__init__.py`) adds:

- `slicer.mrmlScene`: a REAL `vtkMRMLScene` from slicer-core (desktop Slicer creates one at
  start-up; here it is created on import);
- `slicer.app`: a FakeSlicerApplication with only what the ICH self-tests use of desktop Slicer's
  qSlicerApplication: `temporaryPath` (a temporary folder) and `processEvents()` (a no-op:
  there is no Qt event loop; the self-tests poll their background jobs themselves).
"""

import tempfile as _tempfile

from slicer_core import vtkMRMLScene as _vtkMRMLScene


class FakeSlicerApplication:
    def __init__(self):
        self._temporaryPath = None

    @property
    def temporaryPath(self):
        """A temporary folder, made on first use unless a runner set one."""
        if self._temporaryPath is None:
            self._temporaryPath = _tempfile.mkdtemp(prefix="FakeSlicerDesktop-")
        return self._temporaryPath

    @temporaryPath.setter
    def temporaryPath(self, path):
        self._temporaryPath = str(path)

    def processEvents(self):
        pass


app = FakeSlicerApplication()
mrmlScene = _vtkMRMLScene()
