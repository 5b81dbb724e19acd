"""The one image type of the data path: a numpy array plus its physical geometry.

`array` is indexed [z, y, x] (slices first, as SimpleITK's GetArrayFromImage gives it);
`spacing` and `origin` are in (x, y, z) mm order and `direction` is the 3x3 ITK direction
matrix (LPS), so conversions to SimpleITK, NRRD and MRML are exact and loss-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import SimpleITK as sitk


@dataclass
class Volume:
    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def with_array(self, array: np.ndarray, **meta: Any) -> "Volume":
        """Same geometry, new voxels (e.g. a mask or a heatmap aligned with this CT)."""
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from volume shape {self.array.shape}")
        return replace(self, array=array, meta={**self.meta, **meta})

    def same_geometry(self, other: "Volume", tol: float = 1e-3) -> bool:
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, rtol=tol, atol=tol)
            and np.allclose(self.origin, other.origin, atol=max(tol, tol * max(self.spacing)))
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    def index_to_physical(self) -> np.ndarray:
        """4x4 matrix mapping (i, j, k) = (x, y, z) indices to LPS millimetres."""
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    def to_sitk(self) -> sitk.Image:
        img = sitk.GetImageFromArray(self.array)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(tuple(self.direction.ravel()))
        return img

    @classmethod
    def from_sitk(cls, img: sitk.Image, **meta: Any) -> "Volume":
        if img.GetDimension() != 3:
            raise ValueError(f"expected a 3D image, got {img.GetDimension()}D")
        return cls(
            array=sitk.GetArrayFromImage(img),
            spacing=img.GetSpacing(),
            origin=img.GetOrigin(),
            direction=np.array(img.GetDirection()).reshape(3, 3),
            meta=dict(meta),
        )
