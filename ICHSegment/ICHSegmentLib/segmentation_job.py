"""One `ich segment` run from the scene and back: the CT written for the child process, the job,
and the reading of its result into the scene (segments, measurements, source and, for an
ensemble, each label's volume interval and the disagreement map over the CT).

The run is the object the widget keeps between start and accept: it carries its CT node and
output folder, so the module's logic holds no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ICHToolkitLib import overlay
from ICHToolkitLib.jobmonitor import python_executable
from ichkit import scene
from ichkit.app.jobs import Job
from ichkit.app.segment import SegmentRequest, read_ensemble, read_output
from ichkit.errors import UnreadableFileError
from ichkit.io import load_mask, save_volume

from .logic import SegmentResult, SegmentSceneLogic, set_source, source_text

DISAGREEMENT_REFERENCE = "ichkit.disagreement"  # segmentation node -> the disagreement map of the run that made it


@dataclass(frozen=True)
class SegmentationJob:
    job: Job
    volume_node: Any  # the CT being segmented
    outdir: Path

    @classmethod
    def start(cls, volume_node: Any, workdir: str | Path, model: str | None = None, device: str | None = None,
              ensemble: int = 1) -> "SegmentationJob":
        """Write the CT for the child and start `ich segment` on it (`ensemble` > 1: BLAST-CT networks averaged)."""
        workdir = Path(workdir)
        ct_path = save_volume(scene.node_to_volume(volume_node), workdir / "ct.nii.gz", overwrite=True)
        request = SegmentRequest(ct_path, workdir / "out", model or None, device, overwrite=True, ensemble=ensemble,
                                 python=python_executable())
        return cls(Job(request.argv()).start(), volume_node, request.outdir)

    def accept(self, mrml_scene: Any, result: dict, segmentation_node: Any = None, table_node: Any = None) -> tuple[SegmentResult, str]:
        """Read the finished job into the scene (refilling the given nodes); returns them and the status text."""
        found = read_output(result, self.outdir)
        if found is None:
            raise UnreadableFileError(self.outdir, "ich segment wrote no mask")
        mask, source = found
        ensemble = read_ensemble(result)
        out = SegmentSceneLogic(mrml_scene, lambda ct: load_mask(mask, ct, allow_empty=True)).run(
            self.volume_node, segmentation_node, table_node, ensemble)
        set_source(out.segmentation, source)
        out.segmentation.CreateClosedSurfaceRepresentation()
        text = f"{out.table.GetNumberOfRows()} segments measured. {source_text(source)}"
        if ensemble is not None:
            text += f"; ensemble of {ensemble.members} networks: each label's volume range in the table"
        previous = out.segmentation.GetNodeReference(DISAGREEMENT_REFERENCE)
        if ensemble is None or ensemble.disagreement is None:
            if previous is not None:  # the map of an earlier run of this segmentation no longer describes it
                mrml_scene.RemoveNode(previous)
            return out, text
        out.disagreement = overlay.show_map(mrml_scene, ensemble.disagreement, self.volume_node,
                                            f"{self.volume_node.GetName()} ensemble disagreement", node=previous)
        out.segmentation.SetNodeReferenceID(DISAGREEMENT_REFERENCE, out.disagreement.GetID())
        return out, f"{text}, the networks' disagreement over the CT"
