"""Saving ground truth and the fine-tuning it leads to (ICHSegment's Export section): "Save as
ground truth" adds the reviewed mask to the dataset, the line under it says how many cases the
dataset holds, and once there are enough "Fine-tune now" runs `ich train finetune` as the
module's background job (its own progress bar and Cancel). When it ends, the new model is chosen
in the model list. Qt wiring only (`exports`, `finetune_job`); imports nothing of the backend at load time.
"""

import slicer
from slicer.i18n import tr as _

from ICHToolkitLib.dependencies import ensure


class GroundTruthPanel:
    def __init__(self, host, run_panel):
        """`host`: the module widget (ui, logic, parameters, monitor, startJob); `run_panel` re-reads the model list."""
        self.host, self.runPanel = host, run_panel
        self.monitor = None  # the fine-tuning job's monitor while it runs
        host.ui.groundTruthButton.connect("clicked(bool)", self.onGroundTruth)
        host.ui.finetuneButton.connect("clicked(bool)", self.onFinetune)

    def update(self, params, running):
        ui = self.host.ui
        ui.finetuneCancelButton.enabled = running and self.host.monitor is self.monitor
        try:
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHSegmentLib.finetune_job import FinetuneJob
        except ImportError:  # the backend is not installed yet
            return
        offer = FinetuneJob.offer(params.groundTruthFolder) if params else {"ready": False, "text": ""}
        ui.finetuneOfferLabel.text = offer["text"]
        ui.finetuneButton.enabled = offer["ready"] and not running

    def onGroundTruth(self):
        params = self.host.parameters
        with slicer.util.tryWithErrorDisplay(_("Saving ground truth failed."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHSegmentLib.exports import save_ground_truth

            paths = save_ground_truth(params.inputVolume, params.outputSegmentation, params.groundTruthFolder, params.caseId,
                                      overwrite=params.overwrite)
            self.host.ui.statusLabel.text = _("Saved ground truth {label}").format(label=paths["label"])
        self.update(params, self.host.monitor is not None)  # the case count changed

    def onFinetune(self):
        if not ensure("ICHSegment"):
            return
        params, ui = self.host.parameters, self.host.ui
        with slicer.util.tryWithErrorDisplay(_("Fine-tuning could not start."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHToolkitLib.jobmonitor import JobMonitor

            run = self.host.logic.startFinetune(params.groundTruthFolder, params.finetuneName, params.finetuneFolder)
            self.monitor = JobMonitor(run.job, ui.finetuneProgressBar, ui.finetuneStatusLabel, _("Fine-tuning"),
                                      lambda result: self._accept(run, result))
            self.host.startJob(self.monitor)

    def _accept(self, run, result):
        self.runPanel.fillModels(select=result["model_id"])
        return run.accept(result)
