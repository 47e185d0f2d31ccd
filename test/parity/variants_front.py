"""Parity variants of the exporter's front door (issue 18): what users pickle.

A fitted search object exports its best_estimator_; LogisticRegressionCV
exports as the LogisticRegression it is.  Registered in variants.py
(FRONT_VARIANTS, logistic models) and tree_variants.py (FRONT_TREE_VARIANTS).
"""

import collections

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from variants import CAT, NUM, Variant, _fit


def _tutorial_pre():
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])


def grid_search_tutorial(X, y):
    """GridSearchCV over the tutorial pipeline (C and the imputer's strategy), refit:
    the document is its best_estimator_."""
    search = GridSearchCV(make_pipeline(_tutorial_pre(), LogisticRegression(max_iter=1000)),
                          {"logisticregression__C": [0.05, 1.0],
                           "columntransformer__num__strategy": ["mean", "median"]}, cv=3)
    return Variant(_fit(search, X, y), X, y, True)


def logistic_regression_cv(X, y):
    """LogisticRegressionCV (lbfgs, multi_class auto: the logistic link) after dense
    scaling; a randomized search around it picks the scaler option."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         ["Sex", "Embarked"]),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
    ])
    return Variant(_fit(make_pipeline(pre, LogisticRegressionCV(Cs=4, cv=3, max_iter=1000)),
                        X, y), X, y, False)


def logistic_regression_cv_multinomial_in_search(X, y):
    """LogisticRegressionCV(multi_class='multinomial') (the softmax link) as the final
    step of a RandomizedSearchCV's best pipeline."""
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), NUM),
    ])
    search = RandomizedSearchCV(
        make_pipeline(pre, LogisticRegressionCV(Cs=3, cv=3, multi_class="multinomial",
                                                max_iter=1000)),
        {"columntransformer__num__simpleimputer__strategy": ["mean", "median"]},
        n_iter=2, cv=2, random_state=0)
    return Variant(_fit(search, X, y), X, y, True)


FRONT_VARIANTS = collections.OrderedDict((f.__name__, f) for f in [
    grid_search_tutorial, logistic_regression_cv, logistic_regression_cv_multinomial_in_search,
])


def decision_tree_unlimited(X, y):
    """An unlimited-depth tree: leaves with a 50/50 split score exactly 0.5, and
    predict() takes classes_[0] there (argmax takes the first)."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])
    return Variant(_fit(make_pipeline(pre, DecisionTreeClassifier(random_state=0)), X, y),
                   X, y, True)


FRONT_TREE_VARIANTS = {f.__name__: f for f in [decision_tree_unlimited]}
