"""Checks of the reference itself (shapley.py): it is the ground truth of test_explain.py.

These pass without the C side.  Each check is independent of the others'
assumptions: hand-computed trees, the Shapley formula against the average
over all orderings, the vectorized expectation against the plain recursion,
additivity against the estimators' own raw output, XGBoost's own TreeSHAP
(pred_contribs, in float32), and the feature-to-column mapping against what
actually changes when one input column changes.
"""

import itertools
import math
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
for path in (TEST, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import models  # noqa: E402
import shapley  # noqa: E402
import titanic_data  # noqa: E402

ADDITIVITY = 1e-9        # b + sum(phi) against the raw output, float64 throughout
XGBOOST_FLOAT32 = 1e-5   # against XGBoost's own values, which it computes in float32


@pytest.fixture(scope="module")
def data():
    return titanic_data.features_and_target(titanic_data.load_titanic())


_FITTED = {}


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data

    def get(name):
        if name not in _FITTED:
            build = models.MODELS.get(name) or models.UNEXPLAINABLE[name]
            _FITTED[name] = build(X, y)
        return _FITTED[name]
    return get


def explain(pipeline, name, X):
    means = shapley.reference_means(pipeline, X) if name in models.LINEAR else None
    return shapley.explain(pipeline, X, means)


# ---------- hand-computed ----------

def hand_tree():
    """Depth 2: the root splits on feature 0 (cover 10) into split 1 (cover 6) and
    split 2 (cover 4), both on feature 1; leaves 3..6 hold 1, 3, 5, 9 with covers
    2, 4, 1, 3."""
    return shapley.Tree(feature=[0, 1, 1, -1, -1, -1, -1], left=[1, 3, 5, -1, -1, -1, -1],
                        right=[2, 4, 6, -1, -1, -1, -1], cover=[10, 6, 4, 2, 4, 1, 3],
                        value=[0, 0, 0, 1, 3, 5, 9])


def test_hand_computed_depth_2_tree():
    """x goes left at the root, right at split 1 and left at split 2 (thresholds differ):
    v({}) = 0.6 * (2*1 + 4*3)/6 + 0.4 * (1*5 + 3*9)/4 = 1.4 + 3.2 = 4.6,
    v({0}) = 7/3, v({1}) = 0.6*3 + 0.4*5 = 3.8, v({0,1}) = f(x) = 3;
    phi_0 = ((7/3 - 4.6) + (3 - 3.8)) / 2 = -23/15, phi_1 = ((3.8 - 4.6) + (3 - 7/3)) / 2
    = -1/15."""
    tree = hand_tree()
    x_branch = [1, 4, 5, -1, -1, -1, -1]
    assert shapley.tree_value(tree, x_branch, set()) == pytest.approx(4.6, abs=1e-15)
    assert shapley.tree_value(tree, x_branch, {0}) == pytest.approx(7 / 3, abs=1e-15)
    assert shapley.tree_value(tree, x_branch, {1}) == pytest.approx(3.8, abs=1e-15)
    assert shapley.tree_value(tree, x_branch, {0, 1}) == 3.0
    base, phi, out = shapley.brute_force_shap(tree, np.array([x_branch]), 3)
    assert base[0] == pytest.approx(4.6, abs=1e-15)
    assert phi[0, 0] == pytest.approx(-23 / 15, abs=1e-15)
    assert phi[0, 1] == pytest.approx(-1 / 15, abs=1e-15)
    assert phi[0, 2] == 0.0          # a feature the tree does not split on
    assert out[0] == 3.0


def test_hand_computed_scikit_learn_tree():
    """DecisionTreeClassifier(max_depth=2) on AND of two binary features, one sample
    per cell: whichever feature the root takes, v({}) = 1/4, v({0}) = v({1}) = 1/2 at
    x = (1, 1), so phi = (3/8, 3/8); at x = (0, 1), v({0}) = 0, v({1}) = 1/2, f = 0,
    so phi = (-3/8, 1/8)."""
    from sklearn.tree import DecisionTreeClassifier
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 0, 0, 1])
    for seed in range(4):       # the root's feature is a tie: both ways
        est = DecisionTreeClassifier(max_depth=2, random_state=seed).fit(X, y)
        e = shapley.explain(est, np.array([[1.0, 1.0], [0.0, 1.0]]))
        assert e.space == shapley.PROBABILITY
        np.testing.assert_allclose(e.base, [0.25, 0.25], atol=1e-15)
        np.testing.assert_allclose(e.phi, [[0.375, 0.375], [-0.375, 0.125]], atol=1e-15)
        np.testing.assert_allclose(e.raw, [1.0, 0.0], atol=0)


def test_hand_computed_linear():
    """One feature: phi = coef * (x - mean), base = intercept + coef * mean."""
    from sklearn.linear_model import LogisticRegression
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    est = LogisticRegression().fit(X, [0, 0, 1, 1])
    c, b = est.coef_[0, 0], est.intercept_[0]
    e = shapley.linear_explanation(est, np.array([[3.0]]), np.array([1.5]))
    assert e.phi[0, 0] == c * 1.5
    assert e.base[0] == b + c * 1.5
    assert e.base[0] + e.phi[0, 0] == pytest.approx(est.decision_function([[3.0]])[0], abs=1e-15)


def test_too_many_split_features_is_refused():
    """A chain of 13 splits on 13 features: more subsets than the reference enumerates."""
    n = shapley.MAX_PLAYERS + 1
    feature = list(range(n)) + [-1] * (n + 1)
    left = [n + i for i in range(n)] + [-1] * (n + 1)
    right = [i + 1 for i in range(n - 1)] + [2 * n] + [-1] * (n + 1)
    tree = shapley.Tree(feature, left, right, [1.0] * (2 * n + 1), [0.0] * (2 * n + 1))
    with pytest.raises(AssertionError, match="too many subsets"):
        shapley.brute_force_shap(tree, np.zeros((1, 2 * n + 1), dtype=np.int64), n)


# ---------- the machinery against its plain definition ----------

def _model_trees(est, Xt):
    """(Tree, branches) of every tree of a fitted tree estimator, on Xt."""
    name = type(est).__name__
    if name == "HistGradientBoostingClassifier":
        X = shapley._dense(Xt)
        return [(t, shapley.hgb_branches(est, p, t, X))
                for (p,) in est._predictors for t in [shapley.hgb_tree(p)]]
    if name == "XGBClassifier":
        X = shapley.xgboost_dense(Xt)
        _, trees = shapley.xgboost_model(est.get_booster())
        return [(t, shapley.xgboost_branches(t, X)) for t in trees]
    X32 = shapley._dense(Xt).astype(np.float32)
    sk = [est] if hasattr(est, "tree_") else list(np.ravel(est.estimators_))
    kind = "regression" if name == "GradientBoostingClassifier" else "proba"
    return [(t, shapley.sklearn_branches(t, s.tree_, X32))
            for s in sk for t in [shapley.sklearn_tree(s.tree_, kind)]]


@pytest.mark.parametrize("name", list(models.TREES))
def test_subset_values_are_tree_value(name, data, fitted):
    """The vectorized v(S) equals the plain recursion, bit for bit, for every subset,
    on rows with missing values among them."""
    X, _ = data
    rows = X.iloc[[0, 5, 17, 61, 829]]     # 5 (Age) and 61, 829 (Embarked) miss values
    est, Xt = shapley.preprocess(fitted(name), rows)
    for tree, branches in _model_trees(est, Xt)[:4]:
        players = tree.players()
        values = shapley.subset_values(tree, branches, players)
        for m in range(2 ** len(players)):
            S = {f for k, f in enumerate(players) if m >> k & 1}
            for r in range(len(rows)):
                assert values[r, m] == shapley.tree_value(tree, branches[r], S)


@pytest.mark.parametrize("name", ["random_forest", "xgboost_dense", "hist_gradient_boosting"])
def test_shapley_formula_is_the_mean_over_orderings(name, data, fitted):
    """phi_j from the subset formula equals the mean over all orderings of the players of
    j's marginal contribution when it joins."""
    X, _ = data
    rows = X.iloc[:3]
    est, Xt = shapley.preprocess(fitted(name), rows)
    checked = 0
    for tree, branches in _model_trees(est, Xt):
        players = tree.players()
        n = len(players)
        if n > 7:
            continue
        values = shapley.subset_values(tree, branches, players)
        phi = shapley.shapley_from_values(values, n)
        mean = np.zeros_like(phi)
        for order in itertools.permutations(range(n)):
            mask = 0
            for k in order:
                mean[:, k] += values[:, mask | 1 << k] - values[:, mask]
                mask |= 1 << k
        np.testing.assert_allclose(phi, mean / math.factorial(n), rtol=0, atol=1e-13)
        checked += 1
    assert checked >= 2


# ---------- whole models ----------

@pytest.mark.parametrize("name", list(models.MODELS))
def test_additivity(name, data, fitted):
    """On every Titanic row: base + sum(phi) is the model's raw output (scikit-learn's
    decision_function, doubled where predict_proba doubles it, or predict_proba for the
    probability trees), within 1e-9; for XGBoost the float64 sum of its leaves, which
    is its float32 output_margin within 1e-5.  And the raw output is the log-odds:
    expit(raw) is predict_proba."""
    X, _ = data
    pipeline = fitted(name)
    e = explain(pipeline, name, X)
    total = e.base + e.phi.sum(axis=1)
    assert np.abs(total - e.raw).max() <= ADDITIVITY
    raw = shapley.raw_output(pipeline, X)
    xgb = name.startswith("xgboost")
    assert np.abs(total - raw).max() <= (XGBOOST_FLOAT32 if xgb else ADDITIVITY)
    proba = pipeline.predict_proba(X)[:, 1]
    if e.space == shapley.LOG_ODDS:
        assert np.abs(1 / (1 + np.exp(-total)) - proba).max() <= (
            XGBOOST_FLOAT32 if xgb else 1e-12)
    else:
        assert e.space == shapley.PROBABILITY
    # not vacuous: the contributions vary and more than one feature matters
    assert np.ptp(total) > 0.1
    assert (np.abs(e.phi).max(axis=0) > 1e-6).sum() >= 3


@pytest.mark.parametrize("name", ["xgboost_dense", "xgboost_sparse"])
def test_xgboost_pred_contribs(name, data, fitted):
    """XGBoost's own TreeSHAP (pred_contribs, float32) agrees per feature within 1e-5,
    and its bias column with the base: the same definition, covers included."""
    import xgboost
    X, _ = data
    pipeline = fitted(name)
    est, Xt = shapley.preprocess(pipeline, X)
    e = shapley.explain(pipeline, X)
    contribs = est.get_booster().predict(xgboost.DMatrix(Xt), pred_contribs=True)
    assert contribs.shape == (len(X), e.phi.shape[1] + 1)
    assert np.abs(contribs[:, :-1] - e.phi).max() <= XGBOOST_FLOAT32
    assert np.abs(contribs[:, -1] - e.base).max() <= XGBOOST_FLOAT32
    assert (np.abs(e.phi) > 1e-3).sum() > len(X)      # not all zero


@pytest.mark.parametrize("name", ["xgboost_dense", "xgboost_sparse"])
def test_xgboost_leaves(name, data, fitted):
    """The branches of the float32 rule and of missing values (NaN, or a zero that a
    sparse matrix does not store) reach the leaves XGBoost reaches (pred_leaf)."""
    import xgboost
    X, _ = data
    est, Xt = shapley.preprocess(fitted(name), X)
    leaves = est.get_booster().predict(xgboost.DMatrix(Xt), pred_leaf=True)
    trees = _model_trees(est, Xt)
    assert leaves.shape == (len(X), len(trees))
    for k, (tree, branches) in enumerate(trees):
        assert (tree.walk(branches) == leaves[:, k]).all()


def _rerooted_apply(tree_, n, X32):
    """The leaves a copy of tree_ whose root is replaced by node n sends the rows to:
    scikit-learn's own compiled rule at node n (Tree's pickled state, re-rooted)."""
    from sklearn.tree._tree import Tree
    state = tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes[0] = state["nodes"][n]
    copy = Tree(tree_.n_features, np.array(tree_.n_classes), tree_.n_outputs)
    copy.__setstate__(dict(state, nodes=nodes))
    return copy.apply(X32)


@pytest.mark.parametrize("name", ["decision_tree", "extra_trees", "gradient_boosting"])
def test_standard_tree_branches_are_scikit_learns(name, data, fitted):
    """At every split, not only those on the row's path: the float32 rule of
    sklearn_branches is the branch scikit-learn's own apply takes from that split, on
    Titanic rows and on rows whose feature is at, just below and just above the
    split's threshold in float32."""
    X, _ = data
    est, Xt = shapley.preprocess(fitted(name), X.iloc[:100])
    X32 = shapley._dense(Xt).astype(np.float32)
    sk = [est] if hasattr(est, "tree_") else list(np.ravel(est.estimators_))[:3]
    kind = "regression" if name == "gradient_boosting" else "proba"
    for s in sk:
        tree = shapley.sklearn_tree(s.tree_, kind)
        probes = [X32]
        for n in np.flatnonzero(tree.feature >= 0):
            t32 = np.float32(s.tree_.threshold[n])
            for z in (t32, np.nextafter(t32, np.float32(np.inf)),
                      np.nextafter(t32, np.float32(-np.inf))):
                row = X32[:1].copy()
                row[0, tree.feature[n]] = z
                probes.append(row)
        rows = np.vstack(probes)
        branches = shapley.sklearn_branches(tree, s.tree_, rows)
        for n in np.flatnonzero(tree.feature >= 0):
            leaf = _rerooted_apply(s.tree_, n, rows)
            below_left = np.isin(leaf, sorted(shapley._subtree(tree, tree.left[n])))
            assert (branches[:, n] == np.where(below_left, tree.left[n], tree.right[n])).all()


@pytest.mark.parametrize("name", ["hist_gradient_boosting", "hist_gradient_boosting_categorical"])
def test_hist_gradient_boosting_branches_follow_the_documented_rule(name, data, fitted):
    """The branches that scikit-learn's re-rooted predictor gives are, at every numeric
    split, the rule of docs/model-format.md: NaN the missing_go_to_left way, else
    x <= num_threshold in float64 (a check of the re-rooting, on every row)."""
    X, _ = data
    est, Xt = shapley.preprocess(fitted(name), X)
    X64 = shapley._dense(Xt)
    numeric = categorical = 0
    for (p,) in est._predictors:
        tree = shapley.hgb_tree(p)
        branches = shapley.hgb_branches(est, p, tree, X64)
        for n in np.flatnonzero(tree.feature >= 0):
            node = p.nodes[n]
            if node["is_categorical"]:
                categorical += 1
                continue
            x = X64[:, node["feature_idx"]]
            left = np.where(np.isnan(x), bool(node["missing_go_to_left"]),
                            x <= node["num_threshold"])
            assert (branches[:, n] == np.where(left, tree.left[n], tree.right[n])).all()
            numeric += 1
    assert numeric >= 20
    assert categorical > 0 if name.endswith("categorical") else categorical == 0


def test_missing_values_take_learned_routes(data, fitted):
    """HistGradientBoosting and XGBoost: some split sends NaN another way than a large
    value, so that rows with NaN test the missing-value routing."""
    X, _ = data
    rows = X[X["Age"].isna()].iloc[:20]
    for name in ("hist_gradient_boosting", "xgboost_dense"):
        est, Xt = shapley.preprocess(fitted(name), rows)
        left_missing = right_missing = 0
        for tree, branches in _model_trees(est, Xt):
            for n in np.flatnonzero(tree.feature >= 0):
                if np.isnan(shapley._dense(Xt)[:, tree.feature[n]]).all():
                    took_left = branches[0, n] == tree.left[n]
                    left_missing += took_left
                    right_missing += not took_left
        assert left_missing and right_missing, (name, left_missing, right_missing)


@pytest.mark.parametrize("name", list(models.MODELS))
def test_feature_columns_by_perturbation(name, data, fitted):
    """Changing one input column of a row changes only the features mapped to it, and
    every feature changes for some change of its column."""
    X, _ = data
    pipeline = fitted(name)
    columns = list(X.columns)
    mapping = shapley.feature_columns(pipeline, columns)
    rows = X.reset_index(drop=True)
    _, base = shapley.preprocess(pipeline, rows)
    base = shapley._dense(base)
    changed_somewhere = np.zeros(base.shape[1], dtype=bool)
    for col in columns:
        other = rows.copy()
        other[col] = np.roll(rows[col].to_numpy(), 1)     # another row's value
        _, moved = shapley.preprocess(pipeline, other)
        diff = ~np.isclose(shapley._dense(moved), base, equal_nan=True, rtol=0, atol=0)
        touched = np.flatnonzero(diff.any(axis=0))
        assert all(mapping[j] == col for j in touched), (col, [mapping[j] for j in touched])
        changed_somewhere[touched] = True
    assert changed_somewhere.all()


@pytest.mark.parametrize("name", ["decision_tree", "gradient_boosting", "xgboost_dense"])
def test_per_column_sums_features(name, data, fitted):
    """Per column: the sum of its features' phi; Parch, which tree_pre does not read,
    is 0; the total is unchanged."""
    X, _ = data
    pipeline = fitted(name)
    columns = list(X.columns)
    e = shapley.explain(pipeline, X)
    mapping = shapley.feature_columns(pipeline, columns)
    by_column = shapley.per_column(e.phi, mapping, columns)
    assert set(by_column) == set(columns)
    total = sum(by_column.values())
    assert np.abs(total - e.phi.sum(axis=1)).max() <= 1e-12
    if name != "xgboost_dense":
        assert (by_column["Parch"] == 0).all()
    several = [c for c in columns if mapping.count(c) > 1]
    assert "Sex" in several and "Embarked" in several
