"""ICH Segment: segment intracerebral hemorrhage on a head CT and measure its volumes.

A thin shell: the algorithms live in the `ichkit` backend, the scene work in `ICHSegmentLib`
(testable without Qt). Imports of the backend happen on Apply, so the module loads even before
the backend is installed.
"""

import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


class ICHSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Segment")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Segments intraparenchymal and intraventricular hemorrhage and perihematomal edema on a "
            "non-contrast head CT, then measures each segment's volume."
        )
        self.parent.acknowledgementText = _(
            "Methods from published hematoma-expansion, hemorrhagic-transformation and radiomics studies; "
            "see the ICH Toolkit documentation."
        )


@parameterNodeWrapper
class ICHSegmentParameterNode:
    """Saved with the scene, so a reopened scene restores the module's state."""

    inputVolume: vtkMRMLScalarVolumeNode
    outputSegmentation: vtkMRMLSegmentationNode


class ICHSegmentWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHSegmentLogic()
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
        ready = bool(self._parameterNode and self._parameterNode.inputVolume)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Segment the CT") if ready else _("Select a head CT first")

    def onApplyButton(self):
        with slicer.util.tryWithErrorDisplay(_("Segmentation failed."), waitCursor=True):
            params = self._parameterNode
            result = self.logic.process(params.inputVolume, params.outputSegmentation, self.logic.backend())
            params.outputSegmentation = result.segmentation
            self.ui.statusLabel.text = _("{count} segments measured in table '{table}'").format(
                count=result.table.GetNumberOfRows(), table=result.table.GetName()
            )


class ICHSegmentLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHSegmentParameterNode(super().getParameterNode())

    @staticmethod
    def backend():
        """The backend's default segmenter: CT (HU) -> labels on the CT grid."""
        from ichkit.segment import segment_ct

        return segment_ct

    def process(self, inputVolume, outputSegmentation, segmenter):
        from ICHSegmentLib import SegmentSceneLogic

        return SegmentSceneLogic(slicer.mrmlScene, segmenter).run(inputVolume, outputSegmentation)


class ICHSegmentTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_threshold_segmenter_fills_scene()

    def test_threshold_segmenter_fills_scene(self):
        """The module's path with a threshold segmenter: no model download needed."""
        import numpy as np

        from ichkit import scene
        from ichkit.image import Volume

        ct = np.full((12, 48, 48), 30, np.int16)
        ct[4:8, 10:20, 20:30] = 70
        node = scene.volume_to_node(slicer.mrmlScene, Volume(ct, (0.5, 0.5, 5.0)), "phantom")
        result = ICHSegmentLogic().process(node, None, lambda vol: vol.with_array((vol.array >= 50).astype(np.uint8)))
        self.assertEqual(result.segmentation.GetSegmentation().GetNumberOfSegments(), 1)
        self.assertEqual(result.table.GetNumberOfRows(), 1)
        self.delayDisplay("ICHSegment test passed")
