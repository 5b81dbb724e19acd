"""ICH Synth: synthesise a head CT with a hematoma where a segmentation says (data augmentation
and reader studies).

A thin shell: the algorithms live in the `ichkit` backend, the scene work in `ICHSynthLib`
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


class ICHSynth(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Synth")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Synthesises a non-contrast head CT with a hematoma shaped by a segmentation, on the grid "
            "of a source CT, for data augmentation and reader studies."
        )
        self.parent.acknowledgementText = _(
            "Methods from published hematoma-expansion, hemorrhagic-transformation and radiomics studies; "
            "see the ICH Toolkit documentation."
        )


@parameterNodeWrapper
class ICHSynthParameterNode:
    """Saved with the scene, so a reopened scene restores the module's state."""

    inputVolume: vtkMRMLScalarVolumeNode
    inputSegmentation: vtkMRMLSegmentationNode
    outputVolume: vtkMRMLScalarVolumeNode


class ICHSynthWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHSynth.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHSynthLogic()
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
        self.ui.applyButton.toolTip = _("Synthesise a CT") if ready else _("Select a head CT and a segmentation")

    def onApplyButton(self):
        with slicer.util.tryWithErrorDisplay(_("Synthesis failed."), waitCursor=True):
            params = self._parameterNode
            params.outputVolume = self.logic.process(
                params.inputVolume, params.inputSegmentation, params.outputVolume, self.logic.backend()
            )
            slicer.util.setSliceViewerLayers(background=params.outputVolume)
            self.ui.statusLabel.text = _("Synthetic CT '{name}' created").format(name=params.outputVolume.GetName())


class ICHSynthLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHSynthParameterNode(super().getParameterNode())

    @staticmethod
    def backend():
        """The backend's default synthesiser: (CT, labels) -> synthetic CT on the same grid."""
        from ichkit.synth import synthesize_ct

        return synthesize_ct

    def process(self, inputVolume, inputSegmentation, outputVolume, synthesizer):
        from ICHSynthLib import SynthSceneLogic

        return SynthSceneLogic(slicer.mrmlScene, synthesizer).run(inputVolume, inputSegmentation, outputVolume)


class ICHSynthTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_painting_synthesiser_fills_volume()

    def test_painting_synthesiser_fills_volume(self):
        """The module's path with a synthesiser that paints 70 HU: no model download needed."""
        import numpy as np

        from ichkit import scene
        from ichkit.image import Volume

        ct = Volume(np.full((12, 48, 48), 30, np.int16), (0.5, 0.5, 5.0))
        labels = np.zeros(ct.shape, np.uint8)
        labels[4:8, 10:20, 20:30] = 1
        node = scene.volume_to_node(slicer.mrmlScene, ct, "phantom")
        segmentation = scene.labelmap_to_segmentation(slicer.mrmlScene, ct.with_array(labels), node)
        synthetic = ICHSynthLogic().process(
            node, segmentation, None, lambda vol, lab: vol.with_array(np.where(lab.array > 0, 70, vol.array))
        )
        self.assertEqual(int(scene.node_to_volume(synthetic).array.max()), 70)
        self.delayDisplay("ICHSynth test passed")
