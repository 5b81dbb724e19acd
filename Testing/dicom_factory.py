"""Writes small synthetic DICOM CT series for tests (made-up identities, never real patients)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

FAKE_IDENTITY = {
    "PatientName": "Zzyzx^Quentavious",
    "PatientID": "ZQ-99871-FAKE",
    "PatientBirthDate": "19020304",
    "AccessionNumber": "ACC-FAKE-55512",
    "InstitutionName": "Nowhere General Hospital",
    "ReferringPhysicianName": "Xylophon^Bartholomew",
}


def write_series(
    folder: Path,
    hu: np.ndarray,
    *,
    spacing=(0.5, 0.5, 5.0),
    positions: list[float] | None = None,
    modality: str = "CT",
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    orientation=(1, 0, 0, 0, 1, 0),
    identity: dict | None = None,
    samples_per_pixel: int = 1,
    study_uid: str | None = None,
    gantry_tilt_deg: float = 0.0,
    tags: dict | None = None,
    prefix: str = "slice",
) -> Path:
    """One file per slice; `hu` is [z, y, x]; stored = (hu - intercept) / slope.

    `positions` are table positions (mm along patient z). With `gantry_tilt_deg` the image plane
    is tilted about its row axis while the table still moves along z, as on a tilted gantry: the
    slice normal and the stacking direction differ (a sheared grid). `tags` are set on every
    slice last (None deletes the tag), to make malformed series.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    positions = positions if positions is not None else [k * spacing[2] for k in range(hu.shape[0])]
    orientation = tilted(orientation, gantry_tilt_deg)
    stored = np.round((hu - intercept) / slope).astype(np.uint16)
    for k, z in enumerate(positions):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.Modality = modality
        for key, value in (identity if identity is not None else FAKE_IDENTITY).items():
            setattr(ds, key, value)
        ds.ImagePositionPatient = [-100.0, -120.0, float(z)]
        ds.ImageOrientationPatient = list(orientation)
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.InstanceNumber = k + 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.Rows, ds.Columns = hu.shape[1], hu.shape[2]
        ds.SamplesPerPixel = samples_per_pixel
        ds.PhotometricInterpretation = "MONOCHROME2" if samples_per_pixel == 1 else "RGB"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        if samples_per_pixel == 1:
            ds.PixelData = stored[k].tobytes()
        else:
            ds.PlanarConfiguration = 0
            ds.PixelData = np.repeat(stored[k][..., None], samples_per_pixel, axis=-1).tobytes()
        if gantry_tilt_deg:
            ds.GantryDetectorTilt = gantry_tilt_deg
        for key, value in (tags or {}).items():
            if value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)
        ds.save_as(folder / f"{prefix}_{k:03d}.dcm", enforce_file_format=True)
    return folder


def step_positions(thin: float = 2.5, n_thin: int = 8, thick: float = 5.0, n_thick: int = 6) -> list[float]:
    """Table positions of a step-and-shoot head protocol: thin slices through the posterior fossa,
    thick ones above (`write_series(..., positions=step_positions())`)."""
    z = [k * thin for k in range(n_thin)]
    return z + [z[-1] + thick * (k + 1) for k in range(n_thick)]


def tilted(orientation, degrees: float) -> list[float]:
    """Rotate the column direction of an ImageOrientationPatient about its row axis."""
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    t = np.radians(degrees)
    col = np.cos(t) * col + np.sin(t) * np.cross(row, col)
    return [*row, *col]


def slice_world(shape_yx, spacing, position, orientation) -> np.ndarray:
    """World (LPS mm) coordinates [y, x, 3] of a slice's pixel centres."""
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    j, i = np.indices(shape_yx)
    return np.asarray(position, float) + i[..., None] * spacing[0] * row + j[..., None] * spacing[1] * col


def sample_series(fn, shape_yx, table_z, *, spacing=(0.5, 0.5), orientation=(1, 0, 0, 0, 1, 0), gantry_tilt_deg: float = 0.0) -> np.ndarray:
    """HU [z, y, x] of `fn(world[..., 3])` on the slices `write_series` writes for these arguments."""
    ori = tilted(orientation, gantry_tilt_deg)
    return np.stack([fn(slice_world(shape_yx, spacing, (-100.0, -120.0, float(z)), ori)) for z in table_z])


def head_like(shape=(8, 64, 64), seed: int = 0) -> np.ndarray:
    """A crude HU volume: air outside a disc of brain (~35 HU) with a bright rim."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    r = np.hypot(y - shape[1] / 2, x - shape[2] / 2)
    hu = np.full(shape, -1000.0)
    hu[r < shape[1] * 0.4] = 1000.0
    hu[r < shape[1] * 0.35] = 35.0
    return hu + rng.normal(0, 3, shape)
