"""The benchmark of 002: six classifiers x seven inputs, patient-grouped stratified 5-fold
cross-validation, a refit on all training data, and testing on an external cohort.

Every step that learns from data (imputation, non-negative scaling, NMF, standardisation, the
classifier) is one scikit-learn Pipeline fitted per training fold, so held-out rows never reach a
`fit`. Folds are drawn once per outcome and shared by all pipelines, which makes their AUCs
paired (Friedman across inputs with classifiers as blocks, as 002 does).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..errors import OptionError
from ..evaluate.auc import auc, bootstrap_ci, delong_ci
from ..evaluate.compare import friedman, pairwise_wilcoxon
from ..evaluate.metrics import threshold_metrics
from ..progress import Progress, silent
from .importance import group_permutation_importance
from .nmf import reducer
from .settings import BenchmarkSettings
from .tables import FeatureTable


def _xgboost(s: BenchmarkSettings):
    # deferred: xgboost comes with the [ml] extra; only the XGBoost model needs it
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=s.n_trees, eval_metric="logloss", random_state=s.seed, n_jobs=s.n_jobs)


# name -> estimator factory; all fixed-seed, otherwise library defaults (002)
CLASSIFIERS = {
    "random_forest": lambda s: RandomForestClassifier(n_estimators=s.n_trees, random_state=s.seed, n_jobs=s.n_jobs),
    "xgboost": _xgboost,
    "naive_bayes": lambda s: GaussianNB(),
    "extra_trees": lambda s: ExtraTreesClassifier(n_estimators=s.n_trees, random_state=s.seed, n_jobs=s.n_jobs),
    "elastic_net": lambda s: LogisticRegression(solver="saga", l1_ratio=s.l1_ratio, max_iter=s.max_iter, random_state=s.seed),
    "svm": lambda s: SVC(kernel="rbf", probability=True, random_state=s.seed),
}

# input name -> feature sets, each reduced by its own NMF (002's seven inputs)
INPUTS = {
    "radiomics": ("radiomics",),
    "shape": ("shape",),
    "seg": ("seg",),
    "ae": ("ae",),
    "latents": ("seg", "ae"),
    "radiomics+latents": ("radiomics", "seg", "ae"),
    "shape+latents": ("shape", "seg", "ae"),
}


def build_pipeline(classifier: str, sets: tuple[str, ...], columns: dict[str, np.ndarray], s: BenchmarkSettings) -> Pipeline:
    """NMF per set -> standardise (saga and the RBF kernel need comparable scales) -> classifier."""
    return Pipeline([
        ("reduce", reducer({name: columns[name] for name in sets}, s)),
        ("scale", StandardScaler()),
        ("clf", CLASSIFIERS[classifier](s)),
    ])


def cv_splits(y: np.ndarray, patients: np.ndarray, s: BenchmarkSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds with every patient's scans in one fold only."""
    counts = np.bincount(np.asarray(y, int), minlength=2)
    if counts.min() < s.folds:
        raise OptionError(None, f"{s.folds}-fold cross-validation needs >= {s.folds} cases of each class (have {counts[0]} negative, {counts[1]} positive)")
    cv = StratifiedGroupKFold(n_splits=s.folds, shuffle=True, random_state=s.seed)
    return list(cv.split(np.zeros(len(y)), y, patients))


def _summary(y, score, s: BenchmarkSettings) -> dict:
    """AUC with DeLong and bootstrap CIs, and the threshold metrics' values."""
    lo, hi = delong_ci(y, score, s.level)
    blo, bhi = bootstrap_ci(y, score, s.n_boot, s.level, s.seed)
    m = threshold_metrics(y, score, s.threshold, s.level)
    return {"n": len(y), "positives": int(np.sum(y)), "auc": auc(y, score), "delong_low": lo, "delong_high": hi,
            "bootstrap_low": blo, "bootstrap_high": bhi,
            **{k: m[k]["value"] for k in ("f1", "sensitivity", "specificity", "ppv", "npv")}}


@dataclass
class BenchmarkResult:
    rows: list[dict] = field(default_factory=list)  # classifier, input, split, AUC and CIs, metrics
    folds: list[dict] = field(default_factory=list)  # classifier, input, fold, AUC
    importance: list[dict] = field(default_factory=list)  # classifier, input, split, group, AUC drop
    predictions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # split -> pipeline -> scores
    statistics: dict = field(default_factory=dict)  # split -> Friedman (+ pairwise Wilcoxon)
    skipped_inputs: dict[str, str] = field(default_factory=dict)


def available_inputs(table: FeatureTable, inputs: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The requested inputs (default all) whose sets are present; the others and why."""
    unknown = [i for i in inputs or [] if i not in INPUTS]
    if unknown:
        raise OptionError(None, f"unknown input(s) {', '.join(unknown)} (known: {', '.join(INPUTS)})")
    chosen = inputs or list(INPUTS)
    missing = {i: f"needs {', '.join(s for s in INPUTS[i] if s not in table.columns)}"
               for i in chosen if any(s not in table.columns for s in INPUTS[i])}
    if inputs and missing:
        raise OptionError(None, "; ".join(f"input {i} {why}" for i, why in missing.items()))
    return [i for i in chosen if i not in missing], missing


def benchmark(train: FeatureTable, y: np.ndarray, s: BenchmarkSettings = BenchmarkSettings(), *,
              external: tuple[FeatureTable, np.ndarray] | None = None, classifiers: list[str] | None = None,
              inputs: list[str] | None = None, progress: Progress = silent) -> BenchmarkResult:
    """Cross-validate every classifier x input, refit on all of `train`, test on `external`."""
    classifiers = classifiers or list(CLASSIFIERS)
    unknown = [c for c in classifiers if c not in CLASSIFIERS]
    if unknown:
        raise OptionError(None, f"unknown classifier(s) {', '.join(unknown)} (known: {', '.join(CLASSIFIERS)})")
    inputs, skipped = available_inputs(train, inputs)
    if external is not None:
        inputs = [i for i in inputs if all(st in external[0].columns for st in INPUTS[i])]
    y = np.asarray(y, int)
    splits = cv_splits(y, train.patients, s)
    result = BenchmarkResult(skipped_inputs=skipped)
    total = len(classifiers) * len(inputs) * (len(splits) + (external is not None))
    done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for clf in classifiers:
            for inp in inputs:
                name, sets = f"{clf}|{inp}", INPUTS[inp]
                groups = {st: train.columns[st] for st in sets}
                oof = np.empty(len(y))
                fold_importance = []
                for k, (tr, va) in enumerate(splits):
                    progress(done, total, f"{name} fold {k + 1}")
                    model = build_pipeline(clf, sets, train.columns, s).fit(train.X[tr], y[tr])
                    oof[va] = model.predict_proba(train.X[va])[:, 1]
                    result.folds.append({"classifier": clf, "input": inp, "fold": k + 1, "auc": auc(y[va], oof[va])})
                    if len(sets) > 1:
                        fold_importance.append(group_permutation_importance(model, train.X[va], y[va], groups, s.importance_repeats, s.seed))
                    done += 1
                result.predictions.setdefault("cv", {})[name] = oof
                result.rows.append({"classifier": clf, "input": inp, "split": "cv"} | _summary(y, oof, s))
                for g in groups if fold_importance else ():
                    result.importance.append({"classifier": clf, "input": inp, "split": "cv", "group": g,
                                              "auc_drop": float(np.mean([f[g] for f in fold_importance]))})
                if external is not None:
                    progress(done, total, f"{name} external")
                    ext, ey = external
                    model = build_pipeline(clf, sets, train.columns, s).fit(train.X, y)
                    score = model.predict_proba(ext.X[:, _aligned(train, ext)])[:, 1]
                    result.predictions.setdefault("external", {})[name] = score
                    result.rows.append({"classifier": clf, "input": inp, "split": "external"} | _summary(np.asarray(ey, int), score, s))
                    if len(sets) > 1:
                        drops = group_permutation_importance(model, ext.X[:, _aligned(train, ext)], np.asarray(ey, int), groups, s.importance_repeats, s.seed)
                        result.importance += [{"classifier": clf, "input": inp, "split": "external", "group": g, "auc_drop": v} for g, v in drops.items()]
                    done += 1
    progress(total, total, "statistics")
    result.statistics = {split: compare_inputs(result.rows, split, classifiers, inputs, s) for split in result.predictions}
    return result


def _aligned(train: FeatureTable, ext: FeatureTable) -> np.ndarray:
    """External columns in the training table's order (a missing feature is an error)."""
    pos = {n: i for i, n in enumerate(ext.names)}
    missing = [n for n in train.names if n not in pos]
    if missing:
        raise OptionError(None, f"the external features lack {len(missing)} training column(s), e.g. {missing[0]}")
    return np.array([pos[n] for n in train.names])


def compare_inputs(rows: list[dict], split: str, classifiers: list[str], inputs: list[str], s: BenchmarkSettings) -> dict:
    """Friedman across inputs with classifiers as blocks; pairwise Wilcoxon (Bonferroni, Holm,
    BH) only when the Friedman test is significant at `alpha` (002's procedure)."""
    if len(inputs) < 3 or len(classifiers) < 2:
        return {"friedman": None, "note": "Friedman needs >= 3 inputs and >= 2 classifiers"}
    lookup = {(r["classifier"], r["input"]): r["auc"] for r in rows if r["split"] == split}
    scores = np.array([[lookup[(c, i)] for i in inputs] for c in classifiers])
    out = {"inputs": inputs, "classifiers": classifiers, "friedman": friedman(scores)}
    if out["friedman"]["p"] < s.alpha:
        try:
            out["pairwise_wilcoxon"] = pairwise_wilcoxon(scores, inputs)
        except ValueError as exc:  # e.g. two inputs with identical AUCs on every classifier
            out["pairwise_wilcoxon_error"] = str(exc)
    return out
