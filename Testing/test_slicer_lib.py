"""The Slicer extension: module Lib logic against a real MRML scene (slicer-core), static checks of
the module files desktop Slicer loads (size, syntax, UI <-> parameter node), and the layering rule
that the backend never imports a GUI toolkit."""

from __future__ import annotations

import ast
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from ichkit.image import Volume
from ichkit.labels import IPH, IVH
from ichkit.measure import measure

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("ICHSegment", "ICHPredict", "ICHSynth")
MAX_MODULE_LINES = 250
GUI_MODULES = {"qt", "ctk", "PyQt5", "PyQt6", "PySide2", "PySide6", "qSlicerBaseQTCorePythonQt"}
SCENE_ONLY = {"slicer", "vtk", "vtkmodules"}
CATALOG_KEYS = {  # Slicer's slicer-extension-catalog-entry-schema-v1.0.2 (additionalProperties: false)
    "$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
    "dicom_support_rule", "build_subdirectory", "enabled", "tier",
}

for module in MODULES:
    sys.path.insert(0, str(ROOT / module))


def _scene_or_skip():
    pytest.importorskip("slicer", reason="the slicer-core wheel (import slicer) is not installed")
    from ichkit import scene

    return scene


def _phantom_ct() -> Volume:
    """A CT with a 70 HU ellipsoidal clot and a 60 HU ventricle cast in 30 HU brain."""
    z, y, x = np.indices((16, 64, 64), dtype=float)
    hu = np.full(z.shape, 30, np.int16)
    hu[((x - 40) / 10) ** 2 + ((y - 30) / 8) ** 2 + ((z - 8) / 3) ** 2 <= 1] = 70
    hu[4:10, 40:46, 14:20] = 60
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rotated in-plane
    return Volume(hu, (0.6, 0.6, 4.0), (-20.0, 15.0, -30.0), direction)


def _threshold_segmenter(ct: Volume) -> Volume:
    labels = np.zeros(ct.shape, np.uint8)
    labels[ct.array == 70] = IPH
    labels[ct.array == 60] = IVH
    return ct.with_array(labels)


def _columns(table_node) -> list[str]:
    return [table_node.GetColumnName(i) for i in range(table_node.GetNumberOfColumns())]


def test_segment_logic_creates_segmentation_and_measurements():
    scene = _scene_or_skip()
    from ICHSegmentLib.logic import SegmentSceneLogic
    from ICHSegmentLib.logic import SURFACE_COLUMN, VOLUME_COLUMNS

    mrml = scene.new_scene()
    ct = _phantom_ct()
    volume_node = scene.volume_to_node(mrml, ct, "ct")
    transform = mrml.AddNewNodeByClass("vtkMRMLLinearTransformNode", "patient to table")
    volume_node.SetAndObserveTransformNodeID(transform.GetID())

    result = SegmentSceneLogic(mrml, _threshold_segmenter).run(volume_node)
    segmentation = result.segmentation.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(2)] == ["IPH", "IVH"]
    assert result.segmentation.GetTransformNodeID() == transform.GetID()
    assert scene.segmentation_to_labelmap(result.segmentation, ct).array.tolist() == _threshold_segmenter(ct).array.tolist()

    table = result.table
    assert _columns(table) == ["Segment", "Label", *VOLUME_COLUMNS.values(), SURFACE_COLUMN]
    assert table.GetNumberOfRows() == 2 and table.GetColumnUnitLabel(SURFACE_COLUMN) == "mL"
    expected = measure(_threshold_segmenter(ct))
    for row, key in enumerate(("IPH", "IVH")):
        assert table.GetCellText(row, 0) == key
        assert float(table.GetCellText(row, 2)) == pytest.approx(expected[key].mesh_ml, rel=1e-6)
        assert float(table.GetCellText(row, 3)) == pytest.approx(expected[key].voxel_ml, rel=1e-6)
        surface_ml = float(table.GetCellText(row, 5))
        print(f"{key}: mesh {expected[key].mesh_ml:.3f} mL, Slicer surface {surface_ml:.3f} mL")
        assert surface_ml == pytest.approx(expected[key].voxel_ml, rel=0.25)  # smoothed, 4 mm slices


def test_segment_logic_refills_the_chosen_output_nodes():
    scene = _scene_or_skip()
    from ICHSegmentLib.logic import SegmentSceneLogic

    mrml = scene.new_scene()
    volume_node = scene.volume_to_node(mrml, _phantom_ct(), "ct")
    logic = SegmentSceneLogic(mrml, _threshold_segmenter)
    first = logic.run(volume_node)
    count = mrml.GetNumberOfNodes()
    only_iph = lambda ct: _threshold_segmenter(ct).with_array(np.where(ct.array == 70, IPH, 0).astype(np.uint8))  # noqa: E731
    second = SegmentSceneLogic(mrml, only_iph).run(volume_node, first.segmentation, first.table)
    assert (second.segmentation, second.table) == (first.segmentation, first.table)
    assert mrml.GetNumberOfNodes() == count
    assert second.segmentation.GetSegmentation().GetNumberOfSegments() == 1 and second.table.GetNumberOfRows() == 1


def test_segment_job_reads_an_ensemble_into_table_and_views_and_a_single_run_clears_it(tmp_path):
    """An `ich segment --ensemble 2` result (its JSON and files, written here) read into the scene:
    the interval columns, the map over the CT; edits keep the intervals; a later one-network run
    into the same nodes drops both, and its source line names its model."""
    scene = _scene_or_skip()
    from ICHSegmentLib.logic import ENSEMBLE_COLUMNS, SegmentSceneLogic, ensemble_interval
    from ICHSegmentLib.segmentation_job import SegmentationJob

    from ichkit.io import save_labelmap, save_volume

    mrml = scene.new_scene()
    ct = _phantom_ct()
    ct_node = scene.volume_to_node(mrml, ct, "ct")
    composite = mrml.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    labels = _threshold_segmenter(ct)
    mask = save_labelmap(labels, tmp_path / "ct_seg.nii.gz")
    disagreement = save_volume(ct.with_array(np.where(labels.array == IVH, 0.5, 0.0).astype(np.float32)), tmp_path / "ct_disagreement.nii.gz")
    model = {"id": "blast-ct-v1", "version": "1.0.0", "demo": False}
    result = {"files": {"labels_nifti": str(mask), "disagreement": str(disagreement)}, "provenance": {"model": model},
              "ensemble": {"members": ["model_1.pt", "model_2.pt"], "member_voxel_ml": {"IPH": [1.0, 1.5]}, "interval_ml": {"IPH": [1.0, 1.5]}}}
    run = SegmentationJob(None, ct_node, tmp_path)
    out, text = run.accept(mrml, result)
    assert text.endswith("ensemble of 2 networks: each label's volume range in the table, the networks' disagreement over the CT")
    assert _columns(out.table)[-2:] == list(ENSEMBLE_COLUMNS)
    assert out.table.GetCellText(0, 0) == "IPH" and [float(out.table.GetCellText(0, c)) for c in (6, 7)] == [1.0, 1.5]
    assert np.isnan(float(out.table.GetCellText(1, 6)))  # IVH: no network's interval
    assert composite.GetForegroundVolumeID() == out.disagreement.GetID() and out.disagreement.GetName() == "ct ensemble disagreement"
    assert np.array_equal(scene.node_to_volume(out.disagreement).array > 0, labels.array == IVH)

    segmentation = out.segmentation.GetSegmentation()
    segmentation.RemoveSegment(segmentation.GetSegmentIdBySegmentName("IVH"))  # an edit: the intervals stay (they describe the networks)
    SegmentSceneLogic(mrml, None).recompute(ct_node, out.segmentation, out.table)
    assert out.table.GetNumberOfRows() == 1 and _columns(out.table)[-2:] == list(ENSEMBLE_COLUMNS)
    again, _text = run.accept(mrml, result, out.segmentation, out.table)
    assert again.disagreement is out.disagreement and mrml.GetNodesByName("ct ensemble disagreement").GetNumberOfItems() == 1

    single = {"files": {"labels_nifti": str(mask)}, "provenance": {"model": {"id": "blast-ct-v1-ft-site-a", "version": "1.0.0-ft.abc"}}}
    map_id = out.disagreement.GetID()
    last, text = run.accept(mrml, single, out.segmentation, out.table)
    assert (last.segmentation, last.table, last.disagreement) == (out.segmentation, out.table, None)
    assert ensemble_interval(last.segmentation) is None and not set(ENSEMBLE_COLUMNS) & set(_columns(last.table))
    assert mrml.GetNodeByID(map_id) is None and not composite.GetForegroundVolumeID()
    assert text == "2 segments measured. Source: model blast-ct-v1-ft-site-a 1.0.0-ft.abc"


# --- static checks of what desktop Slicer loads (no Qt here) ---


def _parameter_fields(tree: ast.Module) -> set[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list):
            return {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class")


@pytest.mark.parametrize("name", MODULES)
def test_module_main_file_is_small_and_parses(name):
    source = (ROOT / name / f"{name}.py").read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    tree = ast.parse(source)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {name, f"{name}Widget", f"{name}Logic", f"{name}Test", f"{name}ParameterNode"} <= classes
    # the backend loads on use: the module (and the Lib files it imports at load time) load before it is installed
    assert _load_time_imports(ROOT / name / f"{name}.py", name) <= {"vtk", "slicer", "qt", "ctk"} | set(sys.stdlib_module_names)


def _load_time_imports(path: Path, name: str) -> set[str]:
    """Top packages a file imports at load time, following its imports of ICHToolkitLib and <name>Lib files."""
    tree = ast.Module(body=[n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    found = set()
    for module in _imports_of(tree):
        if module.split(".")[0] in ("ICHToolkitLib", f"{name}Lib"):
            found |= _load_time_imports(ROOT / (name if module.startswith(name) else "") / (module.replace(".", "/") + ".py"), name)
        else:
            found.add(module.split(".")[0])
    return found


def test_shared_widget_lifecycle_loads_without_the_backend():
    """The module files import ICHToolkitLib.widget at load time: it (and the package) must not pull in ichkit."""
    lib = ROOT / "ICHToolkitLib"
    for path in (lib / "__init__.py", lib / "widget.py"):
        assert {m.split(".")[0] for m in _imports_of(ast.parse(path.read_text()))} <= {"vtk"} | set(sys.stdlib_module_names), path
    from ICHToolkitLib.widget import JobWidgetMixin

    assert {"cleanup", "enter", "exit", "setParameterNode", "onPoll", "onCancel"} <= set(vars(JobWidgetMixin))


@pytest.mark.parametrize("name", MODULES)
def test_ui_binds_exactly_the_parameter_node_fields(name):
    fields = _parameter_fields(ast.parse((ROOT / name / f"{name}.py").read_text()))
    ui = ET.parse(ROOT / name / "Resources" / "UI" / f"{name}.ui").getroot()
    bound = {p.findtext("string") for p in ui.iter("property") if p.get("name") == "SlicerParameterName"}
    assert bound == fields
    declared = {c.findtext("class") for c in ui.iter("customwidget")}
    used = {w.get("class") for w in ui.iter("widget")}
    assert {c for c in used if not c.startswith("Q")} <= declared
    assert ui.find("widget").get("name") == name and ui.find("widget").get("class") == "qMRMLWidget"


def test_ensemble_spin_box_offers_what_ich_segment_accepts():
    from ichkit.app.segment import ENSEMBLE_MAX

    ui = ET.parse(ROOT / "ICHSegment" / "Resources" / "UI" / "ICHSegment.ui").getroot()
    (box,) = [w for w in ui.iter("widget") if w.get("name") == "ensembleSizeSpinBox"]
    limits = {p.get("name"): int(p.findtext("number")) for p in box.iter("property") if p.get("name") in ("minimum", "maximum", "value")}
    assert limits == {"minimum": 1, "maximum": ENSEMBLE_MAX, "value": 1}
    assert "about one single network's time" in next(p.findtext("string") for p in box.iter("property") if p.get("name") == "toolTip")


@pytest.mark.parametrize("name", MODULES)
def test_cmake_lists_every_script_and_resource(name):
    cmake = (ROOT / name / "CMakeLists.txt").read_text()
    assert f"set(MODULE_NAME {name})" in cmake and "slicerMacroBuildScriptedModule(" in cmake
    listed = set()
    for variable in ("MODULE_PYTHON_SCRIPTS", "MODULE_PYTHON_RESOURCES"):
        items = re.search(rf"set\({variable}\s(.*?)\)", cmake, re.S).group(1).split()
        listed |= {item.replace("${MODULE_NAME}", name) for item in items}
    on_disk = {p.relative_to(ROOT / name).as_posix() for p in (ROOT / name).rglob("*") if p.is_file()}
    assert listed == {p for p in on_disk if p != "CMakeLists.txt" and "__pycache__" not in p}


@pytest.mark.parametrize("path", [f"{m}/Resources/Icons/{m}.png" for m in MODULES] + ["Resources/Icons/ICHToolkit.png"])
def test_icons_are_128_pixel_pngs(path):
    icon = sitk.ReadImage(str(ROOT / path), imageIO="PNGImageIO")
    assert icon.GetSize() == (128, 128) and icon.GetNumberOfComponentsPerPixel() == 4


def test_extension_cmake_and_catalog_entry():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert re.search(r"^project\(ICHToolkit\)$", cmake, re.M)
    assert re.search(r'^set\(EXTENSION_DEPENDS "PyTorch"\)$', cmake, re.M)
    assert re.findall(r"^add_subdirectory\((\w+)\)$", cmake, re.M) == list(MODULES)
    for line in ("find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
                 "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert line in cmake
    repository = re.search(r'set\(ICHToolkit_REPOSITORY "(\S+)"\)', cmake).group(1)
    entry = json.loads((ROOT / "Resources" / "ICHToolkit.json").read_text())
    assert set(entry) <= CATALOG_KEYS and {"$schema", "category", "scm_url"} <= set(entry)
    assert entry["scm_url"] == repository and "PyTorch" in entry["build_dependencies"]
    assert re.search(rf'set\(EXTENSION_CATEGORY "{entry["category"]}"\)', cmake)


def _imports_of(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_backend_imports_no_gui_and_slicer_only_in_scene():
    offenders = []
    for path in sorted((ROOT / "ichkit").rglob("*.py")):
        for name in _imports_of(ast.parse(path.read_text())):
            top = name.split(".")[0]
            allowed = path.name == "scene.py" and top in SCENE_ONLY and name != "slicer.util"
            if top in GUI_MODULES or (top in SCENE_ONLY and not allowed):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders
