"""What ICHSegment writes from the scene: the mask as .seg.nrrd, NIfTI and DICOM SEG, and ground
truth for training. The writers are the backend's (`ichkit.io`, `ichkit.app.groundtruth`), the same
the CLI and the web workstation use; this file only reads the nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ichkit import scene
from ichkit.app import groundtruth
from ichkit.app.measurements import measure_dict
from ichkit.errors import OptionError
from ichkit.io import save_labelmap
from ichkit.io.dicom_seg import save_dicom_seg

from .logic import is_edited, source_of

DICOM_UIDS = "DICOM.instanceUIDs"  # set on volume nodes by Slicer's DICOM loader


def _labels(volume_node: Any, segmentation_node: Any):
    return scene.segmentation_to_labelmap(segmentation_node, scene.node_to_volume(volume_node))


def dicom_files(volume_node: Any, file_for_instance) -> list[Path]:
    """The DICOM files a volume was loaded from (`file_for_instance`: slicer.dicomDatabase.fileForInstance)."""
    uids = (volume_node.GetAttribute(DICOM_UIDS) or "").split()
    return [Path(file_for_instance(uid)) for uid in uids if file_for_instance(uid)]


def export_segmentation(volume_node: Any, segmentation_node: Any, outdir: str | Path, *, dicom_source: list[Path] | None = None,
                        overwrite: bool = False) -> dict[str, Path]:
    """`<ct>_seg.seg.nrrd`, `<ct>_seg.nii.gz` and, when the CT came from DICOM, `<ct>_seg.dcm` (DICOM SEG)."""
    labels = _labels(volume_node, segmentation_node)
    stem = Path(outdir) / f"{volume_node.GetName()}_seg"
    paths = {"seg.nrrd": Path(f"{stem}.seg.nrrd"), "nii.gz": Path(f"{stem}.nii.gz")}
    save_labelmap(labels, paths["seg.nrrd"], overwrite=overwrite)
    save_labelmap(labels, paths["nii.gz"], overwrite=overwrite)
    if dicom_source:
        source = source_of(segmentation_node)
        model = (source.model_id, source.model_version) if source else ("manual", "")
        paths["dcm"] = save_dicom_seg(labels, dicom_source, Path(f"{stem}.dcm"), model=model,
                                      edited=is_edited(volume_node, segmentation_node), overwrite=overwrite)
    return paths


def save_ground_truth(volume_node: Any, segmentation_node: Any, dataset: str | Path, case_id: str, *,
                      patient_id: str | None = None, overwrite: bool = False) -> dict[str, Path]:
    """The refined mask with its provenance into an nnU-Net dataset folder (`ichkit.app.groundtruth`)."""
    if not str(dataset).strip() or not case_id.strip():
        raise OptionError(dataset or None, "give the ground-truth dataset folder (DatasetNNN_Name) and a case id")
    ct = scene.node_to_volume(volume_node)
    labels = scene.segmentation_to_labelmap(segmentation_node, ct)
    storage = volume_node.GetStorageNode()
    return groundtruth.save_ground_truth(
        ct, labels, dataset, case_id.strip(), ct_path=storage.GetFileName() if storage else volume_node.GetName(),
        source=source_of(segmentation_node), edited=is_edited(volume_node, segmentation_node),
        measurements=measure_dict(labels), patient_id=patient_id, overwrite=overwrite,
    )
