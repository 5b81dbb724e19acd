"""What a reader needs on each slice view: orientation letters, the slice number (of the CT's own
slices, not mm), the HU under the cursor and a slider that steps one CT slice at a time.

The geometry (`orientation_letters`, `slice_number`, `hu_at`, `slice_point`) is pure numpy on
the view's SliceToRAS matrix and the CT `Volume`, so it is tested without a render window;
`SliceOverlay` draws it over trame-slicer's views and keeps it current.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_slicer.app.ui import create_vertical_view_gutter_ui

from ..image import Volume

LPS_FLIP = np.array([-1.0, -1.0, 1.0])  # RAS <-> LPS (the same flip both ways)
POSITIVE, NEGATIVE = "RAS", "LPI"  # the patient side each RAS axis points to, and its opposite


def _letter(ras_direction: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(ras_direction)))
    return (POSITIVE if ras_direction[axis] > 0 else NEGATIVE)[axis]


def orientation_letters(slice_to_ras: np.ndarray) -> dict[str, str]:
    """The patient side at each edge of a view: its x axis (column 0) points to the right edge,
    its y axis (column 1) to the top. Axial in radiological convention gives R left, A top."""
    x, y = np.asarray(slice_to_ras)[:3, 0], np.asarray(slice_to_ras)[:3, 1]
    return {"right": _letter(x), "left": _letter(-x), "top": _letter(y), "bottom": _letter(-y)}


def _to_index(ct: Volume, ras: np.ndarray) -> np.ndarray:
    """Continuous (i, j, k) = (x, y, z) voxel index of a RAS point."""
    return (np.linalg.inv(ct.index_to_physical()) @ [*(LPS_FLIP * np.asarray(ras, float)[:3]), 1.0])[:3]


def _axis(ct: Volume, slice_to_ras: np.ndarray) -> int:
    """The CT index axis (0 x, 1 y, 2 z) most nearly along the view's normal."""
    normal_lps = LPS_FLIP * np.asarray(slice_to_ras)[:3, 2]
    in_index = np.linalg.inv(ct.index_to_physical()[:3, :3]) @ normal_lps
    return int(np.argmax(np.abs(in_index / np.linalg.norm(in_index))))


def slice_number(ct: Volume, slice_to_ras: np.ndarray) -> tuple[int, int]:
    """(number, count) of the CT slice a view shows, 1-based as on a PACS; number 0 when the
    plane lies outside the scan."""
    axis = _axis(ct, slice_to_ras)
    count = ct.shape[::-1][axis]
    index = int(round(float(_to_index(ct, np.asarray(slice_to_ras)[:3, 3])[axis])))
    return (index + 1 if 0 <= index < count else 0), count


def slice_point(ct: Volume, slice_to_ras: np.ndarray, number: int) -> np.ndarray:
    """A RAS point on CT slice `number` (1-based) along the view's normal: jump the view there."""
    axis = _axis(ct, slice_to_ras)
    ijk = _to_index(ct, np.asarray(slice_to_ras)[:3, 3])
    ijk[axis] = number - 1
    return LPS_FLIP * (ct.index_to_physical() @ [*ijk, 1.0])[:3]


def hu_at(ct: Volume, ras: np.ndarray) -> float | None:
    """The CT value of the voxel holding a RAS point; None outside the scan."""
    i, j, k = (int(round(float(v))) for v in _to_index(ct, ras))
    if not (0 <= k < ct.shape[0] and 0 <= j < ct.shape[1] and 0 <= i < ct.shape[2]):
        return None
    return float(ct.array[k, j, i])


def _matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


EDGE_STYLE = {
    "left": "left: 6px; top: 50%;", "right": "right: 6px; top: 50%;",
    "top": "top: 4px; left: 50%;", "bottom": "bottom: 40px; left: 50%;",
}
TEXT_STYLE = "position: absolute; color: #ffd54f; font: bold 15px sans-serif; text-shadow: 0 0 3px #000;"


class SliceOverlay:
    """Builds the overlay of each slice view (trame-slicer's `slice_view_ui_f`) and refreshes it
    when the view moves or the cursor does. `ct_of()` gives the CT shown, or None."""

    def __init__(self, server, ct_of: Callable[[], Volume | None]):
        self.server, self.ct_of = server, ct_of
        self.views: dict[str, object] = {}  # state key -> slice view
        self.moved: list[Callable[[], None]] = []  # called after a view's slice changed
        self.clicked: list[Callable[[np.ndarray], None]] = []  # called with the RAS point of a left click

    def __call__(self, server, view_id: str, view) -> None:
        key = "ichov_" + re.sub(r"\W", "_", str(view_id))
        self.views[key] = view
        server.state[key] = {"left": "", "right": "", "top": "", "bottom": "", "number": 0, "count": 1, "hu": ""}
        create_vertical_view_gutter_ui(server, view_id, view)  # reset-camera button, without the mm slider
        with html.Div(classes="ich-slice-overlay", style="position: absolute; inset: 0; pointer-events: none;"):
            for edge, style in EDGE_STYLE.items():
                html.Div(f"{{{{ {key}.{edge} }}}}", classes=f"orient-{edge}", style=TEXT_STYLE + style)
            html.Div(f"slice {{{{ {key}.number }}}} / {{{{ {key}.count }}}}", classes="slice-number", style=TEXT_STYLE + "right: 8px; bottom: 40px;")
            html.Div(f"{{{{ {key}.hu }}}}", classes="hu-readout", style=TEXT_STYLE + "right: 8px; top: 4px;")
            with html.Div(style="position: absolute; left: 40px; right: 40px; bottom: 4px; pointer-events: auto;"):
                v3.VSlider(model_value=(f"{key}.number",), min=1, max=(f"{key}.count",), step=1, density="compact", hide_details=True,
                           theme="dark", classes="slice-slider", update_modelValue=(self.go_to, f"['{key}', $event]"))
        view.modified.connect(lambda *_: self.refresh(key))
        view.interactor().AddObserver("MouseMoveEvent", lambda *_: self._cursor(key), 100.0)  # before the editor may abort it
        view.interactor().AddObserver("LeftButtonPressEvent", lambda *_: self._click(key), 100.0)
        self.refresh(key)

    def _slice_node(self, key: str):
        return self.views[key]._logic.GetSliceNode()

    def refresh(self, key: str) -> None:
        """Letters and slice number of one view (all views when `key` is None)."""
        for k in self.views if key is None else [key]:
            ct, node = self.ct_of(), self._slice_node(k)
            m = _matrix(node.GetSliceToRAS())
            number, count = slice_number(ct, m) if ct is not None else (0, 1)
            with self.server.state:
                self.server.state[k] = {**self.server.state[k], **orientation_letters(m), "number": number, "count": count}
        for callback in self.moved:
            callback()

    def number(self, orientation: str) -> int:
        """The slice number the first view of an orientation ("Axial"...) shows; a view turned to a
        tilted scan's planes is named "Reformat", so the first view (axial in every layout) then."""
        keys = [k for k, v in self.views.items() if v._logic.GetSliceNode().GetOrientation() == orientation] or list(self.views)[:1]
        return int(self.server.state[keys[0]]["number"]) if keys else 0

    def go_to(self, key: str, number) -> None:
        ct = self.ct_of()
        if ct is not None:
            node = self._slice_node(key)
            node.JumpSliceByOffsetting(*slice_point(ct, _matrix(node.GetSliceToRAS()), int(number)))

    def _event_ras(self, key: str) -> np.ndarray:
        x, y = self.views[key].interactor().GetEventPosition()
        return (_matrix(self._slice_node(key).GetXYToRAS()) @ [x, y, 0.0, 1.0])[:3]

    def voxel(self, ras: np.ndarray) -> tuple[int, int, int] | None:
        """[z, y, x] of the CT voxel holding a RAS point, None outside the scan."""
        ct = self.ct_of()
        i, j, k = (int(round(float(v))) for v in _to_index(ct, ras))
        inside = 0 <= k < ct.shape[0] and 0 <= j < ct.shape[1] and 0 <= i < ct.shape[2]
        return (k, j, i) if inside else None

    def _click(self, key: str) -> None:
        if self.ct_of() is not None:
            for callback in self.clicked:
                callback(self._event_ras(key))

    def _cursor(self, key: str) -> None:
        ct = self.ct_of()
        if ct is None:
            return
        value = hu_at(ct, self._event_ras(key))
        with self.server.state:
            self.server.state[key] = {**self.server.state[key], "hu": "" if value is None else f"HU {value:.0f}"}
