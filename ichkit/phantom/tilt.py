"""Scanner geometry for phantoms: a tilted gantry's oblique direction matrix, axes stored reversed.

Real head CTs are rarely axis-aligned: a gantry tilted by 10-25 degrees writes an oblique
direction into the DICOM/NIfTI geometry (rotation about x), a head turned in the holder about z,
and NIfTI converters often store the rows reversed (a negative direction column). The voxels
stay the same; only where they lie changes, which is what resampling code must get right.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..image import Volume
from . import Phantom


def rotation(deg_about_x: float = 0.0, deg_about_z: float = 0.0) -> np.ndarray:
    """3x3 rotation: first about x (gantry tilt), then about z (head turned), LPS."""
    a, b = np.deg2rad(deg_about_x), np.deg2rad(deg_about_z)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return rz @ rx


def _regrid(vol: Volume, rot: np.ndarray, reverse: tuple[int, ...]) -> Volume:
    """`vol` rotated about its centre by `rot`; array axes in `reverse` (0 x, 1 y, 2 z) stored reversed."""
    d = np.asarray(vol.direction, float)
    extent = (np.array(vol.shape[::-1]) - 1) * np.asarray(vol.spacing)
    centre = np.asarray(vol.origin) + d @ (extent / 2)
    d = rot @ d
    array = vol.array
    for axis in reverse:
        array = np.flip(array, 2 - axis)
        d[:, axis] = -d[:, axis]
    origin = centre - d @ (extent / 2)
    return Volume(np.ascontiguousarray(array), vol.spacing, tuple(origin), d, dict(vol.meta))


def tilt(phantom: Phantom, deg_about_x: float = 0.0, deg_about_z: float = 0.0, reverse: tuple[int, ...] = ()) -> Phantom:
    """The same phantom written with an oblique direction (a gantry tilted by `deg_about_x`, a head
    turned by `deg_about_z`), optionally with axes `reverse`d in storage; volumes are unchanged."""
    rot = rotation(deg_about_x, deg_about_z)
    vols = {k: _regrid(getattr(phantom, k), rot, reverse) for k in ("ct", "labels", "tissue") if getattr(phantom, k) is not None}
    params = {**phantom.params, "tilt_deg": [float(deg_about_x), float(deg_about_z)], "reversed_axes": list(reverse)}
    return replace(phantom, params=params, **vols)
