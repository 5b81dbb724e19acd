"""Loading a case: a CT (and its mask) by path or upload, the follow-up scan, a mask upload for
the CT on screen. A new case clears every field of the last one; a mask is attached only when
named for this CT.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..segment.source import MaskSource
from ..errors import ICHError, ICHWarning
from ..io import load_ct, load_mask
from ..validate import ValidationPolicy
from .panel import CLINICAL_STATE
from .upload import save_upload


class LoadController:
    def __init__(self, ws):
        self.ws, self.state, self.session = ws, ws.state, ws.session
        self._loaded = ("", "")  # the CT and mask paths of the case on screen
        self.state.change("upload")(self._on_upload)
        self.state.change("mask_upload")(self._on_mask_upload)
        self.state.change("ct_path")(self._on_ct_path)
        ws.actions(load=self.load, load_followup=self.load_followup)

    def load_files(self, ct_path: str | Path, mask_path: str | Path | None = None, policy: ValidationPolicy | None = None) -> None:
        """A new case: every field of the last one is cleared; the mask is the one named with it.
        `policy`: which series of a DICOM folder and what to do with gantry tilt (`ich view --series`)."""
        ct, labels, notes = _read(ct_path, mask_path, policy)
        self.session.load(ct, ct_path, labels, mask_path=mask_path or "", warnings=notes)
        self._loaded = (str(ct_path), str(mask_path or ""))
        self.state.update({"ct_path": str(ct_path), "mask_path": str(mask_path or ""), "gt_case": self.session.baseline.name,
                           "followup_path": "", "exported": [], "export_dir": self.ws.export_default, "cam_show": False,
                           "disagree_show": False, **{name: "" for name in CLINICAL_STATE.values()}})  # another patient
        self.ws.show()
        self.ws.push()

    def load(self) -> None:
        ct_path, mask_path = self.state.ct_path.strip(), self.state.mask_path.strip()
        if not ct_path:
            self.ws.fail(ICHError(None, "give the path of a CT (a NIfTI, NRRD or MHA file, or a DICOM folder) first"))
            return
        if mask_path and mask_path == self._loaded[1] and ct_path != self._loaded[0]:
            mask_path = ""  # the last case's mask is never attached to another CT
        try:
            self.load_files(ct_path, mask_path or None)
        except ICHError as exc:
            self.ws.fail(exc)

    def _on_ct_path(self, ct_path="", **_) -> None:
        """Naming another CT withdraws the last case's mask from the form."""
        if ct_path.strip() != self._loaded[0] and self.state.mask_path.strip() == self._loaded[1]:
            self.state.mask_path = ""

    def load_followup_files(self, ct_path: str | Path, mask_path: str | Path | None = None, policy: ValidationPolicy | None = None) -> None:
        ct, labels, notes = _read(ct_path, mask_path, policy)
        scan = self.session.load(ct, ct_path, labels, mask_path=mask_path or "", followup=True, warnings=notes)
        if labels is None:
            self.session.status = f"Follow-up {scan.name} loaded; press Segment to measure it"
        self.ws.push()

    def load_followup(self) -> None:
        if not self.state.followup_path.strip():
            self.ws.fail(ICHError(None, "give the path of the follow-up CT first"), "followup")
            return
        try:
            self.load_followup_files(self.state.followup_path.strip())
            self.session.clear_error("followup")
        except ICHError as exc:
            self.ws.fail(exc, "followup")
        self.ws.push()

    def _on_upload(self, upload=None, **_) -> None:
        """A CT from the browser: one file, a zip of a DICOM series, or a series' files; never with
        the mask field of the last case."""
        if not upload:
            return
        self.state.upload = None
        try:
            path = save_upload(upload if isinstance(upload, list) else [upload], self._upload_dir())
            self.load_files(path)
        except ICHError as exc:
            self.ws.fail(exc, "upload")

    def _on_mask_upload(self, mask_upload=None, **_) -> None:
        """A mask from the browser, for the CT on screen (refused on another grid)."""
        if not mask_upload:
            return
        self.state.mask_upload = None
        scan = self.session.baseline
        try:
            if scan is None:
                raise ICHError(None, "load the CT this mask belongs to first")
            path = save_upload(mask_upload if isinstance(mask_upload, list) else [mask_upload], self._upload_dir())
            scan.set_mask(load_mask(path, scan.ct), MaskSource.from_file(path))
        except ICHError as exc:
            self.ws.fail(exc, "mask_upload")
            return
        self._loaded = (self._loaded[0], str(path))
        self.state.mask_path = str(path)
        self.session.status = f"Mask {Path(path).name} attached to {scan.name}"
        self.session.clear_error("mask_upload")
        self.ws.show()
        self.ws.push()

    def _upload_dir(self) -> Path:
        folder = self.ws.workdir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _read(ct_path: str | Path, mask_path: str | Path | None, policy: ValidationPolicy | None = None) -> tuple:
    """CT, mask (or None) and the loader's warnings (thick slices...) as the page shows them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ICHWarning)
        ct = load_ct(ct_path, policy)
        labels = load_mask(mask_path, ct) if mask_path else None
    notes = [str(w.message) for w in caught if issubclass(w.category, ICHWarning)]
    return ct, labels, [Path(n.split(": ", 1)[0]).name + ": " + n.split(": ", 1)[1] if ": " in n else n for n in notes]
