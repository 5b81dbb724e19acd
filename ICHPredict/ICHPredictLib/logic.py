"""ICHPredict in the scene: outcome risks from `ich predict` (a background job), the Grad-CAM
heatmap as a coloured foreground layer, and radiomics in a table node.

The prediction runs in a child process because the classifiers hold the CPU for a while; its
JSON result (`ich predict --json`) is {"output": folder, "results": {task: {probability,
interval, class, demo, model, heatmap (file name in the output folder), ...}}}.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ichkit import scene
from ichkit.atomic import check_writable, write_text
from ichkit.app.jobs import Job
from ichkit.app.predict import PredictRequest, risk_rows
from ichkit.explain import GUIDED_NOTE
from ichkit.models.registry import DEMO_NOTICE as DEMO_WARNING

DEFAULT_OPACITY = 0.4


def start_prediction(volume_node: Any, segmentation_node: Any, workdir: str | Path, task: str = "all",
                     device: str | None = None, python: str | None = None) -> Job:
    """Write CT and mask (on the CT grid) for the child and start `ich predict`."""
    from ichkit.io import save_labelmap, save_volume

    workdir = Path(workdir)
    ct = scene.node_to_volume(volume_node)
    ct_path = save_volume(ct, workdir / "ct.nii.gz", overwrite=True)
    mask_path = save_labelmap(scene.segmentation_to_labelmap(segmentation_node, ct), workdir / "mask.nii.gz", overwrite=True)
    return Job(PredictRequest(ct_path, workdir / "out", mask_path, task, device, overwrite=True, python=python).argv()).start()


def table_rows(result: dict) -> list[dict[str, Any]]:
    """The risk table: one row per task the result holds (`ichkit.app.predict.risk_rows`), as columns."""
    return [{"Task": r["title"], "Probability": r["probability"], "Interval low": r["low"], "Interval high": r["high"],
             "Class": r["label"], "Model": r["model"], "Demo": r["demo"], "Heatmap trained": r["cam_guided"]}
            for r in risk_rows(result) if not r["error"]]


def risk_text(result: dict) -> str:
    """The risk panel: one line per task, with the demo warning where a demo model answered."""
    lines = [f"{r['title']}: {100 * r['probability']:.0f} % (90 % interval {100 * r['low']:.0f}-"
             f"{100 * r['high']:.0f} %), {r['label']}" + (f" - {DEMO_WARNING.upper()}" if r["demo"] else "")
             + (f" ({GUIDED_NOTE})" if r["cam_guided"] else "") for r in risk_rows(result) if not r["error"]]
    return "\n".join(lines)


def risk_table(mrml_scene: Any, result: dict, name: str, node: Any = None) -> Any:
    return scene.table_node(mrml_scene, name, table_rows(result), node=node)


def show_gradcam(mrml_scene: Any, heatmap_path: str | Path, ct_node: Any, opacity: float = DEFAULT_OPACITY, node: Any = None) -> Any:
    """The heatmap as a volume node over the CT (`ichkit.scene.heatmap_to_node`), foreground of every slice view."""
    import SimpleITK as sitk

    from ichkit.image import Volume

    heat = Volume.from_sitk(sitk.ReadImage(str(heatmap_path), sitk.sitkFloat32))
    node = scene.heatmap_to_node(mrml_scene, heat, f"{ct_node.GetName()} Grad-CAM", node=node)
    node.SetAndObserveTransformNodeID(ct_node.GetTransformNodeID())
    for composite in _composites(mrml_scene):
        composite.SetBackgroundVolumeID(ct_node.GetID())
        composite.SetForegroundVolumeID(node.GetID())
    set_opacity(mrml_scene, opacity)
    return node


def set_opacity(mrml_scene: Any, opacity: float) -> None:
    for composite in _composites(mrml_scene):
        composite.SetForegroundOpacity(float(opacity))


def _composites(mrml_scene: Any) -> list:
    """Every slice view's composite node (a bare slicer-core scene has none until one is added)."""
    nodes = mrml_scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def radiomics_table(mrml_scene: Any, volume_node: Any, segmentation_node: Any, params: str = "default",
                    label: int = 1, node: Any = None) -> Any:
    """pyradiomics features of one label of the segmentation (on the CT grid), one row per feature."""
    from ichkit.radiomics import extract

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
