"""DICOM SEG export on synthetic DICOM series: frames on the right images, no identity added."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_factory import head_like, write_series

from ichkit.errors import GeometryMismatchError
from ichkit.image import Volume
from ichkit.io.dicom import read_dicom_series
from ichkit.io.dicom_seg import save_dicom_seg
from ichkit.labels import IPH, IVH

IDENTITY_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "OtherPatientIDs",
                 "AccessionNumber", "InstitutionName", "InstitutionAddress", "ReferringPhysicianName",
                 "OperatorsName", "PerformingPhysicianName", "StudyID", "ContentCreatorName")


def _series(folder, identity=None):
    write_series(folder, head_like((6, 32, 32)), identity=identity)
    for f in sorted(folder.glob("*.dcm")):  # the factory omits the frame of reference a real CT carries
        ds = pydicom.dcmread(f)
        ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.1"
        ds.save_as(f)
    return folder


def _labels(ct):
    labels = np.zeros(ct.shape, np.uint8)
    labels[2:4, 10:15, 10:15] = IPH
    labels[3, 20:22, 20:22] = IVH
    return ct.with_array(labels)


@pytest.mark.parametrize("identity", [None, {}], ids=["identified", "anonymous"])
def test_seg_references_series_and_adds_no_identity(tmp_path, identity):
    folder = _series(tmp_path / "ct", identity)
    ct = read_dicom_series(folder)
    path = save_dicom_seg(_labels(ct), folder, tmp_path / "seg.dcm", model=("demo-model", "0.1"), edited=True)
    seg = pydicom.dcmread(path)
    source = pydicom.dcmread(sorted(folder.glob("*.dcm"))[0])
    for tag in IDENTITY_TAGS:
        value = str(seg.get(tag, "") or "")
        assert value == "" or value == str(source.get(tag, "")), tag
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.Modality == "SEG"
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["IPH", "IVH"]
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert seg.SegmentSequence[0].SegmentAlgorithmName == "demo-model"
    # frames: IPH on slices 2 and 3, IVH on slice 3, each referencing its source image
    by_uid = {pydicom.dcmread(f).SOPInstanceUID: pydicom.dcmread(f).ImagePositionPatient[2] for f in folder.glob("*.dcm")}
    frames = [(int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
               float(by_uid[f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID]))
              for f in seg.PerFrameFunctionalGroupsSequence]
    assert sorted(frames) == [(1, 10.0), (1, 15.0), (2, 15.0)]
    assert np.count_nonzero(seg.pixel_array) == 2 * 25 + 4


def test_seg_refuses_a_mask_on_another_grid(tmp_path):
    folder = _series(tmp_path / "ct")
    ct = read_dicom_series(folder)
    labels = _labels(ct)
    shifted = Volume(labels.array, labels.spacing, tuple(np.add(labels.origin, 1.0)), labels.direction)
    with pytest.raises(GeometryMismatchError):
        save_dicom_seg(shifted, folder, tmp_path / "seg.dcm")
    files = sorted(folder.glob("*.dcm"))
    assert save_dicom_seg(_labels(ct), files, tmp_path / "seg.dcm").is_file()  # the series' files, as Slicer knows them
