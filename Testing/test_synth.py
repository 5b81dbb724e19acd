"""Diffusion-UKAN synthesis (spec 8): KAN layer, U-KAN, a real smoke training and resume on phantom
ROI images, DDPM / DDIM sampling, balanced manifests, FID / IS / KID, the reader-study round trip.

Runs on one thread: the machine's cores are shared, and small convolutions on two contended
threads are ~10x slower than on one.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ichkit.phantom.classify import he_phantom
from ichkit.classify.roi import RoiSettings
from ichkit.classify.tasks import build_dataset, get_task
from ichkit.cli import main
from ichkit.synth import agreement

ROI_SIZE = 48
N_PATIENTS = 8  # labels alternate: 4 HE patients -> 12 real HE images


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_cli(capsys, *argv) -> tuple[int, dict | str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


def read_csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def roi(tmp_path_factory) -> Path:
    """Phantom ROI dataset in the classifier's format: window 40/80 crops of the max-area slice and its neighbours."""
    out = tmp_path_factory.mktemp("roi")
    phantoms = {}
    scans = []
    for i in range(N_PATIENTS):
        label = int(i % 2 == 0)
        phantoms[f"p{i}"] = he_phantom(i, label, shape=(16, 96, 96), spacing=(2.0, 2.0, 5.0)).phantom
        scans.append({"patient_id": f"p{i}", "scan_id": f"p{i}_ct", "label": label})
    build_dataset(get_task("he"), scans, out, RoiSettings(size=ROI_SIZE),
                  load=lambda r: (phantoms[r["patient_id"]].ct, phantoms[r["patient_id"]].labels))
    return out / "manifest.csv"


@pytest.fixture(scope="module")
def trained(roi, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ukan") / "run"
    code = main(["train", "synth", "--data", str(roi), "--class", "he", "--preset", "smoke", "-o", str(out), "--no-progress", "--json"])
    assert code == 0
    return out, json.loads((out / "train.json").read_text())


@pytest.fixture(scope="module")
def samples(trained, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    assert main(["synth", "sample", "--model", str(trained[0]), "--n", "6", "--sampler", "ddim", "--seed", "10", "-o", str(out), "--no-progress"]) == 0
    return out / "manifest.csv"


# ---- KAN layer and U-KAN -------------------------------------------------------------------------

def test_bspline_bases_are_a_partition_of_unity_and_kan_layer_learns():
    from ichkit.synth.kan import KANLinear, bspline_bases

    layer = KANLinear(3, 2)
    x = torch.linspace(-1.99, 1.99, 101)[:, None].repeat(1, 3)
    bases = bspline_bases(x, layer.knots, layer.order)
    assert bases.shape == (101, 3, layer.n_bases)
    assert torch.allclose(bases.sum(-1), torch.ones(101, 3), atol=1e-5)
    assert (bases >= 0).all()
    # a KAN fits a non-linear 1D function that a linear layer cannot: y = sin(2x)
    torch.manual_seed(0)
    kan = KANLinear(1, 1)
    opt = torch.optim.Adam(kan.parameters(), lr=0.05)
    xs = torch.linspace(-1.5, 1.5, 64)[:, None]
    for _ in range(200):
        loss = ((kan(xs) - torch.sin(2 * xs)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01


def test_ukan_predicts_noise_of_the_input_shape_and_checks_the_size():
    from ichkit.errors import OptionError
    from ichkit.synth.ukan import UKAN, UKANConfig

    cfg = UKANConfig(image_size=32, conv_channels=(8, 16, 16), kan_channels=(24, 32))
    net = UKAN(cfg)
    x = torch.randn(3, 1, 32, 32)
    out = net(x, torch.tensor([0, 500, 999]))
    assert out.shape == x.shape
    assert torch.equal(net(x, torch.tensor(7)), net(x, torch.full((3,), 7)))  # one step broadcasts
    kan_layers = [m for m in net.modules() if type(m).__name__ == "KANLinear"]
    assert len(kan_layers) == 6  # two per tokenised block: encoder, bottleneck, decoder stage
    with pytest.raises(OptionError, match="multiple of 16"):
        UKANConfig(image_size=40)


# ---- training, resume, sampling ---------------------------------------------------------------------

def test_samplers_recover_the_image_an_exact_denoiser_points_to():
    """With the exact noise predictor for one known image, DDPM (1000 steps) and DDIM (50) must
    both end on that image: the reverse chains and their seeding are right independently of training."""
    from ichkit.synth.sample import sample_images
    from ichkit.synth.schedule import DiffusionConfig, make_scheduler

    cfg = DiffusionConfig()
    alpha_bar = make_scheduler("ddpm", cfg).alphas_cumprod
    target = torch.linspace(-0.8, 0.8, 64).reshape(1, 1, 8, 8)

    class ExactDenoiser(torch.nn.Module):
        def forward(self, x, timesteps, context=None):
            a = alpha_bar[timesteps.long()].view(-1, 1, 1, 1)
            return (x - a.sqrt() * target) / (1 - a).sqrt()

    meta = {"diffusion": cfg, "config": {"image_size": 8, "in_channels": 1}}
    for sampler in ("ddim", "ddpm"):
        out = sample_images(ExactDenoiser(), meta, 1, sampler=sampler)
        assert np.abs(out - (target[0, 0].numpy() + 1) / 2).max() < 1e-3, sampler


def test_smoke_training_learns_on_the_minority_class_only(trained):
    out, info = trained
    assert info["class"] == "he" and info["n_images"] == 12  # 4 HE patients x 3 slices; negatives left out
    losses = [h["loss"] for h in info["history"]]
    assert len(losses) == info["epochs"] == 8
    assert losses[-1] < 0.85 * losses[0]  # it does learn: noise-prediction MSE starts near 1
    assert info["model_id"].startswith("diffusion-ukan-he-")
    assert (out / "model.pt").is_file() and (out / "checkpoint.pt").is_file()


def test_resume_continues_exactly_where_the_interrupted_run_stopped(roi, tmp_path, capsys):
    from ichkit.synth.train import PRESETS, train

    preset = PRESETS["smoke"].with_overrides(epochs=3)
    straight = train(roi, tmp_path / "straight", preset)

    def stop_after_two(done, total, what=""):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(roi, tmp_path / "cut", preset, progress=stop_after_two)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["epoch"] == 2
    assert not (tmp_path / "cut" / "model.pt").exists()

    code, _, err = run_cli(capsys, "train", "synth", "--data", roi, "--preset", "smoke", "--epochs", "3", "-o", tmp_path / "cut", "--no-progress")
    assert code == 2 and "--resume" in err  # never silently restarts over a run
    code, payload, _ = run_cli(capsys, "train", "synth", "--data", roi, "--preset", "smoke", "--epochs", "3", "--resume",
                               "-o", tmp_path / "cut", "--no-progress", "--json")
    assert code == 0
    assert payload["resumed_from_epoch"] == 2 and payload["epochs_done"] == 3
    assert payload["model_id"] == straight.model_id  # bit-identical EMA weights to the uninterrupted run
    a = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_ddim_sampling_writes_png_npy_and_a_synthetic_manifest(trained, samples, tmp_path):
    from PIL import Image

    rows = read_csv(samples)
    assert len(rows) == 6
    model_id = trained[1]["model_id"]
    assert {r["synthetic"] for r in rows} == {"1"} and {r["label"] for r in rows} == {"1"}
    assert [int(r["seed"]) for r in rows] == list(range(10, 16))
    assert {r["model_id"] for r in rows} == {model_id} and {r["sampler"] for r in rows} == {"ddim"} and {r["steps"] for r in rows} == {"50"}
    arrays = [np.load(samples.parent / r["path"]) for r in rows]
    for r, a in zip(rows, arrays):
        assert a.shape == (32, 32) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
        png = np.asarray(Image.open(samples.parent / r["png"]))
        assert np.array_equal(png, np.round(a * 255).astype(np.uint8))
    assert np.std(np.stack(arrays), axis=0).mean() > 0.01  # different seeds, different images
    # every image is reproducible from its own seed, whatever batch it was drawn in
    assert main(["synth", "sample", "--model", str(trained[0] / "model.pt"), "--n", "2", "--seed", "12", "--batch-size", "1",
                 "-o", str(tmp_path / "again"), "--no-progress"]) == 0
    again = read_csv(tmp_path / "again" / "manifest.csv")
    assert np.allclose(np.load(tmp_path / "again" / again[0]["path"]), arrays[2], atol=1e-4)


def test_ddpm_sampling_walks_all_1000_steps(trained, tmp_path, capsys):
    code, payload, _ = run_cli(capsys, "synth", "sample", "--model", trained[0], "--n", "1", "--sampler", "ddpm", "--seed", "3",
                               "-o", tmp_path, "--no-progress", "--json")
    assert code == 0 and payload["steps"] == 1000
    row = read_csv(tmp_path / "manifest.csv")[0]
    assert row["synthetic"] == "1" and row["sampler"] == "ddpm" and row["seed"] == "3"
    code, _, err = run_cli(capsys, "synth", "sample", "--model", trained[0], "--n", "1", "--sampler", "ddpm", "--steps", "50",
                           "-o", tmp_path / "x", "--no-progress")
    assert code == 2 and "ddim" in err


# ---- balanced training sets ---------------------------------------------------------------------------

def _real_manifest(path: Path, roi: Path) -> Path:
    """Train: 2 HE and 8 non-HE rows; test: 1 HE and 3 non-HE rows (images of the phantom ROI set)."""
    src = read_csv(roi)
    pos = [r for r in src if r["label"] == "1"]
    neg = [r for r in src if r["label"] == "0"]
    rows = [{**r, "split": "train"} for r in pos[:2] + neg[:8]] + [{**r, "split": "test"} for r in pos[9:10] + neg[9:12]]
    for r in rows:
        r["path"] = str(roi.parent / r["path"])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize("ratio,k,added", [("1:1", 1, 6), ("1:2", 2, 2)])
def test_balance_reaches_the_exact_ratio_with_synthetic_images_in_training_only(roi, samples, tmp_path, capsys, ratio, k, added):
    from ichkit.classify.train import patient_split, read_manifest

    real = _real_manifest(tmp_path / "real.csv", roi)
    out = tmp_path / "sub" / "balanced.csv"
    code, payload, _ = run_cli(capsys, "synth", "balance", "--real", real, "--synthetic", samples, "--ratio", ratio, "-o", out, "--json")
    assert code == 0 and payload["synthetic_positives"] == added
    rows = read_csv(out)
    train = [r for r in rows if r["split"] == "train"]
    pos, neg = sum(r["label"] == "1" for r in train), sum(r["label"] == "0" for r in train)
    assert pos * k == neg == 8
    synthetic = [r for r in rows if r["synthetic"] == "1"]
    assert len(synthetic) == added and all(r["split"] == "train" for r in synthetic)
    assert all(r["model_id"] for r in synthetic)
    test_rows = [r for r in rows if r["split"] == "test"]
    original_test = [r for r in read_csv(real) if r["split"] == "test"]
    assert [(r["scan_id"], r["slice"], r["label"]) for r in test_rows] == [(r["scan_id"], r["slice"], r["label"]) for r in original_test]
    for r in rows:  # paths were rewritten relative to the new manifest's folder
        assert (out.parent / r["path"]).is_file()
    train_rows, held = patient_split(read_manifest(out), 0.2, 0, out)  # the classifier trainer accepts it
    assert len(train_rows) == 10 + added and len(held) == 4 and not any(r["synthetic"] for r in held)


def test_balance_refuses_too_few_synthetic_images(roi, samples, tmp_path, capsys):
    real = _real_manifest(tmp_path / "real.csv", roi)
    rows = read_csv(real)
    rows[0]["label"] = "0"  # 1 HE and 9 non-HE in training: 1:1 needs 8 synthetic, 6 exist
    with open(real, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    code, _, err = run_cli(capsys, "synth", "balance", "--real", real, "--synthetic", samples, "--ratio", "1:1", "-o", tmp_path / "b.csv")
    assert code == 2 and "8 synthetic" in err and "ich synth sample" in err
    assert not (tmp_path / "b.csv").exists()


# ---- quality ---------------------------------------------------------------------------------------

def test_fid_is_without_inception_weights_stop_at_once_naming_the_option(tmp_path, capsys):
    t0 = time.perf_counter()
    code, _, err = run_cli(capsys, "synth", "quality", "--real", tmp_path / "nowhere", "--fake", tmp_path / "nothing")
    assert code == 2 and "--inception-weights" in err
    assert time.perf_counter() - t0 < 5
    code, _, err = run_cli(capsys, "synth", "quality", "--real", tmp_path, "--fake", tmp_path, "--inception-weights", tmp_path / "missing.pth")
    assert code == 2 and "missing.pth" in err


def _he_encoder(folder: Path) -> Path:
    from ichkit.classify.models import create_model
    from ichkit.classify.train import save_model

    torch.manual_seed(0)
    kw = {"img_size": 32, "patch_size": 8}
    save_model(create_model("vit_he_micro", **kw), {"task": "he", "arch": "vit_he_micro", "arch_kwargs": kw, "settings": {"size": 32}},
               folder / "model.pt")
    return folder


def test_domain_fid_and_kid_on_a_trained_he_encoder(roi, samples, tmp_path, capsys):
    encoder = _he_encoder(tmp_path)
    code, r, _ = run_cli(capsys, "synth", "quality", "--real", roi, "--fake", samples, "--encoder", encoder, "--no-progress", "--json",
                         "-o", tmp_path / "q.json")
    assert code == 0
    assert r["n_real"] == 12 and r["n_fake"] == 6 and "inception" not in r  # real side: the HE rows only
    d = r["domain"]
    assert d["feature_dim"] == 64 and d["fid"] > 0 and np.isfinite(d["kid"])
    assert json.loads((tmp_path / "q.json").read_text())["domain"]["fid"] == d["fid"]
    code, same, _ = run_cli(capsys, "synth", "quality", "--real", roi, "--fake", roi, "--encoder", encoder, "--no-progress", "--json")
    assert abs(same["domain"]["fid"]) < 1e-3 * d["fid"]


@pytest.mark.slow
def test_fid_and_is_with_an_inception_weights_file(roi, samples, tmp_path, capsys):
    """The torch-fidelity path end to end with a user weights file (here random weights in the
    Inception-v3 layout: the figures are meaningless, the plumbing is real). Two images a side:
    the FID's 2048 x 2048 matrix square root dominates (~30 s on one CPU thread)."""
    import shutil

    import torchvision
    from torch_fidelity.metric_isc import isc_features_to_metric

    from ichkit.synth.images import image_files
    from ichkit.synth.quality import inception_features

    torch.manual_seed(0)
    state = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits")}
    state["fc.weight"], state["fc.bias"] = torch.randn(1008, 2048) * 0.01, torch.zeros(1008)
    weights = tmp_path / "inception.pth"
    torch.save(state, weights)
    sets = {}
    for name, manifest in (("real", roi), ("fake", samples)):
        sets[name] = tmp_path / name
        sets[name].mkdir()
        for row in read_csv(manifest)[:2]:
            shutil.copy(manifest.parent / row["path"], sets[name])
    code, r, _ = run_cli(capsys, "synth", "quality", "--real", sets["real"], "--fake", sets["fake"], "--inception-weights", weights,
                         "--no-progress", "--json")
    assert code == 0
    i = r["inception"]
    assert r["n_real"] == 2 and r["n_fake"] == 2
    assert i["feature_dim"] == 2048 and np.isfinite(i["fid"]) and np.isfinite(i["kid"])
    # Two fake images in two splits: each split's marginal p(y) is its one image's p(y|x), so the
    # KL is 0 and IS = exp(0) = 1 exactly; float64 rounding over 1008 classes stays far below 1e-9.
    assert i["is"] == pytest.approx(1.0, abs=1e-9)
    assert i["fid"] > 0  # (recomputing it here would cost another 2048 x 2048 matrix root, ~30 s on one thread)
    _, fake_logits = inception_features(image_files(sets["fake"]), weights)
    assert i["is"] == pytest.approx(isc_features_to_metric(torch.from_numpy(fake_logits), splits=2)["inception_score_mean"])


# ---- reader study ------------------------------------------------------------------------------------

def test_reader_study_kit_and_scoring_round_trip(roi, samples, tmp_path, capsys):
    from PIL import Image

    study = tmp_path / "study"
    code, _, _ = run_cli(capsys, "synth", "reader-study", "--real", roi, "--synthetic", samples, "--n-real", 6, "--n-synthetic", 5,
                         "--raters", 3, "--size", 64, "--seed", 1, "-o", study)
    assert code == 0
    kit = study / "kit"
    key = read_csv(study / "answer_key.csv")
    assert not list(kit.rglob("*key*"))  # the key stays out of the kit
    assert len(key) == 11 and sum(r["origin"] == "synthetic" for r in key) == 5
    images = sorted((kit / "images").iterdir())
    assert sorted(p.stem for p in images) == sorted(r["image_id"] for r in key)
    for p in images:
        with Image.open(p) as im:
            assert im.size == (64, 64) and im.mode == "L" and not im.info.get("text") and not getattr(im, "text", None)
    assert not any(s in p.name for p in images for s in ("p0", "synthetic", "diffusion", "ddim"))
    sheets = sorted(kit.glob("sheet_rater*.csv"))
    assert len(sheets) == 3

    rng = np.random.default_rng(5)
    ids = [r["image_id"] for r in read_csv(sheets[0])]
    assert ids == sorted(ids)
    truth = {r["image_id"]: r["origin"] == "synthetic" for r in key}
    scores = rng.integers(1, 6, size=(len(ids), 2, 3))
    calls = rng.random((len(ids), 3)) < 0.5
    for k, sheet in enumerate(sheets):
        with open(sheet, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["image_id", "quality", "authenticity", "call"])
            for i, image_id in enumerate(ids):
                w.writerow([image_id, scores[i, 0, k], scores[i, 1, k], "synthetic" if calls[i, k] else "real"])
    out = tmp_path / "scores.json"
    code, r, _ = run_cli(capsys, "synth", "reader-score", "--key", study / "answer_key.csv", "--sheets", *sheets, "-o", out, "--json")
    assert code == 0 and json.loads(out.read_text())["images"] == 11

    is_synth = np.array([truth[i] for i in ids])
    for d, dim in enumerate(("quality", "authenticity")):
        means = scores[:, d, :].mean(axis=1)
        assert r[dim]["real"]["mean"] == pytest.approx(means[~is_synth].mean())
        assert r[dim]["synthetic"]["mean"] == pytest.approx(means[is_synth].mean())
        assert r[dim]["icc_2_1"] == pytest.approx(agreement.icc_2_1(scores[:, d, :]))
        assert r[dim]["mann_whitney"] == pytest.approx(agreement.mann_whitney(means[~is_synth], means[is_synth]))
    assert r["calls"]["fleiss_kappa"] == pytest.approx(agreement.fleiss_kappa(agreement.category_counts(calls, [False, True])))
    assert r["calls"]["identification"] == pytest.approx(agreement.majority_identification(calls, is_synth))

    rows = read_csv(sheets[1])  # a broken sheet is a one-line error naming it
    rows[0]["quality"] = "7"
    with open(sheets[1], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    code, _, err = run_cli(capsys, "synth", "reader-score", "--key", study / "answer_key.csv", "--sheets", *sheets, "-o", tmp_path / "x.json")
    assert code == 2 and sheets[1].name in err and "1-5" in err
