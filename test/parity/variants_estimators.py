"""The pipeline variants of issue 18's final estimators: SGDClassifier,
GaussianNB, soft VotingClassifier and CalibratedClassifierCV.

Each variant is a function (X, y) -> Variant, as in variants.py; they run in
the parity suite (test_estimators.py, through conftest's variant_run) and in
managed mode's suite (test/managed/test_sql_scorer.py), which compiles them
and expects those with a GaussianNB to be refused by name.  Fitting is kept
cheap: few trees, few folds.
"""

import warnings

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier, VotingClassifier)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from variants import CAT, NUM, Variant


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _dense(cat=("Sex", "Embarked")):
    """Dense one-hot (most frequent imputed) and standardized median-imputed numbers."""
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         list(cat)),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUM),
    ])


def sgd_log_loss_sparse(X, y):
    """SGDClassifier(loss='log_loss') after the tutorial's sparse preprocessing."""
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(with_mean=False)),
         NUM),
    ])
    est = make_pipeline(pre, SGDClassifier(loss="log_loss", alpha=1e-3, random_state=3))
    return Variant(_fit(est, X, y), X, y, True)


def sgd_modified_huber(X, y):
    """SGDClassifier(loss='modified_huber'): probabilities clipped to exactly 0 and 1."""
    est = make_pipeline(_dense(), SGDClassifier(loss="modified_huber", random_state=5))
    return Variant(_fit(est, X, y), X, y, True)


def gaussian_nb_wide(X, y):
    """GaussianNB over a dense one-hot Cabin (more than 128 features: numpy's pairwise
    sum splits the row) and the numbers."""
    est = make_pipeline(_dense(("Sex", "Embarked", "Cabin")), GaussianNB())
    return Variant(_fit(est, X, y), X, y, True)


def gaussian_nb_priors(X, y):
    """GaussianNB with given priors and var_smoothing, numbers only (fewer than 8)."""
    pre = ColumnTransformer([("num", SimpleImputer(strategy="median"), NUM)])
    est = make_pipeline(pre, GaussianNB(priors=[0.3, 0.7], var_smoothing=1e-3))
    return Variant(_fit(est, X, y), X, y, False)


def voting_soft_weighted(X, y):
    """Soft voting with weights over a logistic regression, a naive Bayes, a tree and a
    HistGradientBoosting after one shared ColumnTransformer."""
    vote = VotingClassifier([
        ("lr", LogisticRegression(max_iter=500)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=4, random_state=0)),
        ("hgb", HistGradientBoostingClassifier(max_iter=15, max_depth=3, random_state=0)),
    ], voting="soft", weights=[2, 1, 0.5, 1.5])
    return Variant(_fit(make_pipeline(_dense(), vote), X, y), X, y, True)


def voting_soft_forest_boosting(X, y):
    """Soft voting without weights, a dropped estimator, string class labels."""
    y2 = y.map({0: "dead", 1: "alive"})
    vote = VotingClassifier([
        ("rf", RandomForestClassifier(n_estimators=5, max_depth=5, random_state=1)),
        ("skip", "drop"),
        ("gb", GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=1)),
        ("sgd", SGDClassifier(loss="modified_huber", random_state=2)),
    ], voting="soft")
    return Variant(_fit(make_pipeline(_dense(), vote), X, y2), X, y2, True)


def calibrated_sigmoid_logistic(X, y):
    """CalibratedClassifierCV(sigmoid, cv=3): three folds, each a logistic regression's
    decision_function through its own sigmoid."""
    cal = CalibratedClassifierCV(LogisticRegression(max_iter=500), method="sigmoid", cv=3)
    return Variant(_fit(make_pipeline(_dense(), cal), X, y), X, y, True)


def calibrated_isotonic_forest(X, y):
    """CalibratedClassifierCV(isotonic, cv=3) of a forest: predict_proba[:, 1] through
    np.interp, clipped at the ends."""
    cal = CalibratedClassifierCV(RandomForestClassifier(n_estimators=6, max_depth=5,
                                                        random_state=2),
                                 method="isotonic", cv=3)
    return Variant(_fit(make_pipeline(_dense(), cal), X, y), X, y, True)


def calibrated_isotonic_boosting_single(X, y):
    """ensemble=False: one HistGradientBoosting fitted on all rows, its raw
    decision_function calibrated by isotonic regression on cross-validated predictions;
    missing ages reach the trees."""
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["Sex"]),
        ("num", "passthrough", NUM),
    ])
    cal = CalibratedClassifierCV(HistGradientBoostingClassifier(max_iter=12, max_depth=3,
                                                                random_state=0),
                                 method="isotonic", cv=2, ensemble=False)
    return Variant(_fit(make_pipeline(pre, cal), X, y), X, y, True)


def calibrated_prefit_naive_bayes(X, y):
    """cv='prefit': a fitted GaussianNB's predict_proba[:, 1] through one sigmoid."""
    pre = _fit(_dense(), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xt = pre.transform(X)
        nb = GaussianNB().fit(Xt, y)
        cal = CalibratedClassifierCV(nb, method="sigmoid", cv="prefit").fit(Xt, y)
    return Variant(Pipeline([("pre", pre), ("cal", cal)]), X, y, True)


def calibrated_sigmoid_boosting_sgd(X, y):
    """Calibration of decision functions: GradientBoosting's raw sum, and (nested in a
    soft voting) an SGDClassifier with loss='modified_huber'."""
    vote = VotingClassifier([
        ("gb", CalibratedClassifierCV(GradientBoostingClassifier(n_estimators=8, max_depth=2,
                                                                 random_state=0),
                                      method="sigmoid", cv=2)),
        ("sgd", CalibratedClassifierCV(SGDClassifier(loss="modified_huber", random_state=0),
                                       method="isotonic", cv=2)),
    ], voting="soft")
    return Variant(_fit(make_pipeline(_dense(), vote), X, y), X, y, True)


def calibrated_voting(X, y):
    """A CalibratedClassifierCV of a soft VotingClassifier (its predict_proba[:, 1])."""
    vote = VotingClassifier([("lr", LogisticRegression(max_iter=500)), ("nb", GaussianNB())],
                            voting="soft")
    cal = CalibratedClassifierCV(vote, method="sigmoid", cv=2)
    return Variant(_fit(make_pipeline(_dense(), cal), X, y), X, y, True)


def calibrated_linear_svc(X, y):
    """Classifiers without predict_proba, calibrated: LinearSVC (sigmoid) inside a soft vote
    with a calibrated RidgeClassifier (isotonic), their decision functions exported with
    link "none"."""
    vote = VotingClassifier([
        ("svc", CalibratedClassifierCV(LinearSVC(dual=False, C=0.5), method="sigmoid", cv=3)),
        ("ridge", CalibratedClassifierCV(RidgeClassifier(alpha=2.0), method="isotonic", cv=2)),
    ], voting="soft", weights=[1, 2])
    return Variant(_fit(make_pipeline(_dense(), vote), X, y), X, y, True)


def calibrated_pipeline_single(X, y):
    """A bare CalibratedClassifierCV(pipeline, ensemble=False): one fitted pipeline, whose
    preprocessing becomes the document's and whose LinearSVC the calibrated fold's."""
    cal = CalibratedClassifierCV(make_pipeline(_dense(), LinearSVC(dual=False)),
                                 method="isotonic", cv=3, ensemble=False)
    return Variant(_fit(cal, X, y), X, y, True)


def calibrated_pipeline_prefit(X, y):
    """cv='prefit' over a fitted pipeline ending in a GaussianNB, inside a pipeline."""
    inner = _fit(make_pipeline(_dense(("Sex", "Embarked", "Cabin")), GaussianNB()), X, y)
    cal = _fit(CalibratedClassifierCV(inner, method="sigmoid", cv="prefit"), X, y)
    return Variant(Pipeline([("calibrated", cal)]), X, y, True)


ESTIMATOR_VARIANTS = {f.__name__: f for f in [
    sgd_log_loss_sparse, sgd_modified_huber, gaussian_nb_wide, gaussian_nb_priors,
    voting_soft_weighted, voting_soft_forest_boosting, calibrated_sigmoid_logistic,
    calibrated_isotonic_forest, calibrated_isotonic_boosting_single,
    calibrated_prefit_naive_bayes, calibrated_sigmoid_boosting_sgd, calibrated_voting,
    calibrated_linear_svc, calibrated_pipeline_single, calibrated_pipeline_prefit,
]}

# AdaBoost and the exponential loss inside the composites: variants_boosting.py
# and GradientBoosting's init estimators
from variants_boosting import BOOSTING_COMPOSITE_VARIANTS, GB_INIT_VARIANTS  # noqa: E402

ESTIMATOR_VARIANTS.update(BOOSTING_COMPOSITE_VARIANTS)
ESTIMATOR_VARIANTS.update(GB_INIT_VARIANTS)

# the estimator types managed mode refuses by name, alone or in a composite
# (src/managed/sql_codegen.c)
MANAGED_REFUSED = ("gaussian_nb",)
