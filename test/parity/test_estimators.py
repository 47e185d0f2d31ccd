"""Parity of issue 18's final estimators (variants_estimators.py) with
scikit-learn, and the exporter's refusals of what has no predict_proba.

For each variant: fit on the Titanic data, export with tools/predict-export,
score all 891 rows and the adversarial rows with bin/predict-score, and
compare with predict_proba[:, 1]: the same rows refused, and the
probabilities within 1e-12.
"""

import json
import warnings

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (LogisticRegression, Perceptron, RidgeClassifier,
                                  SGDClassifier)
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import joblib
import predict_export as pe
from conftest import mismatch_report, run_exporter
from titanic_data import features_and_target
from variants_estimators import ESTIMATOR_VARIANTS

NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


@pytest.mark.parametrize("name", list(ESTIMATOR_VARIANTS))
def test_titanic_rows(name, variant_run):
    """All 891 rows: scored by both sides, max |difference| <= 1e-12."""
    r = variant_run(name)
    lines, ref, got = r["rows"]
    assert len(lines) == 891 or not lines
    max_diff, bad = pe.compare(ref, got)
    labels = ["row %d" % (i + 1) for i in range(len(lines))]
    assert not bad, "%d of %d rows differ (max |diff| %.3g):\n%s" % (
        len(bad), len(lines), max_diff, mismatch_report(labels, lines, ref, got, bad))
    assert all(isinstance(p, float) for p in got), "training rows must all be scored"
    assert max_diff <= pe.TOLERANCE
    assert max(got) - min(got) > 0.1


@pytest.mark.parametrize("name", list(ESTIMATOR_VARIANTS))
def test_adversarial_rows(name, variant_run):
    """Adversarial rows: the same rows rejected, the same probabilities."""
    r = variant_run(name)
    labels, texts, ref, got = r["adversarial"]
    max_diff, bad = pe.compare(ref, got)
    assert not bad, "%d of %d adversarial rows differ:\n%s" % (
        len(bad), len(texts), mismatch_report(labels, texts, ref, got, bad))
    assert max_diff <= pe.TOLERANCE
    n_err = sum(1 for g in got if isinstance(g, str))
    assert 0 < n_err < len(got)


def _types(est):
    """The estimator types of a document's estimator, composites included."""
    out = {est["type"]}
    if est["type"] == "voting":
        for sub in est["estimators"]:
            out |= _types(sub)
    if est["type"] == "calibrated":
        out.add("calibrated:%s" % est["method"])
        out.add("calibrated:%d folds" % min(len(est["folds"]), 2))
        for fold in est["folds"]:
            out |= _types(fold["estimator"])
    if est["type"] == "logistic_regression":
        out.add("link:" + est["link"])
    return out


def r_estimator(variant_run, name):
    """The variant's final estimator: the pipeline's last step, or the bare estimator."""
    from sklearn.pipeline import Pipeline
    est = variant_run(name)["variant"].estimator
    return est.steps[-1][1] if type(est) is Pipeline else est


def test_estimator_coverage(variant_run):
    """The variants together exercise every new estimator, link and composite form."""
    seen = set()
    for name in ESTIMATOR_VARIANTS:
        doc = variant_run(name)["doc"]
        est = doc["estimator"]
        seen |= _types(est)
        seen.add("top:" + est["type"])
        if est["type"] == "voting":
            seen.add("voting:weights=%s" % ("null" if est["weights"] is None else "list"))
        if est["type"] == "gaussian_nb":
            seen.add("gaussian_nb:%s" % ("wide" if len(est["theta"][0]) > 128 else "narrow"))
        if est["type"] == "calibrated":
            for fold in est["folds"]:
                if fold["estimator"]["type"] == "voting":
                    seen.add("calibrated voting")
        if est["type"] == "gradient_boosting" and isinstance(est["init"], dict):
            seen.add("init:%s:%s" % (est["init"]["type"], est.get("loss", "log_loss")))
        if any(b["steps"] for b in doc["preprocessing"]) and \
                pe._calibrated_pipeline(r_estimator(variant_run, name)) is not None:
            seen.add("calibrated pipeline")
    expected = {
        "calibrated pipeline",
        "link:logistic", "link:modified_huber", "link:none", "gaussian_nb", "gaussian_nb:wide",
        "gaussian_nb:narrow", "voting:weights=null", "voting:weights=list",
        "calibrated:sigmoid", "calibrated:isotonic", "calibrated:1 folds", "calibrated:2 folds",
        "calibrated voting", "decision_tree", "random_forest", "gradient_boosting",
        "hist_gradient_boosting", "top:voting", "top:calibrated", "top:gaussian_nb",
        "top:logistic_regression", "init:logistic_regression:log_loss",
        "init:logistic_regression:exponential", "init:decision_tree:log_loss",
        "init:random_forest:log_loss",
    }
    assert expected <= seen, "not covered: %s" % sorted(expected - seen)


def test_modified_huber_reaches_zero_and_one(variant_run):
    """The clip is exercised: some rows score exactly 0 or 1 on both sides."""
    _, ref, got = variant_run("sgd_modified_huber")["rows"]
    assert any(g in (0.0, 1.0) for g in got) and any(0.0 < g < 1.0 for g in got)
    assert all(r == g for r, g in zip(ref, got) if g in (0.0, 1.0))


def test_gaussian_nb_wide_is_exact(variant_run):
    """With more than 128 features numpy's sum is pairwise (split in halves, 8
    accumulators), which for this model's rows differs from the terms summed in order;
    the core follows numpy's plan (test/unit/test_ensemble.c checks it bit for bit), so
    only np.exp/np.log against the C library's remain: a few ulp."""
    r = variant_run("gaussian_nb_wide")
    est = r["doc"]["estimator"]
    assert len(est["theta"][0]) > 128
    nb = r["variant"].estimator[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xt = np.asarray(r["variant"].estimator[:-1].transform(r["variant"].X), dtype=np.float64)
    terms = ((Xt - nb.theta_[1, :]) ** 2) / nb.var_[1, :]
    in_order = [sum(row.tolist()) for row in terms]
    assert any(a != b for a, b in zip(np.sum(terms, 1), in_order)), \
        "the pairwise order makes no difference here: the variant proves nothing"
    _, ref, got = r["rows"]
    max_diff, bad = pe.compare(ref, got)
    assert not bad and max_diff <= 1e-14, max_diff


# ---------- refusals ----------

def _pipeline(final, X, y):
    pre = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"),
                                                   StandardScaler()), NUM)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(pre, final).fit(X, y)


REFUSED = [
    (SGDClassifier(loss="hinge", random_state=0),
     "pipeline.steps[1] 'sgdclassifier': SGDClassifier loss='hinge' has no predict_proba"),
    (SGDClassifier(loss="perceptron", random_state=0),
     "SGDClassifier loss='perceptron' has no predict_proba"),
    (LinearSVC(), "pipeline.steps[1] 'linearsvc': LinearSVC has no predict_proba"),
    (RidgeClassifier(), "RidgeClassifier has no predict_proba"),
    (Perceptron(), "Perceptron has no predict_proba"),
    (VotingClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())], voting="hard"),
     "VotingClassifier voting='hard' has no predict_proba"),
    (VotingClassifier([("lr", LogisticRegression()), ("svc", SGDClassifier(loss="hinge"))],
                      voting="soft", weights=None),
     "SGDClassifier loss='hinge' has no predict_proba"),
    (VotingClassifier([("lr", LogisticRegression()),
                       ("p", make_pipeline(StandardScaler(), GaussianNB()))], voting="soft"),
     "estimators_[1]: a Pipeline inside VotingClassifier is not supported"),
    (VotingClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())], voting="soft",
                      weights=[1, -1]),
     "VotingClassifier weights=[1.0, -1.0] is not supported"),
    (CalibratedClassifierCV(make_pipeline(StandardScaler(), LogisticRegression()), cv=2),
     "calibrated_classifiers_[0].estimator: a Pipeline inside CalibratedClassifierCV is not "
     "supported"),
]


@pytest.mark.parametrize("final,message", REFUSED, ids=[m.split(":")[-1][:40] for _, m in REFUSED])
def test_refused_by_name(final, message, tmp_path):
    """Each unsupported estimator is refused with one line naming its path and class,
    by the module and by the command (exit status 2)."""
    X, y = features_and_target()
    pipeline = _pipeline(final, X, y)
    with pytest.raises(pe.ExportError) as info:
        pe.export(pipeline)
    assert message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    pkl = tmp_path / "p.pkl"
    joblib.dump(pipeline, pkl)
    proc = run_exporter(pkl, "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_loader_refuses_bad_composites(variant_run, predict_score, tmp_path):
    """The loader checks the composite fields with their JSON paths."""
    import subprocess
    doc = variant_run("calibrated_isotonic_forest")["doc"]
    cases = []
    bad = json.loads(json.dumps(doc))
    bad["estimator"]["folds"][0]["calibrator"]["x"][1] = bad["estimator"]["folds"][0]["calibrator"]["x"][0]
    cases.append((bad, "estimator.folds[0].calibrator.x[1]: expected increasing numbers"))
    bad = json.loads(json.dumps(doc))
    bad["estimator"]["method"] = "beta"
    cases.append((bad, "estimator.method: unsupported value \"beta\""))
    bad = json.loads(json.dumps(doc))
    inner = bad["estimator"]
    for _ in range(5):
        inner = {"type": "voting", "weights": None, "estimators": [inner]}
    bad["estimator"] = inner
    cases.append((bad, "max_estimator_depth"))
    for i, (d, message) in enumerate(cases):
        path = tmp_path / ("bad%d.json" % i)
        path.write_text(json.dumps(d))
        proc = subprocess.run([predict_score, "--model", str(path), "-"], input="{}\n",
                              capture_output=True, text=True)
        assert proc.returncode == 2, (message, proc.stdout, proc.stderr)
        assert message in proc.stderr, (message, proc.stderr)


TREE_TYPES = ("decision_tree", "random_forest", "gradient_boosting", "hist_gradient_boosting")


@pytest.mark.parametrize("name", [
    "voting_soft_weighted", "voting_soft_forest_boosting", "calibrated_isotonic_forest",
    "calibrated_isotonic_boosting_single", "calibrated_sigmoid_boosting_sgd",
    "gradient_boosting_tree_init", "gradient_boosting_forest_init",
])
def test_threshold_rows_of_composite_trees(name, variant_run, predict_score):
    """The trees inside a composite get the rows at their split thresholds (and one float32
    or float64 step around them) that adversarial.py makes for a tree model: the same rows
    refused, the same probabilities within 1e-12."""
    from adversarial import threshold_lines
    r = variant_run(name)
    doc = r["doc"]
    lines, _, _ = r["rows"]
    base = max((json.loads(line) for line in lines), key=len)
    rows = []
    for sub in pe.leaf_estimators(doc["estimator"]):
        if sub["type"] in TREE_TYPES:
            rows += threshold_lines(dict(doc, estimator=sub), base)
    assert len(rows) >= 20, len(rows)
    texts = [text for _, text in rows]
    ref = pe.sklearn_scores(r["variant"].estimator, doc, [json.loads(t) for t in texts])
    got = pe.c_scores(str(r["model"]), texts, predict_score)
    max_diff, bad = pe.compare(ref, got)
    assert not bad, "%d of %d threshold rows differ:\n%s" % (
        len(bad), len(texts), mismatch_report([lab for lab, _ in rows], texts, ref, got, bad))
    assert sum(1 for g in got if isinstance(g, float)) >= 20
