"""A catalogue of malformed inputs: each builder writes (ct, mask) into a folder and names the
error the product must raise. Used by the bad-input suite and the batch fault tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from dicom_factory import head_like, write_series
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
    "dicom_gantry_tilt": (_ct_case(lambda f: _dicom(f, shear_mm_per_slice=(0.0, 1.2))), E.GantryTiltError),
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
