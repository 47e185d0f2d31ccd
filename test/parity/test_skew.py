"""The per-column transforms of issue 18 (variants_skew.py): what the exporter
refuses by name, and that the parity variants cover every new step option."""

import math
import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (FunctionTransformer, OneHotEncoder, OrdinalEncoder,
                                   PowerTransformer, StandardScaler)

import predict_export as pe
from titanic_data import features_and_target
from variants_skew import SKEW_VARIANTS


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _lr(ct):
    return make_pipeline(ct, LogisticRegression(max_iter=500))


REFUSALS = [
    ("func_lambda", lambda: _lr(ColumnTransformer([
        ("f", FunctionTransformer(lambda x: x * 2), ["Fare"])])),
     "pipeline.steps[0] 'columntransformer'.transformers[0] 'f': FunctionTransformer "
     "func=<lambda> is not supported (log1p, log, sqrt, exp, expm1, abs or None)"),
    ("kw_args", lambda: _lr(ColumnTransformer([
        ("f", FunctionTransformer(np.round, kw_args={"decimals": 1}), ["Fare"])])),
     "FunctionTransformer func=round_ is not supported"),
    ("kw_args_supported_func", lambda: _lr(ColumnTransformer([
        ("f", FunctionTransformer(np.log1p, kw_args={"where": True}), ["Fare"])])),
     "'f': FunctionTransformer kw_args={'where': True} is not supported (only None or empty)"),
    ("after_one_hot", lambda: make_pipeline(
        ColumnTransformer([("s", OneHotEncoder(sparse_output=False), ["Sex"]),
                           ("n", "passthrough", ["Fare"])]),
        FunctionTransformer(np.log1p), LogisticRegression()),
     "pipeline.steps[1] 'functiontransformer': FunctionTransformer func=log1p after a "
     "one-hot encoding (column 'Sex') is not supported (only per-column numbers)"),
    ("on_sparse", lambda: make_pipeline(
        ColumnTransformer([("s", OneHotEncoder(), ["Sex"]), ("n", "passthrough", ["Fare"])],
                          sparse_threshold=1.0),
        FunctionTransformer(np.abs, accept_sparse=True, validate=True), LogisticRegression()),
     "pipeline.steps[1] 'functiontransformer': FunctionTransformer func=abs on sparse input "
     "is not supported"),
    ("power_after_one_hot", lambda: make_pipeline(
        ColumnTransformer([("s", OneHotEncoder(sparse_output=False), ["Sex"]),
                           ("n", "passthrough", ["Pclass"])]),
        PowerTransformer(), LogisticRegression()),
     "pipeline.steps[1] 'powertransformer': PowerTransformer method=yeo-johnson after a "
     "one-hot encoding (column 'Sex') is not supported"),
    ("float32_then_scaler", lambda: _lr(ColumnTransformer([
        ("s", make_pipeline(OneHotEncoder(dtype=np.float32), StandardScaler(with_mean=False)),
         ["Sex"])])),
     "'s'.steps[1] 'standardscaler': StandardScaler after an encoder with dtype=float32 "
     "(column 'Sex') is not supported (only float64 output can be transformed further)"),
    ("ordinal_int8_overflow", lambda: _lr(ColumnTransformer([
        ("c", OrdinalEncoder(dtype=np.int8, encoded_missing_value=-1), ["Cabin"])])),
     "'c': OrdinalEncoder dtype=int8 cannot hold the codes of"),
    ("ordinal_unknown_value_overflow", lambda: _lr(ColumnTransformer([
        ("c", OrdinalEncoder(dtype=np.float16, handle_unknown="use_encoded_value",
                             unknown_value=70001), ["Sex"])])),
     "'c': OrdinalEncoder dtype=float16 cannot hold unknown_value=70001"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refused_by_name(case):
    _, build, message = case
    X, y = features_and_target()
    est = _fit(build(), X, y)
    with pytest.raises(pe.ExportError) as info:
        pe.export(est)
    assert message in str(info.value)


def test_skew_coverage(variant_run):
    """The variants exercise every func, both validate values, both power methods,
    with and without the standardize step and lambdas of both signs."""
    seen = set()
    for name in SKEW_VARIANTS:
        for block in variant_run(name)["doc"]["preprocessing"]:
            steps = block["steps"]
            for i, s in enumerate(steps):
                if s["type"] == "function":
                    seen.add("function:%s" % s["func"])
                    seen.add("function:validate=%s" % s["validate"])
                elif s["type"] == "power":
                    seen.add("power:%s" % s["method"])
                    seen.add("power:lambda%s" % ("<0" if s["lambda"] < 0 else ">=0"))
                    after = steps[i + 1]["type"] if i + 1 < len(steps) else None
                    seen.add("power:then %s" % after)
                elif s["type"] == "quantile":
                    q = s["quantiles"]
                    seen.add("quantile:%s" % s["output"])
                    if any(a == b for a, b in zip(q, q[1:])):
                        seen.add("quantile:repeated quantiles")
                    if i + 1 < len(steps):
                        seen.add("quantile:then %s" % steps[i + 1]["type"])
                elif s["type"] == "one_hot" and "infrequent" in s:
                    seen.add("one_hot:infrequent")
                    h = s["handle_unknown"]
                    seen.add("one_hot:infrequent_if_exist" if h == "infrequent_if_exist"
                             else "one_hot:infrequent+%s" % h)
                    if s["drop"] is not None:
                        seen.add("one_hot:infrequent+drop")
                    if None in s["infrequent"]:
                        seen.add("one_hot:infrequent null")
                    if i + 1 < len(steps):
                        seen.add("one_hot:infrequent then %s" % steps[i + 1]["type"])
                elif s["type"] == "kbins":
                    seen.add("kbins:%s" % s["dtype"])
                    seen.add("kbins:then %s" % steps[i + 1]["type"] if i + 1 < len(steps)
                             else "kbins:last")
    expected = {"function:%s" % f for f in ("log1p", "log", "sqrt", "exp", "expm1", "abs",
                                            "identity")}
    expected |= {"function:validate=True", "function:validate=False", "power:yeo-johnson",
                 "power:box-cox", "power:lambda<0", "power:lambda>=0",
                 "power:then standardize", "power:then impute", "quantile:uniform",
                 "quantile:normal", "quantile:repeated quantiles", "quantile:then impute",
                 "kbins:float64", "kbins:float32", "kbins:then one_hot", "kbins:last",
                 "one_hot:infrequent", "one_hot:infrequent_if_exist",
                 "one_hot:infrequent+ignore", "one_hot:infrequent+error",
                 "one_hot:infrequent+drop", "one_hot:infrequent null",
                 "one_hot:infrequent then multiply"}
    assert expected <= seen, "not covered: %s" % sorted(expected - seen)


def _core_function(name):
    """A function of the C core (src/core/special.c) through the SQLite extension,
    which links the whole core and exports its symbols."""
    import ctypes
    import os
    from conftest import REPO
    path = os.path.join(REPO, "predict_sqlite.so")
    if not os.path.exists(path):
        pytest.fail("%s not found: run `make` first" % path, pytrace=False)
    f = getattr(ctypes.CDLL(path), name)
    f.restype = ctypes.c_double
    f.argtypes = [ctypes.c_double]
    return f


def _with_neighbours(values):
    values = np.asarray(values, dtype=np.float64)
    return np.concatenate([values, np.nextafter(values, np.inf), np.nextafter(values, -np.inf)])


def test_cephes_ndtri_is_scipys():
    """The core's ndtri (norm.ppf of quantile's normal output) equals scipy.special.ndtri
    bit for bit, in the middle and both tails, at the branch points and the clip."""
    import scipy.special as sc
    rng = np.random.default_rng(18)
    ys = _with_neighbours(np.concatenate([
        rng.uniform(0, 1, 60000), np.exp(-rng.uniform(0, 745, 20000)),
        1 - np.exp(-rng.uniform(0, 36, 20000)),
        [5e-324, 1e-300, 1e-7 - np.spacing(1), 1 - (1e-7 - np.spacing(1)), 0.5,
         0.13533528323661269189, 1 - 0.13533528323661269189, np.exp(-32.0), 0.0, 1.0],
    ]))
    ndtri = _core_function("cephes_ndtri")
    got = np.array([ndtri(float(y)) for y in ys])
    want = sc.ndtri(ys)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    assert same.all(), list(zip(ys[~same][:5], got[~same][:5], want[~same][:5]))


def test_cephes_expm1_is_boxcox():
    """The core's expm1 (box-cox's) gives scipy.special.boxcox's results bit for bit."""
    import scipy.special as sc
    rng = np.random.default_rng(19)
    xs = _with_neighbours(np.concatenate([rng.lognormal(0, 3, 30000), [1e-300, 1.7e308, 1.0]]))
    expm1 = _core_function("cephes_expm1")
    for lam in (0.3141, -0.7, 2.5, -3.2, 1e-3):
        got = np.array([expm1(lam * float(np.log(x))) / lam for x in xs])
        want = sc.boxcox(xs, lam)
        # np.log may differ from libm's in the last place: compare where they agree
        logs_agree = np.array([float(np.log(x)) == math.log(float(x)) for x in xs])
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        assert same[logs_agree].all(), (lam, xs[~same & logs_agree][:5])
        assert logs_agree.mean() > 0.3


TUTORIAL_PROBES = {
    "category_dtypes": [("Sex", "MALE"), ("Sex", 5), ("Sex", True), ("Pclass", "3"),
                        ("Pclass", True), ("Pclass", 3.0), ("Pclass", 4), ("Embarked", "Q"),
                        ("Embarked", None), ("Embarked", "X")],
    "nullable_dtypes": [("SibSp", 2.5), ("SibSp", "3.0"), ("SibSp", " 3 "), ("SibSp", "1_0"),
                        ("SibSp", 1e20), ("SibSp", True), ("SibSp", None), ("SibSp", "abc"),
                        ("Alone", 1), ("Alone", 0.0), ("Alone", 2), ("Alone", "true"),
                        ("Alone", None), ("Age", "2.5"), ("Age", None), ("Age", True)],
}


@pytest.mark.parametrize("name", list(TUTORIAL_PROBES))
def test_tutorial_frame(name, variant_run, predict_score):
    """The docs' reading of category and nullable dtypes is the tutorial's:
    pd.DataFrame([obs], columns=columns).astype(dtypes), then predict_proba; a row
    whose astype fails is refused."""
    import json
    import pandas as pd
    r = variant_run(name)
    v = r["variant"]
    columns = list(v.X.columns)
    base = {k: val for k, val in pe.frame_to_observations(v.X.iloc[:1], columns)[0].items()}
    obs = [dict(base, **{col: val}) for col, val in TUTORIAL_PROBES[name]]
    got = pe.c_scores(str(r["model"]), [json.dumps(o) for o in obs], predict_score)
    scored = set()
    for o, g in zip(obs, got):
        try:
            frame = pd.DataFrame([o], columns=columns).astype(v.X.dtypes)
            want = float(v.estimator.predict_proba(frame)[0, 1])
        except (TypeError, ValueError) as e:
            assert isinstance(g, str), (o, "tutorial refuses: %s" % e, g)
            continue
        assert not isinstance(g, str), (o, want, g)
        assert abs(g - want) <= pe.TOLERANCE, (o, want, g)
        scored.add(round(want, 12))
    # not vacuous: several distinct probabilities, and refusals where astype fails
    assert len(scored) >= 2
    assert name == "category_dtypes" or sum(isinstance(g, str) for g in got) >= 4


MANAGED_STEP_REFUSALS = [
    ({"type": "function", "func": "expm1", "validate": False}, "cannot compute step expm1"),
    ({"type": "power", "method": "yeo-johnson", "lambda": 0},
     "cannot compute step power (yeo-johnson with lambda 0 or 2, which takes log1p)"),
    ({"type": "power", "method": "yeo-johnson", "lambda": 2}, "lambda 0 or 2"),
    ({"type": "quantile", "output": "uniform", "quantiles": [0, 1e-300], "references": [0, 1]},
     "cannot compute step quantile (quantiles beyond 1e290 or closer than 1e-290"),
    ({"type": "quantile", "output": "normal", "quantiles": [0, 1e295], "references": [0, 1]},
     "cannot compute step quantile"),
    ({"type": "kbins", "edges": [1.5], "dtype": "float32"}, "cannot compute step kbins (dtype float32)"),
]


@pytest.mark.parametrize("case", MANAGED_STEP_REFUSALS,
                         ids=[str(i) for i in range(len(MANAGED_STEP_REFUSALS))])
def test_managed_refuses_by_name(case, predict_score, tmp_path):
    """predict-score --sql (managed mode's compiler) refuses what PostgreSQL cannot compute
    bit for bit, naming the block, the column and the step; the same model with a
    compilable step compiles."""
    import json
    import subprocess
    step, message = case
    doc = {"format": "predict-model/1", "name": "m",
           "columns": [{"name": "Age", "type": "number"}],
           "preprocessing": [{"column": "Age", "steps": [step], "features": ["Age"]}],
           "estimator": {"type": "logistic_regression", "coef": [0.5], "intercept": 0.0,
                         "link": "logistic"},
           "positive_class": 1,
           "provenance": {"sklearn_version": "1.2.1", "exported_at": "2026-12-05T00:00:00Z",
                          "training_rows": None}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run([predict_score, "--model", str(path), "--sql"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout[:200]
    assert message in proc.stderr, proc.stderr
    assert 'preprocessing[0] (column "Age"): the SQL scorer cannot compute step' in proc.stderr
    doc["preprocessing"][0]["steps"] = [{"type": "function", "func": "log", "validate": False}]
    path.write_text(json.dumps(doc))
    ok = subprocess.run([predict_score, "--model", str(path), "--sql"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "FUNCTION @function@(obs jsonb)" in ok.stdout, ok.stderr
