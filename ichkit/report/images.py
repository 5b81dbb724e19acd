"""Key images of a report: windowed CT slices with outlines drawn on them (hematoma, the signs'
regions) and the midline lines, as RGB arrays and inline PNGs. Outlines, not fills, so the
clot's own density (what the signs are about) stays visible under the drawing."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image
from scipy import ndimage

from ..anatomy.text import slice_text
from ..labels import LABELS

BRAIN_WINDOW = (40.0, 80.0)  # level, width (HU)
OVERLAY_ALPHA = 0.45
SIGN_COLOURS = {"blend": (1.0, 0.85, 0.0), "hypodensity": (0.0, 0.9, 0.9), "black_hole": (1.0, 0.4, 0.0),
                "swirl": (0.6, 1.0, 0.3), "island": (1.0, 0.3, 0.8), "satellite": (1.0, 0.3, 0.8), "barras_density": (0.0, 0.9, 0.9)}
HEAD_HU = -300.0  # above this a pixel is not air
MIDLINE_COLOURS = {"ideal": (0.2, 1.0, 0.2), "septum": (1.0, 0.2, 1.0)}


def windowed(ct_slice: np.ndarray, window=BRAIN_WINDOW) -> np.ndarray:
    """Grey RGB floats in [0, 1] of one CT slice."""
    level, width = window
    grey = np.clip((ct_slice.astype(float) - (level - width / 2)) / width, 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=2)


def overlay_rgb(ct_slice: np.ndarray, label_slice: np.ndarray, window=BRAIN_WINDOW, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """A windowed grey CT slice with each label blended in its product colour (uint8 RGB)."""
    rgb = windowed(ct_slice, window)
    for value, lab in LABELS.items():
        where = label_slice == value
        rgb[where] = (1 - alpha) * rgb[where] + alpha * np.array(lab.color)
    return (255 * rgb).round().astype(np.uint8)


def png_base64(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def outline(mask2d: np.ndarray) -> np.ndarray:
    """The mask's edge pixels (inside, 4-neighbour boundary), thickened to 2 px for print."""
    m = np.asarray(mask2d, bool)
    return ndimage.binary_dilation(m & ~ndimage.binary_erosion(m), iterations=1)


def draw_line(rgb: np.ndarray, p0, p1, colour, width: int = 2) -> None:
    """Draw the segment (x0, y0)-(x1, y1) in pixel indices onto a float RGB image, in place."""
    n = int(np.ceil(np.hypot(p1[0] - p0[0], p1[1] - p0[1]))) + 1
    xs, ys = np.linspace(p0[0], p1[0], n), np.linspace(p0[1], p1[1], n)
    for d in range(-(width // 2), width - width // 2):
        for x, y in ((xs + d, ys), (xs, ys + d)):
            xi, yi = np.rint(x).astype(int), np.rint(y).astype(int)
            ok = (xi >= 0) & (yi >= 0) & (xi < rgb.shape[1]) & (yi < rgb.shape[0])
            rgb[yi[ok], xi[ok]] = colour


def label_outlines(rgb: np.ndarray, label_slice: np.ndarray) -> None:
    for value, lab in LABELS.items():
        where = label_slice == value
        if where.any():
            rgb[outline(where)] = lab.color


def head_box(ct_slice: np.ndarray, margin: int = 8) -> tuple[slice, slice]:
    """The slice cropped to what is not air (head, holder), so the print shows the brain large."""
    ys, xs = np.nonzero(ct_slice > HEAD_HU)
    if ys.size == 0:
        return slice(None), slice(None)
    return (slice(max(ys.min() - margin, 0), ys.max() + margin + 1), slice(max(xs.min() - margin, 0), xs.max() + margin + 1))


def midline_lines(midline: dict | None) -> tuple[int | None, dict[str, tuple]]:
    """(slice, {"ideal": ((x0, y0), (x1, y1)), "septum": ...}) in pixel indices, from the
    read-out's midline part (`ichkit.anatomy.midline`); (None, {}) when it draws nothing."""
    if not midline or midline.get("status", "undetermined") == "undetermined":
        return None, {}
    lines = {}
    for name in ("ideal", "septum"):
        line = midline.get(f"{name}_line")
        if line:
            lines[name] = (tuple(line["start"]["voxel_xyz"][:2]), tuple(line["end"]["voxel_xyz"][:2]))
    return midline.get("slice"), lines


def timepoint_images(name: str, ct, labels, readout: dict | None, key: int | None, *, with_signs: bool = True) -> list[dict]:
    """The time point's key images as {"title", "caption", "slice", "png"}: the hematoma's key
    slice (labels outlined, signs' regions there too), each present sign on its own slice when it
    differs, and the midline slice with its two lines."""
    regions = {k: v.array for k, v in getattr((readout or {}).get("signs"), "regions", {}).items()} if with_signs else {}
    table = ((readout or {}).get("signs") or {}).get("signs", {}) if with_signs else {}
    present = {k: regions[k] for k, e in table.items() if isinstance(e, dict) and e.get("present") and k in regions}
    out = []

    def image(z: int, title: str, caption: str, signs: dict, lines: dict) -> None:
        rgb = windowed(ct.array[z])
        label_outlines(rgb, labels.array[z])
        for sign, region in sorted(signs.items(), key=lambda kv: not kv[0].startswith("barras")):  # named signs drawn last, on top
            if region[z].any():
                rgb[outline(region[z])] = SIGN_COLOURS.get(sign, (1.0, 1.0, 1.0))
        for line, (p0, p1) in lines.items():
            draw_line(rgb, p0, p1, MIDLINE_COLOURS.get(line, (1.0, 1.0, 1.0)))
        rgb = rgb[head_box(ct.array[z])]
        out.append({"title": title, "caption": caption, "slice": int(z), "png": png_base64((255 * rgb).round().astype(np.uint8))})

    if key is not None:
        on_key = {k: r for k, r in present.items() if r[key].any()}
        extra = f"; outlined signs: {', '.join(on_key)}" if on_key else ""
        image(key, f"{name}: hematoma", f"axial {slice_text(key)}, largest hematoma area; labels outlined in their colours{extra}", on_key, {})
        for sign, region in present.items():
            if sign in on_key:
                continue
            z = int(np.argmax(region.sum(axis=(1, 2))))
            image(z, f"{name}: {sign.replace('_', ' ')}", f"axial {slice_text(z)}, the {sign.replace('_', ' ')} region outlined", {sign: region}, {})
    z, lines = midline_lines((readout or {}).get("midline"))
    if z is not None and lines:
        image(int(z), f"{name}: midline", f"axial {slice_text(z)}: ideal midline (green), septum pellucidum (magenta)", {}, lines)
    return out
