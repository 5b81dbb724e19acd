"""The report's figures as a DICOM Comprehensive SR (TID 1500 measurement report), for a PACS.

Only for a CT given as a DICOM series: the SR references that series as its evidence and
highdicom copies the patient and study modules from it (nothing more). Volumes are coded with
SNOMED CT (Volume; Hemorrhage / Edema as the finding); the scores have no DICOM or SNOMED code,
so they carry codes of a private scheme (99ICHKIT) and only complete scores are written. The
method of each volume (mesh, voxel count, ABC/2 of the main hematoma) is coded the same way.
"""

from __future__ import annotations

import io
from pathlib import Path

from .. import __version__
from ..io.dicom_seg import _sorted_series  # the one place that orders a series as the CT was stacked
from ..labels import EDEMA, LABELS

SCHEME = "99ICHKIT"  # private coding scheme designator for what DICOM does not code
SERIES_NUMBER = 9902  # after the SEG's 9901
VOLUME_METHODS = {"mesh_ml": "mesh volume (marching cubes)", "voxel_ml": "voxel count", "abc2_ml": "ABC/2 of the main hematoma"}


def dicom_sr_bytes(report: dict, dicom_source: str | Path) -> bytes:
    """The baseline's volumes and complete scores of `report` (build_report's dict) as an SR file."""
    # deferred: highdicom comes with the [ml] extra; it and pydicom's SR codes load only when an SR is written
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    series = _sorted_series(dicom_source)
    millilitre, no_unit = Code("ml", "UCUM", "milliliter"), Code("1", "UCUM", "no units")
    by_value = {lab.key: lab for lab in LABELS.values()}
    groups = []
    for region, m in report["timepoints"][0]["volumes"].items():
        finding = Code("79654002", "SCT", "Edema") if by_value.get(region) and by_value[region].value == EDEMA else Code("50960005", "SCT", "Hemorrhage")
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=region),
            finding_type=finding,
            measurements=[hd.sr.Measurement(name=codes.SCT.Volume, value=float(m[key]), unit=millilitre,
                                            method=hd.sr.CodedConcept(key, SCHEME, method)) for key, method in VOLUME_METHODS.items()],
        ))
    scores = [s for s in report["scores"].values() if s["status"] == "complete"]
    if scores:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="clinical scores"),
            measurements=[hd.sr.Measurement(name=hd.sr.CodedConcept(s["key"], SCHEME, s["name"]), value=float(s["total"]), unit=no_unit) for s in scores],
        ))
    source = report["timepoints"][0]["mask_source"]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="ichkit", model_name=source.get("model_id") or "mask file"),
    )
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=series, content=content[0], series_instance_uid=hd.UID(), series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="ICH Toolkit",
        series_description="ICH report" + (f" ({report['notice']})" if report.get("notice") else ""),
    )
    sr.SoftwareVersions = f"ichkit {__version__}"
    buf = io.BytesIO()
    sr.save_as(buf)
    return buf.getvalue()
