"""ICHPredict's risk panel wiring: Read out and Predict (background jobs), the clinical form, the
"show demo model outputs" tick and the Grad-CAM opacity. What the panel shows is computed from one
`logic.PanelInputs` (measures, read-out, prediction of one CT and segmentation), re-rendered on
every form change without re-running anything. Each job's accept is bound, when the job starts,
to the inputs it was started for. Imports nothing of the backend at load time.
"""

import slicer
from slicer.i18n import tr as _

from ICHToolkitLib.dependencies import ensure

UNKNOWN = "unknown"  # a choice left unknown: the scores then say what is missing
ANTICOAGULANTS = [UNKNOWN, "none", "warfarin", "other"]
YES_NO = [UNKNOWN, "no", "yes"]


class RiskPanel:
    def __init__(self, host):
        """`host`: the module widget (ui, logic, parameters, startJob)."""
        self.host = host
        self.inputs = None  # logic.PanelInputs of the CT and segmentation the panel shows
        self.overlays = {}  # the read-out's overlay nodes, reused by the next read-out
        self.shownDemo = False  # whether the risk table and heatmap now show demo outputs
        host.ui.readoutButton.connect("clicked(bool)", self.onReadout)
        host.ui.predictButton.connect("clicked(bool)", self.onPredict)
        host.ui.gradcamOpacitySlider.connect("valueChanged(double)", self.onOpacity)

    def update(self, params, running):
        ui = self.host.ui
        ready = bool(params and params.inputVolume and params.inputSegmentation)
        ui.predictButton.enabled = ui.readoutButton.enabled = ready and not running
        ui.cancelButton.enabled = running
        if params:
            ui.riskTableView.setMRMLTableNode(params.riskTable)
            self.render(params)

    def sceneClosed(self):
        self.inputs, self.overlays = None, {}

    def render(self, params):
        """Re-render from what is known (no job runs): instant on every input change."""
        ui = self.host.ui
        if self.inputs is not None and self.inputs.nodes != (params.inputVolume, params.inputSegmentation):
            self.inputs = None  # another scan or segmentation: its read-out and prediction are not these
            ui.panelLabel.text = ui.riskLabel.text = ui.clinicalErrorLabel.text = ""
        if self.inputs is None:
            return
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import panel_texts, show_result

        if self.inputs.prediction is not None and self.shownDemo != params.showDemo:  # the demo tick changed: table and heatmap follow
            self.shownDemo = params.showDemo
            params.riskTable, _text = show_result(slicer.mrmlScene, self.inputs.prediction, params.inputVolume, params.riskTable,
                                                  params.gradcamOpacity, params.showDemo)
        ui.panelLabel.text, ui.riskLabel.text, ui.clinicalErrorLabel.text = panel_texts(self.inputs, self._form(params), params.showDemo)

    def _form(self, params):
        return {"age": params.age, "gcs": params.gcs, "onset_hours": params.onsetHours,
                "anticoagulant": "" if params.anticoagulant == UNKNOWN else params.anticoagulant,
                "recurrent_ich": "" if params.recurrentIch == UNKNOWN else params.recurrentIch}

    def _currentInputs(self, params):
        """The inputs of the CT and segmentation selected now, measured now (a new one for another pair)."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import PanelInputs, measures_of

        nodes = (params.inputVolume, params.inputSegmentation)
        if self.inputs is None or self.inputs.nodes != nodes:
            self.inputs = PanelInputs(nodes=nodes)
        self.inputs.measures = measures_of(*nodes)
        return self.inputs

    def _start(self, title, start, accept):
        """`start(params)` starts the job; `accept(inputs, result)` reads it into the inputs it was started for."""
        if not ensure("ICHPredict"):
            return
        params, ui = self.host.parameters, self.host.ui
        with slicer.util.tryWithErrorDisplay(_("{title} could not start.").format(title=title), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHToolkitLib.jobmonitor import JobMonitor

            inputs = self._currentInputs(params)
            self.render(params)  # the scores' volume and IVH items at once; the job fills in the rest
            job = start(params)
            self.host.startJob(JobMonitor(job, ui.progressBar, ui.statusLabel, title, lambda result: accept(inputs, result)))

    def onReadout(self):
        self._start(_("Reading out"), lambda p: self.host.logic.startReadout(p.inputVolume, p.inputSegmentation), self._acceptReadout)

    def _acceptReadout(self, inputs, result):
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import show_overlays

        inputs.readout = result.get("readout")
        self.overlays = show_overlays(slicer.mrmlScene, *inputs.nodes, inputs.readout, self.overlays)
        self.render(self.host.parameters)
        return _("Read-out done")

    def onPredict(self):
        self._start(_("Predicting"), lambda p: self.host.logic.startPrediction(p.inputVolume, p.inputSegmentation, p.device),
                    self._acceptPrediction)

    def _acceptPrediction(self, inputs, result):
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import show_result

        params = self.host.parameters
        inputs.prediction, self.shownDemo = result, params.showDemo  # first: the table's Modified re-renders the panel
        params.riskTable, _text = show_result(slicer.mrmlScene, result, inputs.nodes[0], params.riskTable, params.gradcamOpacity,
                                              params.showDemo)
        self.render(params)
        return _("Prediction done")

    def onOpacity(self, value):
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHToolkitLib.overlay import set_opacity

        set_opacity(slicer.mrmlScene, value)
