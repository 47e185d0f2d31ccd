"""The feature-stage variants of the parity suite (issue 18, item 5).

Each variant is a function (X, y) -> Variant like those of variants.py: a
pipeline with transformers of the whole feature vector between the
ColumnTransformer and the estimator (the document's "transforms"):
the selectors, FeatureUnion, PolynomialFeatures, scalers after them, PCA and
Normalizer.  They are registered in two groups:

- FEATURE_VARIANTS: logistic regression, run with variants.py's (test_parity.py);
- FEATURE_TREE_VARIANTS: trees after selections and PolynomialFeatures (whose
  products are exact), run with tree_variants.py's (test_trees.py); the
  threshold rows of adversarial.py aim at the features that equal a block's
  (adversarial.stage_sources).  No tree follows PCA or Normalizer: the
  exporter refuses that (their sums are BLAS's, whose last bits may differ).

All of them also run in the managed suite (test/managed/test_sql_scorer.py).
"""

import collections
import warnings

from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                              HistGradientBoostingClassifier, RandomForestClassifier)
from sklearn.feature_selection import (SelectFromModel, SelectKBest, SelectPercentile,
                                       VarianceThreshold, f_classif)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, Normalizer, OneHotEncoder,
                                   OrdinalEncoder, PolynomialFeatures, SplineTransformer,
                                   StandardScaler)
from sklearn.tree import DecisionTreeClassifier

# variants.py imports this file to register its variants: its names are not
# imported from there (a cycle when this file is imported first)
CAT = ["Sex", "Cabin", "Embarked"]
NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]

Variant = collections.namedtuple("Variant", "estimator X y use_dtypes")   # variants.Variant's fields


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _dense_pre():
    """Dense one-hot of Sex and Embarked, imputed numbers, Parch passed through (NaN
    and infinity reach the stage from it)."""
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["Sex", "Embarked"]),
        ("num", SimpleImputer(strategy="median"), ["Pclass", "Age", "SibSp", "Fare"]),
        ("pass", "passthrough", ["Parch"]),
    ])


def _sparse_pre():
    """The tutorial's preprocessing: sparse one-hot (Cabin's many categories), means."""
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])


# ---------- logistic regression ----------

def feat_select_kbest_sparse(X, y):
    """SelectKBest(f_classif, k=12) on the tutorial's sparse output (its check refuses
    NaN and infinity), then LogisticRegression."""
    est = make_pipeline(_sparse_pre(), SelectKBest(f_classif, k=12),
                        LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_variance_percentile(X, y):
    """VarianceThreshold(0.2) (its check lets NaN and infinity through), then
    SelectPercentile(50) (refuses them), on dense output with a passthrough column."""
    est = make_pipeline(_dense_pre(), VarianceThreshold(0.2), SelectPercentile(percentile=50),
                        LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_union_weighted(X, y):
    """FeatureUnion of SelectKBest(k=3), a nested Pipeline (VarianceThreshold then
    SelectFromModel(LogisticRegression l1)), 'passthrough' and a dropped part, with
    transformer_weights."""
    union = FeatureUnion([
        ("kbest", SelectKBest(k=3)),
        ("model", make_pipeline(VarianceThreshold(), SelectFromModel(
            LogisticRegression(penalty="l1", solver="liblinear", C=0.05)))),
        ("pass", "passthrough"),
        ("none", "drop"),
    ], transformer_weights={"kbest": 2.0, "pass": 0.5})
    est = make_pipeline(_dense_pre(), union, LogisticRegression(max_iter=2000))
    return Variant(_fit(est, X, y), X, y, False)


def feat_poly_scaled(X, y):
    """PolynomialFeatures(degree=2) on dense output, then StandardScaler over the
    products (scikit-learn's usual recipe), then LogisticRegression."""
    est = make_pipeline(_dense_pre(), PolynomialFeatures(degree=2), StandardScaler(),
                        LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_poly_interaction_sparse(X, y):
    """PolynomialFeatures(interaction_only=True, include_bias=False) on a sparse
    ColumnTransformer output (degree 2), then MaxAbsScaler (sparse: multiply)."""
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["Sex", "Embarked"]),
        ("num", SimpleImputer(strategy="median"), ["Pclass", "Age", "Fare"]),
    ], sparse_threshold=1.0)
    est = make_pipeline(pre, PolynomialFeatures(interaction_only=True, include_bias=False),
                        MaxAbsScaler(), LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, False)


def feat_poly3_minmax(X, y):
    """PolynomialFeatures(degree=(2, 3)) of three scaled numbers (min_degree 2: the
    tail of the terms), MinMaxScaler(clip=True) after it; multinomial."""
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["Age", "Fare", "Pclass"]),
    ])
    est = make_pipeline(pre, PolynomialFeatures(degree=(2, 3)), MinMaxScaler(clip=True),
                        LogisticRegression(multi_class="multinomial", max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_pca_whiten(X, y):
    """StandardScaler over the vector, then PCA(n_components=6, whiten=True)."""
    est = make_pipeline(_dense_pre(), StandardScaler(), PCA(n_components=6, whiten=True),
                        LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_pca_normalizer(X, y):
    """Normalizer (l2, dense) then PCA(3) without whitening, in a FeatureUnion with
    Normalizer('max')."""
    union = FeatureUnion([("pca", make_pipeline(Normalizer(), PCA(n_components=3))),
                          ("max", Normalizer(norm="max"))])
    est = make_pipeline(_dense_pre(), union, LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X, y), X, y, False)


def feat_normalizer_l1_sparse(X, y):
    """Normalizer('l1') on the tutorial's sparse output (zero norms only are left)."""
    est = make_pipeline(_sparse_pre(), Normalizer(norm="l1"), LogisticRegression(max_iter=1000))
    return Variant(_fit(est, X, y), X, y, True)


# ---------- trees after selections ----------

def feat_select_from_model_tree(X, y):
    """SelectFromModel(ExtraTreesClassifier, threshold='median') then a
    DecisionTreeClassifier(max_depth=6): the trees read the selected features."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["Sex", "Embarked"]),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
    ])
    est = make_pipeline(pre, SelectFromModel(ExtraTreesClassifier(n_estimators=10, random_state=3),
                                             threshold="median"),
                        DecisionTreeClassifier(max_depth=6, random_state=4))
    return Variant(_fit(est, X, y), X, y, True)


def feat_kbest_forest(X, y):
    """SelectKBest(k=10) of the tutorial's sparse output, then a RandomForest."""
    est = make_pipeline(_sparse_pre(), SelectKBest(k=10), RandomForestClassifier(
        n_estimators=15, max_depth=6, random_state=5))
    return Variant(_fit(est, X, y), X, y, True)


def feat_variance_hgb(X, y):
    """VarianceThreshold then HistGradientBoosting on passthrough numbers with missing
    values (NaN passes both: neither checks it)."""
    pre = ColumnTransformer([
        ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         ["Sex", "Embarked"]),
        ("num", "passthrough", ["Pclass", "Age", "SibSp", "Parch", "Fare"]),
    ])
    est = make_pipeline(pre, VarianceThreshold(0.3), HistGradientBoostingClassifier(
        max_iter=30, max_depth=4, random_state=6))
    return Variant(_fit(est, X, y), X, y, True)


def feat_poly_tree(X, y):
    """PolynomialFeatures(degree=3) then a DecisionTreeClassifier: the products are
    exact, so the float32 comparisons are scikit-learn's to the bit."""
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), ["Pclass", "Age", "SibSp", "Fare"]),
        ("sex", OrdinalEncoder(), ["Sex"]),
    ])
    est = make_pipeline(pre, PolynomialFeatures(degree=3),
                        DecisionTreeClassifier(max_depth=8, random_state=7))
    return Variant(_fit(est, X, y), X, y, True)


def feat_poly_boosting(X, y):
    """Numbers imputed and standardized in their blocks, PolynomialFeatures(2), then
    GradientBoosting."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["Sex", "Embarked"]),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ["Pclass", "Age", "SibSp", "Fare"]),
    ])
    est = make_pipeline(pre, PolynomialFeatures(2),
                        GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=8))
    return Variant(_fit(est, X, y), X, y, True)


def feat_poly_hgb(X, y):
    """PolynomialFeatures(interaction_only=True) then HistGradientBoosting."""
    est = make_pipeline(_dense_pre(), PolynomialFeatures(interaction_only=True),
                        HistGradientBoostingClassifier(max_iter=30, random_state=9))
    return Variant(_fit(est, X, y), X, y, False)


FEATURE_VARIANTS = {f.__name__: f for f in [
    feat_select_kbest_sparse, feat_variance_percentile, feat_union_weighted, feat_poly_scaled,
    feat_poly_interaction_sparse, feat_poly3_minmax, feat_pca_whiten, feat_pca_normalizer,
    feat_normalizer_l1_sparse,
]}

FEATURE_TREE_VARIANTS = {f.__name__: f for f in [
    feat_select_from_model_tree, feat_kbest_forest, feat_variance_hgb, feat_poly_tree,
    feat_poly_boosting, feat_poly_hgb,
]}


# ---------- SplineTransformer (managed mode refuses the periodic ones) ----------

def _spline_pre():
    return ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), ["Age", "Fare"]),
        ("pass", "passthrough", ["Pclass"]),
    ])


def feat_spline_constant(X, y):
    """SplineTransformer(n_knots=5, degree=3), extrapolation 'constant' (the default)."""
    est = make_pipeline(_spline_pre(), SplineTransformer(n_knots=5, degree=3),
                        LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_spline_linear_quantile(X, y):
    """Quantile knots, extrapolation 'linear', include_bias=False, degree 2."""
    est = make_pipeline(_spline_pre(), SplineTransformer(
        n_knots=4, degree=2, knots="quantile", extrapolation="linear", include_bias=False),
        StandardScaler(), LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_spline_periodic_error(X, y):
    """A union of a periodic SplineTransformer(degree=2) and one with extrapolation
    'error' (values beyond the training range are refused)."""
    union = FeatureUnion([
        ("periodic", SplineTransformer(n_knots=6, degree=2, extrapolation="periodic")),
        ("error", SplineTransformer(n_knots=3, degree=1, extrapolation="error")),
    ])
    est = make_pipeline(_spline_pre(), union, LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, False)


def feat_spline_error(X, y):
    """SplineTransformer(n_knots=3, degree=1, extrapolation='error'): values beyond the
    training range are refused."""
    est = make_pipeline(_spline_pre(), SplineTransformer(n_knots=3, degree=1, extrapolation="error"),
                        LogisticRegression(max_iter=3000))
    return Variant(_fit(est, X, y), X, y, True)


def feat_spline_continue_tree(X, y):
    """Extrapolation 'continue' (polynomials beyond the knots) in a union with the
    features themselves, then a DecisionTreeClassifier."""
    union = FeatureUnion([("spline", SplineTransformer(n_knots=4, extrapolation="continue")),
                          ("pass", "passthrough")])
    est = make_pipeline(_spline_pre(), union, DecisionTreeClassifier(max_depth=7, random_state=10))
    return Variant(_fit(est, X, y), X, y, True)


FEATURE_VARIANTS.update({f.__name__: f for f in [
    feat_spline_constant, feat_spline_linear_quantile, feat_spline_periodic_error,
    feat_spline_error,
]})
FEATURE_TREE_VARIANTS.update({f.__name__: f for f in [feat_spline_continue_tree]})

# variants whose models managed mode refuses, with the message (test/managed)
SQL_REFUSED = {
    "feat_spline_periodic_error": "transforms[0].parts[0][0] is a periodic \"spline\" "
                                  "(SplineTransformer extrapolation=\"periodic\"), which the SQL "
                                  "scorer does not compile",
}
