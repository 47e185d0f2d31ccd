"""The models that explanations are checked on (issue 20): small Titanic pipelines.

Each function (X, y) -> fitted pipeline.  The linear ones have the shape of
models/train_titanic.py with a scaler on the numbers; the tree ones read the
strings through one-hot and ordinal encoders, so that several transformed
features (one-hot columns, a missing indicator) belong to one input column,
and the numbers unscaled, so that a split threshold is a raw value a test row
can hold.  Trees stay small: brute-force Shapley values enumerate 2^|F|
subsets per tree (shapley.MAX_PLAYERS).  UNEXPLAINABLE are models that
`--explain` must refuse.
"""

import warnings

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (AdaBoostClassifier, ExtraTreesClassifier,
                              GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

CAT = ["Sex", "Cabin", "Embarked"]
NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def linear_pre():
    """models/train_titanic.py's preprocessing, with the numbers also standardized."""
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), NUM),
    ])


def tree_pre():
    """Dense features for the standard trees (which refuse NaN in scikit-learn 1.2):
    one-hot Sex and Embarked, Cabin's ordinal code (unknown -1, missing -2), Age
    median-imputed with a missing indicator, Pclass, SibSp and Fare as they are.
    Parch is read by nothing: its contribution is always 0."""
    return ColumnTransformer([
        ("onehot", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                 OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["Sex", "Embarked"]),
        ("cabin", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                 encoded_missing_value=-2), ["Cabin"]),
        ("age", SimpleImputer(strategy="median", add_indicator=True), ["Age"]),
        ("num", SimpleImputer(strategy="median"), ["Pclass", "SibSp", "Fare"]),
    ])


def missing_pre():
    """Missing values reach the estimator: Age and Fare passed through with their NaN,
    Cabin's ordinal code NaN when missing or unknown, one-hot Sex and Embarked."""
    return ColumnTransformer([
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         ["Sex", "Embarked"]),
        ("cabin", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
         ["Cabin"]),
        ("num", "passthrough", ["Pclass", "Age", "SibSp", "Parch", "Fare"]),
    ])


def logistic(X, y):
    return _fit(make_pipeline(linear_pre(), LogisticRegression(max_iter=1000)), X, y)


def logistic_multinomial(X, y):
    """multi_class="multinomial": predict_proba is expit(2 * decision_function)."""
    return _fit(make_pipeline(linear_pre(), LogisticRegression(
        max_iter=1000, multi_class="multinomial")), X, y)


def decision_tree(X, y):
    return _fit(make_pipeline(tree_pre(), DecisionTreeClassifier(max_depth=4, random_state=0)),
                X, y)


def random_forest(X, y):
    return _fit(make_pipeline(tree_pre(), RandomForestClassifier(
        n_estimators=10, max_depth=4, random_state=1)), X, y)


def extra_trees(X, y):
    return _fit(make_pipeline(tree_pre(), ExtraTreesClassifier(
        n_estimators=10, max_depth=4, random_state=2)), X, y)


def gradient_boosting(X, y):
    """The default prior init, subsample: covers are the in-bag weights."""
    return _fit(make_pipeline(tree_pre(), GradientBoostingClassifier(
        n_estimators=10, max_depth=3, subsample=0.8, random_state=3)), X, y)


def gradient_boosting_exponential(X, y):
    """The exponential loss: predict_proba is expit(2 * decision_function)."""
    return _fit(make_pipeline(tree_pre(), GradientBoostingClassifier(
        loss="exponential", n_estimators=8, max_depth=3, random_state=4)), X, y)


def hist_gradient_boosting(X, y):
    """NaN reaches the trees: each split sends it its learned way."""
    return _fit(make_pipeline(missing_pre(), HistGradientBoostingClassifier(
        max_iter=10, max_leaf_nodes=12, random_state=5)), X, y)


def hist_gradient_boosting_categorical(X, y):
    """Categorical splits on ordinal codes (unknown -1: read as missing)."""
    pre = ColumnTransformer([
        ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         ["Sex", "Embarked"]),
        ("num", "passthrough", ["Pclass", "Age", "SibSp", "Fare"]),
    ])
    return _fit(make_pipeline(pre, HistGradientBoostingClassifier(
        categorical_features=[0, 1], max_iter=10, max_depth=4, random_state=6)), X, y)


def _xgb(**params):
    import xgboost
    return xgboost.XGBClassifier(n_jobs=1, **params)


def xgboost_dense(X, y):
    """Dense input with NaN: XGBoost's learned default directions."""
    return _fit(make_pipeline(missing_pre(), _xgb(n_estimators=10, max_depth=3,
                                                  random_state=7)), X, y)


def xgboost_sparse(X, y):
    """Sparse input (train_titanic.py's one-hot): XGBoost reads the zeros scipy does
    not store as missing values."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])
    return _fit(make_pipeline(pre, _xgb(n_estimators=10, max_depth=3, base_score=0.4,
                                        random_state=8)), X, y)


LINEAR = {f.__name__: f for f in [logistic, logistic_multinomial]}
TREES = {f.__name__: f for f in [
    decision_tree, random_forest, extra_trees, gradient_boosting, gradient_boosting_exponential,
    hist_gradient_boosting, hist_gradient_boosting_categorical, xgboost_dense, xgboost_sparse,
]}
MODELS = dict(LINEAR, **TREES)


def adaboost(X, y):
    return _fit(make_pipeline(tree_pre(), AdaBoostClassifier(n_estimators=5, random_state=9)),
                X, y)


def gaussian_nb(X, y):
    return _fit(make_pipeline(tree_pre(), GaussianNB()), X, y)


def pca_logistic(X, y):
    """A feature stage: the estimator's features mix several columns."""
    pre = ColumnTransformer([
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         ["Sex", "Embarked"]),
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUM),
    ])
    return _fit(make_pipeline(pre, PCA(n_components=3), LogisticRegression()), X, y)


UNEXPLAINABLE = {f.__name__: f for f in [adaboost, gaussian_nb, pca_logistic]}
