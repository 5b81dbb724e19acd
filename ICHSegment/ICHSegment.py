"""ICH Segment: segment intracerebral hemorrhage on a head CT, refine it, measure it, export it,
save it as ground truth and fine-tune a model on what was saved.

A thin shell (SlicerNNUNet's layout): the widget wiring is in `ICHSegmentLib/*_panel.py` (one
class per section of the .ui), the scene work in `ICHSegmentLib` (tested with slicer-core, no
Qt), the algorithms in the `ichkit` backend. Segmentation and fine-tuning run as child processes
(`ich segment`, `ich train finetune`), one at a time, so Slicer stays responsive; Cancel kills
the process tree. Backend imports happen on use, so the module loads before the backend's
dependencies are installed (Segment offers to install them).
"""

import tempfile
from pathlib import Path
from typing import Annotated

import qt

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from ICHSegmentLib.edit_watcher import EditWatcher
from ICHSegmentLib.ground_truth_panel import GroundTruthPanel
from ICHSegmentLib.outputs_panel import OutputsPanel
from ICHSegmentLib.run_panel import RunPanel
from ICHSegmentLib.selftest import SegmentSelfTest
from ICHToolkitLib.widget import JobWidgetMixin

DEVICES = ["cpu", "cuda"]


class ICHSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Segment")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Segments intraparenchymal and intraventricular hemorrhage on a non-contrast head CT (optionally with an "
            "ensemble of BLAST-CT networks: volume ranges and a disagreement map), measures mesh, voxel and ABC/2 "
            "volumes, compares baseline and follow-up (hematoma expansion), exports the mask (.seg.nrrd, NIfTI, DICOM "
            "SEG), saves it as ground truth and fine-tunes BLAST-CT on the saved cases."
        )
        self.parent.acknowledgementText = _("See the ICH Toolkit documentation for the methods and models.")
        slicer.app.connect("startupCompleted()", self._registerSamples)

    def _registerSamples(self):
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHToolkitLib.sampledata import register

        register(Path(self.parent.path).parent / "Resources" / "Icons" / "ICHSegment.png")


@parameterNodeWrapper
class ICHSegmentParameterNode:
    """Saved with the scene, so a reopened scene restores the module's state."""

    inputVolume: vtkMRMLScalarVolumeNode
    model: str
    device: Annotated[str, Choice(DEVICES)] = "cpu"
    ensembleSize: int = 1  # BLAST-CT networks averaged (the .ui's spin box: 1 to ichkit.app.segment.ENSEMBLE_MAX)
    outputSegmentation: vtkMRMLSegmentationNode
    measurementTable: vtkMRMLTableNode
    followupVolume: vtkMRMLScalarVolumeNode
    followupSegmentation: vtkMRMLSegmentationNode
    exportFolder: Path
    overwrite: bool = False
    groundTruthFolder: Path
    caseId: str
    finetuneName: str
    finetuneFolder: Path


class ICHSegmentWidget(JobWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.monitor = self._parameterNode = self._parameterNodeGuiTag = None
        self.panels = []
        self.timer = qt.QTimer()

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHSegmentLogic()
        self.timer.setInterval(250)
        self.timer.connect("timeout()", self.onPoll)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.finetuneCancelButton.connect("clicked(bool)", self.onCancel)
        run = RunPanel(self)
        self.panels = [run, EditWatcher(self), OutputsPanel(self), GroundTruthPanel(self, run)]
        self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def _update(self, caller=None, event=None):
        for panel in self.panels:
            panel.update(self._parameterNode, self.monitor is not None)


class ICHSegmentLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHSegmentParameterNode(super().getParameterNode())

    def startSegmentation(self, volumeNode, model=None, device=None, ensemble=1):
        """`ich segment` on the CT in a child process; the returned SegmentationJob reads its result into the scene."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHSegmentLib.segmentation_job import SegmentationJob

        return SegmentationJob.start(volumeNode, tempfile.mkdtemp(prefix="ichsegment-", dir=slicer.app.temporaryPath),
                                     model, device, ensemble)

    def startFinetune(self, dataset, name="", folder=""):
        """`ich train finetune` on the ground-truth dataset in a child process (ICHSegmentLib.finetune_job)."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHSegmentLib.finetune_job import FinetuneJob

        return FinetuneJob.start(dataset, name, folder)


class ICHSegmentTest(SegmentSelfTest):
    """The real backend (`ich segment` with the default model) on the phantom sample: ICHSegmentLib/selftest.py."""

    logicClass = ICHSegmentLogic
