"""Classifiers (spec 5-7): ROI slices, model registry, patient-level splits, training with resume,
planted-label phantoms (AUC, shuffled-label leakage check, Grad-CAM mass), `ich predict`.

The shipped demo models (bench/train_demo_classifiers.py) are checked on held-out phantoms of a
seed family never used in training; the leakage check trains tiny models here.
"""

import csv
import json
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ichkit.classify.inputs import VolumeSettings, volume_input, volume_to_ct  # noqa: E402
from ichkit.classify.models import MODELS, VIT_SIZES, CTNet, ResidualBlock3d, create_model  # noqa: E402
from ichkit.phantom.classify import he_phantom, ht_phantom, location_phantom  # noqa: E402
from ichkit.classify.predict import DEMO_MODELS, DEMO_WARNING, load_classifier, predict  # noqa: E402
from ichkit.classify.roi import RoiSettings, roi_slices  # noqa: E402
from ichkit.classify.tasks import TASKS, build_dataset  # noqa: E402
from ichkit.classify.train import PRESETS, balance, patient_split, read_manifest, train_classifier  # noqa: E402
from ichkit.cli import main  # noqa: E402
from ichkit.errors import EmptyMaskError, ICHWarning, TableError, TooFewSlicesError  # noqa: E402
from ichkit.evaluate.auc import auc  # noqa: E402
from ichkit.classify.explain import backproject_roi, grad_cam, mass_inside  # noqa: E402
from ichkit.io import save_labelmap, save_volume  # noqa: E402
from ichkit.labels import IPH  # noqa: E402
from ichkit.measure import max_area_slice  # noqa: E402
from ichkit.models import load_registry  # noqa: E402

SMALL = dict(shape=(32, 128, 128), spacing=(2.0, 2.0, 5.0))
HELD_OUT_BASE = 3_000_000  # seeds never used by the demo training (families 1 and 2)
N_HELD_OUT = 16
MIN_AUC, MIN_CAM_MASS = 0.80, 0.60


# ---- ROI slices ---------------------------------------------------------------------------

def test_roi_slices_are_the_max_area_slice_and_its_neighbours():
    ph = he_phantom(5, 1, **SMALL).phantom
    stack = roi_slices(ph.ct, ph.labels, RoiSettings(size=48))
    top, _ = max_area_slice(ph.labels.array == IPH)
    assert stack.slices == (top - 1, top, top + 1)
    assert stack.images.shape == (3, 48, 48) and stack.images.dtype == np.float32
    assert 0.0 <= stack.images.min() and stack.images.max() <= 1.0
    y0, y1, x0, x1 = stack.box
    ys, xs = np.nonzero(ph.labels.array[top] == IPH)
    assert y0 < ys.min() and ys.max() < y1 and x0 < xs.min() and xs.max() < x1  # hematoma plus margin
    assert (y1 - y0) == (x1 - x0)  # square: 224 x 224 without distortion


def test_empty_mask_is_a_clear_error():
    ph = he_phantom(5, 0, **SMALL).phantom
    empty = ph.labels.with_array(np.zeros_like(ph.labels.array), source="empty.nii.gz")
    with pytest.raises(EmptyMaskError, match="empty.nii.gz: the mask holds no hematoma voxel"):
        roi_slices(ph.ct, empty)


def test_hematoma_under_three_slices_errors_or_warns():
    ph = he_phantom(5, 0, **SMALL).phantom
    thin = np.zeros_like(ph.labels.array)
    thin[10:12, 60:70, 60:70] = IPH
    mask = ph.labels.with_array(thin, source="thin.nii.gz")
    with pytest.raises(TooFewSlicesError, match="spans 2 contiguous slice"):
        roi_slices(ph.ct, mask)
    with pytest.warns(ICHWarning, match="needs >= 3"):
        assert roi_slices(ph.ct, mask, RoiSettings(size=32, on_short="warn")).images.shape == (3, 32, 32)


def test_roi_heatmap_goes_back_into_the_box():
    heat = backproject_roi(np.ones((3, 16, 16), np.float32), (4, 5, 6), (-3, 13, 100, 116), (10, 110, 110))
    assert heat[4:7, 0:13, 100:110].min() == pytest.approx(1.0) and heat.sum() == pytest.approx(3 * 13 * 10)


# ---- models -------------------------------------------------------------------------------

def test_cli_task_choices_match_the_task_registry():
    from ichkit.cli.predict_cmd import TASK_CHOICES
    from ichkit.cli.train_cmd import CLASSIFY_TASKS

    assert CLASSIFY_TASKS == tuple(TASKS) and TASK_CHOICES == tuple(TASKS) + ("all",)


def test_model_registry_builds_each_family():
    import torch

    assert VIT_SIZES["base"][0] == "vit_base_patch16_224" and MODELS["vit_he"].args == ("base",)  # spec 5's ViT-B/16
    assert MODELS["dtvit_location"].args == ("large",)  # 004's ViT-L/16
    vit = create_model("vit_he_micro")  # 224 px, patch 16: the 14 x 14 grid Grad-CAM reshapes to
    assert vit.token_grid == (14, 14)
    dual = create_model("dtvit_location_micro", img_size=32, patch_size=8)
    assert dual(torch.rand(2, 1, 32, 32)).shape == (2, 5) and set(dual.heads) == {"ich", "location"}
    for cnn in ("resnet18_location", "densenet121_location"):  # the DTViT study's CNN baselines, same two heads
        net = create_model(cnn)
        assert net(torch.rand(2, 1, 32, 32)).shape == (2, 5) and net.heads == dual.heads
    net = create_model("ctnet_ht_small")
    assert net(torch.rand(2, 1, 28, 32, 32)).shape == (2, 2)
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock3d)]
    assert isinstance(blocks[0].shortcut, torch.nn.Identity)  # shapes match
    assert isinstance(blocks[1].shortcut[0], torch.nn.Conv3d) and blocks[1].shortcut[0].kernel_size == (1, 1, 1)
    assert create_model("resnet18")(torch.rand(1, 1, 64, 64)).shape == (1, 2)
    assert isinstance(CTNet(), torch.nn.Module)


def test_grad_cam_shapes_vit_tokens_and_3d():
    import torch

    vit = create_model("vit_he_micro", img_size=32, patch_size=8)
    assert grad_cam(vit, torch.rand(3, 1, 32, 32), 1).shape == (3, 32, 32)
    net = create_model("ctnet_ht_small")
    assert grad_cam(net, torch.rand(1, 1, 28, 24, 24), 1).shape == (1, 28, 24, 24)


def test_conv_cam_cells_are_upsampled_where_they_sit():
    """A strided padded convolution centres cell j on input pixel S*j (CTNet, ResNet); a ViT patch
    cell covers pixels S*j .. S*j + S - 1."""
    import torch

    from ichkit.classify.explain import upsample_cam

    cell = torch.zeros(1, 1, 4, 4, 4)
    cell[0, 0, 1, 2, 2] = 1
    assert np.unravel_index(int(upsample_cam(cell, (16, 16, 16), "start").argmax()), (16, 16, 16)) == (4, 8, 8)
    assert create_model("ctnet_ht_small").cam_anchor == "start" and create_model("vit_he_micro").cam_anchor == "centre"
    patch = upsample_cam(cell[:, :, 1], (16, 16), "centre")[0, 0].numpy()
    assert np.argwhere(patch == patch.max()).mean(axis=0).tolist() == [9.5, 9.5]  # the centre of pixels 8-11


def test_ctnet_stage_strides_keep_the_slice_grid():
    """Per-stage strides: not striding in z keeps the 5 mm slices (and Grad-CAM's cells) one slice thick."""
    import torch

    net = create_model("ctnet_ht_small", stage_stride=((1, 2, 2), (1, 1, 1)))
    x = torch.rand(1, 1, 28, 32, 32)
    assert net.stages(net.stem(x)).shape[2:] == (28, 16, 16) and net(x).shape == (1, 2)
    assert create_model("ctnet_ht_small").stages(create_model("ctnet_ht_small").stem(x)).shape[2:] == (7, 8, 8)  # default: halve every axis
    with pytest.raises(Exception, match="one stride per stage"):
        create_model("ctnet_ht_small", stage_stride=((1, 2, 2),))


def test_ctnet_grad_cam_reads_the_penultimate_stage_unless_told():
    """Its cells are half the last stage's: the map spills less past the lesion (see CTNet)."""
    net = create_model("ctnet_ht_small")
    assert net.cam_layer() is net.stages[-2]
    last = create_model("ctnet_ht_small", cam_stage=-1)
    assert last.cam_layer() is last.stages[-1]
    with pytest.raises(Exception, match="cam_stage 3"):
        create_model("ctnet_ht_small", cam_stage=3)


def test_head_whose_held_out_scans_share_one_class_has_no_auc():
    """Every location scan bleeds, so the ICH head has no scan-level AUC: left out, not NaN
    (history.json must stay valid JSON)."""
    from ichkit.classify.train import task_auc

    scans = [{"truth": {"ich": 1, "location": k % 3}, "probs": {"ich": np.array([0.2, 0.8]), "location": np.eye(3)[k % 3]}}
             for k in range(6)]
    assert task_auc(TASKS["location"], scans) == {"location_auc": 1.0}


def test_ctnet_input_is_28_slices_and_maps_back():
    ph = ht_phantom(2, 1, **SMALL).phantom
    inp = volume_input(ph.ct, VolumeSettings(size=32))
    assert inp.array.shape == (28, 32, 32) and inp.offset == -2  # 32 slices cropped to 28, centred
    back = volume_to_ct(np.ones_like(inp.array), inp, ph.ct)
    assert back.shape == ph.ct.shape and back[:2].max() == 0 and back[2:30].min() == pytest.approx(1.0)


# ---- splits and ratios --------------------------------------------------------------------

def _manifest(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_patient_on_both_sides_of_the_split_is_refused(tmp_path):
    rows = [{"patient_id": p, "scan_id": p, "slice": z, "label": 0, "synthetic": 0, "path": "x.npy", "split": s}
            for p, z, s in [("a", 1, "train"), ("a", 2, "test"), ("b", 1, "train"), ("c", 1, "test")]]
    path = _manifest(tmp_path / "manifest.csv", rows)
    with pytest.raises(TableError, match="patient\\(s\\) a are in both"):
        patient_split(read_manifest(path), 0.2, 0, path)


def test_automatic_split_keeps_patients_whole_and_ratio_adds_synthetic_first(tmp_path):
    rows = [{"patient_id": f"p{i}", "scan_id": f"p{i}", "slice": z, "label": int(i < 4), "synthetic": 0, "path": "x.npy"}
            for i in range(20) for z in range(3)]
    path = _manifest(tmp_path / "manifest.csv", rows)
    train, held = patient_split(read_manifest(path), 0.2, 0, path)
    assert not {r["patient_id"] for r in train} & {r["patient_id"] for r in held}
    assert len(train) + len(held) == 60 and all(len([r for r in held if r["patient_id"] == p]) == 3 for p in {r["patient_id"] for r in held})
    synthetic = [{"patient_id": f"s{i}", "label": "1", "synthetic": 1, "path": "s.npy"} for i in range(30)]
    out = balance(train, 2, synthetic, 0)  # 1:2 -> positives = ceil(negatives / 2)
    neg = sum(int(r["label"]) == 0 for r in out)
    assert sum(int(r["label"]) == 1 for r in out) == -(-neg // 2)
    assert sum(r["synthetic"] for r in out) == -(-neg // 2) - sum(int(r["label"]) == 1 for r in train)


# ---- training: planted labels, shuffled labels, resume --------------------------------------

# In-test training is tiny (2 CPU cores): a micro ViT on 32 px ROI slices of small phantoms with
# large hematomas, 12 epochs, one thread. HT and location reach their planted AUC in the demo
# models above; their shuffled-label runs are `bench/train_demo_classifiers.py --shuffled`
# (a CTNet on whole volumes costs minutes per run here).
#
# Why many permutations: a model trained on shuffled labels still ranks images by their most
# salient property (here the clot texture that carries the true label), with a sign that each
# permutation decides by chance through its accidental ties to nuisance features. One shuffle
# therefore scores AUC ~0.25 or ~0.75 (64 permutations: mean 0.48, sd 0.23, only 2 within
# 0.5 +- 0.1), which says nothing about leakage. A leak shifts the mean over independent
# permutations; the check bounds that mean, and requires its standard error to be small enough
# for the bound to mean something.
LEAK_PHANTOM = dict(shape=(32, 96, 96), spacing=(2.67, 2.67, 5.0), hematoma_ml=(20.0, 60.0))
LEAK = {
    "he": dict(settings=RoiSettings(size=32, margin_mm=5.0), n_train=48, n_test=120,
               preset=PRESETS["he"]["smoke"].with_overrides(epochs=12, val_fraction=0.1, batch_size=16)),
}
MAKE = {"he": he_phantom}
LEAK_TASKS = ["he"]
N_PERMUTATIONS = 32  # sd of one shuffled run ~0.23: the mean of 32 has a standard error ~0.04
MAX_LEAK_SE = 0.05  # a mean with a larger standard error cannot tell 0.5 from 0.6
CNN_BASELINES = ("resnet18", "densenet121")


def _shuffled(labels: np.ndarray, seed: int) -> np.ndarray:
    """A random permutation orthogonal to the truth: half of each true class becomes 1."""
    rng, out = np.random.default_rng(seed), np.empty_like(labels)
    for c in (0, 1):
        idx = rng.permutation(np.flatnonzero(labels == c))
        out[idx] = np.arange(len(idx)) % 2
    return out


def _fit_and_score(tmp, task, made, labels, name, seed, test, **preset):
    """Train on `made` with `labels`; AUC of its held-out predictions against the true labels."""
    scans = [{"patient_id": k, "scan_id": k, "label": int(y)} for k, y in zip(made, labels)]
    if not (tmp / name / "manifest.csv").is_file():
        build_dataset(TASKS[task], scans, tmp / name, LEAK[task]["settings"],
                      load=lambda r: (made[r["scan_id"]].phantom.ct, made[r["scan_id"]].phantom.labels))
    train_classifier(TASKS[task], tmp / name / "manifest.csv", tmp / f"{name}_{preset.get('arch', 'model')}",
                     LEAK[task]["preset"].with_overrides(seed=seed, **preset))
    clf = load_classifier(task, tmp / f"{name}_{preset.get('arch', 'model')}")
    p = [predict(clf, t.phantom.ct, t.phantom.labels, passes=2, cam=False).result["probability"] for t in test]
    return auc([t.label for t in test], p)


@pytest.fixture(scope="module")
def leakage_runs(request, tmp_path_factory):
    """Tiny models trained on the true labels and on N_PERMUTATIONS independent shuffles (each
    with its own training seed), scored on the same held-out phantoms."""
    import torch

    task, cfg = request.param, LEAK[request.param]
    tmp = tmp_path_factory.mktemp(f"leak_{task}")
    test = [MAKE[task](HELD_OUT_BASE + i, i % 2, **LEAK_PHANTOM) for i in range(cfg["n_test"])]
    made = {f"p{i}": MAKE[task](100 + i, i % 2, **LEAK_PHANTOM) for i in range(cfg["n_train"])}
    truth = np.array([m.label for m in made.values()])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threading costs more than it gives on a shared CPU
    try:
        planted = _fit_and_score(tmp, task, made, truth, "planted", 0, test)
        shuffled = [_fit_and_score(tmp, task, made, _shuffled(truth, k), f"shuffled{k}", k, test)
                    for k in range(1, N_PERMUTATIONS + 1)]
    finally:
        torch.set_num_threads(threads)
    baselines = {arch: _fit_and_score(tmp, task, made, truth, "planted", 0, test, arch=arch, arch_kwargs={}) for arch in CNN_BASELINES}
    return {"planted": planted, "shuffled": np.array(shuffled), "baselines": baselines}


@pytest.mark.parametrize("leakage_runs", LEAK_TASKS, indirect=True)
def test_planted_label_is_learned(leakage_runs):
    assert leakage_runs["planted"] >= MIN_AUC


@pytest.mark.parametrize("leakage_runs", LEAK_TASKS, indirect=True)
def test_cnn_baselines_learn_the_planted_label(leakage_runs):
    """ResNet-18 and DenseNet-121 (the DTViT study's baselines; `bench/compare_classifiers.py`
    compares them with the ViT at 64 px) on the same data and held-out phantoms as the ViT."""
    print({arch: round(a, 3) for arch, a in leakage_runs["baselines"].items()})
    assert all(a >= MIN_AUC for a in leakage_runs["baselines"].values())


@pytest.mark.parametrize("leakage_runs", LEAK_TASKS, indirect=True)
def test_shuffled_labels_are_not_learned(leakage_runs):
    a = leakage_runs["shuffled"]
    mean, sd = float(a.mean()), float(a.std(ddof=1))
    se = sd / np.sqrt(len(a))
    spread = f"mean AUC {mean:.3f} over {len(a)} permutations (sd {sd:.3f}, se {se:.3f}, range {a.min():.2f}-{a.max():.2f})"
    print(spread)
    assert se <= MAX_LEAK_SE, spread
    assert abs(mean - 0.5) <= 0.1, spread


def test_train_cli_resume_continues_to_the_same_weights(tmp_path, capsys):
    import torch

    made = {f"p{i}": ht_phantom(200 + i, i % 2, **SMALL) for i in range(8)}
    scans = [{"patient_id": k, "scan_id": k, "label": m.label} for k, m in made.items()]
    build_dataset(TASKS["ht"], scans, tmp_path / "data", VolumeSettings(size=24), load=lambda r: (made[r["scan_id"]].phantom.ct, None))
    data = str(tmp_path / "data" / "manifest.csv")
    base = ["train", "classify", "--task", "ht", "--data", data, "--preset", "smoke", "--epochs", "2", "--no-progress"]
    assert main(base + ["-o", str(tmp_path / "straight")]) == 0

    def killed_after_first_epoch(done, total, what=""):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the same run, interrupted after its first checkpoint
        train_classifier(TASKS["ht"], data, tmp_path / "resumed", PRESETS["ht"]["smoke"].with_overrides(epochs=2), progress=killed_after_first_epoch)
    assert main(base + ["-o", str(tmp_path / "resumed")]) == 2  # a training is there: needs --resume
    assert main(base + ["--resume", "--json", "-o", str(tmp_path / "resumed")]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out[out.out.index("{"):])["resumed_from_epoch"] == 1
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # fixed seeds: resume == uninterrupted


# ---- shipped demo models on held-out phantoms -------------------------------------------------

MAKERS = {"he": lambda s, i: he_phantom(s, i % 2), "ht": lambda s, i: ht_phantom(s, i % 2), "location": lambda s, i: location_phantom(s)}


@pytest.fixture(scope="module")
def demo_scores():
    """Each shipped demo model on held-out phantoms: AUC and the Grad-CAM mass per phantom."""
    out = {}
    for task in ("he", "ht", "location"):
        clf = load_classifier(task)  # the registry's demo model, SHA-256-checked
        assert clf.demo
        y, p, mass = [], [], []
        for i in range(N_HELD_OUT):
            lab = MAKERS[task](HELD_OUT_BASE + i, i)
            pred = predict(clf, lab.phantom.ct, lab.phantom.labels, passes=4)
            assert pred.result["warning"] == DEMO_WARNING
            y.append(lab.label)
            p.append([pred.result["probabilities"][c] for c in TASKS[task].classes["location"]] if task == "location" else pred.result["probability"])
            if task == "location" or lab.label == 1:
                mass.append(mass_inside(pred.heatmap, lab.phantom.labels.array == IPH, lab.phantom.ct.spacing))
        y, p = np.array(y), np.array(p)
        score = np.mean([auc((y == c).astype(int), p[:, c]) for c in np.unique(y)]) if task == "location" else auc(y, p)
        out[task] = {"auc": score, "cam_mass": float(np.median(mass))}
        print(f"demo {task}: held-out AUC {score:.3f}, Grad-CAM mass median {out[task]['cam_mass']:.3f}")
    return out


@pytest.mark.parametrize("task", ["he", "ht", "location"])
def test_demo_classifier_auc_on_held_out_phantoms(demo_scores, task):
    assert demo_scores[task]["auc"] >= MIN_AUC


@pytest.mark.parametrize("task", ["he", "ht", "location"])
def test_demo_grad_cam_mass_lies_in_the_dilated_hematoma(demo_scores, task):
    assert demo_scores[task]["cam_mass"] >= MIN_CAM_MASS


def test_location_demo_rests_on_the_clot_its_heatmap_shows():
    """The location model is trained with Grad-CAM guidance, so its map is drawn toward the clot by
    construction; this checks that the decision depends on the clot too: with the clot replaced by
    brain tissue, P(ICH) falls (to 0.31 on average with the guided model; 0.64 unguided)."""
    from ichkit.phantom import Anatomy

    clf = load_classifier("location")
    before, after = [], []
    for i in range(8):
        ph = location_phantom(HELD_OUT_BASE + i).phantom
        rng = np.random.default_rng(i)
        clot = ph.labels.array == IPH
        erased = ph.ct.array.copy()
        erased[clot] = np.rint(Anatomy().white_hu + rng.normal(0, ph.params["noise_hu"], int(clot.sum())))
        before.append(predict(clf, ph.ct, None, passes=2, cam=False).result["ich_probability"])
        after.append(predict(clf, ph.ct.with_array(erased), None, passes=2, cam=False).result["ich_probability"])
    print(f"location demo: P(ICH) {np.mean(before):.2f} -> {np.mean(after):.2f} with the clot erased")
    assert np.mean(before) >= 0.9 and np.mean(after) <= 0.5


@pytest.mark.parametrize("task", ["ht", "location"])
def test_whole_scan_heatmaps_are_zero_where_the_network_saw_only_fill(task):
    """HT (skull-stripped) and location (brace removed) inputs are a constant fill outside the
    brain / head: no heat there, however far the coarse CAM cells spill."""
    from ichkit.phantom import BRAIN, CSF

    lab = MAKERS[task](HELD_OUT_BASE + 201, 1)
    pred = predict(load_classifier(task), lab.phantom.ct, lab.phantom.labels, passes=2)
    tissue = lab.phantom.tissue.array
    outside = (lab.phantom.ct.array < -500) if task == "location" else ~np.isin(tissue, (BRAIN, CSF)) & (lab.phantom.labels.array == 0)
    from scipy import ndimage

    far = ndimage.binary_erosion(outside, iterations=3)  # a margin for the resized masks' edges
    assert pred.heatmap[far].max() == 0 and pred.heatmap.max() > 0


def test_demo_models_are_registered_small_and_checked():
    reg = load_registry()
    for task, model_id in DEMO_MODELS.items():
        entry = reg.get(model_id)
        assert entry.task == "classification" and entry.demo and entry.size <= 10 * 2**20
        assert entry.card_text().strip()


# ---- ich predict ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    ph = he_phantom(HELD_OUT_BASE + 101, 1).phantom
    ct = save_volume(ph.ct, tmp / "ct.nii.gz")
    mask = save_labelmap(ph.labels, tmp / "mask.nii.gz")
    empty = save_labelmap(ph.labels.with_array(np.zeros_like(ph.labels.array)), tmp / "empty.nii.gz")
    return tmp, ct, mask, empty


def test_predict_all_writes_heatmaps_on_the_ct_grid(phantom_files, capsys):
    import SimpleITK as sitk

    from ichkit.io import load_ct

    tmp, ct, mask, _ = phantom_files
    out = tmp / "out"
    assert main(["predict", str(ct), "--mask", str(mask), "--task", "all", "-o", str(out), "--passes", "5"]) == 0
    captured = capsys.readouterr()
    assert DEMO_WARNING in captured.err and "he: " in captured.out
    report = json.loads((out / "predictions.json").read_text())["results"]
    assert set(report) == {"he", "ht", "location"}
    ref = load_ct(ct)
    for task, r in report.items():
        assert 0 <= r["interval"][0] <= r["interval"][1] <= 1 and r["warning"] == DEMO_WARNING
        img = sitk.ReadImage(str(out / r["heatmap"]))  # a heatmap, not HU: read it plainly
        assert img.GetSize() == ref.shape[::-1] and np.allclose(img.GetSpacing(), ref.spacing) and np.allclose(img.GetOrigin(), ref.origin)
        assert all((out / png).is_file() for png in r["overlays"])
    assert len(report["he"]["overlays"]) == 3
    assert {t: r["cam_guided"] for t, r in report.items()} == {"he": False, "ht": False, "location": True}  # whose map was trained


def test_predict_he_with_empty_mask_fails_cleanly_and_ht_needs_no_mask(phantom_files, capsys):
    tmp, ct, _, empty = phantom_files
    assert main(["predict", str(ct), "--mask", str(empty), "--task", "he", "-o", str(tmp / "e")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and ("no hematoma voxel" in err or "no foreground" in err) and "Traceback" not in err
    assert main(["predict", str(ct), "--task", "ht", "-o", str(tmp / "ht"), "--no-cam"]) == 0
    assert json.loads((tmp / "ht" / "predictions.json").read_text())["results"]["ht"]["class"] in TASKS["ht"].classes["label"]


def test_vit_grad_cam_equals_pytorch_grad_cam():
    """Our torch Grad-CAM (chosen for speed) gives pytorch-grad-cam's map for the ViT (token
    reshape on the final block's LayerNorm), checked against the library itself."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from ichkit.classify.models import create_model
    from ichkit.classify.explain import _vit_tokens_to_grid, grad_cam

    torch.manual_seed(0)
    model = create_model("vit_he_micro", img_size=64, patch_size=16).eval()
    x = torch.rand(2, 1, 64, 64)
    ours = grad_cam(model, x, 1)
    reshape = lambda t: _vit_tokens_to_grid(t, model.token_grid, model.net.num_prefix_tokens)  # noqa: E731
    with GradCAM(model=model, target_layers=[model.cam_layer()], reshape_transform=reshape) as cam:
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)] * 2)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
