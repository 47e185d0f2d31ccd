"""The reference for `predict-score --explain` (issue 20): exact explanations by brute force.

An explanation of one observation is a base value b and one contribution per
input column whose sum with b is the model's raw output (docs/model-format.md):

- linear models (log-odds): the contribution of transformed feature j is
  coef_j * (x_j - mu_j), mu_j its mean over the reference data, and
  b = intercept + sum_j coef_j * mu_j; twice both with multi_class="multinomial"
  (predict_proba is then expit(2 * decision_function));
- trees: Shapley values of the path-dependent expectation of each tree
  (Lundberg et al., TreeSHAP): v(S) follows x's branch at a split on a feature
  in S, takes the cover-weighted average of both children, divided by the
  node's own cover, at a split on a feature not in S, and is the leaf's value
  at a leaf.  phi_j = sum over S of F \\ {j} of |S|! (|F| - |S| - 1)! / |F|!
  (v(S + {j}) - v(S)), F the features the tree splits on; b = v({}).

Nothing here comes from the exporter or the C side: the trees, covers and
"x's branch" at every node are read from the fitted scikit-learn and XGBoost
objects, and every subset of F is enumerated (at most MAX_PLAYERS features
per tree), so that the values are the definition itself, not an algorithm.
test_shapley.py checks this module against hand-computed values, additivity,
XGBoost's own pred_contribs and the estimators' own predictions.

Everything is vectorized over rows and subsets (numpy), not for cleverness:
891 rows times 2^|F| subsets times tens of trees must stay within seconds.
tree_value() is the same definition for one row and one subset, written
plainly; the tests check that both agree bit for bit.
"""

import json
import math

import numpy as np
import scipy.sparse

MAX_PLAYERS = 12    # distinct split features per tree: 2^12 subsets per row

LOG_ODDS = "log-odds"
PROBABILITY = "probability"


# ---------- one tree ----------

class Tree:
    """A binary tree as parallel arrays indexed by node (node 0 is the root).

    feature[n] is the feature a split tests (-1 at a leaf), left[n]/right[n]
    its children, cover[n] how much training data reached the node
    (scikit-learn's weighted_n_node_samples, HistGradientBoosting's count,
    XGBoost's sum_hessian), value[n] a leaf's output (ignored at splits).
    """

    def __init__(self, feature, left, right, cover, value):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.cover = np.asarray(cover, dtype=np.float64)
        self.value = np.asarray(value, dtype=np.float64)
        n = len(self.feature)
        assert all(len(a) == n for a in (self.left, self.right, self.cover, self.value))
        splits = self.feature >= 0
        assert (self.left[splits] > 0).all() and (self.right[splits] > 0).all()
        assert (self.cover[splits] > 0).all(), "a split without cover"

    def is_leaf(self, node):
        return self.feature[node] < 0

    def players(self):
        """F: the distinct features the tree splits on, in increasing order."""
        return sorted({int(f) for f in self.feature if f >= 0})

    def walk(self, branches):
        """The leaf each row reaches following its own branches from the root."""
        node = np.zeros(branches.shape[0], dtype=np.int64)
        rows = np.arange(branches.shape[0])
        while True:
            inner = self.feature[node] >= 0
            if not inner.any():
                return node
            node = np.where(inner, branches[rows, node], node)


def tree_value(tree, x_branch, S, node=0):
    """v(S) for one row: the path-dependent expectation of the tree's output given
    the features in S (a set of feature indexes).  x_branch[n] is the child that
    the row takes at split n (the one the estimator's own rule picks)."""
    if tree.is_leaf(node):
        return float(tree.value[node])
    if tree.feature[node] in S:
        return tree_value(tree, x_branch, S, x_branch[node])
    left, right = tree.left[node], tree.right[node]
    return (tree.cover[left] * tree_value(tree, x_branch, S, left)
            + tree.cover[right] * tree_value(tree, x_branch, S, right)) / tree.cover[node]


def subset_values(tree, branches, players):
    """v(S) for every row and every subset S of players, as an array (rows, 2^|players|)
    whose column m is the subset {players[k] : bit k of m set}.  The same arithmetic
    as tree_value, in the same order, for all rows and subsets at once."""
    bit = {f: k for k, f in enumerate(players)}
    masks = np.arange(2 ** len(players), dtype=np.int64)

    def value(node):
        if tree.is_leaf(node):
            return np.full((1, 1), tree.value[node])
        left, right = tree.left[node], tree.right[node]
        v_left, v_right = value(left), value(right)
        takes_left = (branches[:, node] == left)[:, None]
        on_x_branch = np.where(takes_left, v_left, v_right)
        average = (tree.cover[left] * v_left + tree.cover[right] * v_right) / tree.cover[node]
        in_s = ((masks >> bit[int(tree.feature[node])]) & 1).astype(bool)[None, :]
        return np.where(in_s, on_x_branch, average)

    v = value(0)
    return np.broadcast_to(v, (branches.shape[0], len(masks))).copy()


def shapley_weights(n):
    """w[s] = s! (n - s - 1)! / n!, the weight of a subset of size s (n players)."""
    return np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                     for s in range(n)], dtype=np.float64)


def shapley_from_values(values, n):
    """phi (rows, n) from v over all 2^n subsets (rows, 2^n), by the Shapley formula."""
    masks = np.arange(2 ** n, dtype=np.int64)
    sizes = np.array([bin(m).count("1") for m in masks])
    w = shapley_weights(n) if n else np.zeros(0)
    phi = np.zeros((values.shape[0], n))
    for k in range(n):
        without = masks[(masks >> k) & 1 == 0]
        gains = values[:, without | (1 << k)] - values[:, without]
        phi[:, k] = gains @ w[sizes[without]]
    return phi


def brute_force_shap(tree, branches, n_features):
    """(base (rows,), phi (rows, n_features), output (rows,)) of one tree: base is v({}),
    phi the Shapley values of v (0 for features the tree does not split on), output
    the leaf each row reaches, which base + sum(phi) must equal."""
    players = tree.players()
    assert len(players) <= MAX_PLAYERS, \
        "%d distinct split features: too many subsets to enumerate" % len(players)
    values = subset_values(tree, branches, players)
    phi = np.zeros((branches.shape[0], n_features))
    phi[:, players] = shapley_from_values(values, len(players))
    output = tree.value[tree.walk(branches)]
    return values[:, 0], phi, output


def branches_from_rule(tree, goes_left):
    """(rows, nodes) child indexes from goes_left (rows, nodes) booleans; -1 at leaves."""
    out = np.where(goes_left, tree.left[None, :], tree.right[None, :])
    out[:, tree.feature < 0] = -1
    return out


# ---------- scikit-learn's standard trees ----------

def sklearn_tree(tree_, kind):
    """A Tree from a fitted tree_.  kind "proba": a classifier's leaves hold the
    fraction of classes_[1] as predict_proba computes it (a zero sum counts as 1);
    "regression": GradientBoosting's regression trees, value[:, 0, 0]."""
    feature = np.where(tree_.children_left >= 0, tree_.feature, -1)
    if kind == "proba":
        counts = tree_.value[:, 0, :]
        total = counts.sum(axis=1)
        total[total == 0] = 1.0
        value = counts[:, 1] / total
    else:
        value = tree_.value[:, 0, 0]
    return Tree(feature, tree_.children_left, tree_.children_right,
                tree_.weighted_n_node_samples, value)


def sklearn_branches(tree, tree_, X32):
    """x's branch at every node: scikit-learn's rule on its float32 input,
    (double) x[feature] <= threshold; checked against tree_.apply on the path taken."""
    X32 = np.asarray(X32, dtype=np.float32)
    feature = np.maximum(tree.feature, 0)
    goes_left = X32[:, feature].astype(np.float64) <= tree_.threshold[None, :]
    branches = branches_from_rule(tree, goes_left)
    assert (tree.walk(branches) == tree_.apply(X32)).all(), "not scikit-learn's leaves"
    return branches


# ---------- HistGradientBoosting ----------

def hgb_tree(predictor):
    nodes = predictor.nodes
    feature = np.where(nodes["is_leaf"], -1, nodes["feature_idx"])
    left = np.where(nodes["is_leaf"], -1, nodes["left"])
    right = np.where(nodes["is_leaf"], -1, nodes["right"])
    return Tree(feature, left, right, nodes["count"], nodes["value"])


def _subtree(tree, node):
    out, stack = set(), [node]
    while stack:
        n = stack.pop()
        out.add(n)
        if not tree.is_leaf(n):
            stack += [tree.left[n], tree.right[n]]
    return out


def hgb_branches(est, predictor, tree, X):
    """x's branch at every split, by scikit-learn's own compiled predictor: a copy of
    the tree whose root is replaced by split n and whose leaves are numbered sends
    each row to a leaf below n's left or right child.  So NaN routing, categorical
    bitsets and the float64 comparison are scikit-learn's, not a re-implementation."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    X = np.ascontiguousarray(X, dtype=np.float64)
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    branches = np.full((X.shape[0], len(tree.feature)), -1, dtype=np.int64)
    numbered = predictor.nodes.copy()
    numbered["value"] = np.arange(len(numbered), dtype=np.float64)
    for n in np.flatnonzero(tree.feature >= 0):
        rooted = numbered.copy()
        rooted[0] = numbered[n]
        probe = TreePredictor(rooted, predictor.binned_left_cat_bitsets,
                              predictor.raw_left_cat_bitsets)
        leaf = probe.predict(X, known, f_idx_map, 1).astype(np.int64)
        below_left = np.isin(leaf, sorted(_subtree(tree, tree.left[n])))
        assert (below_left | np.isin(leaf, sorted(_subtree(tree, tree.right[n])))).all()
        branches[:, n] = np.where(below_left, tree.left[n], tree.right[n])
    reached = tree.value[tree.walk(branches)]
    assert (reached == predictor.predict(X, known, f_idx_map, 1)).all(), \
        "not scikit-learn's leaves"
    return branches


# ---------- XGBoost ----------

def xgboost_model(booster):
    """(base_score, [Tree]) from the booster's JSON model: a leaf's value is its
    split_conditions entry, a node's cover its sum_hessian."""
    model = json.loads(bytes(booster.save_raw("json")))
    learner = model["learner"]
    assert learner["gradient_booster"]["name"] == "gbtree"
    # a float32 in XGBoost, written in its shortest decimal form
    base_score = float(np.float32(learner["learner_model_param"]["base_score"]))
    trees = []
    for t in learner["gradient_booster"]["model"]["trees"]:
        left = np.array(t["left_children"])
        is_leaf = left == -1
        assert not any(t["split_type"]), "categorical XGBoost splits are not covered"
        trees.append(Tree(np.where(is_leaf, -1, t["split_indices"]), left,
                          t["right_children"], t["sum_hessian"], t["split_conditions"]))
        trees[-1].default_left = np.array(t["default_left"], dtype=bool)
        trees[-1].condition = np.array(t["split_conditions"], dtype=np.float32)
    return base_score, trees


def xgboost_branches(tree, X):
    """XGBoost's rule: float32(x) < split_condition (float32), a missing x (NaN) the
    default way.  X is dense with NaN where XGBoost sees a missing value."""
    X32 = np.asarray(X, dtype=np.float64).astype(np.float32)
    values = X32[:, np.maximum(tree.feature, 0)]
    goes_left = np.where(np.isnan(values), tree.default_left[None, :],
                         values < tree.condition[None, :])
    return branches_from_rule(tree, goes_left)


def xgboost_dense(Xt):
    """The matrix as XGBoost reads it: from a sparse matrix, every entry scipy does
    not store is missing (NaN), a stored zero is a value; dense NaN is missing."""
    if not scipy.sparse.issparse(Xt):
        return np.asarray(Xt, dtype=np.float64)
    coo = Xt.tocoo()
    dense = np.full(coo.shape, np.nan)
    dense[coo.row, coo.col] = coo.data
    return dense


# ---------- whole models ----------

class Explanation:
    """Explanations of rows: space, base (rows,), phi (rows, transformed features) and
    the model's raw output (rows,) computed independently of base and phi."""

    def __init__(self, space, base, phi, raw):
        self.space, self.base, self.phi, self.raw = space, base, phi, raw


def _dense(Xt):
    return Xt.toarray() if scipy.sparse.issparse(Xt) else np.asarray(Xt, dtype=np.float64)


def linear_explanation(est, Xt, means):
    """coef_j (x_j - mu_j), base intercept + sum coef_j mu_j; doubled for multinomial."""
    coef = est.coef_[0].astype(np.float64)
    scale = 2.0 if est.multi_class == "multinomial" else 1.0
    X = _dense(Xt)
    phi = scale * coef[None, :] * (X - np.asarray(means)[None, :])
    base = scale * (float(est.intercept_[0]) + float(coef @ np.asarray(means)))
    raw = scale * est.decision_function(Xt)
    return Explanation(LOG_ODDS, np.full(X.shape[0], base), phi, raw)


def _sum_trees(parts, n_rows, n_features):
    base, phi, out = np.zeros(n_rows), np.zeros((n_rows, n_features)), np.zeros(n_rows)
    for b, p, o in parts:
        base += b
        phi += p
        out += o
    return base, phi, out


def forest_explanation(est, Xt):
    """DecisionTree, RandomForest, ExtraTrees: the mean of the trees' probability trees."""
    X32 = _dense(Xt).astype(np.float32)
    trees = [est] if hasattr(est, "tree_") else list(est.estimators_)
    parts = []
    for t in trees:
        tree = sklearn_tree(t.tree_, "proba")
        parts.append(brute_force_shap(tree, sklearn_branches(tree, t.tree_, X32), X32.shape[1]))
    base, phi, out = _sum_trees(parts, X32.shape[0], X32.shape[1])
    n = len(trees)
    return Explanation(PROBABILITY, base / n, phi / n, out / n)


def gradient_boosting_explanation(est, Xt):
    """GradientBoosting: init + learning_rate * sum of trees; the exponential loss's
    log-odds is twice that (predict_proba is expit(2 * decision_function))."""
    X32 = _dense(Xt).astype(np.float32)
    init = est._raw_predict_init(X32)[:, 0]
    assert (init == init[0]).all(), "an init whose prediction depends on the row"
    parts = []
    for t in est.estimators_[:, 0]:
        tree = sklearn_tree(t.tree_, "regression")
        parts.append(brute_force_shap(tree, sklearn_branches(tree, t.tree_, X32), X32.shape[1]))
    base, phi, out = _sum_trees(parts, X32.shape[0], X32.shape[1])
    scale = 2.0 if est.loss == "exponential" else 1.0
    lr = est.learning_rate
    return Explanation(LOG_ODDS, scale * (init + lr * base), scale * lr * phi,
                       scale * (init + lr * out))


def hist_gradient_boosting_explanation(est, Xt):
    """HistGradientBoosting: baseline + sum of trees (leaf values include the
    learning rate)."""
    X = _dense(Xt)
    baseline = float(est._baseline_prediction[0, 0])
    parts = []
    for (predictor,) in est._predictors:
        tree = hgb_tree(predictor)
        parts.append(brute_force_shap(tree, hgb_branches(est, predictor, tree, X), X.shape[1]))
    base, phi, out = _sum_trees(parts, X.shape[0], X.shape[1])
    return Explanation(LOG_ODDS, baseline + base, phi, baseline + out)


def xgboost_explanation(est, Xt):
    """XGBoost: the base margin log(base_score / (1 - base_score)) + sum of trees, all
    in float64 (XGBoost itself adds float32s)."""
    booster = est.get_booster()
    assert getattr(est, "best_iteration", None) is None or \
        est.best_iteration + 1 == booster.num_boosted_rounds(), "early stopping not covered"
    base_score, trees = xgboost_model(booster)
    X = xgboost_dense(Xt)
    parts = []
    for tree in trees:
        parts.append(brute_force_shap(tree, xgboost_branches(tree, X), X.shape[1]))
    base, phi, out = _sum_trees(parts, X.shape[0], X.shape[1])
    margin = -math.log(1.0 / base_score - 1.0)
    return Explanation(LOG_ODDS, margin + base, phi, margin + out)


def estimator_explanation(est, Xt, means=None):
    """The Explanation of the final estimator on its input matrix Xt."""
    name = type(est).__name__
    if name == "LogisticRegression":
        assert means is not None, "a linear model needs the reference means"
        return linear_explanation(est, Xt, means)
    if name in ("DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier",
                "ExtraTreesClassifier"):
        return forest_explanation(est, Xt)
    if name == "GradientBoostingClassifier":
        return gradient_boosting_explanation(est, Xt)
    if name == "HistGradientBoostingClassifier":
        return hist_gradient_boosting_explanation(est, Xt)
    if name == "XGBClassifier":
        return xgboost_explanation(est, Xt)
    raise NotImplementedError("no reference explanation for %s" % name)


def preprocess(pipeline, frame):
    """(final estimator, its input matrix) for a fitted Pipeline or bare estimator."""
    from sklearn.pipeline import Pipeline
    if isinstance(pipeline, Pipeline):
        return pipeline.steps[-1][1], pipeline[:-1].transform(frame) if len(pipeline) > 1 \
            else frame
    return pipeline, frame


def raw_output(pipeline, frame):
    """The model's raw output by the estimator's own code, what an explanation sums to:
    predict_proba[:, 1] for the probability trees, XGBoost's output_margin (float32),
    else decision_function, doubled where predict_proba doubles it (multinomial
    logistic regression, GradientBoosting's exponential loss)."""
    est, _ = preprocess(pipeline, frame)
    name = type(est).__name__
    if name == "XGBClassifier":
        return pipeline.predict(frame, output_margin=True).astype(np.float64)
    if name in ("DecisionTreeClassifier", "ExtraTreeClassifier", "RandomForestClassifier",
                "ExtraTreesClassifier"):
        return pipeline.predict_proba(frame)[:, 1]
    doubled = getattr(est, "multi_class", None) == "multinomial" or \
        getattr(est, "loss", None) == "exponential"
    return (2.0 if doubled else 1.0) * pipeline.decision_function(frame)


def reference_means(pipeline, reference_frame):
    """mu: the mean of every transformed feature over the reference rows."""
    _, Xt = preprocess(pipeline, reference_frame)
    if scipy.sparse.issparse(Xt):
        return np.asarray(Xt.mean(axis=0)).ravel()
    return np.asarray(Xt, dtype=np.float64).mean(axis=0)


def explain(pipeline, frame, means=None):
    """The Explanation of every row of frame (a DataFrame of the input columns)."""
    est, Xt = preprocess(pipeline, frame)
    return estimator_explanation(est, Xt, means)


# ---------- transformed features -> input columns ----------

def _step_sources(step, n_in):
    """For a fitted transformer reading n_in features: the input feature each of its
    output features comes from."""
    from sklearn.pipeline import Pipeline
    name = type(step).__name__
    if step == "passthrough" or step is None:
        return list(range(n_in))
    if isinstance(step, Pipeline):
        sources = list(range(n_in))
        for _, sub in step.steps:
            sources = [sources[i] for i in _step_sources(sub, len(sources))]
        return sources
    if name == "SimpleImputer":
        stats = step.statistics_
        if step.strategy == "constant" or getattr(step, "keep_empty_features", False):
            kept = list(range(n_in))
        else:
            kept = [i for i in range(n_in) if not _is_nan(stats[i])]
        if step.add_indicator:
            kept += [int(i) for i in step.indicator_.features_]
        return kept
    if name == "OneHotEncoder":
        assert not getattr(step, "_infrequent_enabled", False), "infrequent categories"
        out = []
        for i, cats in enumerate(step.categories_):
            width = len(cats)
            if step.drop_idx_ is not None and step.drop_idx_[i] is not None:
                width -= 1
            out += [i] * width
        return out
    if name in ("OrdinalEncoder", "StandardScaler", "MinMaxScaler", "MaxAbsScaler",
                "RobustScaler"):
        return list(range(n_in))
    raise NotImplementedError("no feature-to-column mapping for %s" % name)


def _is_nan(v):
    try:
        return bool(np.isnan(v))
    except TypeError:
        return False


def feature_columns(pipeline, columns):
    """The input column (a name of `columns`) of every feature the final estimator
    reads, from the fitted ColumnTransformer's transformers_ and each transformer's
    own fitted widths; checked against get_feature_names_out's names."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    pre = pipeline[:-1] if isinstance(pipeline, Pipeline) else None
    if pre is None or len(pre) == 0:
        return list(columns)
    assert len(pre) == 1 and isinstance(pre[0], ColumnTransformer), \
        "only a ColumnTransformer before the estimator is mapped"
    ct = pre[0]
    names_in = list(ct.feature_names_in_)
    out = []
    for tname, trans, cols in ct.transformers_:
        if trans == "drop":
            continue
        if isinstance(cols, slice) or (np.ndim(cols) == 1 and len(cols) and
                                       not isinstance(cols[0], str)):
            cols = list(np.array(names_in)[cols])
        cols = list(cols)
        if not cols:
            continue
        out += [cols[i] for i in _step_sources(trans, len(cols))]
    names = ct.get_feature_names_out()
    assert len(names) == len(out)
    for name, col in zip(names, out):
        assert col in name.split("__", 1)[1], (name, col)
    return out


def per_column(phi, mapping, columns):
    """{column: contributions (rows,)}: each column's transformed features summed,
    0 for the columns that no feature comes from."""
    out = {c: np.zeros(phi.shape[0]) for c in columns}
    for j, col in enumerate(mapping):
        out[col] = out[col] + phi[:, j]
    return out
