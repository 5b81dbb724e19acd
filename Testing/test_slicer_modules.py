"""The three modules' Lib logic against a real MRML scene (slicer-core) and real child processes.

Only the Qt widget layer is left to desktop Slicer; where a test needs a widget it uses a
stand-in named Fake... (a progress bar and a label are just a `value` and a `text`).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ichkit.app.jobs import Job
from ichkit.app.predict import PredictRequest, heatmap_paths
from ichkit.errors import OptionError
from ichkit.labels import IPH, IVH

ROOT = Path(__file__).resolve().parents[1]
for module in ("ICHSegment", "ICHPredict", "ICHSynth"):
    sys.path.insert(0, str(ROOT / module))

pytest.importorskip("slicer", reason="the slicer-core wheel (import slicer) is not installed")

from ichkit import scene  # noqa: E402


class FakeQtProgressBar:
    value = 0


class FakeQtLabel:
    text = ""


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from ICHToolkitLib.sampledata import sample_files

    folder = tmp_path_factory.mktemp("samples")
    return {name: sample_files(name, folder) for name in ("ICHPhantomBaseline", "ICHPhantomFollowUp")}


# a stand-in for `ich segment` with the same output contract (the phantom's truth as the model's mask)
FAKE_SEGMENT = textwrap.dedent("""
    import json, shutil, sys
    from pathlib import Path
    from ichkit.progress import json_lines
    truth, outdir = sys.argv[1], Path(sys.argv[2])
    report = json_lines(sys.stdout)
    for i in range(4):
        report(i + 1, 4, "patch")
    outdir.mkdir(parents=True, exist_ok=True)
    mask = outdir / "ct_seg.nii.gz"
    shutil.copy(truth, mask)
    print(json.dumps({"files": {"labels_nifti": str(mask)},
                      "provenance": {"model": {"id": "ich-demo-phantom", "version": "0.2", "demo": True}}}, indent=2))
""")


def _run(monitor, timeout=60):
    import time

    deadline = time.time() + timeout
    while monitor.poll() and time.time() < deadline:
        time.sleep(0.05)
    return monitor


def test_segment_job_to_scene_table_edit_verdict_exports(samples, tmp_path):
    from ICHSegmentLib import exports, logic
    from ICHSegmentLib.segmentation_job import SegmentationJob
    from ICHToolkitLib.jobmonitor import JobMonitor
    from ICHToolkitLib.sampledata import load_sample

    from ichkit.io import load_mask

    mrml = scene.new_scene()
    base = samples["ICHPhantomBaseline"]
    ct_node = load_sample(mrml, "ICHPhantomBaseline", base["ct"].parent)
    outdir = tmp_path / "out"
    bar, status = FakeQtProgressBar(), FakeQtLabel()
    seen = []
    run = SegmentationJob(Job([sys.executable, "-c", FAKE_SEGMENT, str(base["labels"]), str(outdir)]).start(), ct_node, outdir)

    def on_done(result):
        out, text = run.accept(mrml, result)
        seen.append(out)
        return text

    monitor = _run(JobMonitor(run.job, bar, status, "Segmenting", on_done))
    assert monitor.outcome == "done" and bar.value == 100
    assert "ich-demo-phantom 0.2" in status.text and "demo model, not for clinical use" in status.text
    (out,) = seen
    truth = json.loads(base["json"].read_text())["volumes_ml"]
    table = out.table
    assert [table.GetCellText(r, 0) for r in range(2)] == ["IPH", "IVH"] and out.disagreement is None
    assert logic.ensemble_interval(out.segmentation) is None and table.GetNumberOfColumns() == 6  # one network: no interval columns
    assert float(table.GetCellText(0, 3)) == pytest.approx(truth["IPH"], rel=1e-6)  # voxel volume = exact truth
    assert not logic.is_edited(ct_node, out.segmentation)
    assert logic.source_of(out.segmentation).model_id == "ich-demo-phantom"

    # an edit (IVH erased, as the Segment Editor would), then the recompute the observer runs
    segmentation = out.segmentation.GetSegmentation()
    segmentation.RemoveSegment(segmentation.GetSegmentIdBySegmentName("IVH"))
    logic.SegmentSceneLogic(mrml, None).recompute(ct_node, out.segmentation, table)
    assert table.GetNumberOfRows() == 1 and logic.is_edited(ct_node, out.segmentation)

    # HE: baseline vs follow-up (the follow-up's truth mask as its segmentation)
    follow = samples["ICHPhantomFollowUp"]
    follow_node = load_sample(mrml, "ICHPhantomFollowUp", follow["ct"].parent)
    follow_seg = scene.labelmap_to_segmentation(mrml, load_mask(follow["labels"], scene.node_to_volume(follow_node)), follow_node)
    verdict, text = logic.expansion((ct_node, out.segmentation), (follow_node, follow_seg))
    follow_truth = json.loads(follow["json"].read_text())["volumes_ml"]
    assert verdict["expansion"] and verdict["followup_ml"] == pytest.approx(follow_truth["IPH"], rel=0.05)
    assert text.startswith("EXPANSION")

    # exports and ground truth
    paths = exports.export_segmentation(ct_node, out.segmentation, tmp_path / "export")
    assert set(paths) == {"seg.nrrd", "nii.gz"}
    ct = scene.node_to_volume(ct_node)
    assert np.array_equal(load_mask(paths["seg.nrrd"], ct).array == IPH, load_mask(base["labels"], ct).array == IPH)
    gt = exports.save_ground_truth(ct_node, out.segmentation, tmp_path / "Dataset903_Reviewed", "ICH_001")
    record = json.loads(gt["provenance"].read_text())
    assert record["model"]["id"] == "ich-demo-phantom" and record["edited"] is True and "IVH" not in record["measurements"]


def test_job_monitor_shows_failure_and_cancel(tmp_path):
    from ICHToolkitLib.jobmonitor import JobMonitor

    from ichkit.app.jobs import ich_argv

    bar, status = FakeQtProgressBar(), FakeQtLabel()
    failed = _run(JobMonitor(Job(ich_argv("inspect", tmp_path / "nope.nii.gz")).start(), bar, status, "Segmenting", str))
    assert failed.outcome == "failed" and status.text.startswith("Segmenting failed: error: ") and "nope.nii.gz" in status.text
    sleeper = JobMonitor(Job([sys.executable, "-c", "import time; time.sleep(600)"]).start(), bar, status, "Training", str)
    sleeper.cancel()
    assert _run(sleeper).outcome == "cancelled" and status.text == "Training cancelled"


def test_model_choices_list_the_registry():
    from ichkit.app.segment import model_choices

    from ichkit.models import load_registry

    choices = model_choices()
    assert {c[0] for c in choices} == {e.id for e in load_registry().list("segmentation")}
    assert all(text.startswith(model_id) for model_id, text in choices)


@pytest.fixture()
def blast_weights(shared_dir) -> Path:
    folder = shared_dir / "models" / "blast-ct-v1"
    if not (folder / "model_2.pt").is_file():
        pytest.skip(f"{folder} holds no BLAST-CT weights")
    return folder


def _until_progress(monitor, timeout=300):
    """Poll until the job's first progress event (the monitor's status line changes) or its end."""
    import time

    deadline = time.time() + timeout
    while monitor.poll() and monitor.status.text == "" and time.time() < deadline:
        time.sleep(0.05)
    return monitor


def test_segment_ensemble_puts_intervals_in_the_table_and_the_disagreement_over_the_ct(ich_cache, blast_weights, tmp_path):
    """`ich segment --ensemble 2` with the real BLAST-CT networks on a small phantom."""
    from ICHSegmentLib.logic import ENSEMBLE_COLUMNS, ensemble_interval
    from ICHSegmentLib.segmentation_job import SegmentationJob
    from ICHToolkitLib.jobmonitor import JobMonitor

    from ichkit.labels import LABELS
    from ichkit.models.importer import import_models
    from ichkit.phantom import make_phantom

    import_models(blast_weights)
    ph = make_phantom(3, shape=(8, 96, 96), spacing=(1.5, 1.5, 6.0), brace=True)  # small, and BLAST-CT finds its hematoma (Dice 0.93)
    mrml = scene.new_scene()
    composite = mrml.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    ct_node = scene.volume_to_node(mrml, ph.ct, "tiny")
    run = SegmentationJob.start(ct_node, tmp_path, "blast-ct-v1", "cpu", ensemble=2)
    assert run.job.argv[-2:] == ["--ensemble", "2"]
    seen = []

    def on_done(result):
        out, text = run.accept(mrml, result)
        seen.append((result, out))
        return text

    bar, status = FakeQtProgressBar(), FakeQtLabel()
    assert _run(JobMonitor(run.job, bar, status, "Segmenting", on_done), timeout=600).outcome == "done", status.text
    (result, out), = seen
    assert "model blast-ct-v1 " in status.text and "ensemble of 2 networks" in status.text
    interval = result["ensemble"]["interval_ml"]
    assert "IPH" in interval and out.table.GetNumberOfRows() >= 1
    assert ensemble_interval(out.segmentation) == interval
    table = out.table
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    assert columns[-2:] == list(ENSEMBLE_COLUMNS) and table.GetColumnUnitLabel(ENSEMBLE_COLUMNS[0]) == "mL"
    for row in range(table.GetNumberOfRows()):
        key = LABELS[int(table.GetCellText(row, 1))].key
        low, high = (float(table.GetCellText(row, c)) for c in (6, 7))
        assert [low, high] == pytest.approx(interval[key], abs=1e-9) and low <= high
    disagreement = scene.node_to_volume(out.disagreement).array
    assert disagreement.shape == ph.ct.shape and set(np.unique(disagreement)) <= {0.0, 0.5}
    assert composite.GetForegroundVolumeID() == out.disagreement.GetID() and composite.GetBackgroundVolumeID() == ct_node.GetID()
    print(f"ensemble of 2: {table.GetNumberOfRows()} segments, intervals {interval}, "
          f"{np.count_nonzero(disagreement)} voxels where the networks disagree")


def test_ground_truth_offer_and_the_finetuning_job_start_progress_cancel(ich_cache, shared_dir, tmp_path):
    """The offer below and at the minimum (cases saved quickly on tiny phantoms, the last one from
    the scene as the module saves it), then `ich train finetune` started, reporting, cancelled."""
    import shutil

    from ICHSegmentLib import exports
    from ICHSegmentLib.finetune_job import FinetuneJob
    from ichkit.app.segment import model_choices
    from ICHToolkitLib.jobmonitor import JobMonitor

    from ichkit.app.groundtruth import save_ground_truth
    from ichkit.errors import OptionError
    from ichkit.models import load_registry
    from ichkit.models.importer import import_models
    from ichkit.phantom import make_phantom
    from ichkit.segment.training.finetune.register import register_finetuned
    from ichkit.segment.training.finetune.settings import MIN_CASES

    weights = shared_dir / "models" / "blast-ct-v1" / "model_1.pt"
    if not weights.is_file():
        pytest.skip("no BLAST-CT weights in the shared folder")
    small = {"shape": (6, 48, 48), "spacing": (2.5, 2.5, 5.0)}
    dataset = tmp_path / "Dataset950_Site"
    assert FinetuneJob.offer(Path(""))["text"] == "" and FinetuneJob.offer(dataset)["text"] == f"0 of the {MIN_CASES} cases needed before fine-tuning is offered"
    for i in range(MIN_CASES - 1):
        ph = make_phantom(100 + i, **small)
        save_ground_truth(ph.ct, ph.labels, dataset, f"C{i:02d}", patient_id=f"P{i}")
    assert FinetuneJob.offer(dataset) == {"cases": MIN_CASES - 1, "minimum": MIN_CASES, "ready": False,
                                         "text": f"{MIN_CASES - 1} of the {MIN_CASES} cases needed before fine-tuning is offered"}
    with pytest.raises(OptionError, match=f"holds {MIN_CASES - 1} cases; fine-tuning needs at least {MIN_CASES}"):
        FinetuneJob.start(dataset, "site A")
    mrml = scene.new_scene()
    ph = make_phantom(100 + MIN_CASES, **small)
    ct_node = scene.volume_to_node(mrml, ph.ct, "last")
    exports.save_ground_truth(ct_node, scene.labelmap_to_segmentation(mrml, ph.labels, ct_node), dataset, f"C{MIN_CASES - 1:02d}")
    offer = FinetuneJob.offer(dataset)
    assert offer["ready"] and offer["text"] == f"{MIN_CASES} cases saved: enough to fine-tune blast-ct-v1-single on them"

    (tmp_path / "finetune-site-b").mkdir()
    with pytest.raises(OptionError, match="finetune-site-b: already exists"):
        FinetuneJob.start(dataset, "site B")
    with pytest.raises(OptionError, match="give the ground-truth dataset"):
        FinetuneJob.start(Path(""), "site B")

    parent = tmp_path / "parent"
    parent.mkdir()
    shutil.copy(weights, parent / "model_1.pt")
    assert import_models(parent).installed == ["blast-ct-v1-single"]
    run = FinetuneJob.start(dataset, " site A ", Path(""))
    assert run.model_id == "blast-ct-v1-ft-site-a" and run.outdir == tmp_path / "finetune-site-a"
    assert run.job.argv[run.job.argv.index("--name") + 1] == "site A"
    bar, status = FakeQtProgressBar(), FakeQtLabel()
    monitor = _until_progress(JobMonitor(run.job, bar, status, "Fine-tuning", run.accept))
    assert monitor.outcome is None and status.text.startswith("Fine-tuning: "), status.text  # its progress reaches the status line
    print(f"first progress line: {status.text!r}")
    monitor.cancel()
    assert _run(monitor).outcome == "cancelled" and status.text == "Fine-tuning cancelled" and bar.value == 0
    assert run.model_id not in {model_id for model_id, _text in model_choices()}

    # what a finished job leaves (the registry entry) is what the model list re-reads; the status line names it
    register_finetuned(load_registry().get("blast-ct-v1-single"), run.model_id, parent / "model_1.pt", "card", "fine-tuned here")
    assert run.model_id in {model_id for model_id, _text in model_choices()}
    text = run.accept({"model_id": run.model_id, "best_epoch": 1, "epochs_done": 2,
                       "history": [{"epoch": 0, "val_loss": 0.5}, {"epoch": 1, "val_loss": 0.25}, {"epoch": 2, "val_loss": 0.3}]})
    assert text == (f"fine-tuned {run.model_id}: kept epoch 1 of 2, held-out loss 0.5000 -> 0.2500; {run.model_id} is now in the "
                    f"model list (work folder {run.outdir})")


def test_sample_is_generated_once_and_checked(tmp_path):
    from ICHToolkitLib.sampledata import sample_files

    from ichkit.errors import UnreadableFileError
    from ichkit.io import save_volume

    paths = sample_files("ICHPhantomBaseline", tmp_path)
    stamp = paths["ct"].stat().st_mtime_ns
    assert sample_files("ICHPhantomBaseline", tmp_path)["ct"].stat().st_mtime_ns == stamp
    from ichkit.io import load_ct

    ct = load_ct(paths["ct"])
    save_volume(ct.with_array(ct.array + 1), paths["ct"], overwrite=True)
    with pytest.raises(UnreadableFileError, match="SHA-256"):
        sample_files("ICHPhantomBaseline", tmp_path)


# --- dependencies (the pure part; the dialog and pip run only in desktop Slicer) ---


def test_dependencies_missing_list_and_pip_command(tmp_path):
    from ICHToolkitLib import dependencies as deps

    absent = {"torch", "nnunetv2", "highdicom"}
    todo = deps.missing("ICHSegment", find_spec=lambda name: None if name in absent else object())
    assert [r.module for r in todo] == ["torch", "highdicom", "nnunetv2"]
    text = deps.confirmation_text("ICHSegment", todo)
    assert all(r.pip in text for r in todo) and "PyTorch extension" in text
    constraints = deps.write_constraints(tmp_path, "2.5.0")
    assert constraints.read_text() == "SimpleITK==2.5.0\n"
    args = deps.pip_args(todo, constraints)
    assert args == ["install", "-c", str(constraints), "highdicom>=0.22", "nnunetv2==2.8.1"]
    assert deps.pip_args([deps.REQUIREMENTS["einops"]], constraints) == ["install", "einops>=0.7"]
    assert deps.pip_args([deps.REQUIREMENTS["torch"]], constraints) == []
    import SimpleITK

    assert deps.sitk_constraint() == f"SimpleITK=={SimpleITK.__version__}"
    assert "pypi.org" in deps.offline_message(todo) and "nnunetv2" in deps.offline_message(todo)
    assert deps.missing("ICHPredict") == []  # this environment has everything
    assert set(deps.MODULE_NEEDS) == {"ICHSegment", "ICHPredict", "ICHSynth"}
    assert not deps.online(("127.0.0.1", 9), timeout=0.5)


def test_dependencies_cover_the_backend_and_cmake_ships_it():
    """Every runtime dependency of ichkit is installable by the modules (or is Slicer's own), and
    the extension installs ichkit (its data files inside) beside the modules instead of pip-installing them."""
    import re
    import tomllib

    from ICHToolkitLib import dependencies as deps

    root = Path(__file__).resolve().parents[1]
    needed = {re.split(r"[<>=\[ ]", d)[0].lower() for d in tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]}
    offered = {re.split(r"[<>=\[ ]", r.pip)[0].lower() for r in deps.REQUIREMENTS.values()}
    assert needed - offered - {p.lower() for p in deps.SLICER_PROVIDES} - {"torchvision"} == set()
    assert "ichkit" not in deps.REQUIREMENTS
    cmake = (root / "CMakeLists.txt").read_text()
    assert re.search(r"set\(ICHToolkit_BACKEND ichkit ICHToolkitLib\)", cmake) and "Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR" in cmake


# --- ICHPredict ---

RESULT = {  # the shape of `ich predict --json`
    "output": "OUT",
    "results": {
        "he": {"probability": 0.62, "interval": [0.41, 0.8], "class": "expansion", "demo": True, "model": "ich-demo-he-vit",
               "heatmap": "he_gradcam.nii.gz"},
        "ht": {"probability": 0.1, "interval": [0.02, 0.2], "class": "no HT", "demo": False, "model": "ht-v1", "cam_guided": True},
    },
}


def test_predict_risk_panel_gradcam_and_radiomics(samples, tmp_path):
    from ICHPredictLib import logic
    from ICHToolkitLib import overlay

    from ichkit.io import load_ct, load_mask, save_volume

    mrml = scene.new_scene()
    base = samples["ICHPhantomBaseline"]
    ct = load_ct(base["ct"])
    ct_node = scene.volume_to_node(mrml, ct, "ct")
    seg_node = scene.labelmap_to_segmentation(mrml, load_mask(base["labels"], ct), ct_node)

    hidden = logic.risk_table(mrml, RESULT, "risks")  # the demo HE model's row is left out by default
    assert hidden.GetNumberOfRows() == 1 and hidden.GetCellText(0, 5) == "ht-v1"
    assert logic.risk_text(RESULT).splitlines()[0] == "Hematoma expansion: hidden: demo model, not for clinical use; tick 'show demo model outputs' to see it"
    table = logic.risk_table(mrml, RESULT, "risks", node=hidden, show_demo=True)
    assert table is hidden and table.GetNumberOfRows() == 2 and table.GetCellText(0, 0) == "Hematoma expansion"
    assert float(table.GetCellText(0, 1)) == 0.62 and table.GetCellText(1, 5) == "ht-v1"
    text = logic.risk_text(RESULT, show_demo=True)
    assert text.splitlines()[0] == "Hematoma expansion: 62 % (90 % interval 41-80 %), expansion - DEMO MODEL, NOT FOR CLINICAL USE"
    assert "DEMO" not in text.splitlines()[1] and "trained toward" not in text.splitlines()[0]
    assert text.splitlines()[1].endswith("no HT (heatmap trained toward the hematoma)")  # a guided model's map says so

    heat = ct.with_array(np.linspace(0, 1, ct.array.size, dtype=np.float32).reshape(ct.shape))
    heat_path = save_volume(heat, tmp_path / "he_gradcam.nii.gz")
    assert heatmap_paths({**RESULT, "output": str(tmp_path)}) == {"he": heat_path}
    assert logic.shown_heatmaps({**RESULT, "output": str(tmp_path)}) == {}  # a demo model's heatmap is its output too
    assert logic.shown_heatmaps({**RESULT, "output": str(tmp_path)}, show_demo=True) == {"he": heat_path}
    composite = mrml.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    result = {**RESULT, "output": str(tmp_path)}
    table, _text = logic.show_result(mrml, result, ct_node, opacity=0.3)
    assert composite.GetForegroundVolumeID() is None  # the demo HE model's heatmap is hidden with its row
    assert logic.show_result(mrml, result, ct_node, table, opacity=0.3, show_demo=True)[0] is table
    node = mrml.GetNodeByID(composite.GetForegroundVolumeID())
    assert node.GetName() == "ct Grad-CAM" and composite.GetBackgroundVolumeID() == ct_node.GetID()
    assert composite.GetForegroundOpacity() == pytest.approx(0.3)
    colors = mrml.GetNodeByID(node.GetDisplayNode().GetColorNodeID())
    assert colors.GetName() == scene.HEAT_COLORS and colors.GetNumberOfColors() == scene.HEAT_COLOR_ENTRIES
    assert np.allclose(scene.node_to_volume(node).array, heat.array)
    overlay.set_opacity(mrml, 0.8)
    assert composite.GetForegroundOpacity() == pytest.approx(0.8)
    logic.show_result(mrml, result, ct_node, table, show_demo=True)  # shown again: the same node, the same colour table
    assert composite.GetForegroundVolumeID() == node.GetID()
    assert mrml.GetNodesByName("ct Grad-CAM").GetNumberOfItems() == 1 and mrml.GetNodesByName(scene.HEAT_COLORS).GetNumberOfItems() == 1
    logic.show_result(mrml, result, ct_node, table)
    assert composite.GetForegroundVolumeID() is None

    features = logic.radiomics_table(mrml, ct_node, seg_node, params="shape", label=IPH)
    values = {features.GetCellText(r, 0): float(features.GetCellText(r, 1)) for r in range(features.GetNumberOfRows())}
    truth = json.loads(base["json"].read_text())["volumes_ml"]["IPH"]
    assert values["original_shape_VoxelVolume"] / 1000 == pytest.approx(truth, rel=1e-6)
    csv_path = logic.export_csv(features, tmp_path / "radiomics.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "Feature,Value" and len(lines) == features.GetNumberOfRows() + 1


def test_predict_panel_texts_and_overlays_of_signs_and_midline():
    """A planted blend sign and a head wide enough for the midline: the sign's region as a segment,
    the midline's two lines as markups at the read-out's points (LPS -> RAS), the panel's labels."""
    from ICHPredictLib import logic

    from ichkit.anatomy.midline import midline_shift
    from ichkit.phantom.signs import make_sign_phantom
    from ichkit.anatomy.signs import expansion_signs

    ph = make_sign_phantom(3, "blend", shape=(24, 400, 400))
    readout = {"signs": expansion_signs(ph.ct, ph.labels), "midline": midline_shift(ph.ct, ph.labels)}
    assert readout["signs"]["signs"]["blend"]["present"] and readout["midline"]["status"] == "determined"
    mrml = scene.new_scene()
    ct_node = scene.volume_to_node(mrml, ph.ct, "ct")
    seg_node = scene.labelmap_to_segmentation(mrml, ph.labels, ct_node)
    nodes = logic.show_overlays(mrml, ct_node, seg_node, readout)
    present = [k for k, e in readout["signs"]["signs"].items() if isinstance(e, dict) and e.get("present") and k in readout["signs"].regions]
    segments = nodes["signs"].GetSegmentation()
    assert "blend" in present and [segments.GetNthSegment(i).GetName() for i in range(segments.GetNumberOfSegments())] == present
    union = np.any([readout["signs"].regions[k].array > 0 for k in present], axis=0)
    assert np.array_equal(scene.segmentation_to_labelmap(nodes["signs"], ph.ct).array > 0, union)  # drawn where the read-out found them
    for key in ("ideal_line", "septum_line"):
        line = readout["midline"][key]
        got = [nodes[key].GetNthControlPointPosition(i) for i in range(nodes[key].GetNumberOfControlPoints())]
        want = [np.asarray(line[end]["mm_lps"]) * scene.LPS_TO_RAS for end in ("start", "end")]
        assert np.allclose(got, want, atol=1e-6) and nodes[key].GetLocked()
    again = logic.show_overlays(mrml, ct_node, seg_node, {"signs": {"signs": {}}, "midline": {"status": "undetermined"}}, nodes)
    assert again["signs"] is nodes["signs"] and again["signs"].GetSegmentation().GetNumberOfSegments() == 0
    assert "ideal_line" not in again and mrml.GetNodesByClass("vtkMRMLMarkupsLineNode").GetNumberOfItems() == 0

    inputs = logic.PanelInputs(logic.measures_of(ct_node, seg_node), readout)
    top, classifiers, errors = logic.panel_texts(inputs, {"age": "85", "gcs": "2", "onset_hours": "1"})
    assert top.index("Imaging read-out") < top.index("blend: present") < top.index("Clinical scores") < top.index("BAT score: 3 / 5")  # blend 1 + onset < 2.5 h 2
    assert errors.startswith("gcs: 2 is not a Glasgow Coma Scale total") and "ICH score: incomplete" in top
    assert classifiers.startswith("Learned classifiers") and "hidden: demo model" in classifiers


# --- ICHSynth ---


def _synth_params(work: Path) -> SimpleNamespace:
    """The fields of ICHSynth's parameter node, as the module holds them."""
    return SimpleNamespace(manifest=work / "m.csv", preset="seed", epochs=5, device="cpu", workFolder=work, model=work / "model.pt",
                           sampleCount=8, seed=3, synthetic=work / "s" / "manifest.csv", readerCount=20)


def test_synth_command_lines_and_browsing(tmp_path):
    from ICHSynthLib import logic

    head = [sys.executable, "-m", "ichkit", "--progress-json"]
    params, w = _synth_params(tmp_path), str(tmp_path)
    assert logic.request("train", params).argv() == head + [
        "train", "synth", "--data", f"{w}/m.csv", "-o", f"{w}/generator", "--class", "he", "--preset", "seed", "--epochs", "5", "--device", "cpu", "--json"]
    assert logic.request("sample", params).argv() == head + [
        "synth", "sample", "--model", f"{w}/model.pt", "-o", f"{w}/samples", "--n", "8", "--seed", "3", "--sampler", "ddim", "--device", "cpu", "--json"]
    assert logic.request("balance", params).argv() == head + [
        "synth", "balance", "--real", f"{w}/m.csv", "--synthetic", f"{w}/s/manifest.csv", "--ratio", "1:2", "-o", f"{w}/balanced/balanced.csv", "--json"]
    assert logic.request("reader-study", params).argv() == head + [
        "synth", "reader-study", "--real", f"{w}/m.csv", "--synthetic", f"{w}/s/manifest.csv", "-o", f"{w}/reader_study",
        "--n-real", "20", "--n-synthetic", "20", "--seed", "3", "--json"]
    for bad, line in (({"model": Path("")}, "sample needs model"), ({"sampleCount": 0}, "n 0: must be 1 or more"),
                      ({"device": "tpu"}, "device 'tpu'")):
        with pytest.raises(OptionError, match=line):  # refused before any child starts, in the backend's words
            logic.request("sample", SimpleNamespace(**{**vars(params), **bad}))

    import SimpleITK as sitk

    (tmp_path / "images").mkdir()
    for i in (1, 0):
        sitk.WriteImage(sitk.GetImageFromArray(np.full((16, 24), 40 * i, np.uint8)), str(tmp_path / "images" / f"m_s{i}.png"))
    images = logic.sampled_images(tmp_path)
    assert [p.name for p in images] == ["m_s0.png", "m_s1.png"]
    mrml = scene.new_scene()
    node = logic.show_image(mrml, images[1])
    assert scene.node_to_volume(node).array.shape == (1, 16, 24) and node.GetName() == "m_s1"
    assert logic.show_image(mrml, images[0], node) is node and scene.node_to_volume(node).array.max() == 0


@pytest.mark.parametrize("argv_of", ["predict", "synth"])
def test_command_lines_parse_with_the_real_cli_when_it_has_them(argv_of):
    """Coordination check: once `ich predict` / `ich synth` exist, our command lines must parse."""
    from ichkit.cli import COMMANDS, build_parser

    if argv_of not in COMMANDS:
        pytest.skip(f"`ich {argv_of}` is not in this checkout yet")
    from ICHSynthLib.logic import request

    lines = {"predict": [PredictRequest("c", "o", "m", overwrite=True).argv()],
             "synth": [request(step, _synth_params(Path("w"))).argv() for step in ("train", "sample", "balance", "reader-study")]}
    for argv in lines[argv_of]:
        build_parser().parse_args(argv[3:])
