"""ICH Synth: train a hematoma image generator, sample from it, browse the images, build class-
balanced training sets and the reader-study kit.

A thin shell: every step is an `ich` command in a child process (Cancel kills its process tree),
its command line is `ichkit.app.synth.SynthRequest`'s, filled in from the parameters by
`ICHSynthLib` (testable with slicer-core, as is the image loading), the algorithms in the
`ichkit` backend. Shared helpers come from ICHToolkitLib.
"""

import csv
import tempfile
import time
from pathlib import Path
from typing import Annotated

import qt

import slicer
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from ICHToolkitLib.dependencies import ensure
from ICHToolkitLib.widget import JobWidgetMixin

DEVICES = ["cpu", "cuda"]
PRESETS = ["seed", "smoke"]


class ICHSynth(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Synth")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Trains a diffusion generator of minority-class hematoma images, samples synthetic images, builds "
            "class-balanced training sets and a blinded reader-study kit."
        )
        self.parent.acknowledgementText = _("See the ICH Toolkit documentation for the methods.")


@parameterNodeWrapper
class ICHSynthParameterNode:
    manifest: Path
    preset: Annotated[str, Choice(PRESETS)] = "seed"
    epochs: int = 1000
    device: Annotated[str, Choice(DEVICES)] = "cpu"
    workFolder: Path
    model: Path
    sampleCount: int = 16
    seed: int = 0
    synthetic: Path
    readerCount: int = 40


class ICHSynthWidget(JobWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.monitor = None
        self.images = []
        self.imageNode = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self.timer = qt.QTimer()

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHSynth.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHSynthLogic()
        self.timer.setInterval(250)
        self.timer.connect("timeout()", self.onPoll)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        for step, button in (("train", self.ui.trainButton), ("sample", self.ui.sampleButton),
                             ("balance", self.ui.balanceButton), ("reader-study", self.ui.readerStudyButton)):
            button.connect("clicked(bool)", lambda _checked, step=step: self.onStep(step))
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.imageSlider.connect("valueChanged(int)", self.onImage)
        self.initializeParameterNode()

    def onSceneStartClose(self, caller, event):
        super().onSceneStartClose(caller, event)
        self.imageNode = None

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())

    def _update(self, caller=None, event=None):
        idle = self.monitor is None
        for button in (self.ui.trainButton, self.ui.sampleButton, self.ui.balanceButton, self.ui.readerStudyButton):
            button.enabled = idle
        self.ui.cancelButton.enabled = not idle

    def onStep(self, step):
        if not ensure("ICHSynth"):
            return
        with slicer.util.tryWithErrorDisplay(_("Could not start {step}.").format(step=step)):
            self.monitor = self.logic.start(step, self._parameterNode, self.ui.progressBar, self.ui.statusLabel,
                                            lambda result, step=step: self._finished(step, result))
            self.timer.start()
            self._update()

    def _finished(self, step, result):
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHSynthLib.logic import OUTPUTS, sampled_images

        params = self._parameterNode
        output = Path(params.workFolder) / OUTPUTS[step]
        if step == "train":
            params.model = Path(result.get("model", output))
        elif step == "sample":
            params.synthetic = output / "manifest.csv"
            self.images = sampled_images(output)
            self.ui.imageSlider.maximum = max(len(self.images) - 1, 0)
            self.onImage(0)
        return _("{step} done: {output}").format(step=step, output=output)

    def onImage(self, index):
        if not self.images:
            return
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHSynthLib.logic import show_image

        self.imageNode = show_image(slicer.mrmlScene, self.images[index], self.imageNode)
        slicer.util.setSliceViewerLayers(background=self.imageNode, fit=True)
        self.ui.imageLabel.text = f"{index + 1}/{len(self.images)}: {self.images[index].name}"


class ICHSynthLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHSynthParameterNode(super().getParameterNode())

    def argv(self, step, params):
        """The `ich` command line of one step (`ichkit.app.synth.SynthRequest`)."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHToolkitLib.jobmonitor import python_executable
        from ICHSynthLib.logic import request

        return request(step, params, python_executable()).argv()

    def start(self, step, params, progressBar, statusLabel, onDone):
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHToolkitLib.jobmonitor import JobMonitor
        from ICHSynthLib.logic import start

        if not str(params.workFolder).strip(". "):
            raise ValueError(_("Choose a work folder first."))
        return JobMonitor(start(self.argv(step, params)), progressBar, statusLabel, step, onDone)


class ICHSynthTest(ScriptedLoadableModuleTest):
    """Trains a tiny generator (smoke preset) on ROI images of the phantom sample, samples, browses."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_train_sample_browse()

    def test_train_sample_browse(self):
        # deferred: the module file loads with Slicer's own modules and the stdlib only (Testing/test_slicer_lib.py)
        import numpy as np

        # deferred: ichkit may not be installed yet when Slicer loads the module
        from ichkit.io import load_ct
        from ICHToolkitLib.sampledata import sample_files
        from ICHSynthLib.logic import OUTPUTS, sampled_images, show_image

        work = Path(tempfile.mkdtemp(dir=slicer.app.temporaryPath))
        ct = load_ct(sample_files("ICHPhantomBaseline", slicer.app.temporaryPath)["ct"]).array
        rows = []
        for z in range(8, 16):  # brain-window ROI slices, label 1 (the minority class)
            np.save(work / f"roi_{z}.npy", np.clip(ct[z, 64:192, 64:192].astype(np.float32) / 80.0, 0, 1))
            rows.append({"patient_id": f"p{z}", "scan_id": f"s{z}", "label": 1, "path": f"roi_{z}.npy"})
        with open(work / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        logic = ICHSynthLogic()
        params = logic.getParameterNode()
        params.manifest, params.workFolder, params.preset, params.epochs, params.sampleCount = work / "manifest.csv", work, "smoke", 1, 2
        for step in ("train", "sample"):
            bar, label, results = qt.QProgressBar(), qt.QLabel(), []
            monitor = logic.start(step, params, bar, label, lambda result: results.append(result) or "ok")
            while monitor.poll():
                slicer.app.processEvents()
                time.sleep(0.2)
            self.assertEqual(monitor.outcome, "done", label.text)
            if step == "train":
                params.model = Path(results[0].get("model", work / OUTPUTS["train"]))
        images = sampled_images(work / OUTPUTS["sample"])
        self.assertEqual(len(images), 2)
        node = show_image(slicer.mrmlScene, images[0])
        self.assertEqual(slicer.util.arrayFromVolume(node).shape[0], 1)
        self.delayDisplay("ICHSynth test passed")
