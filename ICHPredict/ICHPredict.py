"""ICH Predict: predict hematoma expansion, hemorrhagic transformation and location from a head
CT and its hemorrhage segmentation.

A thin shell: the algorithms live in the `ichkit` backend, the scene work in `ICHPredictLib`
(testable without Qt). Imports of the backend happen on Apply, so the module loads even before
the backend is installed.
"""

import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


class ICHPredict(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Predict")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Predicts hematoma expansion, hemorrhagic transformation and hemorrhage location from a "
            "non-contrast head CT and its hemorrhage segmentation, with probabilities in a table."
        )
        self.parent.acknowledgementText = _(
            "Methods from published hematoma-expansion, hemorrhagic-transformation and radiomics studies; "
            "see the ICH Toolkit documentation."
        )


@parameterNodeWrapper
class ICHPredictParameterNode:
    """Saved with the scene, so a reopened scene restores the module's state."""

    inputVolume: vtkMRMLScalarVolumeNode
    inputSegmentation: vtkMRMLSegmentationNode
    outputTable: vtkMRMLTableNode


class ICHPredictWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHPredict.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHPredictLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.initializeParameterNode()

    def cleanup(self):
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None):
        params = self._parameterNode
        ready = bool(params and params.inputVolume and params.inputSegmentation)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Predict outcomes") if ready else _("Select a head CT and its segmentation")

    def onApplyButton(self):
        with slicer.util.tryWithErrorDisplay(_("Prediction failed."), waitCursor=True):
            params = self._parameterNode
            params.outputTable = self.logic.process(
                params.inputVolume, params.inputSegmentation, params.outputTable, self.logic.backend()
            )
            self.ui.statusLabel.text = _("{count} predictions in table '{table}'").format(
                count=params.outputTable.GetNumberOfRows(), table=params.outputTable.GetName()
            )


class ICHPredictLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHPredictParameterNode(super().getParameterNode())

    @staticmethod
    def backend():
        """The backend's default predictor: (CT, labels) -> {outcome: probability}."""
        from ichkit.classify import predict_outcomes

        return predict_outcomes

    def process(self, inputVolume, inputSegmentation, outputTable, predictor):
        from ICHPredictLib import PredictSceneLogic

        return PredictSceneLogic(slicer.mrmlScene, predictor).run(inputVolume, inputSegmentation, outputTable)


class ICHPredictTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_volume_rule_fills_table()

    def test_volume_rule_fills_table(self):
        """The module's path with a volume-rule predictor: no model download needed."""
        import numpy as np

        from ichkit import scene
        from ichkit.image import Volume

        ct = Volume(np.full((12, 48, 48), 30, np.int16), (0.5, 0.5, 5.0))
        labels = np.zeros(ct.shape, np.uint8)
        labels[4:8, 10:20, 20:30] = 1
        node = scene.volume_to_node(slicer.mrmlScene, ct, "phantom")
        segmentation = scene.labelmap_to_segmentation(slicer.mrmlScene, ct.with_array(labels), node)
        table = ICHPredictLogic().process(
            node, segmentation, None, lambda vol, lab: {"expansion": float(lab.array.sum() * vol.voxel_volume_ml > 0.4)}
        )
        self.assertEqual(table.GetCellText(0, 0), "expansion")
        self.delayDisplay("ICHPredict test passed")
