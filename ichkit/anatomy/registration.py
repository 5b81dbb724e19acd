"""Affine registration of the scan's intracranial mask onto the atlas's template mask.

Why masks: the atlas ships without its CT template image, and the intracranial outline is what
a non-contrast CT shows reliably. Both masks are reduced to occupancy fractions on a coarse
grid (2 mm in-plane, the slices as they are; the template at 2 mm), smoothed so that the mean
squares metric has a wide basin, and aligned by a 12-parameter affine map started from the
centroids and the volume ratio (the CT's direction matrix already puts both in LPS, so no
rotation is guessed). Quality is the Dice of the warped intracranial mask with the template
mask; below `MIN_DICE` the map is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..image import Volume
from ..preprocess.headmask import brain_mask
from .atlas import Atlas

GRID_MM = 2.0  # working resolution of the registration
SMOOTH_MM = 4.0  # Gaussian sigma applied to both occupancy maps
MIN_DICE = 0.85  # below: the location is undetermined (phantoms give 0.93-0.97, docs/readout.md)
MIN_INTRACRANIAL_ML = 700.0  # adult intracranial volume is 1,200-1,700 mL; far less: not the whole brain
SCALE_RANGE = (0.7, 1.4)  # plausible axis scales of an adult head against the template


def intracranial(ct: Volume) -> Volume:
    """The mask registered onto the template: the intracranial soft tissue (`brain_mask`), like
    BLAST-CT's template mask. `intracranial_mask` (the whole cavity inside the inner table, what
    BLAST-CT segments in) takes in more at the skull base and broke 1 of 6 planted locations."""
    return brain_mask(ct)


@dataclass
class Registration:
    """x_template = matrix @ x_patient + offset (LPS mm), with its quality."""

    matrix: np.ndarray | None
    offset: np.ndarray | None
    dice: float | None
    intracranial_ml: float
    reason: str | None = None  # why the map must not be used; None when it is good

    @property
    def ok(self) -> bool:
        return self.reason is None

    def to_template(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) patient LPS mm -> (N, 3) template LPS mm."""
        return points @ self.matrix.T + self.offset

    def summary(self) -> dict:
        scales = None if self.matrix is None else np.linalg.svd(self.matrix, compute_uv=False)
        return {
            "method": "affine, intracranial mask onto the template mask (mean squares of smoothed occupancy)",
            "dice": None if self.dice is None else round(self.dice, 4),
            "min_dice": MIN_DICE,
            "intracranial_ml": round(self.intracranial_ml, 1),
            "axis_scales": None if scales is None else [round(float(s), 3) for s in 1 / scales],
            "to_template": None if self.matrix is None else {"matrix": np.round(self.matrix, 6).tolist(), "offset": np.round(self.offset, 4).tolist()},
        }

    @classmethod
    def from_summary(cls, d: dict) -> "Registration":
        """The map back from `summary()` (a stored read-out), to draw or re-locate with it."""
        t = d.get("to_template") or {}
        return cls(np.array(t["matrix"]) if t else None, np.array(t["offset"]) if t else None, d.get("dice"), d.get("intracranial_ml") or 0.0)


def _occupancy(mask: Volume, factor: tuple[int, int]) -> sitk.Image:
    """Block-mean of a mask over (y, x) blocks: a fraction map on a coarser in-plane grid."""
    fy, fx = factor
    a = mask.array > 0
    nz, ny, nx = a.shape
    a = a[:, : ny - ny % fy, : nx - nx % fx]
    frac = a.reshape(nz, ny // fy, fy, nx // fx, fx).mean(axis=(2, 4), dtype=np.float32)
    img = sitk.GetImageFromArray(frac)
    img.SetSpacing((mask.spacing[0] * fx, mask.spacing[1] * fy, mask.spacing[2]))
    corner = mask.index_to_physical() @ np.array([(fx - 1) / 2, (fy - 1) / 2, 0.0, 1.0])
    img.SetOrigin(tuple(corner[:3]))
    img.SetDirection(tuple(mask.direction.ravel()))
    return img


def _template_image(atlas: Atlas) -> sitk.Image:
    m = atlas.mask
    f = max(1, int(round(GRID_MM / m.spacing[0])))
    img = sitk.Cast(m.to_sitk(), sitk.sitkFloat32)
    return sitk.BinShrink(img, [f, f, f]) if f > 1 else img


def _centroid(img: sitk.Image) -> np.ndarray:
    z, y, x = ndimage.center_of_mass(sitk.GetArrayViewFromImage(img))
    return np.array(img.TransformContinuousIndexToPhysicalPoint((float(x), float(y), float(z))))


def _volume_ml(img: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(img).sum()) * float(np.prod(img.GetSpacing())) / 1000.0


def register(ct: Volume, atlas: Atlas, icm: Volume | None = None) -> Registration:
    """Map the scan into the atlas; a Registration with `reason` set when it cannot be trusted."""
    icm = icm if icm is not None else intracranial(ct)
    ml = float(np.count_nonzero(icm.array)) * icm.voxel_volume_ml
    if ml < MIN_INTRACRANIAL_ML:
        return Registration(None, None, None, ml, f"intracranial mask of {ml:.0f} mL (< {MIN_INTRACRANIAL_ML:.0f} mL): the scan does not cover the brain")
    factor = tuple(max(1, int(round(GRID_MM / s))) for s in (icm.spacing[1], icm.spacing[0]))
    moving = _occupancy(icm, factor)
    fixed = _template_image(atlas)
    sm_moving = sitk.SmoothingRecursiveGaussian(moving, SMOOTH_MM)
    sm_fixed = sitk.SmoothingRecursiveGaussian(fixed, SMOOTH_MM)

    c_fixed, c_moving = _centroid(fixed), _centroid(moving)
    scale = (_volume_ml(moving) / _volume_ml(fixed)) ** (1 / 3)
    init = sitk.AffineTransform(3)
    init.SetCenter(tuple(c_fixed))
    init.SetMatrix(tuple((np.eye(3) * scale).ravel()))
    init.SetTranslation(tuple(c_moving - c_fixed))

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMeanSquares()
    reg.SetMetricSamplingStrategy(reg.REGULAR)
    reg.SetMetricSamplingPercentage(0.25, seed=1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=200, relaxationFactor=0.6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([4.0, 0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(init, inPlace=True)
    try:
        reg.Execute(sm_fixed, sm_moving)
    except RuntimeError as exc:
        return Registration(None, None, None, ml, f"registration failed ({str(exc).splitlines()[-1][:120]})")

    # fixed (template) -> moving (patient): x_p = A (x_t - c) + c + t; invert for patient -> template
    A = np.array(init.GetMatrix()).reshape(3, 3)
    c, t = np.array(init.GetCenter()), np.array(init.GetTranslation())
    inv = np.linalg.inv(A)
    matrix, offset = inv, c - inv @ (c + t)
    warped = sitk.Resample(moving, fixed, init, sitk.sitkLinear, 0.0)
    w = sitk.GetArrayViewFromImage(warped) >= 0.5
    f = sitk.GetArrayViewFromImage(fixed) >= 0.5
    dice = float(2 * np.count_nonzero(w & f) / max(1, np.count_nonzero(w) + np.count_nonzero(f)))
    result = Registration(matrix, offset, dice, ml)
    scales = 1 / np.linalg.svd(matrix, compute_uv=False)
    if not (SCALE_RANGE[0] <= scales.min() and scales.max() <= SCALE_RANGE[1]):
        result.reason = f"implausible affine scales {', '.join(f'{s:.2f}' for s in scales)} (outside {SCALE_RANGE[0]}-{SCALE_RANGE[1]}): failed registration"
    elif dice < MIN_DICE:
        result.reason = f"registration quality Dice {dice:.3f} < {MIN_DICE}: the intracranial mask does not match the template (partial coverage or a failed registration)"
    return result
