"""Parity variants for the per-column transforms of skewed numbers and rare
categories (issue 18): FunctionTransformer, PowerTransformer,
QuantileTransformer.

Each variant is a function (X, y) -> Variant, like those of variants.py,
registered into VARIANTS there so that the parity suite (CLI, plain and
ASan) and the managed suite run them.  MANAGED_REFUSED lists the variants
that managed mode refuses, with the fragment its message must contain.
"""

import collections
import warnings

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (FunctionTransformer, KBinsDiscretizer, OneHotEncoder,
                                   OrdinalEncoder, PowerTransformer, QuantileTransformer,
                                   StandardScaler)

Variant = collections.namedtuple("Variant", "estimator X y use_dtypes")


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _sex():
    return ("sex", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["Sex"])


def function_log_sqrt_exp_abs(X, y):
    """FunctionTransformer np.log with validate=True after an imputer (a negative Age
    gives NaN, 0 gives -inf: the estimator refuses both), np.sqrt before an imputer
    (a negative Age's NaN is imputed), np.exp after a StandardScaler (overflow to
    inf is refused), np.abs on an int column.  All compile in managed mode."""
    pre = ColumnTransformer([
        ("logage", make_pipeline(SimpleImputer(), FunctionTransformer(np.log, validate=True)),
         ["Age"]),
        ("sqrtage", make_pipeline(FunctionTransformer(np.sqrt), SimpleImputer(strategy="median")),
         ["Age"]),
        ("expfare", make_pipeline(StandardScaler(), FunctionTransformer(np.exp)), ["Fare"]),
        ("abs", FunctionTransformer(np.abs), ["Pclass", "SibSp"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


def function_log1p_expm1_identity(X, y):
    """FunctionTransformer np.log1p over three columns (one step per block; Fare has
    zeros) then StandardScaler, np.expm1 after a scaler, func=None with validate=True
    (the identity refusing NaN) and func=None with validate=False (no step)."""
    pre = ColumnTransformer([
        ("log1p", make_pipeline(FunctionTransformer(np.log1p), StandardScaler()),
         ["Fare", "SibSp", "Parch"]),
        ("expm1", make_pipeline(SimpleImputer(), StandardScaler(), FunctionTransformer(np.expm1)),
         ["Age"]),
        ("checked", FunctionTransformer(validate=True), ["Pclass"]),
        ("plain", FunctionTransformer(), ["Parch"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


def power_yeo_johnson(X, y):
    """PowerTransformer (yeo-johnson, standardize=True) over imputed Age, Fare, SibSp,
    Parch (negative adversarial values take the second branch), and standardize=False
    straight on Age (NaN passes through to the imputer after it)."""
    pre = ColumnTransformer([
        ("yj", make_pipeline(SimpleImputer(strategy="median"), PowerTransformer()),
         ["Age", "Fare", "SibSp", "Parch"]),
        ("yj_raw", make_pipeline(PowerTransformer(standardize=False), SimpleImputer()), ["Age"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


def power_box_cox(X, y):
    """PowerTransformer(method='box-cox') without standardizing straight on Age (NaN
    passes through to the imputer; 0 and negative values are refused, as scikit-learn
    refuses them), and with standardize=True on Pclass."""
    pre = ColumnTransformer([
        ("bc", make_pipeline(PowerTransformer(method="box-cox", standardize=False),
                             SimpleImputer()), ["Age"]),
        ("bc_std", PowerTransformer(method="box-cox"), ["Pclass"]),
        ("fare", StandardScaler(), ["Fare"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


SKEW_VARIANTS = collections.OrderedDict((f.__name__, f) for f in [
    function_log_sqrt_exp_abs, function_log1p_expm1_identity, power_yeo_johnson, power_box_cox,
])

# variant -> what managed mode's refusal names (sql_codegen.c, sql_supported_steps)
MANAGED_REFUSED = {
    "function_log1p_expm1_identity": "cannot compute step log1p",
}


def quantile_uniform_normal(X, y):
    """QuantileTransformer output_distribution='uniform' straight on Age (NaN passes
    through to the imputer after it) and on SibSp and Parch (repeated quantiles: the
    two interpolations differ), and 'normal' with few quantiles on imputed Fare and
    Age (the bounds, the clip, Cephes' ndtri)."""
    pre = ColumnTransformer([
        ("uni", make_pipeline(QuantileTransformer(n_quantiles=200), SimpleImputer()),
         ["Age", "SibSp", "Parch"]),
        ("normal", make_pipeline(SimpleImputer(strategy="median"),
                                 QuantileTransformer(n_quantiles=50,
                                                     output_distribution="normal")),
         ["Fare", "Age"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


SKEW_VARIANTS["quantile_uniform_normal"] = quantile_uniform_normal


def kbins_ordinal_onehot(X, y):
    """KBinsDiscretizer encode='ordinal' (quantile strategy, float32 dtype) on imputed Age,
    'onehot-dense' (uniform) on Fare and SibSp, 'onehot' (sparse, kmeans) on Parch; the
    whole output dense (sparse_threshold=0)."""
    pre = ColumnTransformer([
        ("ord", make_pipeline(SimpleImputer(), KBinsDiscretizer(n_bins=6, encode="ordinal",
                                                                 dtype=np.float32)), ["Age"]),
        ("dense", KBinsDiscretizer(n_bins=5, encode="onehot-dense", strategy="uniform"),
         ["Fare", "SibSp"]),
        ("sparse", KBinsDiscretizer(n_bins=3, encode="onehot", strategy="kmeans"), ["Parch"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


def kbins_managed(X, y):
    """KBinsDiscretizer with float64 output (ordinal, quantile strategy with repeated edges
    removed) and sparse one-hot followed by a scaler that multiplies: compiles in managed
    mode."""
    pre = ColumnTransformer([
        ("ord", make_pipeline(SimpleImputer(strategy="median"),
                              KBinsDiscretizer(n_bins=8, encode="ordinal")), ["Age", "Fare"]),
        ("oh", make_pipeline(KBinsDiscretizer(n_bins=4, encode="onehot", strategy="uniform"),
                             StandardScaler(with_mean=False)), ["SibSp"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


SKEW_VARIANTS["kbins_ordinal_onehot"] = kbins_ordinal_onehot
SKEW_VARIANTS["kbins_managed"] = kbins_managed
MANAGED_REFUSED["kbins_ordinal_onehot"] = "cannot compute step kbins (dtype float32)"


def _cat_imputed(encoder):
    return make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), encoder)


def onehot_infrequent(X, y):
    """OneHotEncoder min_frequency on Cabin (most of its categories rare) with
    handle_unknown='infrequent_if_exist' (unknown values go to the infrequent feature),
    max_categories on Embarked with 'ignore' (known rare ones are infrequent, unknown ones
    all zeros), min_frequency with 'error' and dtype=float32 on Sex+Pclass, drop='first'
    with infrequent categories; sparse output, scaled."""
    pre = ColumnTransformer([
        ("cabin", _cat_imputed(OneHotEncoder(min_frequency=3,
                                             handle_unknown="infrequent_if_exist")), ["Cabin"]),
        ("emb", make_pipeline(_cat_imputed(OneHotEncoder(max_categories=2,
                                                         handle_unknown="ignore")),
                              StandardScaler(with_mean=False)), ["Embarked"]),
        ("pc", OneHotEncoder(min_frequency=200, handle_unknown="error", dtype=np.float32),
         ["Pclass", "SibSp"]),
        ("cabin_drop", _cat_imputed(OneHotEncoder(min_frequency=0.01, drop="first",
                                                  handle_unknown="infrequent_if_exist")),
         ["Cabin"]),
        ("num", SimpleImputer(), ["Age", "Fare"]),
    ])
    est = make_pipeline(pre, LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


def onehot_infrequent_drop_dtypes(X, y):
    """Infrequent categories with a drop array naming a frequent category (the index
    counted among the grouped features) and drop='if_binary' counted on the grouped
    features; NaN as an infrequent category (no imputer); OneHotEncoder dtype=int64 and bool, OrdinalEncoder
    dtype=float32 and int32, straight into the LogisticRegression."""
    pre = ColumnTransformer([
        ("emb", OneHotEncoder(max_categories=3, drop=["S"], handle_unknown="infrequent_if_exist",
                              dtype=np.int64), ["Embarked"]),
        ("cabin", OneHotEncoder(max_categories=2, drop="if_binary", dtype=bool,
                                handle_unknown="ignore"), ["Cabin"]),
        ("sibsp", OneHotEncoder(min_frequency=20, handle_unknown="infrequent_if_exist"),
         ["SibSp"]),
        ("ord", OrdinalEncoder(dtype=np.float32, handle_unknown="use_encoded_value",
                               unknown_value=-1, encoded_missing_value=-2), ["Cabin"]),
        ("ord2", OrdinalEncoder(dtype=np.int32), ["Sex"]),
        ("num", SimpleImputer(), ["Age", "Fare"]),
    ])
    est = make_pipeline(pre, LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


SKEW_VARIANTS["onehot_infrequent"] = onehot_infrequent
SKEW_VARIANTS["onehot_infrequent_drop_dtypes"] = onehot_infrequent_drop_dtypes


def category_dtypes(X, y):
    """--dtypes with pandas category dtypes: Sex and Embarked as string categories,
    Pclass as the categories [1, 2, 3]: the tutorial's astype(dtypes) turns any other
    value (an unknown string, a number for Sex, "3" or true for Pclass) into NaN, which
    the imputer then fills."""
    Xc = X.copy()
    for c in ("Sex", "Embarked", "Pclass"):
        Xc[c] = Xc[c].astype("category")
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Embarked"]),
        ("pc", make_pipeline(SimpleImputer(strategy="most_frequent"),
                             OneHotEncoder(handle_unknown="ignore")), ["Pclass"]),
        ("num", SimpleImputer(), ["Age", "Fare"]),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, Xc, y), Xc, y, True)


SKEW_VARIANTS["category_dtypes"] = category_dtypes


def nullable_dtypes(X, y):
    """--dtypes with pandas nullable dtypes: SibSp and Parch as Int64 (2.5, "3.0" or 1e20
    fail the tutorial's astype: refused rows; " 3 " and "1_0" are int() literals), Age as
    Float64 (read like float64), Alone as boolean (only true, false, 0 and 1)."""
    Xn = X.copy()
    Xn["SibSp"] = Xn["SibSp"].astype("Int64")
    Xn["Parch"] = Xn["Parch"].astype("Int64")
    Xn["Age"] = Xn["Age"].astype("Float64")
    Xn["Alone"] = ((X["SibSp"] + X["Parch"]) == 0).astype("boolean")
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["Age", "SibSp", "Parch"]),
        ("alone", SimpleImputer(strategy="most_frequent"), ["Alone"]),
        _sex(),
    ], sparse_threshold=0)
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, Xn, y), Xn, y, True)


SKEW_VARIANTS["nullable_dtypes"] = nullable_dtypes
