"""Key images of a read-out as PNG bytes: the location on the atlas, the signs' regions, the midline.

The location image shows the atlas regions warped onto the hematoma's key slice, tinted by
location class with their borders drawn, and the hemorrhage outlined: the reader sees at once
whether the map fits this head. Signs and midline images come from the report's drawing
helpers (`ichkit.report.images`), so both outputs draw them the same way.
"""

from __future__ import annotations

import base64
import re

import numpy as np

from ..image import Volume
from ..anatomy.atlas import DEEP, INFRATENTORIAL, INTRAVENTRICULAR, LOBAR, Atlas, load_atlas
from ..anatomy.location import atlas_index
from ..anatomy.registration import Registration
from .images import head_box, label_outlines, png_base64, timepoint_images, windowed

CLASS_COLOURS = {DEEP: (0.1, 0.8, 0.9), LOBAR: (0.3, 0.85, 0.3), INFRATENTORIAL: (0.9, 0.4, 0.9), INTRAVENTRICULAR: (0.3, 0.4, 1.0)}
TINT = 0.22


def _slice_regions(ct: Volume, z: int, atlas: Atlas, reg: Registration) -> np.ndarray:
    """Atlas region index under every pixel of slice z, 0 outside the template's intracranial mask."""
    ny, nx = ct.shape[1:]
    y, x = np.mgrid[0:ny, 0:nx]
    ijk = np.column_stack([x.ravel(), y.ravel(), np.full(x.size, z)]).astype(np.float64)
    m = ct.index_to_physical()
    zyx, inside = atlas_index(atlas, reg.to_template(ijk @ m[:3, :3].T + m[:3, 3]))
    regions = atlas.regions.array[zyx[:, 0], zyx[:, 1], zyx[:, 2]] * (atlas.mask.array[zyx[:, 0], zyx[:, 1], zyx[:, 2]] > 0)
    return np.where(inside, regions, 0).reshape(ny, nx)


def location_png(ct: Volume, mask: Volume, z: int, atlas: Atlas, reg: Registration) -> bytes:
    """Slice z: atlas regions tinted by class with their borders, hemorrhage labels outlined."""
    rgb = windowed(ct.array[z])
    regions = _slice_regions(ct, z, atlas, reg)
    for index, region in atlas.table.items():
        where = regions == index
        if where.any():
            colour = np.array(CLASS_COLOURS[region.klass])
            rgb[where] = (1 - TINT) * rgb[where] + TINT * colour
            edge = where & ~np.roll(where, 1, 0) | where & ~np.roll(where, 1, 1)
            rgb[edge] = 0.5 * rgb[edge] + 0.5 * colour
    label_outlines(rgb, mask.array[z])
    rgb = rgb[head_box(ct.array[z])]
    return base64.b64decode(png_base64((255 * rgb).round().astype(np.uint8)))


def readout_images(ct: Volume, mask: Volume, readout: dict) -> dict[str, bytes]:
    """File name -> PNG bytes of every key image of the read-out."""
    out = {}
    location = readout.get("location") or {}
    if location.get("status") == "determined":
        atlas, reg = load_atlas(), Registration.from_summary(location["registration"])
        for name, loc in location["labels"].items():
            if loc.get("status") == "determined":
                out[f"location_{_slug(name)}.png"] = location_png(ct, mask, loc["slice"], atlas, reg)
    key = int(np.argmax(np.count_nonzero(mask.array, axis=(1, 2))))
    for image in timepoint_images("scan", ct, mask, readout, key):
        out[f"{_slug(image['title'].removeprefix('scan: '))}.png"] = base64.b64decode(image["png"])
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
