"""The pipeline variants of the parity suite.

Each variant is a function (X, y) -> Variant: the estimator fitted on the
Titanic features (or a frame derived from them).  Together they cover every
class and option predict-export supports (see the table in each docstring
and the coverage test in test_parity.py).
"""

import collections
import warnings

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder,
                                   RobustScaler, StandardScaler)

CAT = ["Sex", "Cabin", "Embarked"]
NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]

Variant = collections.namedtuple("Variant", "estimator X y use_dtypes")


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def tutorial(X, y):
    """The tutorial: constant-string imputer + sparse OHE(ignore), mean imputer; lbfgs.
    CT output sparse, remainder drop."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])
    return Variant(_fit(make_pipeline(pre, LogisticRegression(max_iter=1000)), X, y), X, y, True)


def median_indicator_drop_first(X, y):
    """median + add_indicator (numeric), most_frequent (string), dense OHE drop='first'
    with handle_unknown='error'; liblinear."""
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="median", add_indicator=True), ["Age", "Fare", "Pclass"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(drop="first", handle_unknown="error",
                                            sparse_output=False)), ["Sex", "Embarked"]),
    ])
    est = make_pipeline(pre, LogisticRegression(solver="liblinear"))
    return Variant(_fit(est, X, y), X, y, False)


def most_frequent_numeric_if_binary(X, y):
    """most_frequent numeric + OHE numeric categories, OHE drop='if_binary' with the
    deprecated `sparse` name, constant numeric fill with add_indicator; saga."""
    pre = ColumnTransformer([
        ("pc", make_pipeline(SimpleImputer(strategy="most_frequent"),
                             OneHotEncoder(sparse=False, drop="if_binary",
                                           handle_unknown="ignore")), ["Pclass", "SibSp"]),
        ("sex", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(drop="if_binary")), ["Sex"]),
        ("age", SimpleImputer(strategy="constant", fill_value=-1, add_indicator=True),
         ["Age", "Fare"]),
    ])
    est = make_pipeline(pre, LogisticRegression(solver="saga", max_iter=200, tol=1e-3))
    return Variant(_fit(est, X, y), X, y, True)


def onehot_direct_nan_drop_array(X, y):
    """OHE with no imputer: object column with NaN category, numeric (float) categories
    with NaN category, int categories with drop array and handle_unknown='error', a column
    used twice; newton-cg."""
    pre = ColumnTransformer([
        ("emb", OneHotEncoder(handle_unknown="ignore"), ["Embarked"]),
        ("age", OneHotEncoder(handle_unknown="ignore"), ["Age"]),
        ("pc", OneHotEncoder(drop=[2], handle_unknown="error"), ["Pclass"]),
        ("sexemb", OneHotEncoder(drop=["male", "S"], sparse_output=False), ["Sex", "Embarked"]),
        ("fare", SimpleImputer(strategy="median"), ["Fare"]),
    ])
    est = make_pipeline(pre, LogisticRegression(solver="newton-cg"))
    return Variant(_fit(est, X, y), X, y, False)


def ordinal_robust(X, y):
    """OrdinalEncoder handle_unknown='error' with encoded_missing_value, and
    use_encoded_value with unknown_value/encoded_missing_value; dense RobustScaler;
    'passthrough' entry; class_weight='balanced'."""
    pre = ColumnTransformer([
        ("ord_err", OrdinalEncoder(encoded_missing_value=-1), ["Sex", "Embarked"]),
        ("ord_use", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                   encoded_missing_value=-2), ["Cabin"]),
        ("num", make_pipeline(SimpleImputer(), RobustScaler()), ["Age", "Fare"]),
        ("pc", "passthrough", ["Pclass"]),
    ])
    est = make_pipeline(pre, LogisticRegression(class_weight="balanced", max_iter=1000))
    return Variant(_fit(est, X, y), X, y, True)


def ordinal_nan_minmax_maxabs(X, y):
    """OrdinalEncoder unknown_value=NaN then SimpleImputer (imputer after an encoder) and
    StandardScaler; MinMaxScaler with clip and with a custom range; dense MaxAbsScaler."""
    pre = ColumnTransformer([
        ("ord", make_pipeline(OrdinalEncoder(handle_unknown="use_encoded_value",
                                             unknown_value=np.nan),
                              SimpleImputer(strategy="most_frequent"), StandardScaler()),
         ["Embarked", "Sex", "Cabin"]),
        ("num", make_pipeline(SimpleImputer(), MinMaxScaler(clip=True)), ["Age", "Fare"]),
        ("n2", make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler(feature_range=(-1, 2))),
         ["SibSp", "Parch"]),
        ("pc", MaxAbsScaler(), ["Pclass"]),
    ])
    est = make_pipeline(pre, LogisticRegression(C=0.5, max_iter=1000))
    return Variant(_fit(est, X, y), X, y, False)


def sparse_scalers(X, y):
    """Scalers on sparse one-hot output (multiply by 1/scale_): StandardScaler(with_mean=False),
    MaxAbsScaler, RobustScaler(with_centering=False); dense StandardScaler; fit_intercept=False."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore"),
                              StandardScaler(with_mean=False)), ["Sex", "Embarked", "Cabin"]),
        ("cat2", make_pipeline(SimpleImputer(strategy="most_frequent"),
                               OneHotEncoder(handle_unknown="ignore"), MaxAbsScaler()),
         ["Embarked"]),
        ("cat3", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                               OneHotEncoder(handle_unknown="ignore"),
                               RobustScaler(with_centering=False, quantile_range=(10.0, 90.0))),
         ["Sex"]),
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUM),
    ])
    est = make_pipeline(pre, LogisticRegression(fit_intercept=False, max_iter=2000))
    return Variant(_fit(est, X, y), X, y, True)


def scaler_after_sparse_ct_multinomial(X, y):
    """A scaler over every feature of a sparse ColumnTransformer output (multiply on every
    block, arrays after one_hot); multinomial (softmax) link."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])
    est = make_pipeline(pre, StandardScaler(with_mean=False),
                        LogisticRegression(multi_class="multinomial", max_iter=2000))
    return Variant(_fit(est, X, y), X, y, False)


def scalers_after_dense_ct(X, y):
    """StandardScaler then MaxAbsScaler over a dense ColumnTransformer output
    (sparse_threshold=0, so the sparse OHE is densified), including a one-hot block of
    width 1 (drop='if_binary' on Sex); newton-cholesky."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore", drop="if_binary")),
         ["Sex", "Embarked"]),
        ("num", SimpleImputer(strategy="median"), NUM),
    ], sparse_threshold=0)
    est = make_pipeline(pre, StandardScaler(), MaxAbsScaler(),
                        LogisticRegression(solver="newton-cholesky"))
    return Variant(_fit(est, X, y), X, y, True)


def remainder_passthrough_selectors(X, y):
    """Column selection by callable (make_column_selector), integer index and boolean
    mask; a 'drop' entry; a 'passthrough' entry; remainder='passthrough'."""
    cols = list(X.columns)
    mask = [c == "Age" for c in cols]
    pre = ColumnTransformer([
        ("sex", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(pattern="^Sex$")),
        ("emb", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), [cols.index("Embarked")]),
        ("age", SimpleImputer(strategy="mean"), mask),
        ("nocabin", "drop", ["Cabin"]),
        ("fare", "passthrough", ["Fare"]),
    ], remainder="passthrough")
    est = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, False)


def remainder_transformer(X, y):
    """remainder=a Pipeline (median imputer + StandardScaler); a pipeline with a
    'passthrough' step; lbfgs with C=10."""
    pre = ColumnTransformer([
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                          ("nothing", "passthrough"),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]),
         ["Sex", "Embarked"]),
        ("cabin", "drop", ["Cabin"]),
    ], remainder=make_pipeline(SimpleImputer(strategy="median"), StandardScaler()))
    est = Pipeline([("pre", pre), ("skip", None), ("lr", LogisticRegression(C=10, max_iter=2000))])
    return Variant(_fit(est, X, y), X, y, True)


def string_labels(X, y):
    """String class labels, positive class 'dead' (= classes_[1], not survival); a string
    imputer with add_indicator followed by an OHE, which also encodes the indicators."""
    labels = np.where(y.to_numpy() == 1, "alive", "dead").astype(object)
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing",
                                            add_indicator=True),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), NUM),
    ])
    est = make_pipeline(pre, LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X, labels), X, labels, True)


def bare_estimator(X, y):
    """A bare LogisticRegression (no Pipeline) fitted on numeric columns without NaN."""
    Xn = X[["Pclass", "SibSp", "Parch", "Fare"]]
    return Variant(_fit(LogisticRegression(max_iter=1000), Xn, y), Xn, y, False)


def empty_feature_mixed_imputer(X, y):
    """A column all missing in training: dropped by a mean imputer (its indicator kept),
    kept as 0 by keep_empty_features; a most_frequent imputer over a mixed int/object frame
    (object statistics, object categories holding ints); boolean labels."""
    X2 = X.copy()
    X2["Deck"] = np.nan
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="mean", add_indicator=True), ["Age", "Deck", "Fare"]),
        ("keep", SimpleImputer(strategy="median", keep_empty_features=True), ["Deck", "SibSp"]),
        ("mixed", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                OneHotEncoder(handle_unknown="ignore")),
         ["Pclass", "Sex", "Embarked"]),
    ])
    yb = y.to_numpy() == 1
    est = make_pipeline(pre, LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X2, yb), X2, yb, True)


def mixed_imputer_inferred_types(X, y):
    """empty_feature_mixed_imputer exported without --dtypes: Pclass, imputed as an object
    together with Sex and Embarked, is inferred to be a string column holding numbers
    (numeric categories in a string column)."""
    return empty_feature_mixed_imputer(X, y)._replace(use_dtypes=False)


def nested_sparse_maxabs(X, y):
    """A ColumnTransformer inside a Pipeline inside a ColumnTransformer; sparse_threshold=1
    keeps the output sparse; MaxAbsScaler after it multiplies every block (numeric ones too);
    user-given string categories in a non-sorted order and handle_unknown='infrequent_if_exist'
    (no infrequent categories: behaves as 'ignore')."""
    inner = ColumnTransformer([
        ("sex", OneHotEncoder(categories=[["male", "female"]],
                              handle_unknown="infrequent_if_exist"), [0]),
        ("emb", OneHotEncoder(categories=[["S", "Q", "C", "missing"]], handle_unknown="ignore"),
         [1]),
    ], sparse_threshold=1.0)
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), inner),
         ["Sex", "Embarked"]),
        ("num", make_pipeline(SimpleImputer(strategy="mean"), "passthrough"), ["Age", "Fare", "Pclass"]),
    ], sparse_threshold=1.0)
    est = make_pipeline(pre, MaxAbsScaler(), LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, False)


def pipeline_without_column_transformer(X, y):
    """No ColumnTransformer: the Pipeline's first step reads the whole (all-string) frame;
    a nested Pipeline as the last step (its scaler then the estimator)."""
    X3 = X[["Sex", "Embarked", "Cabin"]]
    est = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ("model", make_pipeline(StandardScaler(with_mean=False),
                                LogisticRegression(solver="liblinear", C=0.3))),
    ])
    return Variant(_fit(est, X3, y), X3, y, True)


VARIANTS = collections.OrderedDict((f.__name__, f) for f in [
    tutorial, median_indicator_drop_first, most_frequent_numeric_if_binary,
    onehot_direct_nan_drop_array, ordinal_robust, ordinal_nan_minmax_maxabs, sparse_scalers,
    scaler_after_sparse_ct_multinomial, scalers_after_dense_ct, remainder_passthrough_selectors,
    remainder_transformer, string_labels, bare_estimator, empty_feature_mixed_imputer,
    mixed_imputer_inferred_types, nested_sparse_maxabs, pipeline_without_column_transformer,
])

# the exporter's front door (search objects, LogisticRegressionCV): variants_front.py
from variants_front import FRONT_VARIANTS  # noqa: E402

VARIANTS.update(FRONT_VARIANTS)
