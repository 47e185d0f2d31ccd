"""The feature stage (issue 18, item 5): what the variants of variants_features.py
cover together, and what the exporter refuses by name.

Their parity with scikit-learn (all Titanic rows and the adversarial rows) is
tested with the other variants: test_parity.py (logistic regression) and
test_trees.py (trees), in which variants.py and tree_variants.py register them.
"""

import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_selection import RFE, SelectKBest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import (FunctionTransformer, Normalizer, OneHotEncoder,
                                   PolynomialFeatures, SplineTransformer, StandardScaler)
from sklearn.tree import DecisionTreeClassifier

import predict_export as pe
from titanic_data import features_and_target
from variants_features import FEATURE_TREE_VARIANTS, FEATURE_VARIANTS


def _walk(transforms, seen):
    for t in transforms:
        seen.add(t["type"])
        if "check" in t:
            seen.add("check:%s" % t["check"])
        if t["type"] == "polynomial":
            degrees = {len(term) for term in t["terms"]}
            seen.add("polynomial:bias" if 0 in degrees else "polynomial:no bias")
            seen.add("polynomial:degree %d" % max(degrees))
            if any(len(set(term)) < len(term) for term in t["terms"]):
                seen.add("polynomial:powers")
        elif t["type"] == "standardize":
            seen.add("standardize:center=%s" % ("null" if t["center"] is None else "set"))
        elif t["type"] == "min_max":
            seen.add("min_max:clip=%s" % ("null" if t["clip"] is None else "set"))
        elif t["type"] == "linear":
            seen.add("linear:divisor=%s" % ("null" if t["divisor"] is None else "set"))
        elif t["type"] == "normalize":
            seen.add("normalize:%s" % t["norm"])
            seen.add("normalize:zero_below=%s" % ("0" if t["zero_below"] == 0 else "10 eps"))
        elif t["type"] == "spline":
            seen.add("spline:%s" % t["extrapolation"])
            seen.add("spline:include_bias=%s" % t["include_bias"])
        elif t["type"] == "union":
            seen.add("union:weights=%s" % ("null" if t["weights"] is None else "set"))
            if any(not part for part in t["parts"]):
                seen.add("union:empty part")
            for part in t["parts"]:
                _walk(part, seen)


def test_feature_stage_coverage(variant_run):
    """The feature variants together exercise every transform type and option, before
    every estimator type."""
    seen = set()
    for name in list(FEATURE_VARIANTS) + list(FEATURE_TREE_VARIANTS):
        doc = variant_run(name)["doc"]
        assert doc.get("transforms"), name
        seen.add("estimator:%s" % doc["estimator"]["type"])
        _walk(doc["transforms"], seen)
    expected = {
        "select", "polynomial", "standardize", "multiply", "min_max", "linear", "normalize",
        "union", "check:none", "check:finite", "check:no_infinity",
        "polynomial:bias", "polynomial:no bias", "polynomial:degree 2", "polynomial:degree 3",
        "polynomial:powers", "standardize:center=set", "min_max:clip=set",
        "linear:divisor=null", "linear:divisor=set", "normalize:l1", "normalize:l2",
        "normalize:max", "normalize:zero_below=0", "normalize:zero_below=10 eps",
        "union:weights=null", "union:weights=set", "union:empty part",
        "spline", "spline:constant", "spline:linear", "spline:continue", "spline:periodic",
        "spline:error", "spline:include_bias=True", "spline:include_bias=False",
        "estimator:logistic_regression", "estimator:decision_tree", "estimator:random_forest",
        "estimator:gradient_boosting", "estimator:hist_gradient_boosting",
    }
    assert expected <= seen, "not covered: %s" % sorted(expected - seen)


def test_stage_variants_are_exact_to_the_bit(variant_run):
    """Every transform but PCA's and the l1/l2 norms' sums is scikit-learn's arithmetic
    (scipy's de Boor recursion for the splines):
    those variants, trees included, score bit-identically."""
    checked = 0
    for name in list(FEATURE_VARIANTS) + list(FEATURE_TREE_VARIANTS):
        r = variant_run(name)
        kinds = set()
        _walk(r["doc"]["transforms"], kinds)
        if {"linear", "normalize:l1", "normalize:l2"} & kinds or \
                r["doc"]["estimator"]["type"] == "logistic_regression":
            continue        # BLAS's sums: within 1e-12 (test_parity.py)
        _, ref, got = r["rows"]
        _, _, ref_adv, got_adv = r["adversarial"]
        max_diff, bad = pe.compare(ref + ref_adv, got + got_adv, tolerance=0.0)
        assert not bad and max_diff == 0.0, (name, max_diff, len(bad))
        checked += 1
    assert checked >= 5


def _dense_ct():
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(sparse_output=False)), ["Sex"]),
        ("num", SimpleImputer(), ["Age", "Fare", "Pclass"]),
    ])


def _sparse_ct():
    return ColumnTransformer([
        ("cat", OneHotEncoder(), ["Sex", "Embarked"]),
        ("num", SimpleImputer(), ["Age", "Fare"]),
    ], sparse_threshold=1.0)


# (id, builder() -> unfitted pipeline, message)
REFUSED = [
    ("tree_after_pca", lambda: make_pipeline(_dense_ct(), PCA(2), DecisionTreeClassifier()),
     "pipeline.steps[2] 'decisiontreeclassifier': DecisionTreeClassifier after "
     "pipeline.steps[1] 'pca' (PCA) is not supported"),
    ("tree_after_l2_normalizer_in_union", lambda: make_pipeline(
        _dense_ct(), FeatureUnion([("n", Normalizer())]), HistGradientBoostingClassifier()),
     "HistGradientBoostingClassifier after pipeline.steps[1] 'featureunion'"
     ".transformer_list[0] 'n' (Normalizer) is not supported"),
    ("spline_linear_degree1", lambda: make_pipeline(
        _dense_ct(), SplineTransformer(degree=1, extrapolation="linear"), LogisticRegression()),
     "pipeline.steps[1] 'splinetransformer': SplineTransformer extrapolation='linear' with "
     "degree=1 is not supported"),
    ("spline_in_column_transformer", lambda: make_pipeline(ColumnTransformer(
        [("s", SplineTransformer(), ["Fare", "SibSp"])]), LogisticRegression()),
     "pipeline.steps[0] 'columntransformer'.transformers[0] 's': SplineTransformer is not "
     "supported"),
    ("pca_sparse", lambda: make_pipeline(_sparse_ct(), SelectKBest(k=3), PCA(2),
                                         LogisticRegression()),
     None),  # scikit-learn itself refuses to fit it
    ("poly3_sparse", lambda: make_pipeline(_sparse_ct(), PolynomialFeatures(3),
                                           LogisticRegression()),
     "pipeline.steps[1] 'polynomialfeatures': PolynomialFeatures degree=3 on sparse input "
     "is not supported"),
    ("rfe_in_union", lambda: make_pipeline(_dense_ct(), FeatureUnion(
        [("rfe", RFE(LogisticRegression(), n_features_to_select=2))]), LogisticRegression()),
     "pipeline.steps[1] 'featureunion'.transformer_list[0] 'rfe': RFE after a transformer "
     "of the whole feature vector is not supported"),
    ("function_in_stage", lambda: make_pipeline(_dense_ct(), Normalizer(),
                                                FunctionTransformer(np.log1p),
                                                LogisticRegression()),
     "pipeline.steps[2] 'functiontransformer': FunctionTransformer after a transformer of "
     "the whole feature vector is not supported"),
    ("scaler_centering_sparse", lambda: make_pipeline(_sparse_ct(), SelectKBest(k=3),
                                                      StandardScaler(with_mean=False),
                                                      StandardScaler(with_mean=True),
                                                      LogisticRegression()),
     None),  # scikit-learn refuses to center sparse data when fitting
]


@pytest.mark.parametrize("name,build,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_feature_stage_refusals(name, build, message):
    X, y = features_and_target()
    est = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except (TypeError, ValueError):
            assert message is None, "scikit-learn refused to fit %s" % name
            return
    assert message is not None, "%s fitted; give the exporter's message" % name
    with pytest.raises(pe.ExportError) as e:
        pe.export(est)
    assert message in str(e.value)
