"""ICH Predict: the risk panel. First what the scan shows (atlas location, NCCT expansion signs,
midline shift: `ich readout`) and the published scores from it plus the clinical inputs
(recomputed on every change); below, the learned classifiers (hematoma expansion, hemorrhagic
transformation, location) with Grad-CAM, demo models hidden unless asked; radiomics.

A thin shell: read-out and prediction run `ich readout` / `ich predict` in a child process (Cancel kills it), the scene work
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
UNKNOWN = "unknown"  # a choice left unknown: the scores then say what is missing
ANTICOAGULANTS = [UNKNOWN, "none", "warfarin", "other"]
YES_NO = [UNKNOWN, "no", "yes"]


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
        self.logic = None
        self.monitor = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self.timer = qt.QTimer()
        self.panelInputs = None  # ICHPredictLib.logic.PanelInputs once a read-out or prediction is in
        self.overlays = {}
        self.panelFor = None  # (volume, segmentation) the panel inputs were made from
        self.shownDemo = False  # whether the risk table and heatmap now show demo outputs

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
        self.ui.readoutButton.connect("clicked(bool)", self.onReadout)
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
        self.ui.predictButton.enabled = self.ui.readoutButton.enabled = ready and self.monitor is None
        self.ui.radiomicsButton.enabled = ready
        self.ui.cancelButton.enabled = self.monitor is not None
        if params:
            self.ui.riskTableView.setMRMLTableNode(params.riskTable)
            self.ui.radiomicsTableView.setMRMLTableNode(params.radiomicsTable)
            self._showPanel()

    def _form(self):
        params = self._parameterNode
        return {"age": params.age, "gcs": params.gcs, "onset_hours": params.onsetHours,
                "anticoagulant": "" if params.anticoagulant == UNKNOWN else params.anticoagulant,
                "recurrent_ich": "" if params.recurrentIch == UNKNOWN else params.recurrentIch}

    def _showPanel(self):
        """Re-render the panel from what is known (no job runs): instant on every input change."""
        params = self._parameterNode
        if self.panelInputs is not None and self.panelFor != (params.inputVolume, params.inputSegmentation):
            self.panelInputs = None  # another scan or segmentation: its read-out and prediction are not these
            self.ui.panelLabel.text = self.ui.riskLabel.text = self.ui.clinicalErrorLabel.text = ""
        if self.panelInputs is None:
            return
        from ICHPredictLib.logic import panel_texts

        if self.panelInputs.prediction is not None and self.shownDemo != params.showDemo:  # the demo tick changed: table and heatmap follow
            self.shownDemo = params.showDemo
            params.riskTable, _text = self.logic.showResult(self.panelInputs.prediction, params.inputVolume, params.riskTable,
                                                            params.gradcamOpacity, params.showDemo)
        self.ui.panelLabel.text, self.ui.riskLabel.text, self.ui.clinicalErrorLabel.text = panel_texts(
            self.panelInputs, self._form(), params.showDemo)

    def _panelInputs(self):
        from ICHPredictLib.logic import PanelInputs, measures_of

        params = self._parameterNode
        if self.panelInputs is None:
            self.panelInputs, self.panelFor = PanelInputs(), (params.inputVolume, params.inputSegmentation)
        self.panelInputs.measures = measures_of(params.inputVolume, params.inputSegmentation)
        return self.panelInputs

    def onReadout(self):
        from ICHToolkitLib.dependencies import ensure

        if not ensure("ICHPredict"):
            return
        params = self._parameterNode
        self._panelInputs()
        self._showPanel()  # the scores' volume and IVH items at once; the read-out fills in the rest
        self.monitor = self.logic.startReadout(params.inputVolume, params.inputSegmentation, self.ui.progressBar,
                                               self.ui.statusLabel, self._acceptReadout)
        self.timer.start()
        self._update()

    def _acceptReadout(self, result):
        params = self._parameterNode
        readout = self._panelInputs().readout = result.get("readout")
        self.overlays = self.logic.showOverlays(params.inputVolume, params.inputSegmentation, readout, self.overlays)
        self._showPanel()
        return _("Read-out done")

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
        self._panelInputs().prediction, self.shownDemo = result, params.showDemo  # first: the table's Modified re-renders the panel
        params.riskTable, _text = self.logic.showResult(result, params.inputVolume, params.riskTable, params.gradcamOpacity, params.showDemo)
        self._showPanel()
        return _("Prediction done")

    def onSceneStartClose(self, caller, event):
        self.panelInputs, self.overlays = None, {}
        JobWidgetMixin.onSceneStartClose(self, caller, event)

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

    def startReadout(self, volumeNode, segmentationNode, progressBar, statusLabel, onDone):
        from ICHPredictLib.logic import start_readout
        from ICHToolkitLib.jobmonitor import JobMonitor
        from ICHToolkitLib.jobmonitor import python_executable

        workdir = tempfile.mkdtemp(prefix="ichreadout-", dir=slicer.app.temporaryPath)
        job = start_readout(volumeNode, segmentationNode, workdir, python=python_executable())
        return JobMonitor(job, progressBar, statusLabel, _("Reading out"), onDone)

    def showOverlays(self, volumeNode, segmentationNode, readout, nodes=None):
        """The signs' regions and the midline lines over the CT (MRML nodes, in every slice view)."""
        from ICHPredictLib.logic import show_overlays

        return show_overlays(slicer.mrmlScene, volumeNode, segmentationNode, readout, nodes)

    def showResult(self, result, volumeNode, tableNode=None, opacity=0.4, showDemo=False):
        """Risk table and classifier text; the first shown task's Grad-CAM heatmap over the CT
        (a demo model's output, its heatmap included, only when `showDemo`)."""
        from ICHPredictLib.logic import hide_gradcam, risk_table, risk_text, show_gradcam, shown_heatmaps

        table = risk_table(slicer.mrmlScene, result, f"{volumeNode.GetName()} ICH risks", node=tableNode, show_demo=showDemo)
        heatmaps = shown_heatmaps(result, showDemo)
        if heatmaps:
            show_gradcam(slicer.mrmlScene, next(iter(heatmaps.values())), volumeNode, opacity)
        else:
            hide_gradcam(slicer.mrmlScene)
        return table, risk_text(result, showDemo)


class ICHPredictTest(ScriptedLoadableModuleTest):
    """Runs the real backend (`ich predict` with the demo models, `ich readout`) on the registered phantom sample."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_predict_sample()

    def test_predict_sample(self):
        from ichkit import scene
        from ichkit.io import load_mask
        from ICHToolkitLib.sampledata import load_sample, sample_files

        folder = slicer.app.temporaryPath
        volume = load_sample(slicer.mrmlScene, "ICHPhantomBaseline", folder)
        labels = load_mask(sample_files("ICHPhantomBaseline", folder)["labels"], scene.node_to_volume(volume))
        segmentation = scene.labelmap_to_segmentation(slicer.mrmlScene, labels, volume)
        logic = ICHPredictLogic()
        bar, label, results = qt.QProgressBar(), qt.QLabel(), []
        outcome = self._wait(logic.startPrediction(volume, segmentation, "cpu", bar, label, lambda result: results.append(result) or "ok"), label)
        self.assertEqual(outcome, "done", label.text)
        table, text = logic.showResult(results[0], volume)
        self.assertEqual(table.GetNumberOfRows(), 0)  # the shipped classifiers are phantom-trained: hidden by default
        self.assertIn("hidden: demo model, not for clinical use", text)
        table, text = logic.showResult(results[0], volume, table, showDemo=True)
        self.assertGreaterEqual(table.GetNumberOfRows(), 2)
        for row in range(table.GetNumberOfRows()):
            low, p, high = (float(table.GetCellText(row, c)) for c in (2, 1, 3))
            self.assertTrue(0.0 <= low <= high <= 1.0 and 0.0 <= p <= 1.0)
        self.assertIn("Hematoma expansion", text)
        self.assertIn("DEMO MODEL, NOT FOR CLINICAL USE", text)  # and when shown, marked
        self.test_readout_panel(logic, volume, segmentation, labels, results[0])

        from ICHPredictLib.logic import radiomics_table

        features = radiomics_table(slicer.mrmlScene, volume, segmentation, "shape")
        values = {features.GetCellText(r, 0): float(features.GetCellText(r, 1)) for r in range(features.GetNumberOfRows())}
        self.assertAlmostEqual(values["original_shape_VoxelVolume"] / 1000, float((labels.array == 1).sum()) * labels.voxel_volume_ml, places=3)
        self.delayDisplay("ICHPredict test passed")

    def _wait(self, monitor, label):
        import time

        while monitor.poll():
            slicer.app.processEvents()
            time.sleep(0.2)
        return monitor.outcome

    def test_readout_panel(self, logic, volume, segmentation, labels, prediction):
        """`ich readout` in the background (without the atlas it stops with the install command;
        the read-out is then made here with the location undetermined), the panel, the overlays."""
        from ICHPredictLib.logic import PanelInputs, measures_of, panel_texts
        from ichkit import scene
        from ichkit.report.build import run_readout_safely

        bar, label, results = qt.QProgressBar(), qt.QLabel(), []
        if self._wait(logic.startReadout(volume, segmentation, bar, label, lambda r: results.append(r) or "ok"), label) == "done":
            readout = results[0]["readout"]
        else:
            self.assertIn("blast-ct-atlas", label.text)
            readout = run_readout_safely(scene.node_to_volume(volume), labels)
        inputs = PanelInputs(measures_of(volume, segmentation), readout, prediction)
        top, classifiers, errors = panel_texts(inputs, {"age": "85", "gcs": "twelve"})
        self.assertTrue(top.startswith("Imaging read-out") and "Midline shift" in top and "ICH score: incomplete" in top)
        self.assertEqual(errors, "gcs: 'twelve' is not a number")
        self.assertIn("hidden: demo model", classifiers)
        nodes = logic.showOverlays(volume, segmentation, readout)
        self.assertEqual(nodes["signs"].GetClassName(), "vtkMRMLSegmentationNode")
        if readout["midline"]["status"] != "undetermined":
            self.assertEqual(nodes["ideal_line"].GetNumberOfControlPoints(), 2)
