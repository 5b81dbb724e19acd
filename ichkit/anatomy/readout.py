"""The whole imaging read-out of one scan: location in the atlas, expansion signs, midline shift.

Each part carries `status` ("determined" or "undetermined") and `reason`; an undetermined part
holds no figure that could be mistaken for a measurement. `versions` names the definition
version of every part so that stored read-outs stay comparable; `slice_index` says that its
slices are 0-based array indices (the texts, `anatomy.text`, number them from 1).
"""

from __future__ import annotations

import numpy as np

from ..errors import EmptyMaskError, GeometryMismatchError
from ..image import Volume
from ..progress import Progress, silent
from .atlas import load_atlas
from .location import VERSION as LOCATION_VERSION
from .location import locate
from .midline import midline_shift
from .registration import intracranial, register
from .signs import expansion_signs
from .text import SLICE_INDEX


def run_readout(ct: Volume, mask: Volume, *, progress: Progress | None = None) -> dict:
    """The read-out as a JSON-able dict (keys location, signs, midline, versions, slice_index)."""
    progress = progress or silent
    if not mask.same_geometry(ct):
        raise GeometryMismatchError(mask.meta.get("source"), "mask grid differs from the CT's")
    if not np.any(mask.array):
        raise EmptyMaskError(mask.meta.get("source"), "the mask has no hemorrhage voxel: nothing to read out")
    atlas = load_atlas()  # fails fast, before any work, when the atlas is not installed
    progress(0, 4, "intracranial mask")
    icm = intracranial(ct)
    progress(1, 4, "registration to the atlas")
    location = locate(mask, atlas, register(ct, atlas, icm))
    progress(2, 4, "expansion signs")
    signs = expansion_signs(ct, mask)
    progress(3, 4, "midline shift")
    midline = midline_shift(ct, mask, intracranial=icm)
    progress(4, 4, "done")
    return {
        "location": location,
        "signs": signs,
        "midline": midline,
        "versions": {"location": LOCATION_VERSION, "signs": signs.get("version"), "midline": midline.get("version")},
        "slice_index": SLICE_INDEX,
    }


SUMMARY_COLUMNS = ("location_status", "location_class", "location_side", "location_region", "registration_dice",
                   "signs_present", "midline_shift_mm", "midline_direction")


def summary_columns(readout: dict, label: str = "IPH") -> dict:
    """Flat figures of one read-out for a cohort table (the IPH's location; signs; midline)."""
    loc = readout.get("location") or {}
    lab = (loc.get("labels") or {}).get(label) or {}
    determined = loc.get("status") == "determined" and lab.get("status") == "determined"
    signs = readout.get("signs") or {}
    mid = readout.get("midline") or {}
    return {
        "location_status": "determined" if determined else "undetermined",
        "location_class": lab.get("class") if determined else "",
        "location_side": lab.get("side") if determined else "",
        "location_region": lab.get("largest_region") if determined else "",
        "registration_dice": (loc.get("registration") or {}).get("dice") or "",
        "signs_present": ";".join(k for k, e in (signs.get("signs") or {}).items() if isinstance(e, dict) and e.get("present")),
        "midline_shift_mm": mid.get("shift_mm") if mid.get("shift_mm") is not None else "",
        "midline_direction": mid.get("direction") or "",
    }
