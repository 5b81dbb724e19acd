"""ICH Predict: the risk panel. First what the scan shows (atlas location, NCCT expansion signs,
midline shift: `ich readout`) and the published scores from it plus the clinical inputs
(recomputed on every change); below, the learned classifiers (hematoma expansion, hemorrhagic
transformation, location) with Grad-CAM, demo models hidden unless asked; radiomics.

A thin shell (SlicerNNUNet's layout): the widget wiring is in `ICHPredictLib/*_panel.py` (one
class per section of the .ui), the scene work in `ICHPredictLib/logic.py` (tested with
slicer-core), the algorithms in the `ichkit` backend. Read-out and prediction run `ich readout` /
`ich predict` in a child process (Cancel kills it).
"""

import tempfile
from typing import Annotated
from pathlib import Path

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

from ICHPredictLib.radiomics_panel import RadiomicsPanel
from ICHPredictLib.risk_panel import ANTICOAGULANTS, UNKNOWN, YES_NO, RiskPanel
from ICHPredictLib.selftest import PredictSelfTest
from ICHToolkitLib.widget import JobWidgetMixin

DEVICES = ["cpu", "cuda"]
PRESETS = ["shape", "default", "full"]


class ICHPredict(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Predict")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Reads out where the hemorrhage is, its NCCT expansion signs and the midline shift, fills in the ICH, BAT and "
            "BRAIN scores with the clinical inputs, and below predicts hematoma expansion, hemorrhagic transformation and "
            "location with uncertainty intervals and Grad-CAM heatmaps (demo models hidden unless asked); radiomics."
        )
        self.parent.acknowledgementText = _("See the ICH Toolkit documentation for the methods and models.")


@parameterNodeWrapper
class ICHPredictParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    inputSegmentation: vtkMRMLSegmentationNode
    device: Annotated[str, Choice(DEVICES)] = "cpu"
    riskTable: vtkMRMLTableNode
    gradcamOpacity: float = 0.4
    radiomicsPreset: Annotated[str, Choice(PRESETS)] = "default"
    radiomicsTable: vtkMRMLTableNode
    csvPath: Path
    age: str = ""
    gcs: str = ""
    onsetHours: str = ""
    anticoagulant: Annotated[str, Choice(ANTICOAGULANTS)] = UNKNOWN
    recurrentIch: Annotated[str, Choice(YES_NO)] = UNKNOWN
    showDemo: bool = False


class ICHPredictWidget(JobWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.monitor = self._parameterNode = self._parameterNodeGuiTag = self.riskPanel = None
        self.panels = []
        self.timer = qt.QTimer()

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHPredict.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHPredictLogic()
        self.timer.setInterval(250)
        self.timer.connect("timeout()", self.onPoll)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.riskPanel = RiskPanel(self)
        self.panels = [self.riskPanel, RadiomicsPanel(self)]
        self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        params = self._parameterNode
        if not params.inputVolume:
            params.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        if not params.inputSegmentation:
            params.inputSegmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")

    def _update(self, caller=None, event=None):
        for panel in self.panels:
            panel.update(self._parameterNode, self.monitor is not None)

    def onSceneStartClose(self, caller, event):
        self.riskPanel.sceneClosed()
        JobWidgetMixin.onSceneStartClose(self, caller, event)


class ICHPredictLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHPredictParameterNode(super().getParameterNode())

    def startPrediction(self, volumeNode, segmentationNode, device=None):
        """`ich predict` (every task) in a child process; its result is what ICHPredictLib.logic.show_result shows."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import start_prediction
        from ICHToolkitLib.jobmonitor import python_executable

        workdir = tempfile.mkdtemp(prefix="ichpredict-", dir=slicer.app.temporaryPath)
        return start_prediction(volumeNode, segmentationNode, workdir, device=device, python=python_executable())

    def startReadout(self, volumeNode, segmentationNode):
        """`ich readout` in a child process; its result is {"readout": ...}."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import start_readout
        from ICHToolkitLib.jobmonitor import python_executable

        workdir = tempfile.mkdtemp(prefix="ichreadout-", dir=slicer.app.temporaryPath)
        return start_readout(volumeNode, segmentationNode, workdir, python=python_executable())


class ICHPredictTest(PredictSelfTest):
    """The real backend (`ich predict` with the demo models, `ich readout`) on the phantom sample: ICHPredictLib/selftest.py."""

    logicClass = ICHPredictLogic
