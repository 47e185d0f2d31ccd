"""The exporter's fields for explanations (issue 20): each tree's "cover" and the
reference's "feature_means" (docs/model-format.md, "Trees" and "Reference
distributions").

These tests read the exported documents only: they do not need bin/predict-score.
Each recomputes what the exporter should have written from scikit-learn's (or
XGBoost's) own attributes, with its own walk of the tree (recursive, where the
exporter's is a stack), and compares per node.
"""

import json
import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (AdaBoostClassifier, ExtraTreesClassifier,
                              GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.feature_selection import SelectKBest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

import predict_export as pe
from conftest import REPO, export_in_process
from titanic_data import features_and_target

NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def _fit(est, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y, **fit_params)


def _pre():
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Embarked"]),
        ("num", SimpleImputer(), NUM),
    ])


@pytest.fixture(scope="module")
def Xy(titanic):
    return features_and_target(titanic)


def _preorder(root, is_leaf, left, right):
    """(splits, leaves): node ids in preorder, recursively (the exporter uses a stack)."""
    splits, leaves = [], []

    def visit(n):
        if is_leaf(n):
            leaves.append(n)
            return
        splits.append(n)
        visit(left(n))
        visit(right(n))
    visit(root)
    return splits, leaves


def _tree_order(tree_):
    left, right = tree_.children_left, tree_.children_right
    splits, leaves = _preorder(0, lambda n: left[n] < 0, lambda n: left[n], lambda n: right[n])
    return splits + leaves


def _child(doc_tree, ref):
    """A child reference of the format as an index into "cover"."""
    return ref if ref >= 0 else len(doc_tree["feature"]) + (-1 - ref)


def _check_cover_shape(doc_tree, exact_sums):
    """2 * splits + 1 finite covers >= 0, > 0 at the splits, and each split's cover the
    sum of its children's (the document's own left/right say which those are)."""
    cover = doc_tree["cover"]
    n = len(doc_tree["feature"])
    assert len(cover) == 2 * n + 1 == n + len(doc_tree["value"])
    assert all(math.isfinite(c) and c >= 0 for c in cover)
    assert all(c > 0 for c in cover[:n])
    for i in range(n):
        total = cover[_child(doc_tree, doc_tree["left"][i])] + \
            cover[_child(doc_tree, doc_tree["right"][i])]
        if exact_sums:
            assert cover[i] == total, (i, cover[i], total)
        else:
            assert math.isclose(cover[i], total, rel_tol=1e-5), (i, cover[i], total)


def _doc_trees(est_doc):
    return [est_doc["tree"]] if "tree" in est_doc else est_doc["trees"]


# (id, estimator, the fitted trees' sklearn.tree estimators)
STANDARD = [
    ("decision_tree", lambda: DecisionTreeClassifier(max_depth=5, random_state=0),
     lambda est: [est]),
    ("extra_tree", lambda: ExtraTreeClassifier(max_depth=6, random_state=0), lambda est: [est]),
    # max_leaf_nodes grows best first: node ids are then not in preorder
    ("decision_tree_best_first", lambda: DecisionTreeClassifier(max_leaf_nodes=12,
                                                                random_state=0),
     lambda est: [est]),
    ("random_forest", lambda: RandomForestClassifier(n_estimators=4, max_depth=5,
                                                     random_state=0),
     lambda est: est.estimators_),
    ("extra_trees", lambda: ExtraTreesClassifier(n_estimators=3, max_depth=4, bootstrap=True,
                                                 random_state=0),
     lambda est: est.estimators_),
    ("gradient_boosting", lambda: GradientBoostingClassifier(n_estimators=4, max_depth=3,
                                                             subsample=0.8, random_state=0),
     lambda est: est.estimators_[:, 0]),
    ("gradient_boosting_best_first", lambda: GradientBoostingClassifier(
        n_estimators=3, max_leaf_nodes=8, random_state=0),
     lambda est: est.estimators_[:, 0]),
]


@pytest.mark.parametrize("case", STANDARD, ids=[c[0] for c in STANDARD])
def test_cover_of_standard_trees(case, Xy):
    """"cover" is tree_.weighted_n_node_samples, splits then leaves in the exporter's
    preorder: for the forests the bootstrap counts, for gradient boosting's subsample the
    in-bag rows."""
    name, build, trees_of = case
    X, y = Xy
    pipe = _fit(make_pipeline(_pre(), build()), X, y)
    doc = pe.export(pipe, name=name)
    doc_trees = _doc_trees(doc["estimator"])
    trees = list(trees_of(pipe[-1]))
    assert len(doc_trees) == len(trees)
    for doc_tree, tree in zip(doc_trees, trees):
        order = _tree_order(tree.tree_)
        n_splits = len(doc_tree["feature"])
        assert n_splits == (tree.tree_.node_count - 1) // 2
        assert doc_tree["cover"] == [float(tree.tree_.weighted_n_node_samples[k])
                                     for k in order]
        # the mapping is the one the document's other arrays use
        assert doc_tree["feature"] == [int(tree.tree_.feature[k]) for k in order[:n_splits]]
        _check_cover_shape(doc_tree, exact_sums=True)
        if name.endswith("best_first"):
            assert order[:n_splits] != sorted(order[:n_splits])   # the test has teeth
    if name == "decision_tree":
        assert doc_trees[0]["cover"][0] == len(X)
        # each leaf's cover is the number of training rows it holds
        counts = np.bincount(tree.apply(pipe[:-1].transform(X).astype(np.float32)),
                             minlength=tree.tree_.node_count)
        leaves = order[n_splits:]
        assert doc_trees[0]["cover"][n_splits:] == [float(counts[k]) for k in leaves]


def test_cover_with_sample_weights(Xy):
    """Weighted rows: the cover is the weight that reached the node, not the row count."""
    X, y = Xy
    w = np.where(X["Sex"] == "female", 2.5, 0.75)
    pipe = _fit(make_pipeline(_pre(), DecisionTreeClassifier(max_depth=4, random_state=0)),
                X, y, decisiontreeclassifier__sample_weight=w)
    tree = pipe[-1].tree_
    doc_tree = pe.export(pipe, name="w")["estimator"]["tree"]
    assert doc_tree["cover"] == [float(tree.weighted_n_node_samples[k])
                                 for k in _tree_order(tree)]
    assert doc_tree["cover"][0] == pytest.approx(w.sum())
    _check_cover_shape(doc_tree, exact_sums=False)


def test_no_cover_when_negative(Xy):
    """Negative sample weights that sum below zero make scikit-learn fit a single leaf of
    negative weight: the model exports and scores as before, but none of its trees gets
    a cover (every tree has one or none does), so it refuses to be explained."""
    X, y = Xy
    w = np.where(np.arange(len(X)) % 3 == 0, 1.0, -1.0)
    pipe = _fit(make_pipeline(_pre(), RandomForestClassifier(n_estimators=2, bootstrap=False,
                                                             random_state=0)),
                X, y, randomforestclassifier__sample_weight=w)
    assert pipe[-1].estimators_[0].tree_.weighted_n_node_samples[0] < 0
    doc = pe.export(pipe, name="neg")
    assert all("cover" not in t for t in doc["estimator"]["trees"])


def test_cover_of_hist_gradient_boosting(Xy):
    """"cover" is each predictor node's count, in the exporter's preorder."""
    X, y = Xy
    pipe = _fit(make_pipeline(_pre(), HistGradientBoostingClassifier(max_iter=5, max_depth=4,
                                                                     random_state=0)), X, y)
    doc = pe.export(pipe, name="hgb")
    predictors = pipe[-1]._predictors
    assert len(doc["estimator"]["trees"]) == len(predictors)
    for doc_tree, (p,) in zip(doc["estimator"]["trees"], predictors):
        nodes = p.nodes
        splits, leaves = _preorder(0, lambda k: bool(nodes["is_leaf"][k]),
                                   lambda k: int(nodes["left"][k]),
                                   lambda k: int(nodes["right"][k]))
        assert doc_tree["cover"] == [int(nodes["count"][k]) for k in splits + leaves]
        assert doc_tree["feature"] == [int(nodes["feature_idx"][k]) for k in splits]
        assert doc_tree["cover"][0] == len(X)       # no early stopping below 10,000 rows
        _check_cover_shape(doc_tree, exact_sums=True)


def test_cover_of_xgboost(Xy):
    """"cover" is the booster JSON's sum_hessian, in the exporter's preorder, each number
    the float64 of the float32 XGBoost wrote, through the document's JSON text too."""
    xgboost = pytest.importorskip("xgboost")
    X, y = Xy
    pipe = _fit(make_pipeline(_pre(), xgboost.XGBClassifier(n_estimators=4, max_depth=3,
                                                            n_jobs=1, random_state=0)), X, y)
    doc = json.loads(pe.dumps(pe.export(pipe, name="xgb")))
    model = json.loads(bytes(pipe[-1].get_booster().save_raw("json")))
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    assert len(doc["estimator"]["trees"]) == len(trees)
    for doc_tree, t in zip(doc["estimator"]["trees"], trees):
        left, right = t["left_children"], t["right_children"]
        splits, leaves = _preorder(0, lambda k: left[k] == -1, lambda k: left[k],
                                   lambda k: right[k])
        want = [float(np.float32(t["sum_hessian"][k])) for k in splits + leaves]
        assert doc_tree["cover"] == want
        assert all(float(np.float32(c)) == c for c in doc_tree["cover"])
        assert doc_tree["feature"] == [t["split_indices"][k] for k in splits]
        _check_cover_shape(doc_tree, exact_sums=False)


def test_no_cover_for_adaboost(Xy):
    """The format defines no "cover" for adaboost's trees."""
    X, y = Xy
    pipe = _fit(make_pipeline(_pre(), AdaBoostClassifier(n_estimators=3, random_state=0)), X, y)
    doc = pe.export(pipe, name="ada")
    assert all("cover" not in t for t in doc["estimator"]["trees"])


def test_explain_fields_switch(Xy, monkeypatch):
    """WRITE_EXPLAIN_FIELDS = False writes documents that loaders without the fields read."""
    X, y = Xy
    pipe = _fit(make_pipeline(_pre(), RandomForestClassifier(n_estimators=2, max_depth=3,
                                                             random_state=0)), X, y)
    assert all("cover" in t for t in pe.export(pipe, name="rf")["estimator"]["trees"])
    lr = _fit(make_pipeline(_pre(), LogisticRegression(max_iter=1000)), X, y)
    monkeypatch.setattr(pe, "WRITE_EXPLAIN_FIELDS", False)
    assert all("cover" not in t for t in pe.export(pipe, name="rf")["estimator"]["trees"])
    doc = pe.export(lr, name="lr")
    obs = pe.frame_to_observations(X, list(X.columns))
    ref = pe.reference(doc, obs, pe.sklearn_scores(lr, doc, obs), pipeline=lr)
    assert "feature_means" not in ref


# ---------- reference.feature_means ----------

def _dense_means(pipeline, X):
    M = pipeline[:-1].transform(X)
    if sparse.issparse(M):
        M = M.toarray()
    return np.mean(np.asarray(M, dtype=np.float64), axis=0).tolist()


@pytest.fixture(scope="module")
def titanic_lr(titanic, tmp_path_factory):
    """models/train_titanic.py's pipeline, pickled, with its training rows as a CSV."""
    import importlib.util
    import os
    spec = importlib.util.spec_from_file_location(
        "train_titanic", os.path.join(REPO, "models", "train_titanic.py"))
    train_titanic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_titanic)
    pipeline, X = train_titanic.train(titanic)
    tmp = tmp_path_factory.mktemp("titanic_lr")
    joblib.dump(pipeline, tmp / "pipeline.pkl")
    titanic.to_csv(tmp / "titanic.csv", index=False)
    return pipeline, tmp


def test_feature_means_of_titanic(titanic_lr, tmp_path):
    """predict-export --reference: feature_means is pipeline[:-1].transform(X_ref)'s
    column means (the matrix made dense), one per coefficient, exactly."""
    pipeline, d = titanic_lr
    out = tmp_path / "m.json"
    status, stderr = export_in_process(d / "pipeline.pkl", "--reference", d / "titanic.csv",
                                       "-o", out)
    assert status == 0, stderr
    doc = json.loads(out.read_text())
    means = doc["reference"]["feature_means"]
    X_ref = pd.read_csv(d / "titanic.csv")
    assert len(means) == len(doc["estimator"]["coef"]) == 159
    assert means == _dense_means(pipeline, X_ref)
    # the one-hot features' means are the categories' frequencies
    names = [f for b in doc["preprocessing"] for f in b["features"]]
    female = (X_ref["Sex"] == "female").mean()
    assert means[names.index("cat__Sex_female")] == pytest.approx(female, abs=1e-15)


def test_feature_means_absent(titanic_lr, Xy, tmp_path):
    """No reference, no feature_means (--no-reference); a forest's reference has none."""
    _, d = titanic_lr
    out = tmp_path / "m.json"
    status, stderr = export_in_process(d / "pipeline.pkl", "--no-reference", "-o", out)
    assert status == 0, stderr
    assert "reference" not in json.loads(out.read_text())

    X, y = Xy
    forest = _fit(make_pipeline(_pre(), RandomForestClassifier(n_estimators=2, max_depth=3,
                                                               random_state=0)), X, y)
    joblib.dump(forest, tmp_path / "rf.pkl")
    X.to_csv(tmp_path / "rf.csv", index=False)
    status, stderr = export_in_process(tmp_path / "rf.pkl", "--reference", tmp_path / "rf.csv",
                                       "-o", out)
    assert status == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["reference"]["rows"] == len(X) and "feature_means" not in doc["reference"]


def test_feature_means_without_pipeline(titanic_lr, titanic):
    """pe.reference without the pipeline (monitoring's tests) writes none."""
    pipeline, _ = titanic_lr
    X, _ = features_and_target(titanic)
    doc = pe.export(pipeline, name="t")
    obs = pe.frame_to_observations(X, list(X.columns))
    assert "feature_means" not in pe.reference(doc, obs, pe.sklearn_scores(pipeline, doc, obs))


@pytest.mark.parametrize("final", ["scaled_sgd", "feature_stage"])
def test_feature_means_of_the_estimator_inputs(final, Xy):
    """With scalers and a feature stage ("transforms"), the means are of what the estimator
    reads: the stage's outputs, named by the last transform."""
    X, y = Xy
    if final == "scaled_sgd":
        pipe = make_pipeline(_pre(), StandardScaler(with_mean=False),
                             SGDClassifier(loss="log_loss", random_state=0))
    else:
        pipe = make_pipeline(_pre(), SelectKBest(k=4), PolynomialFeatures(degree=2),
                             LogisticRegression(max_iter=2000))
    pipe = _fit(pipe, X, y)
    doc = pe.export(pipe, name=final)
    assert doc["estimator"]["type"] == "logistic_regression"
    assert ("transforms" in doc) == (final == "feature_stage")
    obs = pe.frame_to_observations(X, list(X.columns))
    ref = pe.reference(doc, obs, pe.sklearn_scores(pipe, doc, obs), pipeline=pipe)
    assert len(ref["feature_means"]) == len(doc["estimator"]["coef"])
    assert ref["feature_means"] == _dense_means(pipe, X)


def test_feature_means_not_finite_is_refused(titanic_lr, titanic):
    """Two fares near the float64 maximum overflow the Fare feature's sum: refused,
    naming the feature."""
    pipeline, _ = titanic_lr
    X, _ = features_and_target(titanic)
    X = X.copy()
    X.loc[X.index[:2], "Fare"] = 1.5e308
    doc = pe.export(pipeline, name="t")
    obs = pe.frame_to_observations(X, list(X.columns))
    scores = pe.sklearn_scores(pipeline, doc, obs)
    assert all(isinstance(p, float) for p in scores)
    with pytest.raises(pe.ExportError, match=r"reference\.feature_means: feature 'num__Fare' "
                                             r"\(\d+\) has the mean inf"):
        pe.reference(doc, obs, scores, pipeline=pipeline)


def test_feature_means_leave_out_refused_rows(titanic_lr, tmp_path):
    """A reference row scikit-learn refuses is left out of the reference's rows, and of
    the means too (pipeline[:-1].transform would fail on the whole frame)."""
    pipeline, d = titanic_lr
    X_ref = pd.read_csv(d / "titanic.csv").head(20)
    bad = X_ref.copy()
    bad["Fare"] = bad["Fare"].astype(object)
    bad.loc[bad.index[3], "Fare"] = "abc"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "m.json"
    status, stderr = export_in_process(d / "pipeline.pkl", "--reference", tmp_path / "bad.csv",
                                       "-o", out)
    assert status == 0, stderr
    ref = json.loads(out.read_text())["reference"]
    assert ref["rows"] == 19
    assert ref["feature_means"] == _dense_means(pipeline, X_ref.drop(index=X_ref.index[3]))


@pytest.mark.parametrize("shape", ["bare", "nested", "search"])
def test_feature_means_of_other_pipeline_shapes(shape, Xy):
    """A bare estimator's features are its columns; a Pipeline or a search as the last
    step contributes its own steps (as export flattens them)."""
    from sklearn.model_selection import GridSearchCV
    X, y = Xy
    if shape == "bare":
        X = X[["Pclass", "SibSp", "Parch", "Fare"]]
        est = _fit(LogisticRegression(max_iter=1000), X, y)
        want = np.mean(X.to_numpy(dtype=np.float64), axis=0).tolist()
    elif shape == "nested":
        est = _fit(make_pipeline(_pre(), make_pipeline(StandardScaler(),
                                                       LogisticRegression(max_iter=1000))), X, y)
        inner = est[-1]
        want = np.mean(inner[0].transform(est[0].transform(X)), axis=0).tolist()
    else:
        est = _fit(GridSearchCV(make_pipeline(_pre(), StandardScaler(),
                                              LogisticRegression(max_iter=1000)),
                                {"logisticregression__C": [0.1, 1.0]}, cv=2), X, y)
        want = _dense_means(est.best_estimator_, X)
    doc = pe.export(est, name=shape)
    obs = pe.frame_to_observations(X, list(X.columns))
    ref = pe.reference(doc, obs, pe.sklearn_scores(est, doc, obs), pipeline=est)
    assert ref["feature_means"] == want
