"""One family of user-facing errors, each with a stable code.

The CLI maps every `ICHError` to exit code 2 and prints its one-line message; anything else is an
internal error (exit 1). Messages always name the file and what is wrong with it.
"""

from __future__ import annotations

import warnings
from pathlib import Path


class ICHError(Exception):
    """Base of every user error: bad input, missing model, bad option."""

    code = "ich_error"

    def __init__(self, path: str | Path | None, problem: str):
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.problem.replace("\n", " ").strip()
        return f"{self.path}: {text}" if self.path else text


def _error(name: str, code: str, doc: str) -> type[ICHError]:
    return type(name, (ICHError,), {"code": code, "__doc__": doc})


UnreadableFileError = _error("UnreadableFileError", "unreadable", "The file is missing, truncated or not an image.")
NotCTError = _error("NotCTError", "not_ct", "The series is not CT (DICOM modality or RGB/vector pixels).")
NotVolumeError = _error("NotVolumeError", "not_3d", "The image is not a 3D scalar volume.")
TooFewSlicesError = _error("TooFewSlicesError", "too_few_slices", "Fewer slices than the minimum.")
SliceSpacingError = _error("SliceSpacingError", "slice_spacing", "Slice positions are not evenly spaced (missing or duplicated slices).")
GantryTiltError = _error("GantryTiltError", "gantry_tilt", "The series was acquired with gantry tilt (sheared grid).")
HURangeError = _error("HURangeError", "not_hu", "Values cannot be Hounsfield units.")
NonFiniteError = _error("NonFiniteError", "non_finite", "The image holds NaN or infinite values.")
GeometryMismatchError = _error("GeometryMismatchError", "geometry_mismatch", "Mask and CT grids differ.")
EmptyMaskError = _error("EmptyMaskError", "empty_mask", "The mask has no foreground voxel.")
NonBinaryMaskError = _error("NonBinaryMaskError", "non_binary_mask", "A binary mask was required.")
LabelValueError = _error("LabelValueError", "bad_labels", "The mask holds label values the product does not know.")
ImageTooLargeError = _error("ImageTooLargeError", "too_large", "The image exceeds the size limit.")
OutputExistsError = _error("OutputExistsError", "output_exists", "The output exists and would be overwritten.")
ModelError = _error("ModelError", "model", "A model is missing, corrupt or fails its checksum.")
OptionError = _error("OptionError", "bad_option", "A command-line option or parameter file is invalid.")
MixedSeriesError = _error("MixedSeriesError", "mixed_series", "A DICOM folder holds more than one patient or study, or the series asked for is not there.")
TableError = _error("TableError", "bad_table", "A table (CSV) lacks a column or holds values the command cannot use.")
OutputError = _error("OutputError", "bad_output", "An output cannot be written: a file where a folder must go, a read-only folder, a full disk.")


class ICHWarning(UserWarning):
    """Input that is usable but outside the methods' inclusion rules (e.g. slices over 5 mm)."""


def warn(path: str | Path | None, problem: str) -> None:
    """Emit an `ICHWarning` with the same 'file: problem' format as the errors."""
    warnings.warn(ICHError(path, problem).message, ICHWarning, stacklevel=2)
