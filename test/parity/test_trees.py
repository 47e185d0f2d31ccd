"""Parity of the tree estimators (issue 8) with scikit-learn, and their export.

For each variant of tree_variants.py: fit on the Titanic data, export with
tools/predict-export, score with bin/predict-score all 891 rows and the
adversarial rows (adversarial.py, including rows at every probed split
threshold and one float32 or float64 step either side), and compare with
predict_proba[:, 1].  The trees' arithmetic is defined to the last bit
(float32 comparisons, sums in estimators_ order), so the results must be
bit-identical, and the same rows must be rejected.
"""

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, IsolationForest,
                              RandomForestClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeRegressor

import joblib
import predict_export as pe
from adversarial import STANDARD_TREES, goes_left_float32
from conftest import mismatch_report, run_exporter
from titanic_data import features_and_target
from tree_variants import TREE_VARIANTS

NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def _tolerance(r):
    """0 (bit-identical) but for AdaBoost: its last step is numpy's exp (softmax), which
    on a CPU with AVX512F is numpy's own vectorized exp, not the C library's, and differs
    from it by an ulp on some inputs (the contract's 1e-12 holds)."""
    return pe.TOLERANCE if r["doc"]["estimator"]["type"] == "adaboost" else 0.0


@pytest.mark.parametrize("name", list(TREE_VARIANTS))
def test_titanic_rows(name, variant_run):
    """All 891 rows: scored by both sides, bit-identical."""
    r = variant_run(name)
    lines, ref, got = r["rows"]
    assert len(lines) == 891 or not lines
    max_diff, bad = pe.compare(ref, got, tolerance=_tolerance(r))
    labels = ["row %d" % (i + 1) for i in range(len(lines))]
    assert not bad, "%d of %d rows differ (max |diff| %.3g):\n%s" % (
        len(bad), len(lines), max_diff, mismatch_report(labels, lines, ref, got, bad))
    assert all(isinstance(p, float) for p in got), "training rows must all be scored"
    assert max(got) - min(got) > 0.1


@pytest.mark.parametrize("name", list(TREE_VARIANTS))
def test_adversarial_rows(name, variant_run):
    """Adversarial and threshold rows: the same rows rejected, bit-identical probabilities."""
    r = variant_run(name)
    labels, texts, ref, got = r["adversarial"]
    max_diff, bad = pe.compare(ref, got, tolerance=_tolerance(r))
    assert not bad, "%d of %d adversarial rows differ:\n%s" % (
        len(bad), len(texts), mismatch_report(labels, texts, ref, got, bad))
    n_err = sum(1 for g in got if isinstance(g, str))
    assert 0 < n_err < len(got)


def _threshold_rows(r):
    labels, texts, ref, got = r["adversarial"]
    return [(lab, t, rf, g) for lab, t, rf, g in zip(labels, texts, ref, got)
            if lab.startswith("split on ")]


@pytest.mark.parametrize("name", list(TREE_VARIANTS))
def test_threshold_rows_are_scored(name, variant_run):
    """Every model gets rows at its split thresholds, scored by both sides; the standard
    trees get rows whose float64 value and float32 cast fall on different sides."""
    r = variant_run(name)
    rows = _threshold_rows(r)
    assert len(rows) >= 20, len(rows)
    assert all(isinstance(g, float) for _, _, _, g in rows), \
        [(lab, g) for lab, _, _, g in rows if not isinstance(g, float)][:5]
    if r["doc"]["estimator"]["type"] in STANDARD_TREES + ("xgboost",):
        assert any(lab.endswith("[float32 flips]") for lab, _, _, _ in rows)


def _trees(doc):
    est = doc["estimator"]
    return [est["tree"]] if "tree" in est else est["trees"]


def _simulate(doc, X, float32):
    """The exported standard trees evaluated in Python on feature rows X, with float32
    comparisons (scikit-learn's rule) or float64 ones (the rule it does not use)."""
    est = doc["estimator"]
    out = []
    for x in X:
        total = 0.0 if est["type"] != "gradient_boosting" else est["init"]
        for tree in _trees(doc):
            i = 0 if tree["feature"] else -1
            while i >= 0:
                v, thr = x[tree["feature"][i]], tree["threshold"][i]
                thr = math.inf if thr == "inf" else thr
                left = goes_left_float32(v, thr) if float32 else v <= thr
                i = tree["left"][i] if left else tree["right"][i]
            value = tree["value"][-1 - i]
            if est["type"] == "gradient_boosting":
                total += est["learning_rate"] * value
            else:
                total += value
        if est["type"] == "gradient_boosting":
            out.append(1.0 / (1.0 + math.exp(-total)))
        else:
            out.append(total / len(_trees(doc)))
    return out


@pytest.mark.parametrize("name", ["decision_tree_depth3", "random_forest_depth6_sqrt",
                                  "decision_tree_deep_entropy_balanced",
                                  "gradient_boosting_default"])
def test_float32_rows_have_teeth(name, variant_run):
    """The [float32 flips] rows discriminate: trees compared in float64 would score some of
    them differently from scikit-learn, and in float32 score them all as it does."""
    r = variant_run(name)
    pipeline = r["variant"].estimator
    flips = [(t, rf) for lab, t, rf, g in _threshold_rows(r) if lab.endswith("[float32 flips]")]
    assert flips
    frame = pe.reference_frame([json.loads(t) for t, _ in flips], pe.model_columns(r["doc"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = pipeline[:-1].transform(frame)
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    ref = [rf for _, rf in flips]
    as32 = _simulate(r["doc"], X, float32=True)
    as64 = _simulate(r["doc"], X, float32=False)
    assert max(abs(a - b) for a, b in zip(as32, ref)) <= 1e-12
    assert any(abs(a - b) > 1e-6 for a, b in zip(as64, ref)), \
        "no flip row changes the probability: the float32 rows prove nothing for %s" % name


def test_hist_missing_values_reach_the_estimator(variant_run):
    """Rows with a missing Age (no imputer) are scored, through the learned direction."""
    r = variant_run("hist_gradient_boosting_missing")
    lines, ref, got = r["rows"]
    missing_age = [g for line, g in zip(lines, got) if "Age" not in json.loads(line)]
    assert len(missing_age) > 100 and all(isinstance(g, float) for g in missing_age)
    trees = r["doc"]["estimator"]["trees"]
    assert any(1 in t["missing_left"] for t in trees) and any(0 in t["missing_left"] for t in trees)


def test_hist_categorical_codes(variant_run):
    """Categorical splits are exported as category lists; the truncated, wrapped,
    negative and infinite codes of numbers passed through are scored like scikit-learn."""
    r = variant_run("hist_gradient_boosting_categorical")
    est = r["doc"]["estimator"]
    assert sorted(c["feature"] for c in est["categorical"]) == [0, 1, 2, 3, 4]
    assert any(isinstance(t, list) for tree in est["trees"] for t in tree["threshold"])
    labels, texts, ref, got = r["adversarial"]
    codes = [(lab, g) for lab, g in zip(labels, got) if lab.startswith("category code of ")]
    assert len(codes) >= 2 * 23
    assert all(isinstance(g, float) for _, g in codes), [c for c in codes if isinstance(c[1], str)]
    by_label = dict(codes)
    # +inf passed through is accepted by HistGradientBoosting, and reads as code 0
    assert by_label["category code of SibSp=\"inf\""] == by_label["category code of SibSp=2147483648"]
    # -1 goes where a missing value goes
    assert by_label["category code of SibSp=-1"] == by_label["category code of SibSp=-0.5"]


def test_tree_coverage(variant_run):
    """The tree variants together exercise every estimator type and tree feature."""
    seen = set()
    for name in TREE_VARIANTS:
        est = variant_run(name)["doc"]["estimator"]
        seen.add(est["type"])
        trees = _trees(variant_run(name)["doc"])
        if est["type"] == "gradient_boosting":
            seen.add("init:%s" % ("zero" if est["init"] == 0 else "nonzero"))
        if est["type"] == "random_forest":
            seen.add("forest:%d trees" % len(trees))
        for tree in trees:
            for t in tree["threshold"]:
                seen.add("threshold:%s" % ("categories" if isinstance(t, list) else
                                           "inf" if t == "inf" else "number"))
            if any(v < 0 for v in tree["value"]):
                seen.add("negative leaf")
            if len(tree["value"]) > 64:
                seen.add("deep tree")
            if len(tree["value"]) <= 8:
                seen.add("shallow tree")
        if est.get("missing") == "error":
            seen.add("missing:error")
    expected = {"decision_tree", "random_forest", "gradient_boosting", "hist_gradient_boosting",
                "init:zero", "init:nonzero", "threshold:categories", "threshold:inf",
                "threshold:number", "negative leaf", "deep tree", "shallow tree",
                "missing:error"}
    assert expected <= seen, "not covered: %s" % sorted(expected - seen)


def test_gradient_boosting_early_stopping_exports_the_fitted_stages(variant_run):
    r = variant_run("gradient_boosting_dummy_init_early_stop")
    gb = r["variant"].estimator[-1]
    assert gb.n_estimators_ < gb.n_estimators
    assert len(r["doc"]["estimator"]["trees"]) == gb.n_estimators_ == len(gb.estimators_)


def test_forest_leaves_are_class_fractions(variant_run):
    """A forest's leaf values are the trees' predict_proba[:, 1] at that leaf."""
    r = variant_run("random_forest_depth6_sqrt")
    forest = r["variant"].estimator[-1]
    tree = forest.estimators_[0]
    values = r["doc"]["estimator"]["trees"][0]["value"]
    fractions = tree.tree_.value[:, 0, 1] / tree.tree_.value[:, 0, :].sum(axis=1)
    leaves = tree.tree_.children_left < 0
    assert sorted(values) == sorted(fractions[leaves].tolist())


# ---------- the exporter: what it refuses ----------

def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _pre():
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Embarked"]),
        ("num", SimpleImputer(), NUM),
    ])


REFUSALS = [
    ("gb_init_uniform", lambda: make_pipeline(_pre(), GradientBoostingClassifier(
        init=DummyClassifier(strategy="uniform"), n_estimators=3)),
     ["pipeline.steps[1] 'gradientboostingclassifier'",
      "init=DummyClassifier(strategy='uniform') is not supported: its predictions are random"]),
    ("gb_init_stratified", lambda: make_pipeline(_pre(), GradientBoostingClassifier(
        init=DummyClassifier(strategy="stratified"), n_estimators=3)),
     ["init=DummyClassifier(strategy='stratified') is not supported: its predictions are "
      "random"]),
    # an init estimator that would see float32 features and compute otherwise
    ("gb_init_gaussian_nb", lambda: make_pipeline(_pre(), GradientBoostingClassifier(
        init=GaussianNB(), n_estimators=3)),
     ["'gradientboostingclassifier'.init_: GradientBoostingClassifier init=GaussianNB is not "
      "supported (only LogisticRegression, LogisticRegressionCV, DecisionTreeClassifier"]),
    ("gb_init_float32_logistic", lambda: make_pipeline(_pre(), GradientBoostingClassifier(
        init=LogisticRegression(solver="saga"), n_estimators=3)),
     ["init_: LogisticRegression has float32 coef_ (fitted on float32 by its solver), which "
      "scikit-learn multiplies in float32"]),
    ("rf_multiclass", lambda: make_pipeline(_pre(), RandomForestClassifier(n_estimators=3)),
     ["RandomForestClassifier with 3 classes is not supported (binary only)"]),
    ("hgb_multiclass", lambda: make_pipeline(_pre(), HistGradientBoostingClassifier(max_iter=3)),
     ["HistGradientBoostingClassifier with 3 classes is not supported (binary only)"]),
    ("tree_regressor", lambda: make_pipeline(_pre(), DecisionTreeRegressor()),
     ["pipeline.steps[1] 'decisiontreeregressor': DecisionTreeRegressor is not supported"]),
    ("gb_regressor", lambda: make_pipeline(_pre(), GradientBoostingRegressor(n_estimators=3)),
     ["GradientBoostingRegressor is not supported"]),
    ("isolation_forest", lambda: make_pipeline(_pre(), IsolationForest(n_estimators=3)),
     ["IsolationForest is not supported"]),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_exporter_refuses(case, titanic, tmp_path):
    name, build, wants = case
    X, y = features_and_target(titanic)
    if name.endswith("multiclass"):
        y = X["Pclass"]
    est = _fit(build(), X, y)
    pkl = tmp_path / "p.pkl"
    joblib.dump(est, pkl)
    proc = run_exporter(pkl, "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    for want in wants:
        assert want in proc.stderr, proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_exporter_verify_with_a_forest(titanic, tmp_path):
    """predict-export --verify scores the CSV with both sides for a tree model too."""
    X, y = features_and_target(titanic)
    est = _fit(make_pipeline(_pre(), RandomForestClassifier(n_estimators=5, max_depth=4,
                                                            random_state=0)), X, y)
    pkl = tmp_path / "p.pkl"
    joblib.dump(est, pkl)
    csv = tmp_path / "t.csv"
    X.to_csv(csv, index=False)
    proc = run_exporter(pkl, "-o", tmp_path / "m.json", "--verify", csv)
    assert proc.returncode == 0, proc.stderr
    assert "891 scored by both, max |difference| 0, 0 mismatches" in proc.stdout
    assert "(8 columns, 7 blocks, " in proc.stderr, proc.stderr


class _Tree13:
    """A fitted tree_ with the missing_go_to_left array of scikit-learn >= 1.3."""

    def __init__(self, tree, missing):
        for name in ("children_left", "children_right", "feature", "threshold", "value",
                     "node_count", "weighted_n_node_samples"):
            setattr(self, name, getattr(tree, name))
        self.missing_go_to_left = missing


def test_missing_values_routed_as_scikit_learn_13(titanic, tmp_path):
    """scikit-learn >= 1.3 lets NaN reach a DecisionTreeClassifier on dense input and
    routes it by missing_go_to_left: the exporter writes "missing": "learned" with the
    flags in preorder, and predict-score sends NaN where they say.  (scikit-learn 1.2 has
    neither, so the tree is given the 1.3 attributes here and the reference is the
    documented rule applied in Python.)"""
    from sklearn.tree import DecisionTreeClassifier
    X, y = features_and_target(titanic)
    Xn = X[["Pclass", "Age", "SibSp", "Fare"]]
    clf = _fit(DecisionTreeClassifier(max_depth=4, random_state=0), Xn.fillna(30.0), y)
    rng = np.random.RandomState(0)
    missing = rng.randint(0, 2, clf.tree_.node_count).astype(np.uint8)
    clf.tree_ = _Tree13(clf.tree_, missing)
    clf._support_missing_values = lambda X: not hasattr(X, "toarray")
    doc = pe.export(clf, name="nan13")
    est = doc["estimator"]
    assert est["missing"] == "learned" and len(est["tree"]["missing_left"]) == \
        len(est["tree"]["feature"])
    assert pe.export(clf, name="nan13")["estimator"]["tree"]["missing_left"] == \
        [int(missing[n]) for n in _preorder_splits(clf.tree_)]
    path = tmp_path / "nan13.json"
    pe.write_model(doc, str(path))
    rows = pe.frame_to_observations(Xn, list(Xn.columns))     # Age missing in 177 rows
    got = pe.c_scores(str(path), [pe.observation_line(o) for o in rows])
    want = []
    for o in rows:
        x = [o.get(c, float("nan")) for c in Xn.columns]
        i = 0
        t = clf.tree_
        while t.children_left[i] >= 0:
            v = x[t.feature[i]]
            left = bool(t.missing_go_to_left[i]) if math.isnan(v) else \
                goes_left_float32(v, t.threshold[i])
            i = t.children_left[i] if left else t.children_right[i]
        want.append(float(t.value[i, 0, 1] / t.value[i, 0, :].sum()))
    assert sum(1 for o in rows if "Age" not in o) > 100
    assert got == want


def _preorder_splits(t):
    out, stack = [], [0]
    while stack:
        n = stack.pop()
        if t.children_left[n] >= 0:
            out.append(n)
            stack.extend([t.children_right[n], t.children_left[n]])
    return out


def test_sparse_input_keeps_nan_an_error(titanic):
    """With a sparse preprocessing output scikit-learn (>= 1.3) does not route NaN:
    the exporter keeps "missing": "error" even for a tree that could."""
    from tree_variants import _tutorial_pre
    X, y = features_and_target(titanic)
    pipe = _fit(make_pipeline(_tutorial_pre(), RandomForestClassifier(n_estimators=2,
                                                                      random_state=0)), X, y)
    assert pipe[0].sparse_output_
    pipe[-1]._support_missing_values = lambda X: True
    assert pe.export(pipe, name="sp")["estimator"]["missing"] == "error"
    dense = _fit(make_pipeline(_pre(), RandomForestClassifier(n_estimators=2, random_state=0)),
                 X, y)
    assert not dense[0].sparse_output_
    dense[-1]._support_missing_values = lambda X: True
    with pytest.raises(pe.ExportError, match="route missing values but tree_ has no "
                                             "missing_go_to_left"):
        pe.export(dense, name="dn")
