"""Statistics of the product (ichkit.evaluate) and `ich evaluate` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from ichkit.cli import main
from ichkit.evaluate.auc import auc, bootstrap_aucs, bootstrap_ci, delong_ci, delong_covariance, delong_test, delong_variance
from ichkit.evaluate.calibration import BIN_EDGES, brier_score, calibration_curve
from ichkit.evaluate.compare import benjamini_hochberg, bonferroni, friedman, holm, pairwise_wilcoxon
from ichkit.evaluate.metrics import threshold_metrics, wilson_ci
from ichkit.evaluate.settings import BIN_STRATEGIES
from ichkit.evaluate.thresholds import resolve_threshold, youden_threshold

# Hanley & McNeil (1982), "The meaning and use of the area under a ROC curve", Radiology 143:29-36,
# Table 1: one radiologist's 5-point ratings of 109 CT images (58 normal, 51 abnormal).
HM_NORMAL = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
HM_ABNORMAL = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
HM_PUBLISHED_AREA = 0.893  # W in the paper
HM_PUBLISHED_SE = 0.032  # SE(W) by their own variance formula, not DeLong's


def _direct_delong(y, scores):
    """O(m n) reference: the Mann-Whitney kernel psi over all pairs (DeLong et al. 1988, eq. 4-5)."""
    scores = np.atleast_2d(scores)
    x, z = scores[:, y == 1], scores[:, y == 0]
    psi = (x[:, :, None] > z[:, None, :]) + 0.5 * (x[:, :, None] == z[:, None, :])  # (k, m, n)
    a = psi.mean(axis=(1, 2))
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    m, n = x.shape[1], z.shape[1]
    s10 = (v10 - a[:, None]) @ (v10 - a[:, None]).T / (m - 1)
    s01 = (v01 - a[:, None]) @ (v01 - a[:, None]).T / (n - 1)
    return a, s10 / m + s01 / n


def _random_scores(seed, n=150, k=3, decimals=1):
    """Three correlated scores with many ties (rounded), so the midrank handling is exercised."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = rng.normal(size=n) + y
    scores = np.round(np.vstack([base + rng.normal(scale=s, size=n) for s in (0.3, 1.0, 2.0)][:k]), decimals)
    return y, scores


# --- AUC and DeLong -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_matches_direct_structural_components(seed):
    y, scores = _random_scores(seed)
    a_fast, cov_fast = delong_covariance(y, scores)
    a_ref, cov_ref = _direct_delong(y, scores)
    np.testing.assert_allclose(a_fast, a_ref, atol=1e-12)
    np.testing.assert_allclose(cov_fast, cov_ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(a_fast, [roc_auc_score(y, s) for s in scores], atol=1e-12)


def test_delong_test_matches_direct_computation():
    y, scores = _random_scores(5)
    res = delong_test(y, scores[0], scores[2])
    a, cov = _direct_delong(y, scores[[0, 2]])
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = (a[0] - a[1]) / se
    assert res.difference == pytest.approx(a[0] - a[1], abs=1e-12)
    assert res.se == pytest.approx(se, abs=1e-9)
    assert res.z == pytest.approx(z, abs=1e-9)
    assert res.p == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-9)
    assert res.ci_low < res.difference < res.ci_high


def test_delong_test_identical_scores_is_not_significant():
    y, scores = _random_scores(3)
    res = delong_test(y, scores[0], scores[0])
    assert res.difference == 0 and res.p == 1.0


def test_hanley_mcneil_1982_worked_example():
    y = np.r_[np.zeros(HM_NORMAL.size, int), np.ones(HM_ABNORMAL.size, int)]
    score = np.r_[HM_NORMAL, HM_ABNORMAL].astype(float)
    area, var = delong_variance(y, score)
    assert area == pytest.approx(HM_PUBLISHED_AREA, abs=1e-3)
    # DeLong's estimator differs slightly from Hanley & McNeil's; on their data the two SEs agree
    # to 0.002 (DeLong 0.0307 vs published 0.032).
    assert np.sqrt(var) == pytest.approx(HM_PUBLISHED_SE, abs=2e-3)
    lo, hi = delong_ci(y, score)
    assert lo < area < hi and hi <= 1.0


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        auc(np.ones(5, int), np.arange(5.0))


def test_bootstrap_ci_contains_auc_and_is_reproducible():
    y, scores = _random_scores(7, decimals=3)
    a = auc(y, scores[1])
    ci = bootstrap_ci(y, scores[1], n_boot=500, seed=11)
    assert ci[0] < a < ci[1]
    assert bootstrap_ci(y, scores[1], n_boot=500, seed=11) == ci
    assert bootstrap_ci(y, scores[1], n_boot=500, seed=12) != ci
    # the vectorised replicate AUC is the ordinary AUC of a class-stratified resample
    boot = bootstrap_aucs(y, scores[1], n_boot=500, seed=11)
    assert abs(boot.mean() - a) < 0.01
    # and the bootstrap and DeLong intervals roughly agree on 150 cases
    dl = delong_ci(y, scores[1])
    assert abs(dl[0] - ci[0]) < 0.03 and abs(dl[1] - ci[1]) < 0.03


# --- threshold metrics ----------------------------------------------------------------------------


def test_threshold_metrics_known_confusion():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.1, 0.05])
    m = threshold_metrics(y, p, 0.5)
    assert m["confusion"] == {"tp": 3, "fp": 1, "tn": 5, "fn": 1}
    assert m["sensitivity"]["value"] == pytest.approx(3 / 4)
    assert m["specificity"]["value"] == pytest.approx(5 / 6)
    assert m["ppv"]["value"] == pytest.approx(3 / 4)
    assert m["npv"]["value"] == pytest.approx(5 / 6)
    assert m["accuracy"]["value"] == pytest.approx(8 / 10)
    assert m["f1"]["value"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert (m["sensitivity"]["ci_low"], m["sensitivity"]["ci_high"]) == wilson_ci(3, 4)
    none_positive = threshold_metrics(y, p, 0.95)
    assert none_positive["ppv"]["value"] is None and none_positive["ppv"]["ci_low"] is None


def test_wilson_interval_known_values():
    # Wilson score interval, 95 %: 5/10 -> 0.2366-0.7634, 0/10 -> 0-0.2775 (Newcombe 1998, Stat Med 17:857, method 3)
    assert wilson_ci(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_ci(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_ci(0, 0) == (None, None)


def test_youden_threshold_and_fit_on():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
    t = youden_threshold(y, p)
    m = threshold_metrics(y, p, t)
    j = m["sensitivity"]["value"] + m["specificity"]["value"] - 1
    best = max(threshold_metrics(y, p, c)["sensitivity"]["value"] + threshold_metrics(y, p, c)["specificity"]["value"] - 1 for c in p)
    assert j == pytest.approx(best)
    same = resolve_threshold("youden", y, p)
    assert same.optimistic and same.value == t
    separate = resolve_threshold("youden", y, p, fit_on=(np.array([0, 1, 0, 1]), np.array([0.2, 0.5, 0.45, 0.8])))
    assert not separate.optimistic and separate.value == 0.5 and separate.fitted_on == "separate set"
    fixed = resolve_threshold(0.5, y, p)
    assert fixed.rule == "fixed" and not fixed.optimistic


# --- calibration ------------------------------------------------------------------------------------


def test_brier_known_case():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert brier_score(y, p) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))


def test_calibration_known_case():
    y = np.array([0, 1, 1, 1, 1, 0])
    p = np.array([0.2, 0.2, 0.7, 0.7, 0.7, 0.7])
    c = calibration_curve(y, p, n_bins=2, strategy="uniform")
    assert c["mean_predicted"] == pytest.approx([0.2, 0.7])
    assert c["observed_fraction"] == pytest.approx([0.5, 0.75])
    assert c["count"] == [2, 4]


@pytest.mark.parametrize("strategy", BIN_STRATEGIES)
def test_calibration_matches_sklearn(strategy):
    rng = np.random.default_rng(4)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p).astype(int)
    c = calibration_curve(y, p, n_bins=8, strategy=strategy)
    frac, mean = sk_calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(c["observed_fraction"], frac, atol=1e-12)
    np.testing.assert_allclose(c["mean_predicted"], mean, atol=1e-12)
    assert sum(c["count"]) == 400
    assert set(BIN_EDGES) == set(BIN_STRATEGIES)


# --- comparisons and corrections --------------------------------------------------------------------


def test_corrections_hand_computed():
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(bonferroni(p), [0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.04, 0.06)
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted 0.005*4/1, 0.01*4/2, 0.03*4/3, 0.04*4/4 = 0.02, 0.02, 0.04, 0.04
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    # step monotonicity: Holm carries the larger earlier value up, BH the smaller later one down
    np.testing.assert_allclose(holm([0.04, 0.041]), [0.08, 0.08])
    np.testing.assert_allclose(benjamini_hochberg([0.04, 0.041]), [0.041, 0.041])
    np.testing.assert_allclose(bonferroni([0.3, 0.6]), [0.6, 1.0])
    np.testing.assert_allclose(holm([0.3, 0.6]), [0.6, 0.6])


def test_friedman_and_wilcoxon_match_scipy():
    rng = np.random.default_rng(9)
    scores = rng.uniform(0.6, 0.8, size=(12, 4)) + np.array([0.0, 0.02, 0.05, 0.1])
    f = friedman(scores)
    ref = stats.friedmanchisquare(*scores.T)
    assert f["statistic"] == pytest.approx(ref.statistic) and f["p"] == pytest.approx(ref.pvalue)
    rows = pairwise_wilcoxon(scores, names=["rf", "xgb", "svm", "vit"])
    assert [(r["a"], r["b"]) for r in rows][:3] == [("rf", "xgb"), ("rf", "svm"), ("rf", "vit")]
    assert len(rows) == 6
    raw = []
    for r in rows:
        i, j = ["rf", "xgb", "svm", "vit"].index(r["a"]), ["rf", "xgb", "svm", "vit"].index(r["b"])
        ref = stats.wilcoxon(scores[:, i], scores[:, j])
        assert r["p"] == pytest.approx(ref.pvalue) and r["statistic"] == pytest.approx(ref.statistic)
        raw.append(r["p"])
    np.testing.assert_allclose([r["p_holm"] for r in rows], holm(raw))
    np.testing.assert_allclose([r["p_bh"] for r in rows], benjamini_hochberg(raw))
    np.testing.assert_allclose([r["p_bonferroni"] for r in rows], bonferroni(raw))


# --- CLI ---------------------------------------------------------------------------------------------


def _write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


@pytest.fixture()
def predictions(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    a = 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=80) - 0.7)))
    b = 1 / (1 + np.exp(-(0.5 * y + rng.normal(size=80) - 0.2)))
    return _write_csv(tmp_path / "pred.csv", ["case", "y", "vit", "cnn"], [(i, y[i], f"{a[i]:.6f}", f"{b[i]:.6f}") for i in range(80)])


def test_cli_end_to_end(predictions, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(["evaluate", str(predictions), "--score-col", "vit", "--score-col", "cnn", "--n-boot", "300", "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    report = json.loads(captured.out)
    assert set(report["models"]) == {"vit", "cnn"}
    vit = report["models"]["vit"]
    assert vit["auc_ci_delong"][0] < vit["auc"] < vit["auc_ci_delong"][1]
    assert vit["auc_ci_bootstrap"][0] < vit["auc"] < vit["auc_ci_bootstrap"][1]
    assert vit["threshold"] == {"value": 0.5, "rule": "fixed", "fitted_on": None, "optimistic": False}
    assert sum(vit["at_threshold"]["confusion"].values()) == 80
    assert 0 < vit["brier"] < 0.25 and vit["calibration"]["count"]
    assert len(report["delong_pairs"]) == 1 and 0 <= report["delong_pairs"][0]["p"] <= 1
    for name in ("evaluation.json", "roc.png", "calibration.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "evaluation.json").read_text())["models"]["cnn"]["auc"] == report["models"]["cnn"]["auc"]
    # a second run refuses to overwrite, then replaces with --overwrite
    assert main(["evaluate", str(predictions), "--score-col", "vit", "-o", str(out)]) == 2
    assert main(["evaluate", str(predictions), "--score-col", "vit", "--n-boot", "50", "-o", str(out), "--overwrite"]) == 0


def test_cli_youden_warns_optimistic_unless_fit_on(predictions, tmp_path, capsys):
    assert main(["evaluate", str(predictions), "--score-col", "vit", "--threshold", "youden", "--n-boot", "50"]) == 0
    assert "optimistic" in capsys.readouterr().err
    assert main(["evaluate", str(predictions), "--score-col", "vit", "--threshold", "youden", "--fit-on", str(predictions), "--n-boot", "50", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["models"]["vit"]["threshold"]["fitted_on"] == "separate set"
    assert "optimistic" not in captured.err


BAD_CSVS = {
    "missing_column": (["y", "q"], [(0, 0.1), (1, 0.9)], "missing column"),
    "non_binary_labels": (["y", "p"], [(0, 0.1), (2, 0.9), (1, 0.5)], "only 0 and 1"),
    "nan_score": (["y", "p"], [(0, 0.1), (1, "nan"), (1, 0.5)], "NaN"),
    "empty_score": (["y", "p"], [(0, 0.1), (1, ""), (1, 0.5)], "not a number"),
    "single_class": (["y", "p"], [(1, 0.1), (1, 0.9)], "single class"),
    "no_rows": (["y", "p"], [], "no data rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_cli_bad_csv_exit_2_one_line(case, tmp_path, capsys):
    header, rows, fragment = BAD_CSVS[case]
    path = _write_csv(tmp_path / f"{case}.csv", header, rows)
    out = tmp_path / "out"
    rc = main(["evaluate", str(path), "-o", str(out)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), err
    assert fragment in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_cli_missing_file_exit_2(tmp_path, capsys):
    missing = tmp_path / "absent.csv"
    assert main(["evaluate", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {missing}: ")
