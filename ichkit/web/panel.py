"""The ICH side panel (right drawer): load, segment (model, ensemble size), live volumes (with an
ensemble's ranges and its disagreement overlay), verdict, the risk panel
(read-out, clinical inputs and scores, then the classifiers with their Grad-CAM overlay), export,
ground truth and the fine-tuning offer.

Pure layout: every widget reads the `ich` state dict (`Session.panel()`) or a form field, and
every button calls a controller method the app defines. Ids are stable for the browser tests.
"""

from __future__ import annotations

import numpy as np
from trame.widgets import html
from trame.widgets import vuetify3 as v3

from ..app.riskpanel import CLINICAL_FIELDS
from ..scene import HEAT_RAMP
from .risk import CAM_VISIBLE_FROM
from .tools import BLOOD_HU, ISLAND_MIN_ML
from .uncertainty import ENSEMBLE_CHOICES, ENSEMBLE_HELP

# (level, width) HU. Brain and subdural as in Radiopaedia's "Windowing (CT)" (head: brain W80 L40,
# subdural W130-300 L50-100, here its middle W215 L75); bone W2800 L600 as its temporal-bone window.
WINDOW_PRESETS = {"brain": (40, 80), "subdural / blood": (75, 215), "bone": (600, 2800)}
BRUSH_STATE = "PaintEffectState__"  # trame-slicer's brush state (shared by the brush and the eraser)
SEGMENTS = "SegmentEditorState__segment_list__SegmentListState__"
CLINICAL_STATE = {key: f"clinical_{key}" for key in CLINICAL_FIELDS}  # Clinical field -> its form's state key

FORM_DEFAULTS = {
    "ct_path": "",
    "mask_path": "",
    "followup_path": "",
    "export_dir": "",
    "gt_dir": "",
    "gt_case": "",
    "overwrite": False,
    "upload": None,
    "mask_upload": None,
    "window_preset": "brain",
    "window_level": WINDOW_PRESETS["brain"][0],
    "window_width": WINDOW_PRESETS["brain"][1],
    "cam_note": "",
    "tool_hu_low": BLOOD_HU[0],
    "tool_hu_high": BLOOD_HU[1],
    "tool_hu_limit": False,
    "tool_grow": False,
    "exported": [],
    "layout": "Axial",
    "cam_show": False,
    "cam_task": "he",
    "cam_opacity": 0.5,
    "show_demo": False,
    "seg_model": "",
    "seg_ensemble": 1,
    "disagree_show": False,
    "disagree_note": "",
    "ft_name": "",
    "ft_dir": "",
    **{name: "" for name in CLINICAL_STATE.values()},
}


def _section(title: str) -> None:
    v3.VDivider(classes="my-2")
    html.Div(title, classes="text-subtitle-2 mb-1")


def _error(control: str) -> None:
    """Why `control`'s last action failed, right under it."""
    html.Div(f"{{{{ ich.errors.{control} }}}}", id=f"{control.replace('_', '-')}-error", v_if=(f"ich.errors.{control}",),
             classes="text-caption text-error")


def build_edit_status() -> None:
    """Above the Segment Editor: the segment being edited and what a brush stroke reaches."""
    with html.Div(classes="px-3 pt-2 text-body-2", id="edit-status"):
        html.Div("Editing: {{ (%ssegments.find(s => s.segment_id === %sactive_segment_id) || {name: 'no segment'}).name }}"
                 % (SEGMENTS, SEGMENTS), id="editing-segment", classes="font-weight-bold")
        html.Div("Brush and eraser: {{ %suse_sphere_brush ? '3D sphere: also the slices above and below' : '2D: only the slice on screen' }}"
                 % BRUSH_STATE, id="edit-mode", classes="text-caption")
        html.Div("Brush size: {{ %sbrush_diameter_slider__SliderState__value }} mm" % BRUSH_STATE, id="brush-size", classes="text-caption")


def build_panel(ctrl, layouts: list[str]) -> None:
    """The panel's widgets, inside the caller's `with` block."""
    with html.Div(classes="pa-3", id="ich-panel", style="overflow-y: auto; height: 100%;"):
        html.Div("{{ ich.case || 'No case loaded' }}", id="case-name", classes="text-h6")
        html.Div("{{ ich.status }}", id="status", classes="text-caption mb-2")
        with html.Div(id="warnings", v_if=("ich.warnings.length",), classes="text-caption text-warning mb-2"):
            html.Div("warning: {{ w }}", v_for="w in ich.warnings", key="w")

        _section("Load")
        v3.VTextField(v_model=("ct_path",), label="CT path (NIfTI, NRRD, DICOM folder)", id="ct-path", density="compact", hide_details=True)
        v3.VTextField(v_model=("mask_path",), label="mask path (optional)", id="mask-path", density="compact", hide_details=True, classes="mt-1")
        v3.VBtn("Load", id="load-btn", click=ctrl.ich_load, size="small", classes="mt-1", variant="tonal")
        _error("load")
        v3.VFileInput(v_model=("upload",), label="or upload a CT (file, DICOM zip or files)", id="upload",
                      density="compact", hide_details=True, classes="mt-2", show_size=True, multiple=True)
        _error("upload")
        v3.VFileInput(v_model=("mask_upload",), label="upload a mask for this CT", id="mask-upload", density="compact", hide_details=True,
                      classes="mt-1", disabled=("!ich.has_ct",))
        _error("mask_upload")
        v3.VTextField(v_model=("followup_path",), label="follow-up CT path", id="followup-path", density="compact", hide_details=True, classes="mt-2")
        v3.VBtn("Load follow-up", id="followup-btn", click=ctrl.ich_load_followup, size="small", classes="mt-1", variant="tonal", disabled=("!ich.has_ct",))
        _error("followup")
        html.Div("follow-up: {{ ich.followup }}{{ ich.followup_pending ? ' (no mask yet: press Segment to measure it)' : '' }}",
                 id="followup", v_if=("ich.followup",), classes="text-caption mt-1")
        v3.VSelect(v_model=("layout",), items=(repr(layouts),), label="layout", id="layout", density="compact", hide_details=True, classes="mt-2")
        with html.Div(classes="d-flex mt-1", style="gap: 4px;"):
            v3.VSelect(v_model=("window_preset",), items=(repr(list(WINDOW_PRESETS)),), label="window", id="window-preset",
                       density="compact", hide_details=True, style="min-width: 150px;")
            v3.VTextField(v_model_number=("window_level",), type="number", label="level", id="window-level", density="compact", hide_details=True)
            v3.VTextField(v_model_number=("window_width",), type="number", label="width", id="window-width", density="compact", hide_details=True)

        _section("Segment")
        v3.VSelect(v_model=("seg_model",), items=("seg_models",), label="model", id="seg-model", density="compact", hide_details=True,
                   update_menu=(ctrl.ich_refresh_models, "[$event]"))
        with html.Div(title=ENSEMBLE_HELP, id="seg-ensemble-help"):
            v3.VSelect(v_model_number=("seg_ensemble",), items=(repr(ENSEMBLE_CHOICES),), label="networks (ensemble)", id="seg-ensemble",
                       density="compact", classes="mt-1", persistent_hint=True,
                       hint="each network adds roughly one network's time; N > 1: volume ranges and a disagreement map")
        with html.Div(classes="d-flex align-center mt-1"):
            v3.VBtn("Segment", id="segment-btn", click=ctrl.ich_segment, size="small", variant="tonal", disabled=("!ich.has_ct || ich.progress !== null || ich.predicting",))
            v3.VBtn("Cancel", id="cancel-btn", click=ctrl.ich_cancel, size="small", variant="text", v_if=("ich.progress !== null",))
        v3.VProgressLinear(model_value=("ich.progress",), indeterminate=("ich.progress === 0",), v_if=("ich.progress !== null",), id="seg-progress", height=8, color="primary", classes="mt-1")
        html.Div("{{ ich.source }}", id="source", classes="text-caption mt-1")
        html.Div("Demo model, not for clinical use.", id="demo-warning", v_if=("ich.demo",), classes="text-caption text-error")
        v3.VCheckbox(v_model=("disagree_show",), label="networks' disagreement overlay", id="disagree-show", density="compact",
                     hide_details=True, v_if=("ich.ensemble && ich.ensemble.has_map",))
        html.Div("{{ disagree_note }}", id="disagree-note", v_if=("disagree_show && disagree_note",), classes="text-caption")
        _error("disagree")

        _section("Volumes (mL)")
        tight = ("ich.ensemble ? 'px-1' : ''",)  # room for the range column in the drawer's width
        with v3.VTable(density="compact", id="volumes"):
            with html.Thead():
                with html.Tr():
                    for head in ("", "mesh", "voxel", "ABC/2"):
                        html.Th(head, classes=tight)
                    html.Th("voxel range", v_if=("ich.ensemble",), classes="px-1")
            with html.Tbody():
                with html.Tr(v_for="row in ich.rows", key="row.region", id=("`row-${row.region}`",)):
                    html.Td("{{ row.title }}", classes=tight)
                    html.Td("{{ row.mesh_ml.toFixed(2) }}", id=("`mesh-${row.region}`",), classes=tight)
                    html.Td("{{ row.voxel_ml.toFixed(2) }}", id=("`voxel-${row.region}`",), classes=tight)
                    html.Td("{{ row.abc2_ml.toFixed(2) }}", id=("`abc2-${row.region}`",), classes=tight)
                    html.Td("{{ row.interval }}", id=("`interval-${row.region}`",), v_if=("ich.ensemble",), classes="px-1",
                            style="white-space: nowrap;")
        html.Div("{{ ich.ensemble.caption }}", id="interval-caption", v_if=("ich.ensemble",), classes="text-caption")
        html.Div("edited", id="edited", v_if=("ich.edited",), classes="text-caption text-warning")
        html.Div("{{ ich.verdict }}", id="verdict", v_if=("ich.verdict",), classes="text-body-2 mt-1 font-weight-bold")

        _build_tools(ctrl)
        _build_risk(ctrl)

        _section("Save")
        v3.VTextField(v_model=("export_dir",), label="export folder", id="export-dir", density="compact", hide_details=True)
        v3.VCheckbox(v_model=("overwrite",), label="replace existing files", id="overwrite", density="compact", hide_details=True)
        v3.VBtn("Export .seg.nrrd, NIfTI, CSV, report", id="export-btn", click=ctrl.ich_export, size="small", variant="tonal", disabled=("!ich.has_mask",))
        _error("export")
        with html.Ul(id="exported", classes="text-caption"):
            html.Li("{{ f }}", v_for="f in exported", key="f")
        v3.VTextField(v_model=("gt_dir",), label="ground-truth dataset folder", id="gt-dir", density="compact", hide_details=True, classes="mt-2")
        v3.VTextField(v_model=("gt_case",), label="case id", id="gt-case", density="compact", hide_details=True, classes="mt-1")
        v3.VBtn("Save as ground truth", id="gt-btn", click=ctrl.ich_ground_truth, size="small", variant="tonal", disabled=("!ich.has_mask",), classes="mt-1")
        _error("gt")
        _build_finetune(ctrl)


def _build_finetune(ctrl) -> None:
    """The fine-tuning offer under "save as ground truth": the count, then (from the minimum on)
    the model's name, the work folder, "Fine-tune now", its progress and Cancel."""
    html.Div("{{ ft.offer.text }}", id="ft-offer", v_if=("ft.offer",), classes="text-caption mt-1")
    with html.Div(v_if=("ft.offer && ft.offer.ready",)):
        v3.VTextField(v_model=("ft_name",), label="new model's name", placeholder=("ft.default_name",), persistent_placeholder=True,
                      id="ft-name", density="compact", hide_details=True, classes="mt-1")
        v3.VTextField(v_model=("ft_dir",), label="work folder", placeholder="beside the dataset: finetune-NAME", persistent_placeholder=True,
                      id="ft-dir", density="compact", hide_details=True, classes="mt-1")
        with html.Div(classes="d-flex align-center mt-1"):
            v3.VBtn("Fine-tune now", id="ft-btn", click=ctrl.ich_finetune, size="small", variant="tonal", disabled=("ft.running",))
            v3.VBtn("Cancel", id="ft-cancel-btn", click=ctrl.ich_cancel_finetune, size="small", variant="text", v_if=("ft.running",))
    v3.VProgressLinear(model_value=("ft.progress",), indeterminate=("ft.progress === 0",), v_if=("ft.running",), id="ft-progress", height=8,
                       color="primary", classes="mt-1")
    html.Div("{{ ft.text }}", id="ft-status", v_if=("ft.text",), classes="text-caption")
    _error("finetune")


def _build_tools(ctrl) -> None:
    """Correction tools on the segment being edited (named in the editor's drawer)."""
    _section("Correction tools")
    with html.Div(classes="d-flex", style="gap: 4px;"):
        v3.VTextField(v_model_number=("tool_hu_low",), type="number", label="HU from", id="hu-low", density="compact", hide_details=True)
        v3.VTextField(v_model_number=("tool_hu_high",), type="number", label="HU to", id="hu-high", density="compact", hide_details=True)
    v3.VCheckbox(v_model=("tool_hu_limit",), label="brush and eraser change only voxels in this HU range", id="hu-limit",
                 density="compact", hide_details=True, disabled=("!ich.has_ct",))
    with html.Div(classes="d-flex flex-wrap", style="gap: 4px;"):
        v3.VBtn("{{ tool_grow ? 'click inside the clot...' : 'Grow from a click' }}", id="grow-btn", click="tool_grow = !tool_grow",
                size="small", variant=("tool_grow ? 'flat' : 'tonal'",), color=("tool_grow ? 'primary' : undefined",), disabled=("!ich.has_ct",))
        v3.VBtn("Fill between slices", id="fill-btn", click=ctrl.ich_fill_between, size="small", variant="tonal", disabled=("!ich.has_ct",))
        v3.VBtn(f"Remove islands < {ISLAND_MIN_ML:g} mL", id="islands-btn", click=ctrl.ich_remove_islands, size="small", variant="tonal",
                disabled=("!ich.has_ct",))
    _error("tools")


def _build_risk(ctrl) -> None:
    """The risk panel: read-out and clinical scores first, the learned classifiers below (demo
    ones hidden until asked, then marked), then the Grad-CAM overlay controls."""
    _section("Read-out and clinical scores")
    with html.Div(classes="d-flex align-center"):
        v3.VBtn("Read out", id="readout-btn", click=ctrl.ich_read_out, size="small", variant="tonal",
                disabled=("!ich.has_mask || ich.reading || ich.progress !== null",))
        html.Span("location, NCCT signs, midline shift (~3 s)", classes="text-caption ml-2")
    _error("readout")
    v3.VProgressLinear(indeterminate=True, v_if=("ich.reading",), id="readout-progress", height=8, color="primary", classes="mt-1")
    html.Div("mask changed since the read-out: read out again", id="readout-stale", v_if=("ich.readout_stale",), classes="text-caption text-warning")
    html.Div("on the slice views: {{ ich.overlays.length ? ich.overlays.join(', ') : 'nothing to draw' }}",
             id="readout-overlays", v_if=("ich.has_readout",), classes="text-caption")
    with html.Div(classes="d-flex flex-wrap mt-1", style="gap: 4px;"):
        for key, (label, hint) in CLINICAL_FIELDS.items():
            v3.VTextField(v_model=(CLINICAL_STATE[key],), label=label, placeholder=hint, persistent_placeholder=True, id=f"clinical-{key.replace('_', '-')}",
                          density="compact", hide_details="auto", style="min-width: 150px;",
                          error_messages=(f"ich.clinical_errors.{key} || []",))
    for section in ("readout", "scores"):
        with html.Div(v_for=f"s in ich.risk_panel.sections.filter(s => s.id === '{section}')", key="s.id", id=f"panel-{section}"):
            html.Div("{{ s.title }}", classes="text-body-2 font-weight-medium mt-1")
            html.Div("{{ r.text }}", v_for="(r, i) in s.rows", key="i", classes="text-caption",
                     id=(f"r.key ? `score-${{r.key}}` : `{section}-${{i}}`",))

    _section("Learned classifiers")
    with html.Div(classes="d-flex align-center"):
        v3.VBtn("Predict", id="predict-btn", click=ctrl.ich_predict, size="small", variant="tonal",
                disabled=("!ich.has_ct || ich.predicting || ich.progress !== null",))
        v3.VBtn("Cancel", id="predict-cancel-btn", click=ctrl.ich_cancel_predict, size="small", variant="text", v_if=("ich.predicting",))
    _error("predict")
    v3.VProgressLinear(indeterminate=True, v_if=("ich.predicting",), id="risk-progress", height=8, color="primary", classes="mt-1")
    html.Div("mask changed since the prediction: predict again", id="risk-stale", v_if=("ich.risk_stale",), classes="text-caption text-warning")
    v3.VCheckbox(v_model=("show_demo",), label="show demo model outputs", id="show-demo", density="compact", hide_details=True)
    with html.Div(v_for="s in ich.risk_panel.sections.filter(s => s.id === 'classifiers')", key="s.id", id="panel-classifiers", v_if=("ich.has_risk",)):
        with html.Div(v_for="r in s.rows", key="r.task", id=("`classifier-${r.task}`",), classes="mt-1"):
            html.Div("{{ r.text }}", id=("`classifier-text-${r.task}`",),
                     classes=("r.hidden ? 'text-caption text-medium-emphasis' : (r.error ? 'text-caption text-error' : 'text-body-2')",))
            html.Div("{{ r.notice }}", v_if=("r.notice && !r.hidden",), id=("`classifier-demo-${r.task}`",), classes="text-caption text-error")
            with html.Details(v_if=("r.card && (r.card.training_data || r.card.figures)",), classes="text-caption"):
                html.Summary("model card: {{ r.card.model }}")
                html.Div("Training data: {{ r.card.training_data }}", v_if=("r.card.training_data",), style="white-space: pre-wrap;")
                html.Div("{{ r.card.figures }}", v_if=("r.card.figures",), style="white-space: pre-wrap; font-family: monospace;")
            html.Div("observed at follow-up: {{ ich.verdict }}", v_if=("r.task === 'he' && ich.verdict",), id="risk-he-observed", classes="text-caption")
    with html.Div(v_if=("ich.cam_tasks.length",), classes="mt-2"):
        v3.VCheckbox(v_model=("cam_show",), label="Grad-CAM overlay", id="cam-show", density="compact", hide_details=True)
        v3.VSelect(v_model=("cam_task",), items=("ich.cam_tasks",), label="heatmap of", id="cam-task", density="compact", hide_details=True)
        with html.Div(id="cam-opacity"):
            v3.VSlider(v_model=("cam_opacity",), min=0, max=1, step=0.05, label="opacity", density="compact", hide_details=True,
                       thumb_label=True, disabled=("!cam_show",))
        html.Div("{{ cam_note }}", id="cam-note", v_if=("cam_show && cam_note",), classes="text-caption")
        _error("cam")
        with html.Div(id="cam-colorbar", v_if=("cam_show",), classes="text-caption mt-1"):
            html.Div(style=f"height: 10px; background: linear-gradient(to right, {_ramp_css()});")
            with html.Div(classes="d-flex justify-space-between"):
                html.Span("low (not drawn)")
                html.Span("heat")
                html.Span("max")


def _ramp_css() -> str:
    """The overlay's colour ramp as CSS stops, transparent where low heat is not drawn."""
    stops, rgb = np.array([t for t, _ in HEAT_RAMP]), np.array([c for _, c in HEAT_RAMP])
    shown = [CAM_VISIBLE_FROM] + [float(t) for t in stops if t > CAM_VISIBLE_FROM]
    colour = [[float(np.interp(t, stops, rgb[:, k])) for k in range(3)] for t in shown]
    css = [f"rgb({', '.join(str(round(255 * c)) for c in col)}) {100 * t:.0f}%" for t, col in zip(shown, colour)]
    return ", ".join([f"transparent {100 * CAM_VISIBLE_FROM:.0f}%", *css])
