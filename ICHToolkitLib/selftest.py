"""What the modules' self-tests share ("Reload and Test" in Slicer; on slicer-core with the fake
desktop in Testing/test_slicer_selftests.py): a cleared scene, and a background job polled to
its end as the module's widget polls it (a JobMonitor; its progress shown nowhere). Each module's
`<Module>Lib/selftest.py` subclasses this with its scenario, and the module file's `<Module>Test`
names the module's logic class.
"""

import time
from types import SimpleNamespace

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest


class JobSelfTest(ScriptedLoadableModuleTest):
    logicClass = None  # the module's ScriptedLoadableModuleLogic subclass

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.scenario()

    def scenario(self):
        raise NotImplementedError  # the module's

    def sample(self, name):
        """A registered phantom sample: (CT volume node, its files, its true labels on the CT grid)."""
        # deferred: ichkit may not be installed yet when Slicer loads the module
        from ichkit import scene
        from ichkit.io import load_mask
        from ICHToolkitLib.sampledata import load_sample, sample_files

        volume = load_sample(slicer.mrmlScene, name, slicer.app.temporaryPath)
        files = sample_files(name, slicer.app.temporaryPath)
        return volume, files, load_mask(files["labels"], scene.node_to_volume(volume))

    def runJob(self, job, accept=lambda result: result):
        """(outcome, status line, [accept(result)]) once `job` has ended."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHToolkitLib.jobmonitor import JobMonitor

        status, accepted = SimpleNamespace(text=""), []
        monitor = JobMonitor(job, SimpleNamespace(value=0), status, "job", lambda result: accepted.append(accept(result)) or "ok")
        while monitor.poll():
            time.sleep(0.2)
        return monitor.outcome, status.text, accepted
