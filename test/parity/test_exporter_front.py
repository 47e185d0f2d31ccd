"""tools/predict-export's front door (issue 18): search objects, bundles, the
interpreter it runs under, --verify's row count."""

import json
import os
import subprocess
import sys
import warnings

import joblib
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import predict_export as pe
from conftest import EXPORTER, run_exporter
from titanic_data import features_and_target

NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _tutorial():
    return make_pipeline(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Cabin", "Embarked"]),
        ("num", SimpleImputer(), NUM)]), LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def Xy(titanic):
    return features_and_target(titanic)


@pytest.fixture(scope="module")
def searched(Xy):
    X, y = Xy
    return _fit(GridSearchCV(_tutorial(), {"logisticregression__C": [0.1, 1.0]}, cv=2), X, y)


def _without_provenance(doc):
    return {k: v for k, v in doc.items() if k != "provenance"}


def test_search_exports_its_best_estimator(searched, Xy, predict_score, tmp_path):
    """A pickled GridSearchCV is its best_estimator_: the same document, verified."""
    X, _ = Xy
    joblib.dump(searched, tmp_path / "search.pkl")
    X.to_csv(tmp_path / "data.csv", index=False)
    proc = run_exporter(tmp_path / "search.pkl", "--verify", tmp_path / "data.csv",
                        "--no-reference", "--predict-score", predict_score,
                        "-o", tmp_path / "m.json")
    assert proc.returncode == 0, proc.stderr
    assert "%d rows, %d scored by both" % (len(X), len(X)) in proc.stdout, proc.stdout
    doc = json.loads((tmp_path / "m.json").read_text())
    best = pe.export(searched.best_estimator_, name="search")
    assert _without_provenance(doc) == _without_provenance(best)
    assert doc["provenance"]["search"].startswith("GridSearchCV best_params_={")
    assert "logisticregression__C" in doc["provenance"]["search"]


def test_search_refit_false_is_refused(Xy, tmp_path):
    X, y = Xy
    search = _fit(GridSearchCV(_tutorial(), {"logisticregression__C": [0.1, 1.0]}, cv=2,
                               refit=False), X, y)
    joblib.dump(search, tmp_path / "search.pkl")
    proc = run_exporter(tmp_path / "search.pkl", "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert "search: GridSearchCV refit=False is not supported" in proc.stderr, proc.stderr
    assert "refit=True" in proc.stderr and "best_params_" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "m.json").exists()


def test_search_as_final_step(searched, Xy):
    """A search object as a pipeline's final step exports its best_estimator_ there."""
    from sklearn.pipeline import Pipeline
    X, y = Xy
    inner = _fit(GridSearchCV(LogisticRegression(max_iter=1000), {"C": [0.1, 1.0]}, cv=2),
                 searched.best_estimator_[:-1].transform(X), y)
    pipe = Pipeline([("pre", searched.best_estimator_[0]), ("clf", inner)])
    doc = pe.export(pipe)
    assert doc["estimator"]["coef"] == [float(c) for c in inner.best_estimator_.coef_[0]]


@pytest.mark.parametrize("kind", ["dict", "tuple", "list"])
def test_bundles_are_refused_with_what_to_pass(kind, searched, Xy, tmp_path):
    """A dict/tuple/list saved instead of the pipeline: one line, what was found and
    what to pass instead."""
    X, _ = Xy
    pipe = searched.best_estimator_
    bundle = {"dict": {"model": pipe, "columns": list(X.columns)},
              "tuple": (pipe, list(X.columns)), "list": [pipe, list(X.columns)]}[kind]
    joblib.dump(bundle, tmp_path / "model.pickle")
    proc = run_exporter(tmp_path / "model.pickle", "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    if kind == "dict":
        assert "model.pickle holds a dict with keys 'model', 'columns'" in proc.stderr
        assert "joblib.dump(bundle['model']" in proc.stderr
    else:
        assert "model.pickle holds a %s of 2 items (Pipeline, list)" % kind in proc.stderr
        assert "joblib.dump(bundle[0]" in proc.stderr
    assert "--columns" in proc.stderr
    assert "pass --columns" not in proc.stderr.split("pickle the fitted pipeline")[0]
