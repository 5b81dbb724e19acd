"""The Save section: export (.seg.nrrd, NIfTI, CSV, report) and "save as ground truth" into an
nnU-Net dataset, after which the fine-tuning offer counts the dataset's cases."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import ICHError
from .export import export_scan, save_ground_truth


class SaveController:
    def __init__(self, ws):
        self.ws, self.state, self.session = ws, ws.state, ws.session
        ws.actions(export=self.export, ground_truth=self.ground_truth)

    def _save(self, control: str, write: Callable[[], dict[str, Path]], news: Callable[[dict[str, Path]], str]) -> bool:
        """Write, then list what was written; a refusal is named under `control` and empties the
        list, so the last list never looks like this save's."""
        self.state.exported = []
        try:
            paths = write()
        except ICHError as exc:
            self.ws.fail(exc, control)
            return False
        self.session.clear_error(control)
        self.state.exported = [str(p) for p in paths.values()]
        self.session.status = news(paths)
        self.ws.push()
        return True

    def export(self) -> None:
        scan = self.session.baseline
        outdir = self.state.export_dir.strip() or str(scan.path.parent)
        self._save("export", lambda: export_scan(scan, outdir, overwrite=bool(self.state.overwrite), verdict=self.session.verdict()),
                   lambda paths: f"Exported {len(paths)} files to {outdir}")

    def ground_truth(self) -> None:
        dataset = self.state.gt_dir.strip()
        if not dataset:
            self.state.exported = []
            self.ws.fail(ICHError(None, "give the ground-truth dataset folder first"), "gt")
            return
        scan = self.session.baseline
        saved = self._save("gt", lambda: save_ground_truth(scan, dataset, self.state.gt_case.strip() or None, overwrite=bool(self.state.overwrite)),
                           lambda paths: f"Saved ground truth {paths['label'].name} to {dataset}")
        if saved:
            self.ws.finetuner.offer(dataset)
