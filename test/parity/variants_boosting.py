"""The boosted-tree variants of the parity suite (issue 18): XGBoost's
XGBClassifier, AdaBoostClassifier, and GradientBoostingClassifier's other
losses and inits.

Each variant is a function (X, y) -> Variant like those of tree_variants.py.
XGBoost runs on one thread (n_jobs=1) and its models stay small (at most 60
trees) to keep the suite fast.  The XGBoost variants cover sparse input (the
tutorial's one-hot, whose zeros XGBoost reads as missing), dense input with
missing values reaching the trees (learned default directions), a base_score
other than 0.5, the exact and hist tree methods, row and column subsampling,
and early stopping (predict_proba uses best_iteration + 1 rounds).

GB_INIT_VARIANTS give GradientBoostingClassifier an init estimator whose raw
prediction depends on the row (the document's "init" is then that
estimator, scored on the float32 features scikit-learn hands it); managed
mode refuses them by name (MANAGED_REFUSED).

BOOSTING_COMPOSITE_VARIANTS put AdaBoost and the exponential loss inside the
composites (registered in variants_estimators.py): calibration reads their
decision_function.  XGBClassifier is refused there by name (test_exporter.py).
"""

import warnings

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, VotingClassifier
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.impute import SimpleImputer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

from variants import NUM, Variant, _fit

try:
    import xgboost
except ImportError:     # the suite then fails on these variants, saying why
    xgboost = None


def _tutorial_pre():
    # tree_variants imports this module to register its variants: import it late
    import tree_variants
    return tree_variants._tutorial_pre()


def _scaled_pre():
    import tree_variants
    return tree_variants._scaled_pre()


def _fit_with(est, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y, **fit_params)


def _xgb(**params):
    if xgboost is None:
        raise RuntimeError("xgboost is not installed (Debian: python3-xgboost)")
    params.setdefault("n_jobs", 1)
    return xgboost.XGBClassifier(**params)


def xgboost_tutorial_sparse(X, y):
    """XGBClassifier (40 trees of depth 4) on the tutorial's preprocessing, whose sparse
    output makes every zero a missing value for XGBoost (zero_is_missing)."""
    est = make_pipeline(_tutorial_pre(), _xgb(n_estimators=40, max_depth=4, random_state=0))
    return Variant(_fit(est, X, y), X, y, True)


def xgboost_dense_missing(X, y):
    """XGBClassifier on a dense matrix with missing values reaching the trees (Age and
    Fare passed through, Cabin's ordinal code NaN when missing or unknown), scaled
    numbers, base_score=0.3, the exact tree method, subsample and colsample_bytree,
    gamma, min_child_weight, reg_lambda."""
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["Sex", "Embarked"]),
        ("cabin", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
         ["Cabin"]),
        ("std", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ["SibSp", "Parch"]),
        ("num", "passthrough", ["Pclass", "Age", "Fare"]),
    ])
    est = make_pipeline(pre, _xgb(
        n_estimators=60, max_depth=6, learning_rate=0.2, base_score=0.3, tree_method="exact",
        subsample=0.8, colsample_bytree=0.8, gamma=0.1, min_child_weight=2, reg_lambda=2.0,
        random_state=1))
    return Variant(_fit(est, X, y), X, y, False)


def xgboost_bare_early_stop(X, y):
    """A bare XGBClassifier on the number columns of a DataFrame (missing values
    included), hist tree method with max_bin=32, early stopping on the last 30% of the
    rows: predict_proba uses best_iteration + 1 of the rounds fitted."""
    Xn = X[NUM]
    cut = int(len(Xn) * 0.7)
    est = _xgb(n_estimators=200, max_depth=3, learning_rate=0.5, tree_method="hist", max_bin=32,
               early_stopping_rounds=5, random_state=2)
    est = _fit_with(est, Xn.iloc[:cut], y.iloc[:cut],
                    eval_set=[(Xn.iloc[cut:], y.iloc[cut:])], verbose=False)
    return Variant(est, Xn, y, True)


def xgboost_parallel_trees_early_stop(X, y):
    """XGBClassifier with num_parallel_tree=3 (each round a small forest: 3 trees),
    colsample_bynode and subsample, early stopping on the last 30% of the rows: the
    document keeps (best_iteration + 1) * 3 trees; dense ordinal-encoded strings."""
    pre = ColumnTransformer([
        ("ord", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
         ["Sex", "Embarked"]),
        ("num", "passthrough", NUM),
    ])
    cut = int(len(X) * 0.7)
    pre.fit(X.iloc[:cut])
    est = make_pipeline(pre, _xgb(
        n_estimators=100, num_parallel_tree=3, max_depth=3, learning_rate=0.6, subsample=0.8,
        colsample_bynode=0.7, early_stopping_rounds=4, random_state=12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X.iloc[:cut], y.iloc[:cut], xgbclassifier__verbose=False,
                xgbclassifier__eval_set=[(pre.transform(X.iloc[cut:]), y.iloc[cut:])])
    return Variant(est, X, y, True)


def adaboost_samme_r_stumps(X, y):
    """AdaBoostClassifier's defaults (SAMME.R, 50 depth-1 trees) on the tutorial's
    (sparse) preprocessing."""
    est = make_pipeline(_tutorial_pre(), AdaBoostClassifier(random_state=3))
    return Variant(_fit(est, X, y), X, y, True)


def adaboost_samme_depth3(X, y):
    """AdaBoostClassifier(algorithm='SAMME') over DecisionTreeClassifier(max_depth=3),
    learning_rate=0.5, 30 trees, on scaled dense features."""
    est = make_pipeline(_scaled_pre(), AdaBoostClassifier(
        estimator=DecisionTreeClassifier(max_depth=3), algorithm="SAMME", n_estimators=30,
        learning_rate=0.5, random_state=4))
    return Variant(_fit(est, X, y), X, y, False)


def adaboost_samme_r_extra_trees(X, y):
    """AdaBoostClassifier (SAMME.R) over ExtraTreeClassifier(max_depth=4), whose leaves
    can be pure (a class fraction of 0, clipped to eps before the log), 40 trees,
    learning_rate=0.7."""
    est = make_pipeline(_tutorial_pre(), AdaBoostClassifier(
        estimator=ExtraTreeClassifier(max_depth=4), n_estimators=40, learning_rate=0.7,
        random_state=5))
    return Variant(_fit(est, X, y), X, y, True)


def gradient_boosting_exponential(X, y):
    """GradientBoostingClassifier(loss='exponential'), the default prior init (half the
    log-odds), 40 stages of depth 3, tutorial (sparse) preprocessing."""
    est = make_pipeline(_tutorial_pre(), GradientBoostingClassifier(
        loss="exponential", n_estimators=40, max_depth=3, random_state=6))
    return Variant(_fit(est, X, y), X, y, True)


def gradient_boosting_exponential_constant_init(X, y):
    """GradientBoostingClassifier(loss='exponential') with init=DummyClassifier(
    strategy='constant', constant=1): a predict_proba of [0, 1], clipped to float32's eps
    before the log-odds; learning_rate=0.3, subsample=0.7, on scaled features."""
    est = make_pipeline(_scaled_pre(), GradientBoostingClassifier(
        loss="exponential", init=DummyClassifier(strategy="constant", constant=1),
        n_estimators=30, max_depth=2, learning_rate=0.3, subsample=0.7, random_state=7))
    return Variant(_fit(est, X, y), X, y, False)


def gradient_boosting_most_frequent_init(X, y):
    """GradientBoostingClassifier (log_loss) with init=DummyClassifier(
    strategy='most_frequent'), 25 stages of depth 4."""
    est = make_pipeline(_tutorial_pre(), GradientBoostingClassifier(
        init=DummyClassifier(strategy="most_frequent"), n_estimators=25, max_depth=4,
        random_state=8))
    return Variant(_fit(est, X, y), X, y, True)


BOOSTING_VARIANTS = {f.__name__: f for f in [
    xgboost_tutorial_sparse, xgboost_dense_missing, xgboost_bare_early_stop,
    xgboost_parallel_trees_early_stop,
    adaboost_samme_r_stumps, adaboost_samme_depth3, adaboost_samme_r_extra_trees,
    gradient_boosting_exponential, gradient_boosting_exponential_constant_init,
    gradient_boosting_most_frequent_init,
]}


def voting_adaboost_calibrated_exponential(X, y):
    """Soft voting (weights 2, 1) of AdaBoost (SAMME.R, 15 stumps) and a
    CalibratedClassifierCV(sigmoid, cv=2) of GradientBoosting(loss='exponential'), whose
    raw decision_function each fold's sigmoid maps."""
    vote = VotingClassifier([
        ("ada", AdaBoostClassifier(n_estimators=15, random_state=3)),
        ("gbe", CalibratedClassifierCV(GradientBoostingClassifier(
            loss="exponential", n_estimators=15, max_depth=2, random_state=6),
            method="sigmoid", cv=2)),
    ], voting="soft", weights=[2, 1])
    return Variant(_fit(make_pipeline(_scaled_pre(), vote), X, y), X, y, False)


def calibrated_adaboost_isotonic(X, y):
    """CalibratedClassifierCV(isotonic, cv=2) of AdaBoost (SAMME, 15 depth-2 trees): the
    decision_function before its halving, through np.interp."""
    cal = CalibratedClassifierCV(AdaBoostClassifier(
        estimator=DecisionTreeClassifier(max_depth=2), algorithm="SAMME", n_estimators=15,
        random_state=4), method="isotonic", cv=2)
    return Variant(_fit(make_pipeline(_scaled_pre(), cal), X, y), X, y, False)


BOOSTING_COMPOSITE_VARIANTS = {f.__name__: f for f in [
    voting_adaboost_calibrated_exponential, calibrated_adaboost_isotonic,
]}


def gradient_boosting_logistic_init(X, y):
    """GradientBoostingClassifier (log_loss) with init=LogisticRegression(): the log-odds
    of its predict_proba on the float32 scaled features, 30 stages of depth 3."""
    est = make_pipeline(_scaled_pre(), GradientBoostingClassifier(
        init=LogisticRegression(max_iter=1000), n_estimators=30, max_depth=3,
        random_state=9))
    return Variant(_fit(est, X, y), X, y, False)


def gradient_boosting_exponential_logistic_init(X, y):
    """GradientBoostingClassifier(loss='exponential') with init=LogisticRegression(C=0.5):
    half the log-odds, on the tutorial's sparse one-hot and raw numbers (a sparse
    float32 product), 25 stages of depth 2."""
    est = make_pipeline(_tutorial_pre(), GradientBoostingClassifier(
        loss="exponential", init=LogisticRegression(C=0.5, max_iter=2000), n_estimators=25,
        max_depth=2, learning_rate=0.2, random_state=10))
    return Variant(_fit(est, X, y), X, y, True)


def gradient_boosting_tree_init(X, y):
    """GradientBoostingClassifier with init=DecisionTreeClassifier(max_depth=3): leaf
    fractions of 0 and 1 clipped to float32's eps, 20 stages of depth 3."""
    est = make_pipeline(_scaled_pre(), GradientBoostingClassifier(
        init=DecisionTreeClassifier(max_depth=3, random_state=1), n_estimators=20,
        max_depth=3, random_state=11))
    return Variant(_fit(est, X, y), X, y, False)


def gradient_boosting_forest_init(X, y):
    """GradientBoostingClassifier with init=RandomForestClassifier(n_estimators=5,
    max_depth=3) on the tutorial's sparse preprocessing, 20 stages of depth 3."""
    est = make_pipeline(_tutorial_pre(), GradientBoostingClassifier(
        init=RandomForestClassifier(n_estimators=5, max_depth=3, random_state=2),
        n_estimators=20, max_depth=3, random_state=12))
    return Variant(_fit(est, X, y), X, y, True)


GB_INIT_VARIANTS = {f.__name__: f for f in [
    gradient_boosting_logistic_init, gradient_boosting_exponential_logistic_init,
    gradient_boosting_tree_init, gradient_boosting_forest_init,
]}

# variant -> what managed mode's refusal says (sql_codegen.c, check_compiled_type)
MANAGED_REFUSED = {name: "managed mode does not compile a gradient_boosting init estimator"
                   for name in GB_INIT_VARIANTS}
