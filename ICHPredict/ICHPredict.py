"""ICH Predict: hematoma expansion, hemorrhagic transformation and location risks, with Grad-CAM
and radiomics.

A thin shell: prediction runs `ich predict` in a child process (Cancel kills it), the scene work
is in `ICHPredictLib` (testable with slicer-core), the algorithms in the `ichkit` backend.
Shared helpers (dependency installer, job monitor, sample data) come from ICHToolkitLib.
"""

import tempfile
from pathlib import Path
from typing import Annotated

import qt
import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

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
            "Predicts hematoma expansion, hemorrhagic transformation and hemorrhage location from a head CT and "
            "its segmentation, with uncertainty intervals and Grad-CAM heatmaps, and extracts radiomics features."
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


class ICHPredictWidget(JobWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.monitor = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
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
        self.ui.predictButton.connect("clicked(bool)", self.onPredict)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.gradcamOpacitySlider.connect("valueChanged(double)", self.onOpacity)
        self.ui.radiomicsButton.connect("clicked(bool)", self.onRadiomics)
        self.ui.csvButton.connect("clicked(bool)", self.onCsv)
        self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        params = self._parameterNode
        if not params.inputVolume:
            params.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        if not params.inputSegmentation:
            params.inputSegmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")

    def _update(self, caller=None, event=None):
        params = self._parameterNode
        ready = bool(params and params.inputVolume and params.inputSegmentation)
        self.ui.predictButton.enabled = ready and self.monitor is None
        self.ui.radiomicsButton.enabled = ready
        self.ui.cancelButton.enabled = self.monitor is not None
        if params:
            self.ui.riskTableView.setMRMLTableNode(params.riskTable)
            self.ui.radiomicsTableView.setMRMLTableNode(params.radiomicsTable)

    def onPredict(self):
        from ICHToolkitLib.dependencies import ensure

        if not ensure("ICHPredict"):
            return
        params = self._parameterNode
        self.monitor = self.logic.startPrediction(params.inputVolume, params.inputSegmentation, params.device,
                                                  self.ui.progressBar, self.ui.statusLabel, self._accept)
        self.timer.start()
        self._update()

    def _accept(self, result):
        params = self._parameterNode
        params.riskTable, text = self.logic.showResult(result, params.inputVolume, params.riskTable, params.gradcamOpacity)
        self.ui.riskLabel.text = text
        return _("Prediction done")

    def onOpacity(self, value):
        from ICHPredictLib.logic import set_opacity

        set_opacity(slicer.mrmlScene, value)

    def onRadiomics(self):
        params = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Radiomics extraction failed."), waitCursor=True):
            from ICHPredictLib.logic import radiomics_table

            params.radiomicsTable = radiomics_table(slicer.mrmlScene, params.inputVolume, params.inputSegmentation,
                                                    params.radiomicsPreset, node=params.radiomicsTable)

    def onCsv(self):
        params = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("CSV export failed."), waitCursor=True):
            from ICHPredictLib.logic import export_csv

            path = export_csv(params.radiomicsTable, params.csvPath, overwrite=True)
            self.ui.statusLabel.text = _("Saved {path}").format(path=path)


class ICHPredictLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHPredictParameterNode(super().getParameterNode())

    def startPrediction(self, volumeNode, segmentationNode, device, progressBar, statusLabel, onDone):
        from ICHPredictLib.logic import start_prediction
        from ICHToolkitLib.jobmonitor import JobMonitor
        from ICHToolkitLib.jobmonitor import python_executable

        workdir = tempfile.mkdtemp(prefix="ichpredict-", dir=slicer.app.temporaryPath)
        job = start_prediction(volumeNode, segmentationNode, workdir, device=device, python=python_executable())
        return JobMonitor(job, progressBar, statusLabel, _("Predicting"), onDone)

    def showResult(self, result, volumeNode, tableNode=None, opacity=0.4):
        """Risk table and panel text; the first Grad-CAM heatmap over the CT."""
        from ICHPredictLib.logic import risk_table, risk_text, show_gradcam
        from ichkit.app.predict import heatmap_paths

        table = risk_table(slicer.mrmlScene, result, f"{volumeNode.GetName()} ICH risks", node=tableNode)
        heatmaps = heatmap_paths(result)
        if heatmaps:
            show_gradcam(slicer.mrmlScene, next(iter(heatmaps.values())), volumeNode, opacity)
        return table, risk_text(result)


class ICHPredictTest(ScriptedLoadableModuleTest):
    """Runs the real backend (`ich predict`, demo models) on the registered phantom sample."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_predict_sample()

    def test_predict_sample(self):
        import time

        from ichkit import scene
        from ichkit.io import load_mask
        from ICHToolkitLib.sampledata import load_sample, sample_files

        folder = slicer.app.temporaryPath
        volume = load_sample(slicer.mrmlScene, "ICHPhantomBaseline", folder)
        labels = load_mask(sample_files("ICHPhantomBaseline", folder)["labels"], scene.node_to_volume(volume))
        segmentation = scene.labelmap_to_segmentation(slicer.mrmlScene, labels, volume)
        logic = ICHPredictLogic()
        bar, label, shown = qt.QProgressBar(), qt.QLabel(), []
        monitor = logic.startPrediction(volume, segmentation, "cpu", bar, label, lambda result: shown.append(logic.showResult(result, volume)) or "ok")
        while monitor.poll():
            slicer.app.processEvents()
            time.sleep(0.2)
        self.assertEqual(monitor.outcome, "done", label.text)
        (table, text), = shown
        self.assertGreaterEqual(table.GetNumberOfRows(), 2)
        for row in range(table.GetNumberOfRows()):
            low, p, high = (float(table.GetCellText(row, c)) for c in (2, 1, 3))
            self.assertTrue(0.0 <= low <= high <= 1.0 and 0.0 <= p <= 1.0)
        self.assertIn("Hematoma expansion", text)
        self.assertIn("DEMO MODEL, NOT FOR CLINICAL USE", text)  # the shipped classifiers are phantom-trained

        from ICHPredictLib.logic import radiomics_table

        features = radiomics_table(slicer.mrmlScene, volume, segmentation, "shape")
        values = {features.GetCellText(r, 0): float(features.GetCellText(r, 1)) for r in range(features.GetNumberOfRows())}
        self.assertAlmostEqual(values["original_shape_VoxelVolume"] / 1000, float((labels.array == 1).sum()) * labels.voxel_volume_ml, places=3)
        self.delayDisplay("ICHPredict test passed")
