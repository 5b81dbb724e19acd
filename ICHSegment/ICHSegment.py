"""ICH Segment: segment intracerebral hemorrhage on a head CT, refine it, measure it, export it.

A thin shell: the algorithms live in the `ichkit` backend, the scene work in `ICHSegmentLib`
(testable with slicer-core, no Qt). Segmentation runs in a child process (`ich segment`) so
Slicer stays responsive; Cancel kills its process tree. Backend imports happen on use, so the
module loads before the backend is installed (the dependency installer offers to install it).
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


class ICHSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("ICH Segment")
        self.parent.categories = ["ICH Toolkit"]
        self.parent.dependencies = []
        self.parent.contributors = ["ICH Toolkit developers"]
        self.parent.helpText = _(
            "Segments intraparenchymal and intraventricular hemorrhage on a non-contrast head CT, measures "
            "mesh, voxel and ABC/2 volumes, compares baseline and follow-up (hematoma expansion) and exports "
            "the mask (.seg.nrrd, NIfTI, DICOM SEG) or saves it as ground truth for training."
        )
        self.parent.acknowledgementText = _("See the ICH Toolkit documentation for the methods and models.")
        slicer.app.connect("startupCompleted()", self._registerSamples)

    def _registerSamples(self):
        from ICHToolkitLib.sampledata import register

        register(Path(self.parent.path).parent / "Resources" / "Icons" / "ICHSegment.png")


@parameterNodeWrapper
class ICHSegmentParameterNode:
    """Saved with the scene, so a reopened scene restores the module's state."""

    inputVolume: vtkMRMLScalarVolumeNode
    model: str
    device: Annotated[str, Choice(DEVICES)] = "cpu"
    outputSegmentation: vtkMRMLSegmentationNode
    measurementTable: vtkMRMLTableNode
    followupVolume: vtkMRMLScalarVolumeNode
    followupSegmentation: vtkMRMLSegmentationNode
    exportFolder: Path
    overwrite: bool = False
    groundTruthFolder: Path
    caseId: str


class ICHSegmentWidget(JobWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.monitor = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedSegmentation = None
        self.timer = qt.QTimer()
        self.remeasureTimer = qt.QTimer()

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/ICHSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = ICHSegmentLogic()
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.segmentEditorNode())
        self._fillModels()
        self.timer.setInterval(250)
        self.timer.connect("timeout()", self.onPoll)
        self.remeasureTimer.setSingleShot(True)  # one re-measure per burst of edit events
        self.remeasureTimer.setInterval(300)
        self.remeasureTimer.connect("timeout()", self.onRemeasure)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.expansionButton.connect("clicked(bool)", self.onExpansion)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.groundTruthButton.connect("clicked(bool)", self.onGroundTruth)
        self.initializeParameterNode()

    def _fillModels(self):
        try:
            from ICHSegmentLib.logic import model_choices

            choices = model_choices()
        except ImportError:  # the backend is not installed yet: Segment offers to install it
            choices = []
        for i, (model_id, text) in enumerate(choices):
            self.ui.modelSelector.addItem(model_id)
            self.ui.modelSelector.setItemData(i, text, qt.Qt.ToolTipRole)

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def _update(self, caller=None, event=None):
        """Enable what can run, point the editor and table view at the current nodes, watch edits."""
        params = self._parameterNode
        running = self.monitor is not None
        self.ui.applyButton.enabled = bool(params and params.inputVolume) and not running
        self.ui.cancelButton.enabled = running
        if not params:
            return
        editor = self.ui.segmentEditorWidget
        editor.setSegmentationNode(params.outputSegmentation)
        editor.setSourceVolumeNode(params.inputVolume)
        self.ui.measurementTableView.setMRMLTableNode(params.measurementTable)
        self._watch(params.outputSegmentation)
        try:
            from ICHSegmentLib.logic import source_of, source_text
        except ImportError:  # the backend is not installed yet
            return
        self.ui.modelInfoLabel.text = source_text(source_of(params.outputSegmentation)) if params.outputSegmentation else ""

    def _watch(self, segmentation):
        """Re-measure after every edit of the segmentation (its modified events, debounced)."""
        if segmentation is self._observedSegmentation:
            return
        if self._observedSegmentation is not None:
            self.removeObserver(self._observedSegmentation, vtk.vtkCommand.ModifiedEvent, self._onSegmentationModified)
        self._observedSegmentation = segmentation
        if segmentation is not None:
            self.addObserver(segmentation, vtk.vtkCommand.ModifiedEvent, self._onSegmentationModified)

    def _onSegmentationModified(self, caller, event):
        if self.monitor is None:
            self.remeasureTimer.start()

    def onRemeasure(self):
        params = self._parameterNode
        if params and params.inputVolume and params.outputSegmentation:
            with slicer.util.tryWithErrorDisplay(_("Measuring the edited segmentation failed."), waitCursor=True):
                params.measurementTable = self.logic.remeasure(params.inputVolume, params.outputSegmentation, params.measurementTable)

    def onApply(self):
        from ICHToolkitLib.dependencies import ensure

        if not ensure("ICHSegment"):
            return
        params = self._parameterNode
        self.monitor = self.logic.startSegmentation(params.inputVolume, params.model, params.device, self.ui.progressBar, self.ui.statusLabel, self._accept)
        self.timer.start()
        self._update()

    def _accept(self, result):
        params = self._parameterNode
        out, text = self.logic.accept(params.inputVolume, result, params.outputSegmentation, params.measurementTable)
        params.outputSegmentation, params.measurementTable = out.segmentation, out.table
        return text

    def onExpansion(self):
        params = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Comparing the scans failed."), waitCursor=True):
            if not (params.inputVolume and params.outputSegmentation and params.followupVolume and params.followupSegmentation):
                raise ValueError(_("Select baseline and follow-up CTs with their segmentations."))
            from ICHSegmentLib.logic import expansion

            _verdict, text = expansion((params.inputVolume, params.outputSegmentation), (params.followupVolume, params.followupSegmentation))
            self.ui.expansionLabel.text = text

    def onExport(self):
        params = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            from ICHSegmentLib.exports import dicom_files, export_segmentation

            source = dicom_files(params.inputVolume, slicer.dicomDatabase.fileForInstance) if slicer.dicomDatabase else []
            paths = export_segmentation(params.inputVolume, params.outputSegmentation, params.exportFolder,
                                        dicom_source=source, overwrite=params.overwrite)
            self.ui.statusLabel.text = _("Exported: {files}").format(files=", ".join(p.name for p in paths.values()))

    def onGroundTruth(self):
        params = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Saving ground truth failed."), waitCursor=True):
            from ICHSegmentLib.exports import save_ground_truth

            paths = save_ground_truth(params.inputVolume, params.outputSegmentation, params.groundTruthFolder, params.caseId,
                                      overwrite=params.overwrite)
            self.ui.statusLabel.text = _("Saved ground truth {label}").format(label=paths["label"])


class ICHSegmentLogic(ScriptedLoadableModuleLogic):
    def getParameterNode(self):
        return ICHSegmentParameterNode(super().getParameterNode())

    def segmentEditorNode(self):
        node = slicer.mrmlScene.GetSingletonNode("ICHSegment", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.vtkMRMLSegmentEditorNode()
            node.SetSingletonTag("ICHSegment")
            node = slicer.mrmlScene.AddNode(node)
        return node

    def startSegmentation(self, volumeNode, model, device, progressBar, statusLabel, onDone):
        """Start `ich segment` in a child process; the returned monitor feeds the progress widgets."""
        from ICHToolkitLib.jobmonitor import JobMonitor
        from ICHSegmentLib.logic import start_segmentation

        workdir = tempfile.mkdtemp(prefix="ichsegment-", dir=slicer.app.temporaryPath)
        job, self.outdir = start_segmentation(volumeNode, workdir, model or None, device)
        return JobMonitor(job, progressBar, statusLabel, _("Segmenting"), onDone)

    def accept(self, volumeNode, result, segmentationNode=None, tableNode=None):
        from ICHSegmentLib.logic import accept_segmentation

        out, text = accept_segmentation(slicer.mrmlScene, volumeNode, result, self.outdir, segmentationNode, tableNode)
        out.segmentation.CreateClosedSurfaceRepresentation()
        return out, text

    def remeasure(self, volumeNode, segmentationNode, tableNode=None):
        from ICHSegmentLib.logic import SegmentSceneLogic

        return SegmentSceneLogic(slicer.mrmlScene, None).recompute(volumeNode, segmentationNode, tableNode)


class ICHSegmentTest(ScriptedLoadableModuleTest):
    """Runs the real backend (`ich segment` with the default model) on the registered phantom sample."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_segment_sample_measure_expand_export()

    def test_segment_sample_measure_expand_export(self):
        import json
        import time

        import numpy as np

        from ichkit import scene
        from ichkit.io import load_mask
        from ICHSegmentLib.exports import export_segmentation
        from ICHSegmentLib.logic import expansion
        from ICHToolkitLib.sampledata import load_sample, sample_files

        folder = slicer.app.temporaryPath
        volume = load_sample(slicer.mrmlScene, "ICHPhantomBaseline", folder)
        logic = ICHSegmentLogic()
        bar, label = qt.QProgressBar(), qt.QLabel()
        accepted = []
        monitor = logic.startSegmentation(volume, None, "cpu", bar, label, lambda result: accepted.append(logic.accept(volume, result)) or "ok")
        while monitor.poll():
            slicer.app.processEvents()
            time.sleep(0.2)
        self.assertEqual(monitor.outcome, "done", label.text)
        (out, _text), = accepted
        files = sample_files("ICHPhantomBaseline", folder)
        ct = scene.node_to_volume(volume)
        truth = load_mask(files["labels"], ct).array == 1
        found = scene.segmentation_to_labelmap(out.segmentation, ct).array == 1
        dice = 2 * np.count_nonzero(truth & found) / (np.count_nonzero(truth) + np.count_nonzero(found))
        self.assertGreater(dice, 0.5)
        truth_ml = json.loads(files["json"].read_text())["volumes_ml"]["IPH"]
        self.assertAlmostEqual(float(out.table.GetCellText(0, 2)), truth_ml, delta=0.3 * truth_ml)

        follow = load_sample(slicer.mrmlScene, "ICHPhantomFollowUp", folder)
        follow_files = sample_files("ICHPhantomFollowUp", folder)
        follow_seg = scene.labelmap_to_segmentation(slicer.mrmlScene, load_mask(follow_files["labels"], scene.node_to_volume(follow)), follow)
        verdict, _text = expansion((volume, out.segmentation), (follow, follow_seg))
        self.assertGreater(verdict["followup_ml"], verdict["baseline_ml"])
        paths = export_segmentation(volume, out.segmentation, tempfile.mkdtemp(dir=folder))
        self.assertTrue(all(p.is_file() for p in paths.values()))
        self.delayDisplay("ICHSegment test passed")
