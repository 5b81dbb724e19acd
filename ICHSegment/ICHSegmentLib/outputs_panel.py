"""The Hematoma expansion and Export sections of ICHSegment: baseline vs follow-up verdict, and the
mask as .seg.nrrd, NIfTI and DICOM SEG. Qt wiring only (the work is in `logic` and `exports`);
imports nothing of the backend at load time.
"""

import slicer
from slicer.i18n import tr as _


class OutputsPanel:
    def __init__(self, host):
        """`host`: the module widget (ui, parameters)."""
        self.host = host
        host.ui.expansionButton.connect("clicked(bool)", self.onExpansion)
        host.ui.exportButton.connect("clicked(bool)", self.onExport)

    def update(self, params, running):
        ui, done = self.host.ui, bool(params and params.inputVolume and params.outputSegmentation)
        ui.expansionButton.enabled = done and bool(params.followupVolume and params.followupSegmentation)
        ui.exportButton.enabled = done

    def onExpansion(self):
        params = self.host.parameters
        with slicer.util.tryWithErrorDisplay(_("Comparing the scans failed."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHSegmentLib.logic import expansion

            _verdict, text = expansion((params.inputVolume, params.outputSegmentation), (params.followupVolume, params.followupSegmentation))
            self.host.ui.expansionLabel.text = text

    def onExport(self):
        params = self.host.parameters
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
            from ICHSegmentLib.exports import dicom_files, export_segmentation

            source = dicom_files(params.inputVolume, slicer.dicomDatabase.fileForInstance) if slicer.dicomDatabase else []
            paths = export_segmentation(params.inputVolume, params.outputSegmentation, params.exportFolder,
                                        dicom_source=source, overwrite=params.overwrite)
            self.host.ui.statusLabel.text = _("Exported: {files}").format(files=", ".join(p.name for p in paths.values()))
