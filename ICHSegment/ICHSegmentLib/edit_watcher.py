"""The Outputs and Refine sections of ICHSegment: the table view and the Segment Editor follow the
current nodes, and every edit of the segmentation re-measures it (its modified events, debounced,
so a brush stroke's burst of events is one re-measure). Imports nothing of the backend at load time.
"""

import qt
import vtk

import slicer
from slicer.i18n import tr as _

REMEASURE_DELAY_MS = 300


class EditWatcher:
    def __init__(self, host):
        """`host`: the module widget (ui, parameters, monitor, VTK observations)."""
        self.host = host
        self.segmentation = None
        self.timer = qt.QTimer()
        self.timer.setSingleShot(True)
        self.timer.setInterval(REMEASURE_DELAY_MS)
        self.timer.connect("timeout()", self.onRemeasure)
        host.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self._editorNode())

    @staticmethod
    def _editorNode():
        """The module's own Segment Editor node (a singleton), so its settings do not leak into the Segment Editor module's."""
        node = slicer.mrmlScene.GetSingletonNode("ICHSegment", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.vtkMRMLSegmentEditorNode()
            node.SetSingletonTag("ICHSegment")
            node = slicer.mrmlScene.AddNode(node)
        return node

    def update(self, params, running):
        if not params:
            return
        ui = self.host.ui
        ui.segmentEditorWidget.setSegmentationNode(params.outputSegmentation)
        ui.segmentEditorWidget.setSourceVolumeNode(params.inputVolume)
        ui.measurementTableView.setMRMLTableNode(params.measurementTable)
        self._watch(params.outputSegmentation)

    def _watch(self, segmentation):
        if segmentation is self.segmentation:
            return
        if self.segmentation is not None:
            self.host.removeObserver(self.segmentation, vtk.vtkCommand.ModifiedEvent, self._onModified)
        self.segmentation = segmentation
        if segmentation is not None:
            self.host.addObserver(segmentation, vtk.vtkCommand.ModifiedEvent, self._onModified)

    def _onModified(self, caller, event):
        if self.host.monitor is None:  # a running job refills the segmentation itself
            self.timer.start()

    def onRemeasure(self):
        params = self.host.parameters
        if params and params.inputVolume and params.outputSegmentation:
            with slicer.util.tryWithErrorDisplay(_("Measuring the edited segmentation failed."), waitCursor=True):
                # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
                from ICHSegmentLib.logic import SegmentSceneLogic

                params.measurementTable = SegmentSceneLogic(slicer.mrmlScene, None).recompute(
                    params.inputVolume, params.outputSegmentation, params.measurementTable)
