"""ICHPredict in the scene: the risk panel (`ichkit.app.riskpanel`: imaging read-out from `ich
readout` and the clinical scores first, the learned classifiers below, demo ones hidden unless
asked), the signs' regions and the midline lines as overlays, outcome risks from `ich predict`
(a background job), the Grad-CAM heatmap as a coloured foreground layer (`ICHToolkitLib.overlay`),
radiomics in a table.

The prediction runs in a child process because the classifiers hold the CPU for a while; its
JSON result (`ich predict --json`) is {"output": folder, "results": {task: {probability,
interval, class, demo, model, heatmap (file name in the output folder), ...}}}.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ICHToolkitLib import overlay
from ICHToolkitLib.overlay import DEFAULT_OPACITY
from ichkit import scene
from ichkit.anatomy.signs import expansion_signs
from ichkit.atomic import check_writable, write_text
from ichkit.io import save_labelmap, save_volume
from ichkit.app.jobs import Job
from ichkit.app.measurements import measure_dict
from ichkit.app.predict import PredictRequest, heatmap_paths
from ichkit.app.riskpanel import ReadoutRequest, classifier_rows, parse_clinical_fields, risk_panel, section_lines
from ichkit.radiomics import extract


def _write_inputs(volume_node: Any, segmentation_node: Any, workdir: str | Path) -> tuple[Path, Path]:
    """CT and mask (on the CT grid) as files for a child process."""
    workdir = Path(workdir)
    ct = scene.node_to_volume(volume_node)
    ct_path = save_volume(ct, workdir / "ct.nii.gz", overwrite=True)
    return ct_path, save_labelmap(scene.segmentation_to_labelmap(segmentation_node, ct), workdir / "mask.nii.gz", overwrite=True)


def start_prediction(volume_node: Any, segmentation_node: Any, workdir: str | Path, task: str = "all",
                     device: str | None = None, python: str | None = None) -> Job:
    ct_path, mask_path = _write_inputs(volume_node, segmentation_node, workdir)
    return Job(PredictRequest(ct_path, Path(workdir) / "out", mask_path, task, device, overwrite=True, python=python).argv()).start()


def start_readout(volume_node: Any, segmentation_node: Any, workdir: str | Path, python: str | None = None) -> Job:
    """`ich readout --json` in a child (registration takes seconds); its result is {"readout": ...}."""
    ct_path, mask_path = _write_inputs(volume_node, segmentation_node, workdir)
    return Job(ReadoutRequest(ct_path, mask_path, python=python).argv()).start()


@dataclass
class PanelInputs:
    """What the risk panel is computed from; the widget keeps one and re-renders it on every
    clinical input change (pure arithmetic: the read-out is not re-run)."""

    measures: dict = field(default_factory=dict)
    readout: dict | None = None
    prediction: dict | None = None
    nodes: tuple = ()  # (CT volume node, segmentation node) they describe


def measures_of(volume_node: Any, segmentation_node: Any) -> dict:
    return measure_dict(scene.segmentation_to_labelmap(segmentation_node, scene.node_to_volume(volume_node)))


def panel_texts(inputs: PanelInputs, form: dict[str, str], show_demo: bool = False) -> tuple[str, str, str]:
    """(read-out and scores, learned classifiers, form errors) as the panel's three labels."""
    clinical, errors = parse_clinical_fields(form)
    panel = risk_panel(inputs.measures, inputs.readout, clinical, inputs.prediction, show_demo=show_demo)
    text = {s["id"]: "\n".join(section_lines(s)) for s in panel["sections"]}
    return f"{text['readout']}\n\n{text['scores']}", text["classifiers"], "\n".join(errors.values())


def show_overlays(mrml_scene: Any, volume_node: Any, segmentation_node: Any, readout: dict, nodes: dict | None = None) -> dict:
    """The regions of the signs present (a segmentation) and the midline's two lines (markups) over
    the CT. The regions are recomputed here (~0.3 s): the read-out's JSON keeps only their boxes."""
    nodes = {key: node for key, node in (nodes or {}).items() if node.GetScene() is not None}  # the user may have deleted some
    ct = scene.node_to_volume(volume_node)
    present = {k for k, e in ((readout.get("signs") or {}).get("signs") or {}).items() if isinstance(e, dict) and e.get("present")}
    regions = expansion_signs(ct, scene.segmentation_to_labelmap(segmentation_node, ct)).regions if present else {}
    nodes["signs"] = scene.masks_to_segmentation(mrml_scene, {k: v for k, v in regions.items() if k in present}, volume_node,
                                                 nodes.get("signs"), f"{volume_node.GetName()} NCCT signs")
    mid = readout.get("midline") or {}
    for key, color in (("ideal_line", (0.2, 0.8, 1.0)), ("septum_line", (1.0, 0.9, 0.1))):
        line = mid.get(key)
        if line:
            nodes[key] = scene.line_node(mrml_scene, f"midline {key.split('_')[0]}", line["start"]["mm_lps"], line["end"]["mm_lps"],
                                         nodes.get(key), color)
        elif key in nodes:
            mrml_scene.RemoveNode(nodes.pop(key))
    for node in nodes.values():
        node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
    return nodes


def table_rows(result: dict, show_demo: bool = False) -> list[dict[str, Any]]:
    """The risk table: one row per task with a result, demo models' rows only when asked."""
    return [{"Task": r["title"], "Probability": r["probability"], "Interval low": r["low"], "Interval high": r["high"],
             "Class": r["label"], "Model": r["model"], "Demo": r["demo"], "Heatmap trained": r["cam_guided"]}
            for r in classifier_rows(result, show_demo=show_demo) if not r["hidden"] and not r["error"]]


def risk_text(result: dict, show_demo: bool = False) -> str:
    """One line per task: the result with the demo notice where a demo model answered, or why it is hidden."""
    return "\n".join(r["text"] for r in classifier_rows(result, show_demo=show_demo) if r.get("hidden") or not r["error"])


def risk_table(mrml_scene: Any, result: dict, name: str, node: Any = None, show_demo: bool = False) -> Any:
    return scene.table_node(mrml_scene, name, table_rows(result, show_demo), node=node)


def shown_heatmaps(result: dict, show_demo: bool = False) -> dict[str, Path]:
    """Task -> Grad-CAM file of the tasks whose result is shown (a demo model's heatmap is its output too)."""
    hidden = {r["task"] for r in classifier_rows(result, show_demo=show_demo) if r["hidden"]}
    return {task: path for task, path in heatmap_paths(result).items() if task not in hidden}


def show_result(mrml_scene: Any, result: dict, volume_node: Any, table_node: Any = None, opacity: float = DEFAULT_OPACITY,
                show_demo: bool = False) -> tuple[Any, str]:
    """Risk table and classifier text; the first shown task's Grad-CAM heatmap over the CT (a demo
    model's output, its heatmap included, only with `show_demo`), else no heatmap."""
    table = risk_table(mrml_scene, result, f"{volume_node.GetName()} ICH risks", node=table_node, show_demo=show_demo)
    heatmaps = shown_heatmaps(result, show_demo)
    if heatmaps:
        overlay.show_map(mrml_scene, next(iter(heatmaps.values())), volume_node, f"{volume_node.GetName()} Grad-CAM", opacity,
                         mrml_scene.GetFirstNodeByName(f"{volume_node.GetName()} Grad-CAM"))
    else:
        overlay.hide_map(mrml_scene)
    return table, risk_text(result, show_demo)


def radiomics_table(mrml_scene: Any, volume_node: Any, segmentation_node: Any, params: str = "default",
                    label: int = 1, node: Any = None) -> Any:
    """pyradiomics features of one label of the segmentation (on the CT grid), one row per feature."""
    ct = scene.node_to_volume(volume_node)
    labels = scene.segmentation_to_labelmap(segmentation_node, ct)
    features = extract(ct, labels, params, label)
    rows = [{"Feature": name, "Value": value} for name, value in features.items()]
    return scene.table_node(mrml_scene, f"{volume_node.GetName()} radiomics", rows, node=node)


def table_csv(table_node: Any) -> str:
    table = table_node.GetTable()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([table.GetColumn(c).GetName() for c in range(table.GetNumberOfColumns())])
    for r in range(table.GetNumberOfRows()):
        writer.writerow([table_node.GetCellText(r, c) for c in range(table.GetNumberOfColumns())])
    return buf.getvalue()


def export_csv(table_node: Any, path: str | Path, overwrite: bool = False) -> Path:
    return write_text(check_writable(path, overwrite), table_csv(table_node))
