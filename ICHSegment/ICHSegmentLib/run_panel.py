"""The Inputs section of ICHSegment: the model list, the ensemble size, Segment and its job, and
the source line under it. Qt wiring only: the run itself is `segmentation_job.SegmentationJob`.
Imports nothing of the backend at load time (the module file imports this before it may be installed).
"""

import qt

import slicer
from slicer.i18n import tr as _

from ICHToolkitLib.dependencies import ensure


class RunPanel:
    def __init__(self, host):
        """`host`: the module widget (ui, logic, parameters, startJob; ICHToolkitLib.widget)."""
        self.host = host
        self.monitor = None  # the segmentation job's monitor while it runs
        host.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.fillModels()

    def fillModels(self, select=None):
        """The registry's segmentation models (re-read: a fine-tuning job adds one); `select` or the current one chosen."""
        try:
            # deferred: ichkit may not be installed yet when Slicer loads the module
            from ichkit.app.segment import model_choices

            choices = model_choices()
        except ImportError:  # the backend is not installed yet: Segment offers to install it
            choices = []
        selector = self.host.ui.modelSelector
        select = select or selector.currentText
        selector.clear()
        for i, (model_id, text) in enumerate(choices):
            selector.addItem(model_id)
            selector.setItemData(i, text, qt.Qt.ToolTipRole)
        selector.currentIndex = max(selector.findText(select), 0) if select else 0

    def update(self, params, running):
        ui = self.host.ui
        ui.applyButton.enabled = bool(params and params.inputVolume) and not running
        ui.cancelButton.enabled = running and self.host.monitor is self.monitor
        if not (params and params.outputSegmentation):
            ui.modelInfoLabel.text = ""
            return
        try:
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHSegmentLib.logic import source_of, source_text
        except ImportError:  # the backend is not installed yet
            return
        ui.modelInfoLabel.text = source_text(source_of(params.outputSegmentation))

    def onApply(self):
        if not ensure("ICHSegment"):
            return
        params, ui = self.host.parameters, self.host.ui
        with slicer.util.tryWithErrorDisplay(_("Segmentation could not start."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHToolkitLib.jobmonitor import JobMonitor

            run = self.host.logic.startSegmentation(params.inputVolume, params.model, params.device, params.ensembleSize)
            self.monitor = JobMonitor(run.job, ui.progressBar, ui.statusLabel, _("Segmenting"), lambda result: self._accept(run, result))
            self.host.startJob(self.monitor)

    def _accept(self, run, result):
        params = self.host.parameters
        out, text = run.accept(slicer.mrmlScene, result, params.outputSegmentation, params.measurementTable)
        params.outputSegmentation, params.measurementTable = out.segmentation, out.table
        return text
