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


# ---------- the interpreter, --verify's rows, models the exporter cannot read ----------

def _interpreters_without_numpy():
    """sys.executable without its site-packages (-S), and the python3 on PATH when it
    lacks numpy (on this project's machines, pyenv's)."""
    import shutil
    out = [[sys.executable, "-S"]]
    other = shutil.which("python3")
    if other and os.path.realpath(other) != os.path.realpath(sys.executable):
        probe = subprocess.run([other, "-c", "import numpy"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
        if probe.returncode != 0:
            out.append([other])
    return out


@pytest.mark.parametrize("interpreter", _interpreters_without_numpy(),
                         ids=lambda a: " ".join(a))
def test_wrong_interpreter_says_what_it_lacks(interpreter, tmp_path):
    proc = subprocess.run(interpreter + [EXPORTER, str(tmp_path / "p.pkl"), "-o",
                                         str(tmp_path / "m.json")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "(Python %s" % ".".join(map(str, sys.version_info[:1])) in lines[0] or \
        "(Python 3." in lines[0], lines[0]
    assert "lacks numpy" in lines[0] and "scikit-learn" in lines[0], lines[0]
    assert "python3" in lines[0]


@pytest.fixture(scope="module")
def tutorial_pkl(searched, tmp_path_factory):
    path = tmp_path_factory.mktemp("front") / "tutorial.pkl"
    joblib.dump(searched.best_estimator_, path)
    return path


def _verify(pkl, frame, tmp_path, predict_score):
    frame.to_csv(tmp_path / "data.csv", index=False)
    return run_exporter(pkl, "--verify", tmp_path / "data.csv", "--no-reference",
                        "--predict-score", predict_score, "-o", tmp_path / "m.json")


def test_verify_compares_predicted_class(tutorial_pkl, Xy, predict_score, tmp_path):
    X, _ = Xy
    proc = _verify(tutorial_pkl, X, tmp_path, predict_score)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 mismatches, 0 predicted_class mismatches" in proc.stdout, proc.stdout


def test_verify_fails_without_a_model_column(tutorial_pkl, Xy, predict_score, tmp_path):
    X, _ = Xy
    proc = _verify(tutorial_pkl, X.drop(columns=["Age"]), tmp_path, predict_score)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "has no column 'Age', which the model reads" in proc.stderr, proc.stderr


def test_verify_fails_on_no_rows(tutorial_pkl, Xy, predict_score, tmp_path):
    X, _ = Xy
    proc = _verify(tutorial_pkl, X.iloc[:0], tmp_path, predict_score)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no rows" in proc.stderr, proc.stderr


def test_verify_fails_when_rows_are_refused_by_both(tutorial_pkl, Xy, predict_score, tmp_path):
    """Rows both sides refuse agree, but were not compared: not a pass."""
    X, _ = Xy
    bad = X.copy()
    bad["Fare"] = bad["Fare"].astype(object)
    bad.loc[bad.index[:5], "Fare"] = "cheap"
    proc = _verify(tutorial_pkl, bad, tmp_path, predict_score)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "0 mismatches" in proc.stdout
    assert "only %d of %d rows were scored" % (len(X) - 5, len(X)) in proc.stdout, proc.stdout


def test_hist_gradient_boosting_negative_category_codes(tmp_path):
    """scikit-learn's own predict_proba fails on such a model: refused by name."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.randint(-1, 4, size=200).astype(float), "b": rng.randn(200)})
    y = (X["a"] > 1).astype(int)
    est = _fit(HistGradientBoostingClassifier(categorical_features=[0], max_iter=3), X, y)
    with pytest.raises(OverflowError):
        est.predict_proba(X)
    joblib.dump(est, tmp_path / "h.pkl")
    proc = run_exporter(tmp_path / "h.pkl", "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "estimator: HistGradientBoostingClassifier categorical feature 0 was fitted with " \
        "category codes -1 outside 0 to 255" in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind,needle", [
    ("frame", "got a DataFrame: pickle its .dtypes"),
    ("list", "expected the training frame's dtypes (a pandas Series, X.dtypes, or a mapping"),
])
def test_dtypes_messages(kind, needle, tutorial_pkl, Xy, tmp_path):
    import pickle
    X, _ = Xy
    with open(tmp_path / "d.pickle", "wb") as fh:
        pickle.dump(X if kind == "frame" else list(X.columns), fh)
    proc = run_exporter(tutorial_pkl, "--dtypes", tmp_path / "d.pickle", "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr


# ---------- other scikit-learn versions ----------

def test_provenance_records_the_versions(tutorial_pkl):
    import numpy as np
    import sklearn
    doc = pe.export(joblib.load(tutorial_pkl))
    assert doc["provenance"]["sklearn_version"] == sklearn.__version__
    assert doc["provenance"]["numpy_version"] == np.__version__


@pytest.mark.parametrize("attribute,change", [
    ("_predictors", "delete"), ("_baseline_prediction", "delete"), ("_bin_mapper", "delete"),
    ("_predictors", "reshape"),
])
def test_private_attributes_are_checked(attribute, change, Xy):
    """An internal the exporter reads that is missing or changed (as another scikit-learn
    version may have it) is refused by name with the version, never guessed."""
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier
    X, y = Xy
    num = X[["Pclass", "Age", "Fare"]]
    est = _fit(HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]), num, y)
    if change == "delete":
        delattr(est, attribute)
    else:
        est._predictors = est._predictors[:-1] + [[]]     # an iteration without its tree
    with pytest.raises(pe.ExportError) as e:
        pe.export(est)
    assert "HistGradientBoostingClassifier.%s is" % attribute in str(e.value), str(e.value)
    assert "scikit-learn (%s)" % sklearn.__version__ in str(e.value)


def test_halving_search_exports_its_best_estimator(Xy):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV
    X, y = Xy
    search = _fit(HalvingGridSearchCV(_tutorial(), {"logisticregression__C": [0.1, 1.0, 10.0]},
                                      cv=2, random_state=0), X, y)
    doc = pe.export(search)
    assert _without_provenance(doc) == _without_provenance(pe.export(search.best_estimator_))
    assert doc["provenance"]["search"].startswith("HalvingGridSearchCV best_params_=")


def test_an_unexpected_error_is_one_line(Xy, tmp_path):
    """A pipeline the exporter trips on: its cause in one line, nothing written, and the
    traceback only when asked for."""
    X, y = Xy
    est = _fit(_tutorial(), X, y)
    est[-1].coef_ = "not an array"          # the exporter's arithmetic fails on it
    joblib.dump(est, tmp_path / "p.pkl")
    proc = run_exporter(tmp_path / "p.pkl", "-o", tmp_path / "m.json")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot export" in proc.stderr and "ValueError" in proc.stderr, proc.stderr
    assert not (tmp_path / "m.json").exists()
    env = dict(os.environ, PREDICT_EXPORT_TRACEBACK="1")
    proc = subprocess.run([sys.executable, EXPORTER, str(tmp_path / "p.pkl"), "-o",
                           str(tmp_path / "m.json")], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" in proc.stderr, proc.stderr
