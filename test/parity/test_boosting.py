"""The boosted-tree estimators of issue 18 (test/parity/variants_boosting.py):
what their documents hold, and what the exporter refuses, by name.

Their parity with predict_proba (all Titanic rows and the adversarial rows,
bit for bit) runs with the other tree variants in test_trees.py, to which
variants_boosting.py adds them.
"""

import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, OneHotEncoder

import joblib
import predict_export as pe
from conftest import run_exporter
from titanic_data import features_and_target
from tree_variants import _tutorial_pre

import xgboost  # noqa: E402 - python3-xgboost (tools/install-deps)

NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def test_xgboost_documents(variant_run):
    """Sparse input makes zeros missing; early stopping keeps best_iteration + 1 rounds;
    the provenance records XGBoost's version; values are float32."""
    sparse = variant_run("xgboost_tutorial_sparse")["doc"]
    dense = variant_run("xgboost_dense_missing")["doc"]
    stop = variant_run("xgboost_bare_early_stop")
    assert sparse["estimator"]["zero_is_missing"] is True
    assert dense["estimator"]["zero_is_missing"] is False
    assert dense["estimator"]["base_score"] == float(np.float32(0.3))
    assert sparse["provenance"]["xgboost_version"] == xgboost.__version__
    model = stop["variant"].estimator
    assert len(stop["doc"]["estimator"]["trees"]) == model.best_iteration + 1
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    for doc in (sparse, dense):
        for tree in doc["estimator"]["trees"]:
            for v in tree["threshold"] + tree["value"]:
                assert float(np.float32(v)) == v
    assert any(1 in t["missing_left"] for t in dense["estimator"]["trees"])
    forest = variant_run("xgboost_parallel_trees_early_stop")
    model = forest["variant"].estimator[-1]
    assert len(forest["doc"]["estimator"]["trees"]) == (model.best_iteration + 1) * 3
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()


def _pre():
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Embarked"]),
        ("num", SimpleImputer(), NUM),
    ])


def _xgb(**params):
    return xgboost.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1, **params)


FINAL = "pipeline.steps[1] 'xgbclassifier': "

REFUSALS = [
    ("logitraw", lambda: make_pipeline(_pre(), _xgb(objective="binary:logitraw")),
     FINAL + "XGBClassifier objective='binary:logitraw' is not supported (binary:logistic only)"),
    ("dart", lambda: make_pipeline(_pre(), _xgb(booster="dart")),
     FINAL + "XGBClassifier booster='dart' is not supported (gbtree only)"),
    ("gblinear", lambda: make_pipeline(_pre(), _xgb(booster="gblinear")),
     FINAL + "XGBClassifier booster='gblinear' is not supported (gbtree only)"),
    ("missing", lambda: make_pipeline(_pre(), _xgb(missing=0.0)),
     FINAL + "XGBClassifier missing=0.0 is not supported (only NaN, the default)"),
    ("predictor", lambda: make_pipeline(_pre(), _xgb(predictor="cpu_predictor")),
     FINAL + "XGBClassifier predictor='cpu_predictor' is not supported"),
    ("multiclass", lambda: make_pipeline(_pre(), _xgb()),
     FINAL + "XGBClassifier with 3 classes is not supported (binary only)"),
    ("random_forest", lambda: make_pipeline(_pre(), xgboost.XGBRFClassifier(n_estimators=3,
                                                                            n_jobs=1)),
     "pipeline.steps[1] 'xgbrfclassifier': XGBRFClassifier is not supported"),
    ("sparse_scaled", lambda: make_pipeline(_tutorial_pre(), MaxAbsScaler(), _xgb()),
     "pipeline.steps[2] 'xgbclassifier': XGBClassifier after a scaler on a sparse matrix "
     "(column 'Pclass') is not supported"),
]


def _vote_xgb():
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression
    return make_pipeline(_pre(), VotingClassifier(
        [("lr", LogisticRegression(max_iter=500)), ("xgb", _xgb())], voting="soft"))


def _calibrated_xgb():
    from sklearn.calibration import CalibratedClassifierCV
    return make_pipeline(_pre(), CalibratedClassifierCV(_xgb(), cv=2))


# numpy computes the composites in float32 when XGBoost's float32 probabilities come in
REFUSALS += [
    ("in_voting", _vote_xgb,
     "pipeline.steps[1] 'votingclassifier'.estimators_[1]: XGBClassifier inside "
     "VotingClassifier is not supported (its probabilities are float32)"),
    ("in_calibrated", _calibrated_xgb,
     "pipeline.steps[1] 'calibratedclassifiercv'.calibrated_classifiers_[0].estimator: "
     "XGBClassifier inside CalibratedClassifierCV is not supported (its probabilities are "
     "float32)"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_xgboost_refused(case, titanic, tmp_path):
    name, build, want = case
    X, y = features_and_target(titanic)
    if name == "multiclass":
        y = X["Pclass"] - 1
    est = _fit(build(), X, y)
    pkl = tmp_path / "p.pkl"
    joblib.dump(est, pkl)
    proc = run_exporter(pkl, "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert want in proc.stderr, proc.stderr
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("composite", ["voting", "calibrated"])
def test_loader_refuses_xgboost_in_composite(composite, variant_run, predict_score, tmp_path):
    """The core refuses an xgboost estimator inside a composite by name, as the
    exporter does, whatever wrote the document."""
    import json
    import subprocess
    doc = json.loads(json.dumps(variant_run("xgboost_dense_missing")["doc"]))
    if composite == "voting":
        doc["estimator"] = {"type": "voting", "weights": None, "estimators": [doc["estimator"]]}
        at = "estimator.estimators[0].type"
    else:
        doc["estimator"] = {"type": "calibrated", "method": "sigmoid",
                            "folds": [{"estimator": doc["estimator"],
                                       "calibrator": {"a": -1.0, "b": 0.0}}]}
        at = "estimator.folds[0].estimator.type"
    doc["threshold"] = 0.5
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run([predict_score, "--model", str(path), "-"], input="{}\n",
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout
    assert '%s: "xgboost" is not supported inside a composite estimator (its probabilities ' \
        'are float32)' % at in proc.stderr, proc.stderr


def test_xgboost_categorical_refused(titanic):
    """enable_categorical: XGBoost's own categorical splits are refused by name."""
    X, y = features_and_target(titanic)
    frame = X[["Pclass", "Fare"]].copy()
    frame["Sex"] = X["Sex"].astype("category")
    est = _fit(xgboost.XGBClassifier(n_estimators=3, tree_method="hist", enable_categorical=True,
                                     n_jobs=1), frame, y)
    with pytest.raises(pe.ExportError, match="estimator: XGBClassifier categorical features "
                                             r"\(enable_categorical=True\) are not supported"):
        pe.export(est, name="cat")


@pytest.mark.parametrize("name", ["adaboost_samme_r_stumps", "adaboost_samme_depth3",
                                  "adaboost_samme_r_extra_trees"])
def test_adaboost_decision_is_bit_identical(name, variant_run):
    """The exported leaf contributions give AdaBoost's decision_function to the last bit
    on every Titanic row (trees walked in Python with the float32 rule): only the final
    exp may differ by an ulp (numpy's vectorized exp, see test_trees._tolerance)."""
    from adversarial import goes_left_float32
    r = variant_run(name)
    pipeline, est = r["variant"].estimator, r["doc"]["estimator"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = pipeline[:-1].transform(r["variant"].X)
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    want = pipeline[-1].decision_function(X)
    got = []
    for x in X:
        negative = positive = 0.0
        for tree in est["trees"]:
            i = 0 if tree["feature"] else -1
            while i >= 0:
                left = goes_left_float32(x[tree["feature"][i]], tree["threshold"][i])
                i = tree["left"][i] if left else tree["right"][i]
            negative += tree["value_negative"][-1 - i]
            positive += tree["value"][-1 - i]
        got.append(-(negative / est["weight_sum"]) + positive / est["weight_sum"])
    assert got == want.tolist()
    assert len(set(got)) > 5
