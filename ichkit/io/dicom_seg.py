"""DICOM SEG export: a labelmap on the grid of a DICOM CT series, as a DICOM Segmentation object.

Why: a PACS stores DICOM, not NIfTI; a DICOM SEG references the source series so viewers overlay
it on the right images. highdicom builds the object and copies the patient and study modules from
the source images, so the SEG carries the identity the series carries and nothing more (we pass
no content creator and no institution). The algorithm identification records the model id and
version; an edited mask is SEMIAUTOMATIC, an untouched model output AUTOMATIC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_path, check_writable
from ..errors import GeometryMismatchError, UnreadableFileError
from ..image import Volume
from ..labels import EDEMA, LABELS
from .dicom import _pick_series, _read_headers

GRID_TOLERANCE_MM = 0.01
SERIES_NUMBER = 9901  # SEG series numbers sort after the scanner's
SCT_HEMORRHAGE = ("50960005", "Hemorrhage")
SCT_EDEMA = ("79654002", "Edema")
PROPERTY_TYPE = {EDEMA: SCT_EDEMA}  # every other product label is blood
# type-2 patient/study attributes highdicom copies; absent ones are copied as empty (no identity added)
TYPE2_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
              "AccessionNumber", "ReferringPhysicianName")


def _sorted_series(source: Path | list[Path]) -> list:
    """The CT series' headers in the order `read_dicom_series` stacks slices (along the normal)."""
    folder = Path(source) if isinstance(source, (str, Path)) else Path(source[0]).parent
    headers = _read_headers(folder) if isinstance(source, (str, Path)) else [h for f in source for h in _read_headers(Path(f))]
    if not headers:
        raise UnreadableFileError(folder, "contains no readable DICOM file")
    items = _pick_series(folder, headers)
    if "FrameOfReferenceUID" not in items[0][1]:
        raise UnreadableFileError(folder, "the CT series has no FrameOfReferenceUID, which a DICOM SEG must reference")
    iop = np.array(items[0][1].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    for _, ds in items:
        for tag in TYPE2_TAGS:
            if tag not in ds:
                setattr(ds, tag, "")
    return sorted((ds for _, ds in items), key=lambda ds: float(np.array(ds.ImagePositionPatient, float) @ normal))


def _check_grid(labels: Volume, series: list, folder: Path) -> None:
    """Slice k of the mask must be image k of the series: same size, origin, axes and positions."""
    ds0 = series[0]
    iop = np.array(ds0.ImageOrientationPatient, float)
    direction = np.stack([iop[:3], iop[3:], np.cross(iop[:3], iop[3:])], axis=1)
    positions = np.array([ds.ImagePositionPatient for ds in series], float)
    expected = positions[0] + (labels.direction @ np.diag(labels.spacing))[:, 2] * np.arange(len(series))[:, None]
    if (
        labels.shape != (len(series), int(ds0.Rows), int(ds0.Columns))
        or not np.allclose(labels.direction, direction, atol=1e-4)
        or not np.allclose(labels.spacing[:2], [float(ds0.PixelSpacing[1]), float(ds0.PixelSpacing[0])], atol=GRID_TOLERANCE_MM)
        or not np.allclose(positions, expected, atol=GRID_TOLERANCE_MM)
        or not np.allclose(labels.origin, positions[0], atol=GRID_TOLERANCE_MM)
    ):
        raise GeometryMismatchError(folder, "the mask is not on this DICOM series' grid (another series, resampled, or tilt-corrected)")


def _description(number: int, value: int, model: tuple[str, str], edited: bool):
    # deferred: highdicom comes with the [ml] extra and loads only when a DICOM SEG is written
    import highdicom as hd
    from pydicom.sr.codedict import codes

    code, meaning = PROPERTY_TYPE.get(value, SCT_HEMORRHAGE)
    label = LABELS[value] if value in LABELS else None
    algorithm = hd.AlgorithmIdentificationSequence(name=model[0], version=model[1] or "unknown", family=codes.DCM.ArtificialIntelligence)
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label.key if label else f"label {value}",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=hd.sr.CodedConcept(code, "SCT", meaning),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC if edited else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )


def save_dicom_seg(
    labels: Volume,
    dicom_source: str | Path | list[Path],
    path: str | Path,
    *,
    model: tuple[str, str] = ("ichkit", __version__),
    edited: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write `labels` (on the grid of the CT series in `dicom_source`: a folder, or the series' files)
    as a DICOM SEG at `path`.

    One segment per label value present, numbered 1.. in label order; `model` is (id, version).
    """
    # deferred: highdicom comes with the [ml] extra and loads only when a DICOM SEG is written
    import highdicom as hd

    path = check_writable(path, overwrite)
    series = _sorted_series(dicom_source)
    _check_grid(labels, series, path)
    values = [int(v) for v in np.unique(labels.array) if v != 0]
    if not values:
        raise GeometryMismatchError(path, "the mask is empty: a DICOM SEG needs at least one segment")
    frames = np.stack([labels.array == v for v in values], axis=-1)
    seg = hd.seg.Segmentation(
        source_images=series,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(n, v, model, edited) for n, v in enumerate(values, start=1)],
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="ICH Toolkit",
        manufacturer_model_name=model[0],
        software_versions=f"ichkit {__version__}",
        device_serial_number="none",
        series_description="ICH segmentation" + (" (edited)" if edited else ""),
    )
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path
