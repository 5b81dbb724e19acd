"""ICHPredict's Radiomics section: pyradiomics features of the segmentation into a table node, and
the table as CSV. Qt wiring only (`logic.radiomics_table`, `logic.export_csv`); imports nothing of
the backend at load time."""

import slicer
from slicer.i18n import tr as _


class RadiomicsPanel:
    def __init__(self, host):
        """`host`: the module widget (ui, parameters)."""
        self.host = host
        host.ui.radiomicsButton.connect("clicked(bool)", self.onRadiomics)
        host.ui.csvButton.connect("clicked(bool)", self.onCsv)

    def update(self, params, running):
        ui = self.host.ui
        ui.radiomicsButton.enabled = bool(params and params.inputVolume and params.inputSegmentation)
        if params:
            ui.radiomicsTableView.setMRMLTableNode(params.radiomicsTable)
            ui.csvButton.enabled = params.radiomicsTable is not None

    def onRadiomics(self):
        params = self.host.parameters
        with slicer.util.tryWithErrorDisplay(_("Radiomics extraction failed."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHPredictLib.logic import radiomics_table

            params.radiomicsTable = radiomics_table(slicer.mrmlScene, params.inputVolume, params.inputSegmentation,
                                                    params.radiomicsPreset, node=params.radiomicsTable)

    def onCsv(self):
        params = self.host.parameters
        with slicer.util.tryWithErrorDisplay(_("CSV export failed."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHPredictLib.logic import export_csv

            path = export_csv(params.radiomicsTable, params.csvPath, overwrite=True)
            self.host.ui.statusLabel.text = _("Saved {path}").format(path=path)
