"""The tree-estimator variants of the parity suite (issue 8).

Each variant is a function (X, y) -> Variant like those of variants.py: a tree
estimator fitted as the final step of a Titanic pipeline the core already
supports.  Between them they cover every tree estimator the exporter accepts
and the options that change the fitted trees: depth, max_features,
min_samples_leaf, class_weight, criterion, bootstrap, subsampling, the
boosting init and loss names, early stopping, and for HistGradientBoosting
missing values reaching it and categorical features (encoded by an
OrdinalEncoder, or numbers passed through unchanged, whose codes scikit-learn
truncates).  Forests stay small (at most 30 trees) to keep the suite fast.
"""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                              HistGradientBoostingClassifier, RandomForestClassifier)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler,
                                   StandardScaler)
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from variants import CAT, NUM, Variant, _fit


def _tutorial_pre():
    """The tutorial's preprocessing: constant imputer + sparse one-hot, mean imputer."""
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])


def _scaled_pre():
    """Dense one-hot, and numbers imputed then scaled: the trees see transformed values,
    cast to float32 after the scaler."""
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["Sex", "Embarked"]),
        ("std", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["Age", "Fare"]),
        ("mm", make_pipeline(SimpleImputer(), MinMaxScaler()), ["SibSp", "Parch"]),
        ("pc", "passthrough", ["Pclass"]),
    ])


def decision_tree_depth3(X, y):
    """DecisionTreeClassifier(max_depth=3) on the tutorial's (sparse) preprocessing."""
    est = make_pipeline(_tutorial_pre(), DecisionTreeClassifier(max_depth=3, random_state=0))
    return Variant(_fit(est, X, y), X, y, True)


def decision_tree_deep_entropy_balanced(X, y):
    """Unlimited depth, entropy, min_samples_leaf=2, class_weight='balanced', on scaled
    features (the float32 cast comes after StandardScaler and MinMaxScaler)."""
    est = make_pipeline(_scaled_pre(), DecisionTreeClassifier(
        criterion="entropy", min_samples_leaf=2, class_weight="balanced", random_state=1))
    return Variant(_fit(est, X, y), X, y, True)


def extra_tree_single(X, y):
    """ExtraTreeClassifier(max_features='sqrt', max_depth=8) with ordinal-encoded strings
    and a RobustScaler."""
    pre = ColumnTransformer([
        ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                               encoded_missing_value=-2), ["Sex", "Embarked", "Cabin"]),
        ("num", make_pipeline(SimpleImputer(), RobustScaler()), NUM),
    ])
    est = make_pipeline(pre, ExtraTreeClassifier(max_features="sqrt", max_depth=8, random_state=2))
    return Variant(_fit(est, X, y), X, y, False)


def random_forest_depth6_sqrt(X, y):
    """RandomForestClassifier: 30 trees of depth 6, max_features='sqrt', min_samples_leaf=3,
    class_weight='balanced_subsample', tutorial preprocessing."""
    est = make_pipeline(_tutorial_pre(), RandomForestClassifier(
        n_estimators=30, max_depth=6, max_features="sqrt", min_samples_leaf=3,
        class_weight="balanced_subsample", random_state=3))
    return Variant(_fit(est, X, y), X, y, True)


def random_forest_deep_scaled(X, y):
    """RandomForestClassifier: 20 unlimited trees, max_features=0.5, max_samples=0.7,
    criterion='log_loss', on scaled features."""
    est = make_pipeline(_scaled_pre(), RandomForestClassifier(
        n_estimators=20, max_features=0.5, max_samples=0.7, criterion="log_loss",
        random_state=4))
    return Variant(_fit(est, X, y), X, y, False)


def extra_trees_weighted(X, y):
    """ExtraTreesClassifier: 25 trees of depth 10, class_weight={0: 1, 1: 3},
    bootstrap=True, max_features=None."""
    est = make_pipeline(_tutorial_pre(), ExtraTreesClassifier(
        n_estimators=25, max_depth=10, class_weight={0: 1, 1: 3}, bootstrap=True,
        max_features=None, random_state=5))
    return Variant(_fit(est, X, y), X, y, True)


def gradient_boosting_default(X, y):
    """GradientBoostingClassifier: 40 stages of depth 3, the default prior init,
    tutorial (sparse) preprocessing."""
    est = make_pipeline(_tutorial_pre(), GradientBoostingClassifier(
        n_estimators=40, max_depth=3, random_state=6))
    return Variant(_fit(est, X, y), X, y, True)


def gradient_boosting_zero_init_subsample(X, y):
    """GradientBoostingClassifier(init='zero'), learning_rate=0.3, subsample=0.8,
    max_features='sqrt', min_samples_leaf=5, on scaled features."""
    est = make_pipeline(_scaled_pre(), GradientBoostingClassifier(
        init="zero", learning_rate=0.3, subsample=0.8, max_features="sqrt", max_depth=2,
        min_samples_leaf=5, n_estimators=30, random_state=7))
    return Variant(_fit(est, X, y), X, y, False)


def gradient_boosting_dummy_init_early_stop(X, y):
    """GradientBoostingClassifier: the deprecated loss name 'deviance', an explicit
    DummyClassifier(strategy="prior") init, early stopping (n_iter_no_change)
    so that estimators_ is shorter than n_estimators."""
    est = make_pipeline(_tutorial_pre(), GradientBoostingClassifier(
        loss="deviance", init=DummyClassifier(strategy="prior"),
        n_estimators=200, n_iter_no_change=3, validation_fraction=0.2, max_depth=2,
        random_state=8))
    return Variant(_fit(est, X, y), X, y, True)


def hist_gradient_boosting_missing(X, y):
    """HistGradientBoostingClassifier on numbers passed through with their missing
    values (Age), Cabin's ordinal code as a number that is NaN when missing or unknown,
    and one-hot strings (dense): missing values reach the estimator.  max_bins=4 makes
    "splits on NaN" (every non-missing value left: threshold +inf) likely."""
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["Sex", "Embarked"]),
        ("cabin", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
         ["Cabin"]),
        ("num", "passthrough", NUM),
    ])
    est = make_pipeline(pre, HistGradientBoostingClassifier(
        max_iter=40, max_leaf_nodes=15, max_bins=4, random_state=9))
    return Variant(_fit(est, X, y), X, y, True)


def hist_gradient_boosting_categorical(X, y):
    """HistGradientBoostingClassifier with categorical_features (indices): Sex, Embarked
    and Cabin ordinal-encoded (unknown -> -1, missing -> NaN), and SibSp and Parch passed
    through as categories (raw numbers: truncated codes, negative, large); Age with
    missing values; l2_regularization, min_samples_leaf."""
    pre = ColumnTransformer([
        ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         ["Sex", "Embarked", "Cabin"]),
        ("cnt", "passthrough", ["SibSp", "Parch"]),
        ("num", "passthrough", ["Pclass", "Age", "Fare"]),
    ])
    est = make_pipeline(pre, HistGradientBoostingClassifier(
        categorical_features=[0, 1, 2, 3, 4], max_iter=50, l2_regularization=0.5,
        min_samples_leaf=10, learning_rate=0.2, random_state=10))
    return Variant(_fit(est, X, y), X, y, True)


def hist_gradient_boosting_mask_early_stop(X, y):
    """HistGradientBoostingClassifier with a boolean categorical mask, imputed numbers
    (no missing values at fit: missing values at predict go the learned default way),
    early stopping on a validation split, max_depth=4, max_bins=64."""
    pre = ColumnTransformer([
        ("ord", make_pipeline(SimpleImputer(strategy="most_frequent"), OrdinalEncoder()),
         ["Sex", "Embarked"]),
        ("num", SimpleImputer(strategy="median"), NUM),
    ])
    mask = np.array([True, True, False, False, False, False, False])
    est = make_pipeline(pre, HistGradientBoostingClassifier(
        categorical_features=mask, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=5, max_iter=200, max_depth=4, max_bins=64, random_state=11))
    return Variant(_fit(est, X, y), X, y, False)


TREE_VARIANTS = {f.__name__: f for f in [
    decision_tree_depth3, decision_tree_deep_entropy_balanced, extra_tree_single,
    random_forest_depth6_sqrt, random_forest_deep_scaled, extra_trees_weighted,
    gradient_boosting_default, gradient_boosting_zero_init_subsample,
    gradient_boosting_dummy_init_early_stop, hist_gradient_boosting_missing,
    hist_gradient_boosting_categorical, hist_gradient_boosting_mask_early_stop,
]}

# the exporter's front door (predict()'s ties): variants_front.py
from variants_front import FRONT_TREE_VARIANTS  # noqa: E402

TREE_VARIANTS.update(FRONT_TREE_VARIANTS)
