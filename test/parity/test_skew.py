"""The per-column transforms of issue 18 (variants_skew.py): what the exporter
refuses by name, and that the parity variants cover every new step option."""

import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, PowerTransformer

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
    expected = {"function:%s" % f for f in ("log1p", "log", "sqrt", "exp", "expm1", "abs",
                                            "identity")}
    expected |= {"function:validate=True", "function:validate=False", "power:yeo-johnson",
                 "power:box-cox", "power:lambda<0", "power:lambda>=0",
                 "power:then standardize", "power:then impute"}
    assert expected <= seen, "not covered: %s" % sorted(expected - seen)
