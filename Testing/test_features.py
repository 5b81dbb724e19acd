"""Radiomics + latent feature pipeline (spec 4): planted-label AUC, a shuffled-label leakage
check, NMF fitted on training folds only, patient grouping, HE outcomes and the CLI end to end.
Small phantoms and the smoke preset keep it within about two minutes on two cores."""

import csv
import json

import numpy as np
import pytest

from ichkit.cli import main
from ichkit.errors import TableError
from ichkit.features.extract import extract_features
from ichkit.features.nmf import set_reducer
from ichkit.features.pipeline import INPUTS, benchmark, build_pipeline, cv_splits
from ichkit.features.settings import PRESETS
from ichkit.features.tables import load_features, outcome_labels
from ichkit.phantom import write_phantom_cohort

SMOKE = PRESETS["smoke"]
PHANTOM = dict(shape=(16, 96, 96), spacing=(2.0, 2.0, 5.0), ivh=False)


def _volume_labels(table, folder):
    """The planted outcome: hematoma volume above the cohort median."""
    ml = {r["id"]: float(r["IPH_ml"]) for r in csv.DictReader(open(folder / "cohort.csv"))}
    v = np.array([ml[i] for i in table.ids])
    return (v > np.median(v)).astype(int)


@pytest.fixture(scope="module")
def radiomics_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    write_phantom_cohort(root / "ph", 60, seed=3, **PHANTOM)
    extract_features(root / "ph" / "cohort.csv", root / "feat", ("radiomics",), SMOKE)
    table = load_features(root / "feat")
    return table, _volume_labels(table, root / "feat")


def test_radiomics_pipeline_learns_planted_label_on_held_out_split(radiomics_cohort):
    table, y = radiomics_cohort
    train, ext = table.take(table.ids[:40]), table.take(table.ids[40:])
    result = benchmark(train, y[:40], SMOKE.benchmark, external=(ext, y[40:]), classifiers=["random_forest", "elastic_net"],
                       inputs=["radiomics", "shape"])
    aucs = {(r["classifier"], r["input"], r["split"]): r["auc"] for r in result.rows}
    assert aucs[("random_forest", "radiomics", "external")] >= 0.80, aucs
    assert aucs[("random_forest", "radiomics", "cv")] >= 0.80, aucs
    row = next(r for r in result.rows if r["split"] == "external" and r["input"] == "radiomics")
    assert row["delong_low"] <= row["auc"] <= row["delong_high"] and row["bootstrap_low"] <= row["auc"] <= row["bootstrap_high"]


def test_shuffled_labels_stay_at_chance(radiomics_cohort):
    """Leakage check: with the outcome permuted, cross-validated AUCs average 0.5 +- 0.1."""
    table, y = radiomics_cohort
    aucs = []
    for seed in range(8):
        shuffled = np.random.default_rng(seed).permutation(y)
        result = benchmark(table, shuffled, SMOKE.benchmark, classifiers=["random_forest", "naive_bayes"], inputs=["radiomics"])
        aucs += [r["auc"] for r in result.rows]
    assert abs(np.mean(aucs) - 0.5) <= 0.1, aucs


def test_nmf_and_scalers_are_fitted_on_the_training_fold_only(radiomics_cohort):
    table, y = radiomics_cohort
    s = SMOKE.benchmark
    cols = {"radiomics": table.columns["radiomics"]}
    col = int(cols["radiomics"][0])
    for tr, va in cv_splits(y, table.patients, s):
        X = table.X.copy()
        X[va, col] = 1e9  # a held-out outlier: any fit that saw held-out rows would record it
        model = build_pipeline("naive_bayes", ("radiomics",), cols, s).fit(X[tr], y[tr])
        reducer = model.named_steps["reduce"].named_transformers_["radiomics"]
        shift = reducer.named_steps["shift"]
        assert shift.n_samples_seen_ == len(tr) and model.named_steps["scale"].n_samples_seen_ == len(tr)
        assert shift.data_max_[0] == X[tr, col].max() < 1e9
        fresh = set_reducer(s).fit(X[tr])  # NMF fitted on exactly the training rows gives the same basis
        np.testing.assert_allclose(fresh.named_steps["nmf"].nmf_.components_, reducer.named_steps["nmf"].nmf_.components_)
        leaky = set_reducer(s).fit(X)
        assert not np.allclose(leaky.named_steps["nmf"].nmf_.components_, reducer.named_steps["nmf"].nmf_.components_)
        assert np.isfinite(model.predict_proba(X[va])).all()  # held-out outliers are only transformed (clipped)


def test_no_patient_in_both_train_and_validation():
    rng = np.random.default_rng(0)
    owner = np.repeat(np.arange(30), rng.integers(1, 4, 30))  # 1-3 scans per patient
    patients, y = np.array([f"p{i}" for i in owner]), rng.integers(0, 2, 30)[owner]
    splits = cv_splits(y, patients, SMOKE.benchmark)
    assert len(splits) == SMOKE.benchmark.folds
    for tr, va in splits:
        assert not set(patients[tr]) & set(patients[va])
    assert sorted(np.concatenate([va for _, va in splits]).tolist()) == list(range(len(y)))


def test_he_outcomes_from_volumes(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,IPH_ml,followup_IPH_ml,poor,mrs\na,10,12,0,4\nb,10,17,1,1\nc,10,,,0\nd,20,29.5,true,2\n")
    assert outcome_labels(path, "he3") == {"a": 0, "b": 1, "d": 1}
    assert outcome_labels(path, "he6") == {"a": 0, "b": 1, "d": 1}
    assert outcome_labels(path, "he9") == {"a": 0, "b": 0, "d": 1}
    assert outcome_labels(path, "poor") == {"a": 0, "b": 1, "d": 1}
    with pytest.raises(TableError, match="must be 0/1"):
        outcome_labels(path, "mrs")


def test_cli_train_extract_benchmark(tmp_path, capsys):
    """`ich train vaegan` (with resume), `ich features extract` (all sets), `ich features benchmark`."""
    write_phantom_cohort(tmp_path / "ph", 12, seed=5, **PHANTOM)
    cohort = str(tmp_path / "ph" / "cohort.csv")
    ae = tmp_path / "ae"
    quiet = ["--no-progress", "--json"]
    assert main(["train", "vaegan", "--data", cohort, "-o", str(ae), "--preset", "smoke", "--epochs", "1", *quiet]) == 0
    assert main(["train", "vaegan", "--data", cohort, "-o", str(ae), "--preset", "smoke", "--epochs", "2", "--resume", *quiet]) == 0
    history = json.loads((ae / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2] and len(history["scans"]) == 12
    capsys.readouterr()
    feat = tmp_path / "feat"
    assert main(["features", "extract", cohort, "-o", str(feat), "--sets", "ae", *quiet]) == 2  # no --ae-model
    assert "--ae-model" in capsys.readouterr().err
    assert main(["features", "extract", cohort, "-o", str(feat), "--preset", "smoke", "--ae-model", str(ae / "checkpoint.pt"), *quiet]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {k: v["features"] for k, v in summary["sets"].items()} == {"radiomics": 107, "shape": 14, "seg": 128, "ae": 64}
    table = load_features(feat)
    labels = tmp_path / "labels.csv"
    y = _volume_labels(table, feat)
    labels.write_text("id,big\n" + "".join(f"{i},{v}\n" for i, v in zip(table.ids, y)))
    out = tmp_path / "bench"
    args = ["features", "benchmark", str(feat), "--outcome", "big", "--labels", str(labels), "--preset", "smoke",
            "--classifiers", "naive_bayes,elastic_net", "-o", str(out), *quiet]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "auc.csv")))
    assert {(r["classifier"], r["input"]) for r in rows} == {(c, i) for c in ("naive_bayes", "elastic_net") for i in INPUTS}
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["statistics"]["cv"]["friedman"]["pipelines"] == len(INPUTS)
    groups = {(r["input"], r["group"]) for r in csv.DictReader(open(out / "importance.csv"))}
    assert ("radiomics+latents", "ae") in groups and ("shape+latents", "shape") in groups
    assert main(args) == 2  # outputs exist: refused without --overwrite
