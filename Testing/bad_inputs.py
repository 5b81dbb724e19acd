"""A catalogue of malformed inputs: each builder writes (ct, mask) into a folder and names the
error the product must raise. Used by the bad-input suite and the batch fault tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from dicom_factory import head_like, step_positions as _step_positions, write_series
from ichkit import errors as E


def _img(path: Path, arr: np.ndarray, spacing=None, vector: bool = False) -> Path:
    img = sitk.GetImageFromArray(arr, isVector=vector)
    if spacing:
        img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return path


def _ct(folder: Path, shape=(8, 64, 64), spacing=(0.5, 0.5, 5.0)) -> Path:
    return _img(folder / "ct.nii.gz", head_like(shape).astype(np.int16), spacing)


def _mask(folder: Path, arr=None, shape=(8, 64, 64), spacing=(0.5, 0.5, 5.0), name="mask.nii.gz") -> Path:
    if arr is None:
        arr = np.zeros(shape, np.uint8)
        arr[3:6, 28:36, 28:36] = 1
    return _img(folder / name, arr, spacing)


def _good(folder: Path, ct: Path) -> tuple[Path, Path]:
    return ct, _mask(folder)


def _ct_case(write_ct):
    def build(folder: Path):
        return _good(folder, write_ct(folder))

    return build


def _mask_case(write_mask):
    def build(folder: Path):
        return _ct(folder), write_mask(folder)

    return build


def _bytes(name: str, data: bytes):
    def write(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return write


def _truncated_gz(folder: Path) -> Path:
    good = _ct(folder)
    data = good.read_bytes()
    bad = folder / "truncated.nii.gz"
    bad.write_bytes(data[: len(data) // 2])
    return bad


def _bad_gzip_payload(folder: Path) -> Path:
    path = folder / "notnifti.nii.gz"
    path.write_bytes(gzip.compress(b"this is not a nifti header" * 20))
    return path


def _huge_header(folder: Path) -> Path:
    """A NIfTI header claiming 5000^3 voxels followed by almost no data: refused before reading."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((5000, 5000, 5000))
    header.set_data_dtype(np.int16)
    path = folder / "huge.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 1024)
    return path


def _nhdr_missing_data(folder: Path) -> Path:
    path = folder / "nodata.nhdr"
    path.write_text("NRRD0004\ntype: short\ndimension: 3\nsizes: 64 64 8\nspacings: 0.5 0.5 5\nendian: little\nencoding: raw\ndata file: missing.raw\n")
    return path


def _dicom(folder: Path, **kw) -> Path:
    hu = kw.pop("hu", None)
    return write_series(folder / "dicom", head_like() if hu is None else hu, **kw)


def _dicom_truncated_pixels(folder: Path) -> Path:
    series = _dicom(folder)
    f = sorted(series.glob("*.dcm"))[3]
    f.write_bytes(f.read_bytes()[:-3000])
    return series


def _dicom_garbage(folder: Path) -> Path:
    d = folder / "dicom"
    d.mkdir()
    for k in range(4):
        (d / f"img{k}.dcm").write_bytes(np.random.default_rng(k).bytes(2048))
    return d


def _dicom_text_only(folder: Path) -> Path:
    d = folder / "dicom"
    d.mkdir()
    (d / "README.txt").write_text("no images here")
    return d


def _float(arr_fn):
    def write(folder: Path) -> Path:
        a = head_like().astype(np.float32)
        arr_fn(a)
        return _img(folder / "ct.nrrd", a, (0.5, 0.5, 5.0))

    return write


def _set(index, value):
    def apply(a):
        a[index] = value

    return apply


def _seg_corrupt(folder: Path) -> Path:
    path = folder / "mask.seg.nrrd"
    path.write_text("NRRD0004\ntype: unsigned char\ndimension: 3\nsizes: 64 64\nencoding: raw\n")
    return path


def _mask_arr(fn):
    def write(folder: Path) -> Path:
        a = np.zeros((8, 64, 64), np.float32)
        fn(a)
        return _mask(folder, a, name="mask.nrrd")

    return write


def _rgb_ct(folder: Path) -> Path:
    a = np.repeat(head_like()[..., None], 3, axis=-1).astype(np.int16)
    return _img(folder / "rgb.mha", a, (0.5, 0.5, 5.0), vector=True)


def _four_d(folder: Path) -> Path:
    a = np.stack([head_like()] * 3).astype(np.int16)  # t, z, y, x
    return _img(folder / "ct4d.nii.gz", a)


def _two_d(folder: Path) -> Path:
    return _img(folder / "slice.nii.gz", head_like((1, 64, 64))[0].astype(np.int16))


def _raw_stored(folder: Path) -> Path:
    return _img(folder / "ct.nii.gz", (head_like() + 1024).astype(np.int16), (0.5, 0.5, 5.0))


def _normalised(folder: Path) -> Path:
    a = head_like()
    return _img(folder / "ct.nii.gz", ((a - a.min()) / np.ptp(a)).astype(np.float32), (0.5, 0.5, 5.0))


# name -> (builder(folder) -> (ct, mask), expected error class)
CASES = {
    "missing_file": (lambda f: (f / "nope.nii.gz", _mask(f)), E.UnreadableFileError),
    "empty_file": (_ct_case(_bytes("ct.nii.gz", b"")), E.UnreadableFileError),
    "truncated_gzip": (_ct_case(_truncated_gz), E.UnreadableFileError),
    "gzip_not_nifti": (_ct_case(_bad_gzip_payload), E.UnreadableFileError),
    "random_bytes_nrrd": (_ct_case(_bytes("ct.nrrd", np.random.default_rng(1).bytes(4096))), E.UnreadableFileError),
    "unknown_extension": (_ct_case(_bytes("ct.txt", b"hello")), E.UnreadableFileError),
    "nhdr_missing_data_file": (_ct_case(_nhdr_missing_data), E.UnreadableFileError),
    "huge_dimensions": (_ct_case(_huge_header), E.ImageTooLargeError),
    "rgb_image": (_ct_case(_rgb_ct), E.NotCTError),
    "two_d_image": (_ct_case(_two_d), E.NotVolumeError),
    "four_d_series": (_ct_case(_four_d), E.NotVolumeError),
    "one_slice": (_ct_case(lambda f: _ct(f, shape=(1, 64, 64))), E.TooFewSlicesError),
    "two_slices": (_ct_case(lambda f: _ct(f, shape=(2, 64, 64))), E.TooFewSlicesError),
    "nan_voxels": (_ct_case(_float(_set((2, 30, 30), np.nan))), E.NonFiniteError),
    "inf_voxels": (_ct_case(_float(_set((2, 30, 30), np.inf))), E.NonFiniteError),
    "values_beyond_hu": (_ct_case(_float(_set((2, 30, 30), 1e6))), E.HURangeError),
    "normalised_not_hu": (_ct_case(_normalised), E.HURangeError),
    "raw_stored_values": (_ct_case(_raw_stored), E.HURangeError),
    "dicom_wrong_modality": (_ct_case(lambda f: _dicom(f, modality="MR")), E.NotCTError),
    "dicom_no_dicom_files": (_ct_case(_dicom_text_only), E.UnreadableFileError),
    "dicom_corrupt_files": (_ct_case(_dicom_garbage), E.UnreadableFileError),
    "dicom_truncated_pixels": (_ct_case(_dicom_truncated_pixels), E.UnreadableFileError),
    "dicom_missing_slice": (_ct_case(lambda f: _dicom(f, positions=[0, 5, 10, 20, 25, 30, 35, 40])), E.SliceSpacingError),
    "dicom_duplicate_slice": (_ct_case(lambda f: _dicom(f, positions=[0, 5, 10, 10, 15, 20, 25, 30])), E.SliceSpacingError),
    "dicom_two_slices": (_ct_case(lambda f: _dicom(f, hu=head_like((2, 64, 64)))), E.TooFewSlicesError),
    "dicom_rgb": (_ct_case(lambda f: _dicom(f, samples_per_pixel=3)), E.NotCTError),
    "mask_shape_mismatch": (_mask_case(lambda f: _mask(f, shape=(8, 64, 60))), E.GeometryMismatchError),
    "mask_spacing_mismatch": (_mask_case(lambda f: _mask(f, spacing=(0.6, 0.6, 5.0))), E.GeometryMismatchError),
    "mask_empty": (_mask_case(lambda f: _mask(f, np.zeros((8, 64, 64), np.uint8))), E.EmptyMaskError),
    "mask_fractional": (_mask_case(_mask_arr(_set((slice(3, 5), slice(20, 30), slice(20, 30)), 0.4))), E.NonBinaryMaskError),
    "mask_nan": (_mask_case(_mask_arr(_set((3, 20, 20), np.nan))), E.NonFiniteError),
    "mask_negative_labels": (_mask_case(_mask_arr(_set((slice(3, 5), slice(20, 30), slice(20, 30)), -1))), E.NonBinaryMaskError),
    "mask_seg_nrrd_corrupt": (_mask_case(_seg_corrupt), E.UnreadableFileError),
    "mask_label_over_255": (_mask_case(_mask_arr(_set((slice(3, 5), slice(20, 30), slice(20, 30)), 300))), E.LabelValueError),
}


# --- input hardening (issue 15 items 2-5)


def _sparse_head(shape=(8, 64, 64), seed: int = 0) -> np.ndarray:
    """Noisy air around a small head (skull, brain): the median voxel is air, as in a real head CT."""
    r = np.hypot(*np.indices(shape[1:]) - np.array(shape[1:])[:, None, None] / 2)
    a = np.full(shape, -1000.0)
    a[:, r < shape[1] * 0.3] = 1200.0
    a[:, r < shape[1] * 0.26] = 35.0
    return np.maximum(a + np.random.default_rng(seed).normal(0, 8, shape), -1024.0)


def _windowed(a: np.ndarray, level=40.0, width=80.0) -> np.ndarray:
    return np.clip((a - (level - width / 2)) / width * 255.0, 0, 255)


def _padded_raw() -> np.ndarray:
    """Stored values without the intercept, outside the scan circle a padding value of -2000."""
    a = (_sparse_head() + 1024).astype(np.int16)
    r = np.hypot(*np.indices(a.shape[1:]) - 32.0)
    a[:, r > 30] = -2000
    return a


def _nifti(name: str, arr: np.ndarray, zooms=(0.5, 0.5, 5.0), cut: int = 0, gz_cut: int = 0):
    """A NIfTI written by nibabel with the raw pixdim given (nibabel would repair a 0 on load)."""

    def write(folder: Path) -> Path:
        import nibabel as nib

        img = nib.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), np.eye(4))
        img.header["pixdim"][1:4] = zooms
        img.header["vox_offset"] = 352
        img.header.set_sform(None, code=0)
        img.header.set_qform(None, code=0)
        raw = img.header.binaryblock + b"\0" * 4 + np.ascontiguousarray(arr.transpose(2, 1, 0)).tobytes(order="F")
        raw = raw[: len(raw) - cut - gz_cut]
        path = folder / name
        path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
        return path

    return write


def _edit_header(src_writer, old: bytes, new: bytes, name: str):
    def write(folder: Path) -> Path:
        data = src_writer(folder).read_bytes()
        assert old in data, old
        (folder / name).write_bytes(data.replace(old, new))
        return folder / name

    return write


def _itk(name: str, compress: bool = False):
    def write(folder: Path) -> Path:
        img = sitk.GetImageFromArray(head_like().astype(np.int16))
        img.SetSpacing((0.5, 0.5, 5.0))
        sitk.WriteImage(img, str(folder / name), compress)
        return folder / name

    return write


def _cut(writer, data_name: str | None = None, n: int = 9000):
    """Drop the last n bytes of the file (or of its detached data file)."""

    def write(folder: Path) -> Path:
        path = writer(folder)
        target = folder / data_name if data_name else path
        target.write_bytes(target.read_bytes()[:-n])
        return path

    return write


def _dicom_retag(folder: Path, which, **tags) -> Path:
    """A good series, then set (None: delete) tags on the slices whose index is in `which`."""
    import pydicom

    series = _dicom(folder)
    for k, f in enumerate(sorted(series.glob("*.dcm"))):
        if k in which:
            ds = pydicom.dcmread(f)
            for key, value in tags.items():
                delattr(ds, key) if value is None else setattr(ds, key, value)
            if "Rows" in tags:
                ds.PixelData = np.zeros((tags["Rows"], ds.Columns), np.uint16).tobytes()
            ds.save_as(f)
    return series


def _dicom_8bit(folder: Path) -> Path:
    import pydicom

    series = write_series(folder / "dicom", head_like(), intercept=0.0)
    for k, f in enumerate(sorted(series.glob("*.dcm"))):
        ds = pydicom.dcmread(f)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = _windowed(head_like())[k].astype(np.uint8).tobytes()
        ds.save_as(f)
    return series


def _dicom_jpegls_corrupt(folder: Path) -> Path:
    import pydicom
    from pydicom.uid import JPEGLSLossless

    series = _dicom(folder)
    f = sorted(series.glob("*.dcm"))[3]
    ds = pydicom.dcmread(f)
    ds.compress(JPEGLSLossless)
    data = bytearray(ds.PixelData)
    data[40:200] = bytes(160)
    ds.PixelData = bytes(data)
    ds.save_as(f)
    return series


OTHER_PATIENT = {"PatientName": "Qwerty^Ulyssandra", "PatientID": "QU-44120-FAKE", "PatientBirthDate": "19110911"}


def _dicom_two_patients(same_series: bool):
    def write(folder: Path) -> Path:
        uid = "1.2.826.0.1.3680043.8.498.1515" if same_series else None
        d = write_series(folder / "dicom", head_like(), series_uid=uid, prefix="a")
        write_series(d, head_like(), series_uid=uid, identity=OTHER_PATIENT, positions=[40.0 + 5 * k for k in range(8)], prefix="b")
        return d

    return write


def _dicom_two_studies(folder: Path) -> Path:
    d = write_series(folder / "dicom", head_like(), prefix="a")
    write_series(d, head_like(), prefix="b")
    return d


def _dicom_step(positions, tilt=0.0, **kw):
    def write(folder: Path) -> Path:
        return write_series(folder / "dicom", head_like((len(positions), 64, 64)), positions=positions, gantry_tilt_deg=tilt, **kw)

    return write


CASES.update({
    "uint8_windowed_export": (_ct_case(_nifti("ct.nii.gz", _windowed(_sparse_head()).astype(np.uint8))), E.HURangeError),
    "int8_values": (_ct_case(_nifti("ct.nii.gz", (_windowed(_sparse_head()) - 128).astype(np.int8))), E.HURangeError),
    "uint16_raw_no_rescale_mostly_air": (_ct_case(_nifti("ct.nii.gz", (_sparse_head() + 1024).astype(np.uint16))), E.HURangeError),
    "int16_windowed_saturated": (_ct_case(_nifti("ct.nii.gz", _windowed(_sparse_head()).astype(np.int16))), E.HURangeError),
    "dicom_no_rescale_tags": (_ct_case(lambda f: write_series(f / "dicom", _sparse_head(), tags={"RescaleIntercept": None, "RescaleSlope": None})), E.HURangeError),
    "dicom_8bit_windowed": (_ct_case(_dicom_8bit), E.HURangeError),
    "nifti_zero_spacing_x": (_ct_case(_nifti("ct.nii.gz", head_like().astype(np.int16), zooms=(0.0, 0.5, 5.0))), E.NotVolumeError),
    "nifti_plain_zero_spacing_z": (_ct_case(_nifti("ct.nii", head_like().astype(np.int16), zooms=(0.5, 0.5, 0.0))), E.NotVolumeError),
    "nifti_nan_spacing": (_ct_case(_nifti("ct.nii", head_like().astype(np.int16), zooms=(0.5, np.nan, 5.0))), E.NotVolumeError),
    "nifti_plain_truncated": (_ct_case(_nifti("ct.nii", head_like().astype(np.int16), cut=9000)), E.UnreadableFileError),
    "nifti_gz_short_payload": (_ct_case(_nifti("ct.nii.gz", head_like().astype(np.int16), gz_cut=9000)), E.UnreadableFileError),
    "nrrd_zero_spacing": (_ct_case(_edit_header(_itk("a.nrrd"), b"(0.5,0,0)", b"(0,0,0)", "ct.nrrd")), E.NotVolumeError),
    "mha_zero_spacing": (_ct_case(_edit_header(_itk("a.mha"), b"ElementSpacing = 0.5 0.5 5", b"ElementSpacing = 0.5 0 5", "ct.mha")), E.NotVolumeError),
    "mha_truncated": (_ct_case(_cut(_itk("ct.mha"))), E.UnreadableFileError),
    "mhd_raw_file_short": (_ct_case(_cut(_itk("ct.mhd"), "ct.raw")), E.UnreadableFileError),
    "nrrd_truncated": (_ct_case(_cut(_itk("ct.nrrd"))), E.UnreadableFileError),
    "dicom_two_patients_one_series_uid": (_ct_case(_dicom_two_patients(same_series=True)), E.MixedSeriesError),
    "dicom_two_patients": (_ct_case(_dicom_two_patients(same_series=False)), E.MixedSeriesError),
    "dicom_two_studies": (_ct_case(_dicom_two_studies), E.MixedSeriesError),
    "dicom_missing_pixel_spacing": (_ct_case(lambda f: _dicom_retag(f, {0, 1, 2, 3, 4, 5, 6, 7}, PixelSpacing=None)), E.UnreadableFileError),
    "dicom_one_slice_lacks_position": (_ct_case(lambda f: _dicom_retag(f, {5}, ImagePositionPatient=None)), E.UnreadableFileError),
    "dicom_slice_of_another_size": (_ct_case(lambda f: _dicom_retag(f, {4}, Rows=48)), E.NotVolumeError),
    "dicom_pixel_spacing_differs": (_ct_case(lambda f: _dicom_retag(f, {2}, PixelSpacing=[0.7, 0.7])), E.NotVolumeError),
    "dicom_corrupt_jpegls_slice": (_ct_case(_dicom_jpegls_corrupt), E.UnreadableFileError),
    "dicom_step_series_missing_slice": (_ct_case(_dicom_step([p for k, p in enumerate(_step_positions()) if k != 11])), E.SliceSpacingError),
    "dicom_tilted_missing_slice": (_ct_case(_dicom_step([5.0 * k for k in range(9) if k != 5], tilt=15.0)), E.SliceSpacingError),
    "dicom_jittered_spacing": (_ct_case(_dicom_step([0, 2.5, 6.0, 7.5, 12.0, 14.0, 19.0, 21.5])), E.SliceSpacingError),
    "dicom_zero_pixel_spacing": (_ct_case(lambda f: _dicom_retag(f, set(range(8)), PixelSpacing=[0.0, 0.5])), E.NotVolumeError),
    "dicom_degenerate_orientation": (_ct_case(lambda f: _dicom_retag(f, set(range(8)), ImageOrientationPatient=[1, 0, 0, 1, 0, 0])), E.NotVolumeError),
    "dicom_position_with_two_values": (_ct_case(lambda f: _dicom_retag(f, {6}, ImagePositionPatient=[-100.0, -120.0])), E.NotVolumeError),
    "int16_raw_with_padding": (_ct_case(_nifti("ct.nii.gz", _padded_raw())), E.HURangeError),
    "nhdr_data_file_short": (_ct_case(_cut(_itk("ct.nhdr"), "ct.raw")), E.UnreadableFileError),
    "mask_plain_nii_truncated": (_mask_case(_nifti("mask.nii", np.pad(np.ones((3, 8, 8), np.uint8), ((3, 2), (28, 28), (28, 28))), cut=14000)), E.UnreadableFileError),
    "dicom_slice_moved_in_plane": (_ct_case(lambda f: _dicom_retag(f, {4}, ImagePositionPatient=[-95.0, -120.0, 20.0])), E.SliceSpacingError),
})


def _hu_nifti(arr: np.ndarray, **scale):
    """A NIfTI of `arr` with optional scl_slope / scl_inter (HU = stored * slope + inter)."""

    def write(folder: Path) -> Path:
        import nibabel as nib

        img = nib.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), np.diag([0.5, 0.5, 5.0, 1.0]))
        if scale:
            img.header.set_slope_inter(scale["slope"], scale["inter"])
        nib.save(img, folder / "ct.nii.gz")
        return folder / "ct.nii.gz"

    return write


def _air_as_zero(skull_stripped: bool) -> np.ndarray:
    """HU exports whose air was set to 0: with a realistic (broad) skull, or skull-stripped."""
    a = _sparse_head()
    rng = np.random.default_rng(3)
    skull = a > 600
    a[skull] = 0 if skull_stripped else rng.uniform(300, 1900, int(skull.sum()))
    a[a < -500] = 0
    return a


def _two_series_one_study(folder: Path) -> Path:
    d = write_series(folder / "dicom", head_like(), study_uid="1.2.826.0.1.3680043.8.498.2020", prefix="a", tags={"SeriesDescription": "head 5mm"})
    write_series(d, head_like((5, 64, 64)), study_uid="1.2.826.0.1.3680043.8.498.2020", prefix="b", spacing=(0.5, 0.5, 8.0), tags={"SeriesDescription": "head 8mm"})
    return d


YAW_10 = (np.cos(np.radians(10)), np.sin(np.radians(10)), 0.0, -np.sin(np.radians(10)), np.cos(np.radians(10)), 0.0)

# name -> (builder(folder) -> ct path, warning the load must give (a substring) or None): inputs
# that must load, as Slicer and dcm2niix load them, or must not be mistaken for bad input.
ACCEPTED = {
    "dicom_gantry_tilt_15deg": (_dicom_step([5.0 * k for k in range(8)], tilt=15.0), "gantry tilt of 15.0 deg corrected"),
    "dicom_step_and_shoot": (_dicom_step(_step_positions()), "resampled linearly onto a regular 2.5 mm grid (14 -> 20 slices)"),
    "dicom_step_with_transition_gap": (_dicom_step(_step_positions()[:8] + [17.5 + 3.75 + 5 * k for k in range(6)]), "regular 2.5 mm grid"),
    "dicom_step_tilt_oblique": (_dicom_step(_step_positions(), tilt=20.0, orientation=YAW_10), "gantry tilt of 20.0 deg corrected"),
    "dicom_two_series_one_study": (_two_series_one_study, "2 CT series"),
    "hu_sparse_head": (_hu_nifti(_sparse_head().astype(np.int16)), None),
    "hu_uint16_with_scl_inter": (_hu_nifti((_sparse_head() + 1024).astype(np.uint16), slope=1.0, inter=-1024.0), None),
    "hu_air_set_to_zero": (_hu_nifti(_air_as_zero(skull_stripped=False).astype(np.int16)), None),
    "hu_skull_stripped": (_hu_nifti(_air_as_zero(skull_stripped=True).astype(np.int16)), None),
}


# --- output hardening (issue 15 items 1, 6-9)
# Masks with values outside the product's labels (1-4): the label error in every command.
CASES.update({
    "mask_label_7": (_mask_case(_mask_arr(_set((slice(3, 5), slice(20, 30), slice(20, 30)), 7))), E.LabelValueError),
    "mask_label_255": (_mask_case(_mask_arr(_set((slice(3, 5), slice(20, 30), slice(20, 30)), 255))), E.LabelValueError),
})


def _pair(folder: Path, name: str = "s", grow: int = 0) -> tuple[Path, Path]:
    """A small CT and a one-label mask (a box `grow` voxels wider per side for a follow-up)."""
    ct = _img(folder / f"{name}_ct.nii.gz", head_like().astype(np.int16), (0.5, 0.5, 5.0))
    arr = np.zeros((8, 64, 64), np.uint8)
    arr[3:6, 28 - grow:36 + grow, 28 - grow:36 + grow] = 1
    return ct, _img(folder / f"{name}_mask.nii.gz", arr, (0.5, 0.5, 5.0))


def _cohort_csv(folder: Path, rows: list[str], header: str = "scan_id,ct,mask,patient_id,timepoint", bom: bool = False) -> Path:
    path = folder / "cohort.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join([header, *rows]) + "\n").encode())
    return path


def _run(cohort: Path, out: Path, *extra: str) -> list[str]:
    return ["run", str(cohort), "-o", str(out), "--no-progress", "--radiomics", "none", *extra]


def _unchanged(files: dict[Path, bytes]):
    def check(folder: Path, err: str) -> None:
        for path, data in files.items():
            assert path.exists() and path.read_bytes() == data, f"{path} was changed or deleted"

    return check


def _run_over_user_scan_folder(folder: Path):
    """The issue's data loss: the cohort's CT and mask live in OUT/scans/<id>/."""
    data = folder / "out" / "scans" / "s1"
    data.mkdir(parents=True)
    ct, mask = _pair(data, "s1")
    cohort = _cohort_csv(folder, [f"s1,{ct},{mask},,"])
    return _run(cohort, folder / "out"), 2, _unchanged({ct: ct.read_bytes(), mask: mask.read_bytes()})


def _run_over_user_summary(folder: Path):
    ct, mask = _pair(folder)
    (folder / "out").mkdir()
    mine = folder / "out" / "summary.csv"
    mine.write_text("my own notes\n")
    return _run(_cohort_csv(folder, [f"s1,{ct},{mask},,"]), folder / "out"), 2, _unchanged({mine: mine.read_bytes()})


def _run_edited_report(folder: Path):
    """A report of a real run folder that the user edited is replaced only with --overwrite."""
    from ichkit.cli import main

    ct, mask = _pair(folder)
    cohort = _cohort_csv(folder, [f"s1,{ct},{mask},,"])
    assert main(_run(cohort, folder / "out")) == 0
    edited = folder / "out" / "summary.csv"
    edited.write_text(edited.read_text() + "my note\n")
    return _run(cohort, folder / "out"), 2, _unchanged({edited: edited.read_bytes()})


def _run_stranger_in_scan_folder(folder: Path):
    """A file the user put into a scan folder of a real run folder survives a rerun that redoes
    the scan (here because the radiomics setting changed)."""
    from ichkit.cli import main

    ct, mask = _pair(folder)
    cohort = _cohort_csv(folder, [f"s1,{ct},{mask},,"])
    assert main(_run(cohort, folder / "out")) == 0
    note = folder / "out" / "scans" / "s1" / "my_notes.txt"
    note.write_text("reviewed by me")
    return _run(cohort, folder / "out")[:-1] + ["shape"], 2, _unchanged({note: note.read_bytes()})


def _run_resumes_own_folder(folder: Path):
    from ichkit.cli import main

    ct, mask = _pair(folder)
    cohort = _cohort_csv(folder, [f"s1,{ct},{mask},,"])
    assert main(_run(cohort, folder / "out")) == 0
    return _run(cohort, folder / "out"), 0, None


def _volume(mask_value: int):
    def build(folder: Path):
        ct, mask = _pair(folder)
        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(mask)))
        _img(mask, (arr * mask_value).astype(np.uint8), (0.5, 0.5, 5.0))
        return ["volume", str(ct), str(mask)], 2, None

    return build


def _full_mask(folder: Path):
    ct, mask = _pair(folder)
    _img(mask, np.ones((8, 64, 64), np.uint8), (0.5, 0.5, 5.0))

    def check(folder: Path, err: str) -> None:
        assert err.startswith("warning: ") and "of the image" in err, err

    return ["volume", str(ct), str(mask)], 0, check


def _corrupt_journal(folder: Path):
    """A commit journal (`ichkit.atomic`) that is not one, beside the mask: the reader cannot
    know whether the set is whole, so it refuses (never reads a possibly mixed set)."""
    ct, mask = _pair(folder)
    journal = folder / ".ichkit-journal.4242.abcdefgh.json"
    journal.write_text("[[\".s_mask.nii.gz.4242")
    unchanged = _unchanged({journal: journal.read_bytes(), mask: mask.read_bytes()})

    def check(folder: Path, err: str) -> None:
        assert err.startswith(f"error: {journal}: is not a readable journal") and "move it away" in err, err
        unchanged(folder, err)

    return ["volume", str(ct), str(mask)], 2, check


def _outdir_is_file(argv_fn):
    def build(folder: Path):
        ct, mask = _pair(folder)
        target = folder / "taken"
        target.write_text("a file where the output folder should go")
        return argv_fn(folder, ct, mask, target), 2, _unchanged({target: target.read_bytes()})

    return build


def _cohort_case(rows_fn, bom: bool = False, rc: int = 2, check=None):
    def build(folder: Path):
        return _run(_cohort_csv(folder, rows_fn(folder), bom=bom), folder / "out"), rc, check

    return build


def _one_scan(folder: Path) -> list[str]:
    ct, mask = _pair(folder)
    return [f"s1,{ct},{mask},P1,baseline"]


def _two_baselines(folder: Path) -> list[str]:
    (ct, mask), (ct2, mask2) = _pair(folder, "a"), _pair(folder, "b", grow=3)
    return [f"a,{ct},{mask},P1,baseline", f"b,{ct2},{mask2},P1,baseline"]


def _bom_read(folder: Path, err: str) -> None:
    import csv

    with open(folder / "out" / "summary.csv", newline="") as f:
        assert [(r["scan_id"], r["state"]) for r in csv.DictReader(f)] == [("s1", "done")]


def _volume_opt(*opt: str):
    def build(folder: Path):
        ct, mask = _pair(folder)
        return ["volume", str(ct), str(mask), *opt], 2, None

    return build


def _run_opt(*opt: str):
    def build(folder: Path):
        ct, mask = _pair(folder)
        return _run(_cohort_csv(folder, [f"s1,{ct},{mask},,"]), folder / "out", *opt), 2, None

    return build


def _segment_opt(*opt: str):
    def build(folder: Path):
        ct, _ = _pair(folder)
        return ["segment", str(ct), "-o", str(folder / "seg"), "--no-progress", *opt], 2, None

    return build


def _all_scans_fail(folder: Path):
    cohort = _cohort_csv(folder, [f"s1,{folder / 'missing.nii.gz'},,,", f"s2,{folder / 'gone.nii.gz'},,,"])
    return _run(cohort, folder / "out"), 2, None


# name -> builder(folder) -> (argv of `ich`, expected exit code, check(folder, stderr) or None).
# With exit code 2 stderr must be one line `error: ...`; the check asserts what must survive.
CLI_CASES = {
    "run_over_user_files_in_scans": _run_over_user_scan_folder,
    "run_over_user_summary_csv": _run_over_user_summary,
    "run_user_edited_report": _run_edited_report,
    "run_resumes_its_own_folder": _run_resumes_own_folder,
    "run_stranger_file_in_scan_folder": _run_stranger_in_scan_folder,
    "volume_mask_label_7": _volume(7),
    "volume_mask_label_255": _volume(255),
    "volume_mask_fills_image": _full_mask,
    "volume_mask_beside_a_corrupt_journal": _corrupt_journal,
    "segment_outdir_is_a_file": _outdir_is_file(lambda f, ct, m, t: ["segment", str(ct), "-o", str(t), "--no-progress"]),
    "run_outdir_is_a_file": _outdir_is_file(lambda f, ct, m, t: _run(_cohort_csv(f, [f"s1,{ct},{m},,"]), t)),
    "radiomics_output_under_a_file": _outdir_is_file(lambda f, ct, m, t: ["radiomics", str(ct), str(m), "-o", str(t / "f.csv")]),
    "cohort_utf8_bom": _cohort_case(_one_scan, bom=True, rc=0, check=_bom_read),
    "cohort_two_baselines": _cohort_case(_two_baselines),
    "volume_abs_ml_nan": _volume_opt("--abs-ml", "nan"),
    "volume_rel_negative": _volume_opt("--rel", "-0.2"),
    "volume_ivh_growth_inf": _volume_opt("--ivh-growth-ml", "inf"),
    "segment_min_component_nan": _segment_opt("--min-component-ml", "nan"),
    "segment_unknown_device": _segment_opt("--device", "tpu"),
    "run_workers_negative": _run_opt("--workers", "-3"),
    "run_unknown_device": _run_opt("--device", "cuda:7"),
    "run_every_scan_failed": _all_scans_fail,
    "evaluate_n_boot_negative": lambda f: (["evaluate", str(f / "p.csv"), "--n-boot", "-5"], 2, None),
    "phantom_workers_zero": lambda f: (["phantom", str(f / "ph"), "--workers", "0"], 2, None),
    "view_port_out_of_range": lambda f: (["view", "--port", "70000"], 2, None),
}
