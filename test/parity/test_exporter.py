"""tools/predict-export itself: refusals, usage errors, --verify, the tutorial's artifacts."""

import json
import os
import pickle
import stat
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import AdaBoostClassifier
from sklearn.feature_selection import SelectKBest
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (FunctionTransformer, OneHotEncoder, OrdinalEncoder,
                                   PolynomialFeatures, StandardScaler)
from sklearn.svm import SVC

import predict_export as pe
from conftest import PEER_TRAIN, REPO, run_exporter
from titanic_data import features_and_target, is_real

NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.fixture(scope="module")
def Xy(titanic):
    return features_and_target(titanic)


def _cat():
    return make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                         OneHotEncoder(handle_unknown="ignore"))


def _tutorial_ct(num=None, columns=NUM):
    return ColumnTransformer([("cat", _cat(), ["Sex", "Cabin", "Embarked"]),
                              ("num", num or SimpleImputer(), columns)])


# (id, builder(X, y) -> fitted estimator, [substrings the message must contain])
REFUSALS = [
    ("svc", lambda X, y: make_pipeline(_tutorial_ct(), SVC()),
     ["pipeline.steps[1] 'svc': SVC is not supported"]),
    ("polynomial", lambda X, y: make_pipeline(_tutorial_ct(PolynomialFeatures(),
                                                                       ["Pclass", "SibSp"]),
                                              LogisticRegression()),
     ["pipeline.steps[0] 'columntransformer'.transformers[1] 'num': "
      "PolynomialFeatures is not supported"]),
    ("function_in_nested_pipeline", lambda X, y: make_pipeline(
        _tutorial_ct(make_pipeline(SimpleImputer(), FunctionTransformer(np.log1p))),
        LogisticRegression()),
     ["pipeline.steps[0] 'columntransformer'.transformers[1] 'num'.steps[1] "
      "'functiontransformer': FunctionTransformer is not supported"]),
    ("knn_imputer_remainder", lambda X, y: make_pipeline(ColumnTransformer(
        [("cat", _cat(), ["Sex", "Cabin", "Embarked"])], remainder=KNNImputer()),
        LogisticRegression()),
     ["pipeline.steps[0] 'columntransformer'.remainder: KNNImputer is not supported"]),
    ("select_k_best", lambda X, y: make_pipeline(_tutorial_ct(), SelectKBest(k=5),
                                                 LogisticRegression()),
     ["pipeline.steps[1] 'selectkbest': SelectKBest is not supported"]),
    ("missing_values", lambda X, y: make_pipeline(ColumnTransformer(
        [("num", SimpleImputer(missing_values=-1), ["Pclass", "SibSp"])]), LogisticRegression()),
     ["'num'", "missing_values=-1", "not supported"]),
    ("multiclass", lambda X, y: make_pipeline(_tutorial_ct(), LogisticRegression()),
     ["pipeline.steps[1] 'logisticregression'", "3 classes"]),
    ("min_frequency", lambda X, y: make_pipeline(ColumnTransformer(
        [("cat", OneHotEncoder(min_frequency=5, handle_unknown="infrequent_if_exist"),
          ["Embarked"])]), LogisticRegression()),
     ["transformers[0] 'cat'", "min_frequency=5", "infrequent"]),
    ("max_categories", lambda X, y: make_pipeline(ColumnTransformer(
        [("cat", OneHotEncoder(max_categories=2), ["Sex"])]), LogisticRegression()),
     ["transformers[0] 'cat'", "max_categories=2"]),
    ("onehot_float32", lambda X, y: make_pipeline(ColumnTransformer(
        [("cat", OneHotEncoder(dtype=np.float32), ["Sex"])]), LogisticRegression()),
     ["transformers[0] 'cat'", "OneHotEncoder dtype"]),
    ("ordinal_int", lambda X, y: make_pipeline(ColumnTransformer(
        [("cat", OrdinalEncoder(dtype=np.int64), ["Sex"])]), LogisticRegression()),
     ["transformers[0] 'cat'", "OrdinalEncoder dtype"]),
    ("transformer_weights", lambda X, y: make_pipeline(ColumnTransformer(
        [("num", SimpleImputer(), ["Age"]), ("n2", SimpleImputer(), ["Fare"])],
        transformer_weights={"num": 2.0}), LogisticRegression()),
     ["pipeline.steps[0] 'columntransformer'", "transformer_weights"]),
    ("bare_adaboost", lambda X, y: AdaBoostClassifier(n_estimators=3, random_state=0),
     ["estimator: AdaBoostClassifier is not supported"]),
    ("string_to_estimator", lambda X, y: make_pipeline(ColumnTransformer(
        [("num", SimpleImputer(), ["Age"]), ("cat", "passthrough", ["Sex"])],
        sparse_threshold=0), LogisticRegression()),
     ["pipeline.steps[1] 'logisticregression'", "'Sex'", "string"]),
]


def _fit_refusal(case, X, y):
    name, build, _ = case
    est = build(X, y)
    if name == "multiclass":
        return _fit(est, X, X["Pclass"])     # three classes
    if name == "bare_adaboost":
        return _fit(est, X[["Pclass", "SibSp", "Parch", "Fare"]], y)
    if name == "string_to_estimator":
        # the passthrough string column cannot be fitted by LogisticRegression: fit the
        # preprocessing on a numeric copy of Sex, then pretend it was a string column
        return est
    return _fit(est, X, y)


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refused(case, Xy, tmp_path):
    X, y = Xy
    name, _, needles = case
    est = _fit_refusal(case, X, y)
    args = [tmp_path / "p.pkl", "-o", tmp_path / "m.json"]
    if name == "string_to_estimator":
        Xs = X.assign(Sex=(X["Sex"] == "male").astype(float))
        _fit(est, Xs, y)
        dtypes = X.dtypes   # the real frame: Sex is an object column
        with open(tmp_path / "dtypes.pickle", "wb") as fh:
            pickle.dump(dtypes, fh)
        args += ["--dtypes", tmp_path / "dtypes.pickle"]
    joblib.dump(est, tmp_path / "p.pkl")
    proc = run_exporter(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m.json").exists(), "a refused pipeline must not be written"


def test_unfitted_is_refused(tmp_path):
    joblib.dump(make_pipeline(_tutorial_ct(), LogisticRegression()), tmp_path / "p.pkl")
    proc = run_exporter(tmp_path / "p.pkl", "-o", tmp_path / "m.json")
    assert proc.returncode == 2 and "not fitted" in proc.stderr, proc.stderr


def test_column_type_conflict_with_dtypes(Xy, tmp_path):
    """--dtypes saying a mean-imputed column is object is refused, naming the column."""
    X, y = Xy
    est = _fit(make_pipeline(_tutorial_ct(), LogisticRegression(max_iter=1000)), X, y)
    joblib.dump(est, tmp_path / "p.pkl")
    dtypes = X.dtypes.copy()
    dtypes["Age"] = np.dtype(object)
    with open(tmp_path / "d.pickle", "wb") as fh:
        pickle.dump(dtypes, fh)
    proc = run_exporter(tmp_path / "p.pkl", "--dtypes", tmp_path / "d.pickle",
                        "-o", tmp_path / "m.json")
    assert proc.returncode == 2
    assert "'Age'" in proc.stderr and "transformers[1] 'num'" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args,needle", [
    ([], "required"),
    (["{pkl}"], "-o"),
    (["{tmp}/missing.pkl", "-o", "{tmp}/m.json"], "missing.pkl"),
    (["{tmp}/notapickle.pkl", "-o", "{tmp}/m.json"], "notapickle.pkl"),
    (["{pkl}", "-o", "{tmp}/m.json", "--threshold", "1.5"], "threshold"),
    (["{pkl}", "-o", "{tmp}/m.json", "--threshold", "abc"], "threshold"),
    (["{pkl}", "-o", "{tmp}/m.json", "--name", "bad name!"], "name"),
    (["{pkl}", "-o", "{tmp}/m.json", "--columns", "{tmp}/notjson.pkl"], "notjson.pkl"),
    (["{pkl}", "-o", "{tmp}/m.json", "--bogus"], "unrecognized"),
])
def test_usage_errors(args, needle, Xy, tmp_path):
    X, y = Xy
    pkl = tmp_path / "ok.pkl"
    joblib.dump(_fit(make_pipeline(_tutorial_ct(), LogisticRegression(max_iter=1000)), X, y), pkl)
    (tmp_path / "notapickle.pkl").write_text("hello")
    (tmp_path / "notjson.pkl").write_text("{not json")
    argv = [a.format(pkl=pkl, tmp=tmp_path) for a in args]
    proc = run_exporter(*argv)
    assert proc.returncode == 2, (argv, proc.returncode, proc.stderr)
    assert needle in proc.stderr, (needle, proc.stderr)


def test_help_documents_type_inference():
    proc = run_exporter("--help")
    assert proc.returncode == 0
    assert "_fit_dtype" in proc.stdout and "categories_" in proc.stdout and "--dtypes" in proc.stdout


@pytest.fixture(scope="module")
def titanic_csv(titanic, tmp_path_factory):
    """A CSV of the Titanic data (the real file, or the synthetic frame written out)."""
    from titanic_data import csv_path
    if is_real():
        return csv_path()
    path = tmp_path_factory.mktemp("csv") / "titanic.csv"
    titanic.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def tutorial_artifacts(titanic_csv, tmp_path_factory):
    """The peer's train.py run into a temporary directory (pipeline.pickle, columns.json,
    dtypes.pickle), as the tutorial leaves them."""
    out = tmp_path_factory.mktemp("tutorial")
    assert os.path.isfile(PEER_TRAIN), "%s is missing" % PEER_TRAIN
    proc = subprocess.run([sys.executable, PEER_TRAIN, titanic_csv, str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_tutorial_artifacts_verify(tutorial_artifacts, titanic_csv, predict_score, tmp_path):
    """--columns/--dtypes from the tutorial, --verify on the CSV: every row agrees."""
    d = tutorial_artifacts
    model = tmp_path / "titanic.json"
    proc = run_exporter(d / "pipeline.pickle", "--columns", d / "columns.json",
                        "--dtypes", d / "dtypes.pickle", "--name", "titanic",
                        "--verify", titanic_csv, "--predict-score", predict_score, "-o", model)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: 891 rows, 891 scored by both" in proc.stdout, proc.stdout
    assert "0 mismatches" in proc.stdout
    doc = json.loads(model.read_text())
    with open(d / "columns.json") as fh:
        assert [c["name"] for c in doc["columns"]] == json.load(fh)
    assert {c["name"]: c["dtype"] for c in doc["columns"]}["Pclass"] == "int64"
    assert doc["provenance"]["training_rows"] == 891        # from the --verify data
    assert doc["provenance"]["source"] == "pipeline.pickle"
    assert doc["name"] == "titanic"
    if is_real():
        # the bundled model is the peer's model
        with open(os.path.join(REPO, "models", "titanic.json")) as fh:
            bundled = json.load(fh)
        assert bundled["preprocessing"] == doc["preprocessing"]
        assert bundled["estimator"] == doc["estimator"]
        assert bundled["columns"] == doc["columns"]


def _tampering_predict_score(tmp_path, real, delta):
    """A predict-score wrapper that scores a copy of the model with coef[k] += delta,
    k being the Age coefficient (a feature present in every row)."""
    script = tmp_path / "tampering-predict-score"
    script.write_text(
        "#!%s\n" % sys.executable +
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "i = args.index('--model') + 1\n"
        "doc = json.load(open(args[i]))\n"
        "k = 0\n"
        "for b in doc['preprocessing']:\n"
        "    if b['column'] == 'Age':\n"
        "        break\n"
        "    k += len(b['features'])\n"
        "doc['estimator']['coef'][k] += %r\n" % delta +
        "args[i] = %r\n" % str(tmp_path / "tampered.json") +
        "json.dump(doc, open(args[i], 'w'))\n"
        "os.execv(%r, [%r] + args)\n" % (real, real))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_verify_fails_on_tampered_model(tutorial_artifacts, titanic_csv, predict_score, tmp_path):
    d = tutorial_artifacts
    wrapper = _tampering_predict_score(tmp_path, predict_score, 1e-9)
    proc = run_exporter(d / "pipeline.pickle", "--verify", titanic_csv,
                        "--predict-score", wrapper, "-o", tmp_path / "m.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verify: 891 rows" in proc.stdout
    assert "891 mismatches" in proc.stdout, proc.stdout
    # and the wrapper itself is honest: with delta 0 everything agrees
    wrapper = _tampering_predict_score(tmp_path, predict_score, 0.0)
    proc = run_exporter(d / "pipeline.pickle", "--verify", titanic_csv,
                        "--predict-score", wrapper, "-o", tmp_path / "m.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "max |difference| 0," in proc.stdout


def test_verify_library_detects_tampering(tutorial_artifacts, titanic, predict_score, tmp_path):
    """pe.verify on a model file whose intercept moved by 1e-9."""
    d = tutorial_artifacts
    pipeline = joblib.load(d / "pipeline.pickle")
    doc = pe.export(pipeline, name="t")
    X, _ = features_and_target(titanic)
    obs = pe.frame_to_observations(X, list(X.columns))
    pe.write_model(doc, str(tmp_path / "ok.json"))
    import io
    buf = io.StringIO()
    assert pe.verify(pipeline, doc, str(tmp_path / "ok.json"), obs, predict_score, out=buf)
    doc["estimator"]["intercept"] += 1e-9
    pe.write_model(doc, str(tmp_path / "bad.json"))
    buf = io.StringIO()
    assert not pe.verify(pipeline, doc, str(tmp_path / "bad.json"), obs, predict_score, out=buf)
    assert "891 mismatches" in buf.getvalue()


def test_defaults_and_exact_numbers(Xy, tmp_path):
    """name from the file stem (sanitized), threshold, exact float round-trip, no NaN/Infinity."""
    X, y = Xy
    est = _fit(make_pipeline(_tutorial_ct(make_pipeline(SimpleImputer(), StandardScaler())),
                             LogisticRegression(max_iter=1000)), X, y)
    pkl = tmp_path / "my model (v2)!.pkl"
    joblib.dump(est, pkl)
    proc = run_exporter(pkl, "--threshold", "0.3", "-o", tmp_path / "m.json")
    assert proc.returncode == 0, proc.stderr

    def no_constants(name):
        raise AssertionError("non-JSON constant %s in the model" % name)

    doc = json.loads((tmp_path / "m.json").read_text(), parse_constant=no_constants)
    assert doc["name"] == "my_model__v2__"
    assert doc["threshold"] == 0.3
    assert doc["format"] == "predict-model/1"
    assert doc["positive_class"] == 1
    lr = est[-1]
    assert doc["estimator"]["coef"] == [float(c) for c in lr.coef_[0]]
    assert doc["estimator"]["intercept"] == float(lr.intercept_[0])
    scaler = est[0].named_transformers_["num"][-1]
    steps = {b["column"]: b["steps"] for b in doc["preprocessing"]}
    for j, col in enumerate(NUM):
        assert steps[col][1] == {"type": "standardize", "center": float(scaler.mean_[j]),
                                 "scale": float(scaler.scale_[j])}
    assert doc["provenance"]["training_rows"] == 891    # StandardScaler.n_samples_seen_
    assert doc["provenance"]["sklearn_version"]
    assert doc["provenance"]["pipeline"].startswith("Pipeline(steps=[")


def test_train_titanic_script(titanic_csv, predict_score, tmp_path):
    """models/train_titanic.py trains, exports and verifies; on the real data it reproduces
    the committed models/titanic.json (apart from the export time)."""
    out = tmp_path / "titanic.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "models", "train_titanic.py"),
                           titanic_csv, "-o", str(out), "--verify",
                           "--predict-score", predict_score],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "891 rows, 891 scored by both" in proc.stdout and "0 mismatches" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["name"] == "titanic"
    if is_real():
        with open(os.path.join(REPO, "models", "titanic.json")) as fh:
            bundled = json.load(fh)
        for doc_ in (doc, bundled):
            del doc_["provenance"]["exported_at"]
        assert doc == bundled


def test_threshold_and_predicted_class(Xy, predict_score, tmp_path):
    """predict-score's predicted_class is proba >= the exported --threshold."""
    X, y = Xy
    est = _fit(make_pipeline(_tutorial_ct(), LogisticRegression(max_iter=1000)), X, y)
    joblib.dump(est, tmp_path / "p.pkl")
    rows = pe.frame_to_observations(X, list(X.columns))
    text = "".join(pe.observation_line(o) + "\n" for o in rows)
    flips = 0
    for threshold in ("0.3", "0.5", "0", "1"):
        model = tmp_path / ("m%s.json" % threshold)
        proc = run_exporter(tmp_path / "p.pkl", "--threshold", threshold, "-o", model)
        assert proc.returncode == 0, proc.stderr
        out = subprocess.run([predict_score, "--model", str(model), "-"], input=text,
                             stdout=subprocess.PIPE, text=True, check=True).stdout.splitlines()
        assert len(out) == len(rows)
        t = float(threshold)
        for line in out:
            r = json.loads(line)
            assert r["predicted_class"] is (r["proba"] >= t), (threshold, line)
            flips += (r["proba"] >= 0.3) != (r["proba"] >= 0.5)
    assert flips > 0
