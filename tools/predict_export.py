"""Compile a fitted scikit-learn pipeline into a predict-model/1 document.

This module is the implementation behind ``tools/predict-export``; the
contract it implements is docs/model-format.md.  It is importable so that
models/train_titanic.py and the parity tests (test/parity/) use exactly the
same code as the command-line tool.

The compiler walks the fitted pipeline and keeps, for every feature of the
current intermediate matrix, the *block* (input column + chain of elementary
steps) that produces it.  Each supported scikit-learn transformer is mapped
to the steps that perform the same arithmetic, operation for operation, as
its ``transform`` in scikit-learn 1.2 (read from the library's source):

- ``SimpleImputer``: ``X[mask] = statistics_`` -> ``impute``; its
  ``MissingIndicator`` -> separate ``indicator`` blocks appended after the
  imputed features; features whose statistic is NaN (all missing in
  training, strategy not ``constant``, ``keep_empty_features=False``) are
  dropped by scikit-learn and produce no block.
- ``OneHotEncoder`` -> ``one_hot`` (its output is sparse when
  ``sparse_output``/``sparse`` is true).
- ``OrdinalEncoder`` -> ``ordinal``.
- ``StandardScaler``/``RobustScaler``/``MaxAbsScaler``: dense input is
  ``X -= center; X /= scale`` -> ``standardize``; sparse input is
  ``inplace_column_scale(X, 1 / scale_)`` -> ``multiply`` by the reciprocal
  computed in numpy float64, exactly as scikit-learn computes it.
- ``MinMaxScaler``: ``X *= scale_; X += min_; np.clip`` -> ``min_max``.
- ``FunctionTransformer`` with a numpy ufunc of one value (log1p, log, sqrt,
  exp, expm1, abs) -> ``function``; ``func=None`` adds no step.
- ``PowerTransformer`` -> ``power`` (``lambdas_[i]``), then, when
  ``standardize``, its ``_scaler`` as ``standardize``.
- ``QuantileTransformer`` -> ``quantile`` (``quantiles_[:, i]``,
  ``references_``, ``output_distribution``).
- ``KBinsDiscretizer`` -> ``kbins`` (the inner ``bin_edges_``), then a
  ``one_hot`` of the bins for ``encode='onehot'``/``'onehot-dense'``.
- ``LogisticRegression`` (binary) -> ``logistic_regression`` with link
  ``logistic`` (one-vs-rest / auto) or ``softmax`` (multinomial).
- ``DecisionTreeClassifier``/``ExtraTreeClassifier`` -> ``decision_tree``,
  ``RandomForestClassifier``/``ExtraTreesClassifier`` -> ``random_forest``:
  each ``tree_`` as compact arrays renumbered in preorder, leaves holding
  classes_[1]'s fraction computed as ``predict_proba`` does.
- ``GradientBoostingClassifier`` (binary log-loss or exponential) -> ``gradient_boosting``:
  the init estimator's raw prediction from ``_raw_predict_init`` (or the
  init estimator itself, when its prediction depends on the row), the
  learning rate and the regression trees' leaf values.
- ``HistGradientBoostingClassifier`` (binary) -> ``hist_gradient_boosting``:
  the baseline, the known categories, each predictor's nodes with their
  missing-value direction and raw category bitsets.

- ``AdaBoostClassifier`` over decision trees (SAMME.R or SAMME) -> ``adaboost``:
  per leaf both classes' contributions to ``decision_function``'s sum, computed
  with scikit-learn's own ``_samme_proba`` (SAMME.R) or weighted vote (SAMME),
  and ``estimator_weights_.sum()``.
- ``xgboost.XGBClassifier`` (binary:logistic, gbtree) -> ``xgboost``: the
  booster's JSON model (``save_raw("json")``): base_score, and each tree's
  float32 split conditions, default directions and leaf values, up to
  ``best_iteration`` after early stopping.

For explanations (issue 20), every tree estimator's trees but adaboost's carry
each node's training cover ("cover": ``weighted_n_node_samples``, the
predictor nodes' ``count``, XGBoost's ``sum_hessian``), and the reference of a
logistic regression the means of the features it reads ("feature_means"); both
are left out when ``WRITE_EXPLAIN_FIELDS`` is false.

Sparsity is tracked through the pipeline because it changes the scalers'
arithmetic: a OneHotEncoder with sparse output makes the matrix sparse, a
ColumnTransformer's output is sparse iff its fitted ``sparse_output_``.

Anything else is refused with an ExportError naming the step path and class.
"""

import copy
import datetime
import json
import math
import numbers
import os
import pickle
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np

FORMAT = "predict-model/1"
EXPORTER = "predict-export 1.0"
TOLERANCE = 1e-12

# The fields only explanations read (issue 20): each tree's "cover" and the
# reference's "feature_means".  A loader that predates them refuses them as
# unknown fields; False writes documents such a loader accepts.
WRITE_EXPLAIN_FIELDS = True


class ExportError(Exception):
    """The pipeline (or an option of it) cannot be exported: exit status 2."""


# --------------------------------------------------------------------------
# small helpers

def _is_nan(value):
    """True for float NaN (Python or numpy), False for anything else."""
    try:
        return isinstance(value, (float, np.floating)) and math.isnan(value)
    except TypeError:
        return False


def _number(value, what):
    """A finite Python int/float from a numpy or Python number."""
    if isinstance(value, (bool, np.bool_)):
        return int(bool(value))
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ExportError("%s: %r is not a finite number" % (what, value))
        return f
    raise ExportError("%s: expected a number, got %r" % (what, value))


def _float(value, what):
    f = float(value)
    if not math.isfinite(f):
        raise ExportError("%s: %r is not a finite number" % (what, value))
    return f


def _scalar_label(value, what):
    """classes_[1] as a JSON scalar (number, string or boolean)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ExportError("%s: class label %r is not a finite number" % (what, value))
        return int(f) if f.is_integer() and abs(f) < 2 ** 53 else f
    raise ExportError("%s: class label %r is not a number, string or boolean" % (what, value))


def _internal(obj, name, path, check=None, what=None):
    """obj.name: a private scikit-learn attribute the export reads (no public one
    holds it), checked to be what scikit-learn 1.2 has; another version that lacks
    it or changed it is refused, naming the attribute and the version, never
    guessed.  check(value) -> bool; what: the expected form, for the message."""
    import sklearn
    value = getattr(obj, name, None)
    if value is None or (check is not None and not check(value)):
        raise ExportError(
            "%s: %s.%s is %s (%s expected): this scikit-learn (%s) keeps the fitted model "
            "where this exporter does not read it" % (
                path, _class_name(obj), name, "missing" if value is None else
                "a %s" % type(value).__name__, what or "as in scikit-learn 1.2",
                sklearn.__version__))
    return value


def sanitize_name(stem):
    """A model name: [A-Za-z0-9_.-], 1 to 63 bytes."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:63]
    return name or "model"


def _class_name(obj):
    return type(obj).__name__


# --------------------------------------------------------------------------
# blocks

class Block:
    """One use of an input column: the steps applied so far and the width."""

    __slots__ = ("column", "steps", "width", "vtype", "one_hot", "narrow")

    def __init__(self, column, vtype=None):
        self.column = column      # input column name
        self.steps = []           # list of step dicts
        self.width = 1            # number of features it outputs now
        self.vtype = vtype        # "number", "string" or None (raw, type not yet known)
        self.one_hot = False      # a one_hot step has been applied
        self.narrow = None        # an encoder's dtype other than float64, else None

    def copy(self):
        b = Block(self.column, self.vtype)
        b.steps = copy.deepcopy(self.steps)
        b.width = self.width
        b.one_hot = self.one_hot
        b.narrow = self.narrow
        return b


class _Context:
    def __init__(self, column_types):
        # column name -> "number"/"string" (from dtypes, or inferred from use)
        self.column_types = dict(column_types)
        self.declared = set(column_types)
        self.training_rows = []

    def require(self, block, vtype, path, cls):
        """The values of block must be of vtype when they enter step path.

        vtype "object" is what a transformer fitted on an object array reads:
        strings, or numbers held as Python objects (a number column selected
        together with string columns).  It accepts a "number" column and
        otherwise makes the column a "string" one.
        """
        if vtype == "object":
            if block.vtype == "number" or (block.vtype is None and
                                           self.column_types.get(block.column) == "number"):
                block.vtype = "number"
                return
            vtype = "string"
        if block.vtype is None:
            known = self.column_types.get(block.column)
            if known is not None and known != vtype:
                raise ExportError(
                    "%s: %s expects %s values but column %r is used as a %s column elsewhere"
                    "%s" % (path, cls, vtype, block.column, known,
                            " (dtypes)" if block.column in self.declared else ""))
            self.column_types[block.column] = vtype
            block.vtype = vtype
        elif block.vtype != vtype:
            raise ExportError(
                "%s: %s expects %s values but column %r is a %s column here"
                % (path, cls, vtype, block.column, block.vtype))


def _check_width_one(blocks, path, cls):
    for b in blocks:
        if b.width != 1:
            raise ExportError(
                "%s: %s after a one-hot encoding (column %r) is not supported"
                % (path, cls, b.column))


def _check_numeric_blocks(blocks, path, cls, ctx):
    """Every block must give numbers to what reads them (an estimator or the feature stage)."""
    for b in blocks:
        if b.vtype == "string" and not b.steps:
            raise ExportError("%s: column %r reaches the estimator as a string column"
                              % (path, b.column))
        ctx.require(b, "number", path, cls)


def _check_n_features(est, blocks, path):
    n = sum(b.width for b in blocks)
    expected = getattr(est, "n_features_in_", None)
    if expected is not None and int(expected) != n:
        raise ExportError(
            "%s: %s was fitted on %d features but the pipeline gives it %d"
            % (path, _class_name(est), expected, n))


def _categories(cats, path, column):
    """categories_[i] as a JSON list: strings, or numbers, then optionally null (NaN)."""
    out = []
    kinds = set()
    for c in cats:
        if _is_nan(c):
            out.append(None)
            continue
        if c is None:
            raise ExportError(
                "%s: column %r has the category None (a Python None in training data, not NaN), "
                "which is not supported" % (path, column))
        if isinstance(c, (str, np.str_)):
            out.append(str(c))
            kinds.add("string")
        elif isinstance(c, (bytes, np.bytes_)):
            raise ExportError("%s: column %r has bytes categories, which are not supported"
                              % (path, column))
        elif isinstance(c, (numbers.Real, np.number, np.bool_)):
            out.append(_number(c, "%s: column %r category" % (path, column)))
            kinds.add("number")
        else:
            raise ExportError("%s: column %r has a category of type %s, which is not supported"
                              % (path, column, type(c).__name__))
    if len(kinds) > 1:
        raise ExportError("%s: column %r mixes string and numeric categories"
                          % (path, column))
    if None in out and out.index(None) != len(out) - 1:
        raise ExportError("%s: column %r has NaN among its categories but not last"
                          % (path, column))
    if out.count(None) > 1 or len(set(x for x in out if x is not None)) != \
            len([x for x in out if x is not None]):
        raise ExportError("%s: column %r has duplicate categories" % (path, column))
    if not out:
        raise ExportError("%s: column %r has no categories" % (path, column))
    return out


def _category_vtype(cats):
    """Input type an encoder expects: object/str categories come from object arrays."""
    return "object" if cats.dtype.kind in "OUS" else "number"


# --------------------------------------------------------------------------
# transformers

def _compile(est, blocks, sparse, path, ctx):
    """Apply fitted transformer est to blocks; return (blocks, sparse)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, OneHotEncoder,
                                       OrdinalEncoder, RobustScaler, StandardScaler)

    if est is None or (isinstance(est, str) and est == "passthrough"):
        return blocks, sparse
    if isinstance(est, str):
        raise ExportError("%s: %r is not supported" % (path, est))
    if _is_search(est):
        est, path = unwrap_search(est, path)
        return _compile(est, blocks, sparse, path, ctx)
    kind = type(est)
    if kind is Pipeline:
        for i, (name, step) in enumerate(est.steps):
            blocks, sparse = _compile(step, blocks, sparse,
                                      "%s.steps[%d] %r" % (path, i, name), ctx)
        return blocks, sparse
    if kind is ColumnTransformer:
        return _column_transformer(est, blocks, sparse, path, ctx)
    _check_not_narrow(blocks, path, _class_name(est))
    if kind is SimpleImputer:
        return _simple_imputer(est, blocks, sparse, path, ctx)
    if kind is OneHotEncoder:
        return _one_hot(est, blocks, sparse, path, ctx)
    if kind is OrdinalEncoder:
        return _ordinal(est, blocks, sparse, path, ctx)
    if kind in (StandardScaler, RobustScaler, MaxAbsScaler, MinMaxScaler):
        return _scaler(est, blocks, sparse, path, ctx)
    skew = _skew_exporter(kind)
    if skew is not None:
        return skew(est, blocks, sparse, path, ctx)
    raise ExportError("%s: %s is not supported" % (path, _class_name(est)))


def _column_indices(ct, name, columns, n_in):
    """The input feature indices a fitted ColumnTransformer entry selects."""
    indices = getattr(ct, "_transformer_to_input_indices", {}).get(name)
    if indices is not None:
        return [int(i) for i in indices]
    # older pickles: resolve the stored (already resolved) selection ourselves
    names = list(getattr(ct, "feature_names_in_", []))
    if isinstance(columns, slice):
        return list(range(n_in))[columns]
    cols = list(columns)
    if cols and all(isinstance(c, (bool, np.bool_)) for c in cols):
        return [i for i, c in enumerate(cols) if c]
    out = []
    for c in cols:
        if isinstance(c, (str, np.str_)):
            if str(c) not in names:
                raise ExportError("column %r not found" % (c,))
            out.append(names.index(str(c)))
        else:
            out.append(int(c))
    return out


def _select(blocks, indices, path):
    """Copies of the blocks making up the selected features, in selection order."""
    owner = []
    for bi, b in enumerate(blocks):
        for off in range(b.width):
            owner.append((bi, off))
    out = []
    k = 0
    while k < len(indices):
        i = indices[k]
        if not 0 <= i < len(owner):
            raise ExportError("%s: selects feature %d of %d" % (path, i, len(owner)))
        bi, off = owner[i]
        b = blocks[bi]
        if b.width > 1:
            want = [j for j in range(i - off, i - off + b.width)]
            if off != 0 or list(indices[k:k + b.width]) != want:
                raise ExportError(
                    "%s: selects part of the one-hot encoded features of column %r, "
                    "which is not supported" % (path, b.column))
            k += b.width
        else:
            k += 1
        out.append(b.copy())
    return out


def _column_transformer(ct, blocks, sparse, path, ctx):
    from sklearn.compose._column_transformer import _is_empty_column_selection

    if ct.transformer_weights:
        raise ExportError("%s: ColumnTransformer transformer_weights is not supported" % path)
    _check_n_features(ct, blocks, path)
    n_in = sum(b.width for b in blocks)
    n_user = len(ct.transformers)
    out = []
    for idx, (name, trans, columns) in enumerate(ct.transformers_):
        if idx >= n_user and name == "remainder":
            sub = "%s.remainder" % path
        else:
            sub = "%s.transformers[%d] %r" % (path, idx, name)
        if isinstance(trans, str) and trans == "drop":
            continue
        if _is_empty_column_selection(columns):
            continue
        if isinstance(columns, (str, np.str_)) or np.isscalar(columns):
            raise ExportError(
                "%s: a scalar column selection (%r) passes a 1-D column to %s, which is not "
                "supported; select a list of columns" % (sub, columns, _class_name(trans)))
        try:
            indices = _column_indices(ct, name, columns, n_in)
        except ExportError as e:
            raise ExportError("%s: %s" % (sub, e))
        selected = _select(blocks, indices, sub)
        if isinstance(trans, str) and trans == "passthrough":
            out.extend(selected)
            continue
        result, _ = _compile(trans, selected, sparse, sub, ctx)
        out.extend(result)
    return out, bool(ct.sparse_output_)


def _simple_imputer(est, blocks, sparse, path, ctx):
    cls = "SimpleImputer"
    mv = est.missing_values
    if not _is_nan(mv):
        raise ExportError("%s: SimpleImputer missing_values=%r is not supported (only NaN)"
                          % (path, mv))
    _check_width_one(blocks, path, cls)
    _check_n_features(est, blocks, path)
    fit_dtype = _internal(est, "_fit_dtype", path, lambda d: isinstance(d, np.dtype), "a numpy dtype")
    want = "object" if fit_dtype.kind == "O" else "number"
    keep_all = est.strategy == "constant" or getattr(est, "keep_empty_features", False)
    stats = est.statistics_
    out = []
    for i, b in enumerate(blocks):
        ctx.require(b, want, path, cls)
        value = stats[i]
        if _is_nan(value) or value is None:
            if keep_all:
                raise ExportError("%s: SimpleImputer fill value %r for column %r is not supported"
                                  % (path, value, b.column))
            # scikit-learn drops a feature that was all missing in training
            continue
        if isinstance(value, (str, np.str_)):
            if b.vtype != "string":
                raise ExportError("%s: SimpleImputer fills numeric column %r with a string"
                                  % (path, b.column))
            value = str(value)
        else:
            value = _number(value, "%s: SimpleImputer statistics_ for column %r" % (path, b.column))
        nb = b.copy()
        nb.steps.append({"type": "impute", "value": value})
        out.append(nb)
    if est.add_indicator:
        ind = est.indicator_
        if getattr(ind, "features", "missing-only") not in ("missing-only", "all"):
            raise ExportError("%s: MissingIndicator features=%r is not supported"
                              % (path, ind.features))
        for j in ind.features_:
            nb = blocks[int(j)].copy()
            nb.steps.append({"type": "indicator"})
            nb.vtype = "number"
            out.append(nb)
    return out, sparse


def _one_hot(est, blocks, sparse, path, ctx):
    cls = "OneHotEncoder"
    narrow = _narrow_dtype(est, path, cls)
    _check_width_one(blocks, path, cls)
    _check_n_features(est, blocks, path)
    handle = est.handle_unknown
    if handle not in ("error", "ignore", "infrequent_if_exist"):
        raise ExportError("%s: OneHotEncoder handle_unknown=%r is not supported" % (path, handle))
    # scikit-learn >= 1.2 calls it sparse_output (fit() copies a non-default,
    # deprecated `sparse` into it); earlier versions only have `sparse`
    if hasattr(est, "sparse_output"):
        sparse_out = bool(est.sparse_output)
    else:
        sparse_out = bool(est.sparse)
    drop_idx = est.drop_idx_
    infrequent = _infrequent_categories(est)
    out = []
    for i, b in enumerate(blocks):
        cats = est.categories_[i]
        ctx.require(b, _category_vtype(cats), path, cls)
        categories = _categories(cats, path, b.column)
        d = None
        if drop_idx is not None and drop_idx[i] is not None:
            # with infrequent categories, an index of the grouped features
            d = int(drop_idx[i])
        nb = b.copy()
        step = {"type": "one_hot", "categories": categories, "drop": d,
                "handle_unknown": handle}
        outputs = len(categories)
        if infrequent[i] is not None:
            step["infrequent"] = _infrequent_list(infrequent[i], categories, path, b.column)
            outputs = len(categories) - len(step["infrequent"]) + 1
        elif handle == "infrequent_if_exist":
            step["handle_unknown"] = "ignore"   # without infrequent categories: "ignore"
        nb.steps.append(step)
        nb.width = outputs - (d is not None)
        nb.vtype = "number"
        nb.one_hot = True
        nb.narrow = narrow
        if nb.width == 0:
            raise ExportError("%s: column %r one-hot encodes to no feature" % (path, b.column))
        out.append(nb)
    return out, sparse_out


def _infrequent_categories(est):
    """infrequent_categories_ per feature (None where a feature has none)."""
    if not getattr(est, "_infrequent_enabled", False):
        return [None] * len(est.categories_)
    return list(est.infrequent_categories_)


def _infrequent_list(values, categories, path, column):
    """A feature's infrequent categories as JSON values, each one of its categories."""
    out = []
    for v in values:
        if _is_nan(v):
            out.append(None)
        elif isinstance(v, (str, np.str_)):
            out.append(str(v))
        else:
            out.append(_number(v, "%s: column %r infrequent category" % (path, column)))
        if out[-1] not in categories:
            raise ExportError("%s: column %r infrequent category %r is not among its "
                              "categories" % (path, column, v))
    return out


def _narrow_dtype(est, path, cls):
    """An encoder's dtype: None for float64; else its name, if it holds 0, 1 and the
    category codes exactly (the estimator then sees the same numbers)."""
    try:
        dtype = np.dtype(est.dtype)
    except TypeError:
        raise ExportError("%s: %s dtype=%r is not supported" % (path, cls, est.dtype))
    if dtype == np.float64:
        return None
    if dtype.kind not in "biuf":
        raise ExportError("%s: %s dtype=%s is not supported (a numeric or boolean dtype)"
                          % (path, cls, dtype))
    if cls == "OrdinalEncoder":
        largest = max(len(c) for c in est.categories_)
        exact = {"b": 1, "i": np.iinfo(dtype).max if dtype.kind == "i" else 0,
                 "u": np.iinfo(dtype).max if dtype.kind == "u" else 0,
                 "f": 2 ** (np.finfo(dtype).nmant + 1) if dtype.kind == "f" else 0}[dtype.kind]
        if largest - 1 > exact:
            raise ExportError("%s: %s dtype=%s cannot hold the codes of %d categories"
                              % (path, cls, dtype, largest))
        has_nan = any(len(c) and _is_nan(c[-1]) for c in est.categories_)
        for name, used in (("unknown_value", est.handle_unknown == "use_encoded_value"),
                           ("encoded_missing_value", has_nan)):
            v = getattr(est, name, None)
            if v is None or not used:
                continue
            if _is_nan(v) or np.asarray(v).astype(dtype) != v:
                raise ExportError("%s: %s dtype=%s cannot hold %s=%r"
                                  % (path, cls, dtype, name, v))
    return str(dtype)


def _check_not_narrow(blocks, path, cls):
    """A transformer after an encoder whose dtype is not float64 would compute in that
    dtype (a float32 scaler, an int imputer): refused."""
    for b in blocks:
        if getattr(b, "narrow", None):
            raise ExportError("%s: %s after an encoder with dtype=%s (column %r) is not "
                              "supported (only float64 output can be transformed further)"
                              % (path, cls, b.narrow, b.column))


def _encoded_value(value, what):
    if value is None or _is_nan(value):
        return None
    return _number(value, what)


def _ordinal(est, blocks, sparse, path, ctx):
    cls = "OrdinalEncoder"
    narrow = _narrow_dtype(est, path, cls)
    _check_width_one(blocks, path, cls)
    _check_n_features(est, blocks, path)
    handle = est.handle_unknown
    if handle not in ("error", "use_encoded_value"):
        raise ExportError("%s: OrdinalEncoder handle_unknown=%r is not supported" % (path, handle))
    unknown = None
    if handle == "use_encoded_value":
        unknown = _encoded_value(est.unknown_value, "%s: unknown_value" % path)
    missing = _encoded_value(getattr(est, "encoded_missing_value", np.nan),
                             "%s: encoded_missing_value" % path)
    out = []
    for i, b in enumerate(blocks):
        cats = est.categories_[i]
        ctx.require(b, _category_vtype(cats), path, cls)
        nb = b.copy()
        nb.steps.append({"type": "ordinal", "categories": _categories(cats, path, b.column),
                         "handle_unknown": handle, "unknown_value": unknown,
                         "encoded_missing_value": missing})
        nb.vtype = "number"
        nb.narrow = narrow
        out.append(nb)
    return out, sparse


def _scaler(est, blocks, sparse, path, ctx):
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
    cls = _class_name(est)
    _check_n_features(est, blocks, path)
    n = sum(b.width for b in blocks)
    seen = getattr(est, "n_samples_seen_", None)
    if isinstance(seen, (numbers.Integral, np.integer)):
        ctx.training_rows.append(int(seen))

    def vec(a):
        return None if a is None else np.asarray(a, dtype=np.float64).reshape(-1)

    kind = type(est)
    center = scale = factor = None
    if kind is MinMaxScaler:
        if sparse:
            raise ExportError("%s: MinMaxScaler on sparse input" % path)
        mm_scale, mm_min = vec(est.scale_), vec(est.min_)
        lo, hi = est.feature_range
        clip = [_float(lo, path + ": feature_range"), _float(hi, path + ": feature_range")] \
            if getattr(est, "clip", False) else None
    elif kind is StandardScaler:
        if sparse:
            if est.with_mean:
                raise ExportError("%s: StandardScaler(with_mean=True) on sparse input" % path)
            factor = None if est.scale_ is None else 1 / vec(est.scale_)
        else:
            center = vec(est.mean_) if est.with_mean else None
            scale = vec(est.scale_) if est.with_std else None
    elif kind is RobustScaler:
        if sparse:
            if est.with_centering:
                raise ExportError("%s: RobustScaler(with_centering=True) on sparse input" % path)
            factor = 1.0 / vec(est.scale_) if est.with_scaling else None
        else:
            center = vec(est.center_) if est.with_centering else None
            scale = vec(est.scale_) if est.with_scaling else None
    elif kind is MaxAbsScaler:
        if sparse:
            factor = 1.0 / vec(est.scale_)
        else:
            scale = vec(est.scale_)
    else:  # pragma: no cover
        raise ExportError("%s: %s is not supported" % (path, cls))

    for name, a in (("center", center), ("scale", scale), ("factor", factor)):
        if a is not None and a.shape[0] != n:
            raise ExportError("%s: %s has %d %s values for %d features"
                              % (path, cls, a.shape[0], name, n))

    out = []
    k = 0
    for b in blocks:
        ctx.require(b, "number", path, cls)
        w = b.width
        sl = slice(k, k + w)
        k += w

        def param(a, what):
            if a is None:
                return None
            vals = [_float(x, "%s: %s %s for column %r" % (path, cls, what, b.column))
                    for x in a[sl]]
            return vals if b.one_hot else vals[0]

        nb = b.copy()
        if kind is MinMaxScaler:
            nb.steps.append({"type": "min_max", "scale": param(mm_scale, "scale_"),
                             "min": param(mm_min, "min_"), "clip": clip})
        elif sparse:
            if factor is not None:
                nb.steps.append({"type": "multiply", "factor": param(factor, "1 / scale_")})
            # else: scale_ is None and scikit-learn leaves sparse data unchanged
        else:
            nb.steps.append({"type": "standardize", "center": param(center, "center"),
                             "scale": param(scale, "scale_")})
        out.append(nb)
    return out, sparse


# --------------------------------------------------------------------------
# per-column transforms for skewed numbers

def _skew_exporter(kind):
    """The exporter of a per-column transformer class, or None."""
    from sklearn.preprocessing import (FunctionTransformer, KBinsDiscretizer, PowerTransformer,
                                       QuantileTransformer)
    return {FunctionTransformer: _function_transformer,
            PowerTransformer: _power_transformer,
            QuantileTransformer: _quantile_transformer,
            KBinsDiscretizer: _kbins_discretizer}.get(kind)


def _function_names():
    """numpy ufunc -> the function step's func (FunctionTransformer's func)."""
    return {np.log1p: "log1p", np.log: "log", np.sqrt: "sqrt", np.exp: "exp",
            np.expm1: "expm1", np.absolute: "abs"}


def _check_per_column(blocks, sparse, path, cls, option):
    """A scalar step applies to one column's value: refuse one-hot or sparse input."""
    if sparse:
        raise ExportError("%s: %s %s on sparse input is not supported" % (path, cls, option))
    for b in blocks:
        if b.width != 1:
            raise ExportError(
                "%s: %s %s after a one-hot encoding (column %r) is not supported (only "
                "per-column numbers)" % (path, cls, option, b.column))


def _function_transformer(est, blocks, sparse, path, ctx):
    """FunctionTransformer: np.log1p(X) and the like are elementwise, one step per block."""
    cls = "FunctionTransformer"
    func = est.func
    if func is None:
        name = None
    else:
        name = next((n for f, n in _function_names().items() if func is f), False)
    if name is False:
        shown = getattr(func, "__name__", None) or type(func).__name__
        raise ExportError("%s: %s func=%s is not supported (log1p, log, sqrt, exp, expm1, abs "
                          "or None)" % (path, cls, shown))
    if est.kw_args:
        raise ExportError("%s: %s kw_args=%r is not supported (only None or empty)"
                          % (path, cls, est.kw_args))
    _check_per_column(blocks, sparse, path, cls, "func=%s" % (name or "None"))
    _check_n_features(est, blocks, path)
    out = []
    for b in blocks:
        nb = b.copy()
        if name is not None or est.validate:
            ctx.require(nb, "number", path, cls)
            # func=None with validate=True: the identity, but check_array refuses NaN
            nb.steps.append({"type": "function", "func": name or "identity",
                             "validate": bool(est.validate)})
        out.append(nb)
    return out, sparse


def _power_transformer(est, blocks, sparse, path, ctx):
    """PowerTransformer: lambdas_[i] per column, then its StandardScaler."""
    cls = "PowerTransformer"
    if est.method not in ("yeo-johnson", "box-cox"):
        raise ExportError("%s: %s method=%r is not supported" % (path, cls, est.method))
    _check_per_column(blocks, sparse, path, cls, "method=%s" % est.method)
    _check_n_features(est, blocks, path)
    lambdas = np.asarray(est.lambdas_, dtype=np.float64).reshape(-1)
    if lambdas.shape[0] != len(blocks):
        raise ExportError("%s: %s has %d lambdas_ for %d features"
                          % (path, cls, lambdas.shape[0], len(blocks)))
    scaler = getattr(est, "_scaler", None) if est.standardize else None
    if est.standardize and (scaler is None or not scaler.with_mean or not scaler.with_std):
        raise ExportError("%s: %s standardize=True without its fitted StandardScaler"
                          % (path, cls))
    out = []
    for i, b in enumerate(blocks):
        ctx.require(b, "number", path, cls)
        nb = b.copy()
        nb.steps.append({"type": "power", "method": est.method,
                         "lambda": _float(lambdas[i], "%s: %s lambdas_" % (path, cls))})
        if scaler is not None:
            what = "%s: %s standardize" % (path, cls)
            nb.steps.append({"type": "standardize",
                             "center": _float(scaler.mean_[i], what + " mean_"),
                             "scale": _float(scaler.scale_[i], what + " scale_")})
        out.append(nb)
    return out, sparse


def _quantile_transformer(est, blocks, sparse, path, ctx):
    """QuantileTransformer: each column's quantiles_ and the references_."""
    cls = "QuantileTransformer"
    output = est.output_distribution
    if output not in ("uniform", "normal"):
        raise ExportError("%s: %s output_distribution=%r is not supported"
                          % (path, cls, output))
    _check_per_column(blocks, sparse, path, cls, "output_distribution=%s" % output)
    _check_n_features(est, blocks, path)
    quantiles = np.asarray(est.quantiles_, dtype=np.float64)
    references = [_float(r, "%s: %s references_" % (path, cls))
                  for r in np.asarray(est.references_, dtype=np.float64)]
    if quantiles.ndim != 2 or quantiles.shape != (len(references), len(blocks)):
        raise ExportError("%s: %s quantiles_ has shape %s for %d references and %d features"
                          % (path, cls, quantiles.shape, len(references), len(blocks)))
    out = []
    for i, b in enumerate(blocks):
        ctx.require(b, "number", path, cls)
        what = "%s: %s quantiles_ for column %r" % (path, cls, b.column)
        nb = b.copy()
        nb.steps.append({"type": "quantile", "output": output,
                         "quantiles": [_float(q, what) for q in quantiles[:, i]],
                         "references": references})
        out.append(nb)
    return out, sparse


def _kbins_discretizer(est, blocks, sparse, path, ctx):
    """KBinsDiscretizer (any strategy: the fitted bin_edges_): the bin index, then for
    encode='onehot'/'onehot-dense' its internal OneHotEncoder's one_hot."""
    cls = "KBinsDiscretizer"
    if est.encode not in ("ordinal", "onehot", "onehot-dense"):
        raise ExportError("%s: %s encode=%r is not supported" % (path, cls, est.encode))
    if est.dtype is None or est.dtype is np.float64 or est.dtype == np.float64:
        dtype = "float64"
    elif est.dtype is np.float32 or est.dtype == np.float32:
        dtype = "float32"
    else:
        raise ExportError("%s: %s dtype=%r is not supported (float64 or float32)"
                          % (path, cls, est.dtype))
    _check_per_column(blocks, sparse, path, cls, "encode=%s" % est.encode)
    _check_n_features(est, blocks, path)
    encoder = getattr(est, "_encoder", None) if est.encode != "ordinal" else None
    if encoder is not None and encoder.drop_idx_ is not None:
        raise ExportError("%s: %s's OneHotEncoder drops a category" % (path, cls))
    out = []
    for i, b in enumerate(blocks):
        ctx.require(b, "number", path, cls)
        edges = np.asarray(est.bin_edges_[i], dtype=np.float64)
        what = "%s: %s bin_edges_ for column %r" % (path, cls, b.column)
        nb = b.copy()
        nb.steps.append({"type": "kbins", "edges": [_float(e, what) for e in edges[1:-1]],
                         "dtype": dtype})
        nb.narrow = "float32" if dtype == "float32" else None
        if encoder is not None:
            categories = _categories(encoder.categories_[i], path, b.column)
            if categories != list(range(len(edges) - 1)):
                raise ExportError("%s: %s's OneHotEncoder categories for column %r are not "
                                  "its bins" % (path, cls, b.column))
            nb.steps.append({"type": "one_hot", "categories": categories, "drop": None,
                             "handle_unknown": "error"})
            nb.width = len(categories)
            nb.one_hot = True
        out.append(nb)
    return out, (est.encode == "onehot") if encoder is not None else sparse


# --------------------------------------------------------------------------
# estimator

def _binary_classes(est, path):
    cls = _class_name(est)
    classes = getattr(est, "classes_", None)
    if classes is None:
        raise ExportError("%s: %s is not fitted" % (path, cls))
    if getattr(est, "n_outputs_", 1) != 1:
        raise ExportError("%s: %s with %d outputs is not supported" % (path, cls, est.n_outputs_))
    if len(classes) != 2:
        raise ExportError("%s: %s with %d classes is not supported (binary only)"
                          % (path, cls, len(classes)))
    return classes


def _logistic_regression(est, path, sparse, cls="LogisticRegression"):
    classes = _binary_classes(est, path)
    coef = np.asarray(est.coef_, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[0] != 1:
        raise ExportError("%s: %s coef_ has shape %s" % (path, cls, coef.shape))
    multi_class = getattr(est, "multi_class", "ovr")
    ovr = multi_class in ("ovr", "warn") or (
        multi_class == "auto"
        and (classes.size <= 2 or est.solver in ("liblinear", "newton-cholesky")))
    link = "logistic" if ovr else "softmax"
    intercept = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
    doc = {
        "type": "logistic_regression",
        "coef": [_float(c, "%s: coef_" % path) for c in coef[0]],
        "intercept": _float(intercept[0], "%s: intercept_" % path) if intercept.size else 0.0,
        "link": link,
    }
    return doc, _scalar_label(classes[1], path), coef.shape[1]


def _preorder(root, is_leaf, left, right):
    """(splits, leaves): node ids in preorder, so that children follow parents."""
    splits, leaves = [], []
    stack = [root]
    while stack:
        n = stack.pop()
        if is_leaf(n):
            leaves.append(n)
        else:
            splits.append(n)
            stack.append(right(n))
            stack.append(left(n))
    return splits, leaves


def _references(splits, leaves, n_nodes):
    """Array: node id -> child reference of the format (split index, or -1 - leaf index)."""
    ref = np.zeros(n_nodes, dtype=np.int64)
    ref[np.asarray(splits, dtype=np.intp)] = np.arange(len(splits))
    ref[np.asarray(leaves, dtype=np.intp)] = -1 - np.arange(len(leaves))
    return ref


def _thresholds(values, what):
    """Split thresholds: finite floats, or "inf"/"-inf" (JSON has no infinity)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        raise ExportError("%s: a split threshold is NaN" % what)
    return [t if math.isfinite(t) else ("inf" if t > 0 else "-inf") for t in values.tolist()]


def _finite_list(values, what):
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ExportError("%s: a leaf value is not finite" % what)
    return values.tolist()


def _cover(cover, splits, leaves):
    """A tree's "cover": the training cover of each node (cover[node id], a numpy
    array), splits then leaves in the format's order.  Path-dependent TreeSHAP
    weighs a split's two sides by their children's covers and divides by the
    split's, so every cover must be finite and >= 0 and a split's > 0; scikit-learn
    lets negative sample weights through (a tree whose weights sum below zero is a
    leaf of negative cover): such a tree gets no cover (None), and its estimator
    none at all (_drop_partial_covers), so that it scores as before and refuses to
    be explained rather than being explained wrongly.
    Whole numbers (row counts, the usual case) are written as integers ("12", not
    "12.0"), which read as the same value: a forest's document is a tenth smaller so."""
    nodes = list(splits) + list(leaves)
    values = np.asarray(cover)[np.asarray(nodes, dtype=np.intp)]
    out = []
    for j, (node, c) in enumerate(zip(nodes, values.tolist())):
        if not (math.isfinite(c) and c >= 0 and (c > 0 or j >= len(splits))):
            return None
        out.append(int(c) if float(c).is_integer() and c < 2 ** 53 else c)
    return out


def _set_cover(tree, cover):
    if cover is not None:
        tree["cover"] = cover


def _drop_partial_covers(node):
    """The format's rule for "cover": every tree of an estimator has it or none does.
    An estimator some of whose trees got none (_cover) loses the others' too, in the
    whole estimator document, composites and init estimators included."""
    if isinstance(node, list):
        for item in node:
            _drop_partial_covers(item)
        return
    if not isinstance(node, dict):
        return
    trees = node.get("trees")
    if isinstance(trees, list) and not all("cover" in t for t in trees):
        for t in trees:
            t.pop("cover", None)
    for value in node.values():
        _drop_partial_covers(value)


def _standard_tree(est, path, leaf_values, missing_left, cover=True):
    """A fitted sklearn.tree estimator's tree_ as the format's compact arrays.

    leaf_values(leaf_node_ids) -> the value each leaf contributes (float64 array).
    Splits are renumbered in preorder, so that children come after their parent.
    cover: whether to write "cover" (tree_.weighted_n_node_samples), which the
    format defines for every tree estimator but adaboost.
    """
    t = est.tree_
    left, right = t.children_left, t.children_right
    splits, leaves = _preorder(0, lambda n: left[n] < 0, lambda n: int(left[n]),
                               lambda n: int(right[n]))
    ref = _references(splits, leaves, t.node_count)
    sp = np.asarray(splits, dtype=np.intp)
    doc = {
        "feature": t.feature[sp].tolist(),
        "threshold": _thresholds(t.threshold[sp], path),
        "left": ref[left[sp]].tolist(),
        "right": ref[right[sp]].tolist(),
    }
    if missing_left:
        missing = getattr(t, "missing_go_to_left", None)
        if missing is None:
            raise ExportError("%s: the trees route missing values but tree_ has no "
                              "missing_go_to_left" % path)
        doc["missing_left"] = [int(bool(m)) for m in np.asarray(missing)[sp]]
    doc["value"] = _finite_list(leaf_values(np.asarray(leaves, dtype=np.intp)), path)
    if cover and WRITE_EXPLAIN_FIELDS:
        _set_cover(doc, _cover(t.weighted_n_node_samples.astype(np.float64), splits, leaves))
    return doc


def _class_fractions(tree_est):
    """Leaf ids -> classes_[1]'s fraction, as DecisionTreeClassifier.predict_proba
    computes it: value / value.sum(axis=1), a zero sum taken as 1 (numpy float64)."""
    def fractions(leaves):
        proba = tree_est.tree_.value[leaves, 0, :2].astype(np.float64)
        normalizer = proba.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        proba /= normalizer
        return proba[:, 1]
    return fractions


def _regression_values(tree_est):
    def values(leaves):
        return tree_est.tree_.value[leaves, 0, 0].astype(np.float64)
    return values


def _missing_mode(est, n_features, sparse):
    """"learned" when scikit-learn (>= 1.3) lets NaN reach these trees, else "error".

    scikit-learn decides per call with _support_missing_values(X), which is false
    for sparse input: the preprocessing's sparsity decides it here.
    """
    support = getattr(est, "_support_missing_values", None)
    if support is None and _routes_missing(est):
        import sklearn
        raise ExportError("%s routes missing values (tree_.missing_go_to_left) but has no "
                          "_support_missing_values: this scikit-learn (%s) decides when NaN "
                          "reaches the trees in a way this exporter does not know"
                          % (_class_name(est), sklearn.__version__))
    if support is None or sparse:
        return "error"
    try:
        return "learned" if support(np.zeros((1, n_features))) else "error"
    except Exception:  # noqa: BLE001 - an API we do not know: keep the strict rule
        return "error"


def _class0_fractions(tree_est):
    """Leaf ids -> classes_[0]'s fraction, computed as _class_fractions does."""
    def fractions(leaves):
        proba = tree_est.tree_.value[leaves, 0, :2].astype(np.float64)
        normalizer = proba.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        proba /= normalizer
        return proba[:, 0]
    return fractions


def _leaf_ids(tree_est):
    """The leaves of tree_ in the order _standard_tree lists them."""
    t = tree_est.tree_
    left, right = t.children_left, t.children_right
    _, leaves = _preorder(0, lambda n: left[n] < 0, lambda n: int(left[n]), lambda n: int(right[n]))
    return np.asarray(leaves, dtype=np.intp)


def _add_class0_fractions(est, path, est_doc, top=True):
    """For "threshold": null (scikit-learn's predict()): each probability tree's
    classes_[0] fraction per leaf ("value0"), which the forests' predict() sums
    apart from classes_[1]'s.  A single tree's predict() takes the argmax of the
    leaf's weighted counts, not of the fractions: refused where they disagree
    (only weights within an ulp of a tie can make them).  A soft
    VotingClassifier's predict() averages both columns of its estimators'
    predict_proba, the fractions: its trees get "value0" too (top False)."""
    est, path = unwrap_search(est, path)
    if est_doc["type"] == "voting":
        for i, (sub, doc) in enumerate(zip(est.estimators_, est_doc["estimators"])):
            _add_class0_fractions(sub, "%s.estimators_[%d]" % (path, i), doc, False)
    elif est_doc["type"] == "decision_tree" and not top:
        doc = est_doc["tree"]
        doc["value0"] = _finite_list(_class0_fractions(est)(_leaf_ids(est)), path)
    elif est_doc["type"] == "decision_tree":
        leaves = _leaf_ids(est)
        counts = est.tree_.value[leaves, 0, :2]
        by_counts = np.argmax(counts, axis=1) == 1
        doc = est_doc["tree"]
        doc["value0"] = _finite_list(_class0_fractions(est)(leaves), path)
        by_fractions = np.asarray(doc["value"]) > np.asarray(doc["value0"])
        if not np.array_equal(by_counts, by_fractions):
            raise ExportError("%s: %s has a leaf whose weighted class counts and class fractions "
                              "order the classes differently; pass --threshold"
                              % (path, _class_name(est)))
    elif est_doc["type"] == "random_forest":
        for tree, doc in zip(est.estimators_, est_doc["trees"]):
            doc["value0"] = _finite_list(_class0_fractions(tree)(_leaf_ids(tree)), path)


def _routes_missing(est):
    """Whether est's fitted trees (its own or its estimators_') have missing_go_to_left."""
    trees = [est] if hasattr(est, "tree_") else list(np.ravel(getattr(est, "estimators_", [])))
    return any(hasattr(getattr(t, "tree_", None), "missing_go_to_left") for t in trees[:1])


def _decision_tree(est, path, sparse):
    classes = _binary_classes(est, path)
    n = int(est.n_features_in_)
    missing = _missing_mode(est, n, sparse)
    doc = {"type": "decision_tree", "missing": missing,
           "tree": _standard_tree(est, path, _class_fractions(est), missing == "learned")}
    return doc, _scalar_label(classes[1], path), n


def _random_forest(est, path, sparse):
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
    classes = _binary_classes(est, path)
    n = int(est.n_features_in_)
    missing = _missing_mode(est, n, sparse)
    trees = []
    for i, tree in enumerate(est.estimators_):
        sub = "%s.estimators_[%d]" % (path, i)
        if type(tree) not in (DecisionTreeClassifier, ExtraTreeClassifier):
            raise ExportError("%s: %s is not supported" % (sub, _class_name(tree)))
        if tree.tree_.value.shape[2] != 2:
            raise ExportError("%s: the tree has %d classes" % (sub, tree.tree_.value.shape[2]))
        trees.append(_standard_tree(tree, sub, _class_fractions(tree), missing == "learned"))
    return ({"type": "random_forest", "missing": missing, "trees": trees},
            _scalar_label(classes[1], path), n)


def _constant_init(est, n, path):
    """The raw prediction of the 'zero' init or of a DummyClassifier that predicts the
    same for every row, computed by scikit-learn itself (checked on two rows)."""
    init = est.init_
    if type(init) is not str and init.strategy not in ("prior", "most_frequent", "constant"):
        raise ExportError(
            "%s: GradientBoostingClassifier init=DummyClassifier(strategy=%r) is not "
            "supported: its predictions are random" % (path, init.strategy))
    rows = np.array([[0.0] * n, [1.0] * n], dtype=np.float32)
    raw = np.asarray(_internal(est, "_raw_predict_init", path, callable, "a method")(rows),
                     dtype=np.float64)
    if raw.shape != (2, 1) or raw[0, 0] != raw[1, 0]:
        raise ExportError("%s: the init estimator's raw prediction depends on the row" % path)
    return _float(raw[0, 0], path + ": init")


def _init_estimator(init, path, sparse, n):
    """An init estimator whose raw prediction depends on the row: its document, which
    the scorer hands the float32 features GradientBoostingClassifier converts X to.
    Only estimators that then compute in float64 on those values: logistic regression
    with float64 coef_ (numpy upcasts the product), the probability trees (which read
    float32 anyway)."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
    allowed = (LogisticRegression, LogisticRegressionCV, DecisionTreeClassifier,
               ExtraTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
    if type(init) not in allowed:
        raise ExportError(
            "%s: GradientBoostingClassifier init=%s is not supported (only %s, or a "
            "DummyClassifier with a constant prediction)"
            % (path, _class_name(init), ", ".join(c.__name__ for c in allowed)))
    if type(init) in (LogisticRegression, LogisticRegressionCV) and \
            (np.asarray(init.coef_).dtype != np.float64 or
             np.asarray(init.intercept_).dtype != np.float64):
        raise ExportError("%s: %s has float32 coef_ (fitted on float32 by its solver), "
                          "which scikit-learn multiplies in float32" % (path, _class_name(init)))
    if list(getattr(init, "classes_", [])) != [0, 1]:
        raise ExportError("%s: the init estimator's classes_ %r are not the encoded [0, 1]"
                          % (path, list(getattr(init, "classes_", []))))
    doc, _, width = _sub_estimator(init, path, sparse, "GradientBoostingClassifier")
    if width != n:
        raise ExportError("%s: the init estimator reads %d features, the trees %d"
                          % (path, width, n))
    return doc


def _gradient_boosting(est, path, sparse):
    from sklearn.dummy import DummyClassifier
    classes = _binary_classes(est, path)
    n = int(est.n_features_in_)
    loss = _class_name(_internal(est, "_loss", path))
    if est.loss not in ("log_loss", "deviance", "exponential") or \
            loss not in ("BinomialDeviance", "HalfBinomialLoss", "ExponentialLoss"):
        raise ExportError("%s: GradientBoostingClassifier loss=%r is not supported (binary "
                          "log_loss or exponential only)" % (path, est.loss))
    if est.estimators_.ndim != 2 or est.estimators_.shape[1] != 1:
        raise ExportError("%s: estimators_ has shape %s" % (path, est.estimators_.shape))
    init = est.init_
    if isinstance(init, str) and init == "zero" or type(init) is DummyClassifier:
        init_doc = _constant_init(est, n, path)
    else:
        init_doc = _init_estimator(init, "%s.init_" % path, sparse, n)
    missing = _missing_mode(est, n, sparse)
    trees = []
    for i, tree in enumerate(est.estimators_[:, 0]):
        sub = "%s.estimators_[%d, 0]" % (path, i)
        trees.append(_standard_tree(tree, sub, _regression_values(tree), missing == "learned"))
    doc = {"type": "gradient_boosting", "init": init_doc,
           "learning_rate": _float(est.learning_rate, path + ": learning_rate"),
           "missing": missing, "trees": trees}
    if loss == "ExponentialLoss":
        # only then: a log_loss document stays readable by loaders without "loss"
        doc["loss"] = "exponential"
    return doc, _scalar_label(classes[1], path), n


def _bitset_codes(words):
    """The category codes (0 to 255) set in an 8 x uint32 bitset."""
    return [w * 32 + b for w in range(8) for b in range(32) if (int(words[w]) >> b) & 1]


def _check_category_codes(est, is_cat, path):
    """Known category codes must be 0 to 255: a negative one (a -1 code for
    "missing" fitted as a category) makes scikit-learn's own bitset code fail,
    in its predict_proba as in make_known_categories_bitsets."""
    import sklearn
    thresholds = getattr(_internal(est, "_bin_mapper", path), "bin_thresholds_", None)
    if thresholds is None:
        return
    for f in np.flatnonzero(is_cat):
        codes = np.asarray(thresholds[f], dtype=np.float64)
        bad = codes[(codes < 0) | (codes > 255)]
        if bad.size:
            raise ExportError(
                "%s: HistGradientBoostingClassifier categorical feature %d was fitted with "
                "category codes %s outside 0 to 255, which scikit-learn %s cannot score "
                "(its predict_proba fails too); encode the categories as 0 to 255 (e.g. with "
                "an OrdinalEncoder) and refit"
                % (path, f, ", ".join("%g" % c for c in bad[:5]), sklearn.__version__))


def _hist_gradient_boosting(est, path, sparse):
    classes = _binary_classes(est, path)
    n = int(est.n_features_in_)
    loss = _class_name(_internal(est, "_loss", path))
    if loss != "HalfBinomialLoss" or est.n_trees_per_iteration_ != 1:
        raise ExportError("%s: HistGradientBoostingClassifier with loss %s and %d trees per "
                          "iteration is not supported (binary log_loss only)"
                          % (path, loss, est.n_trees_per_iteration_))
    if getattr(est, "_preprocessor", None) is not None:
        raise ExportError("%s: HistGradientBoostingClassifier with categorical_features="
                          "'from_dtype' (an internal encoder) is not supported; encode the "
                          "categories in the pipeline" % path)
    baseline = np.asarray(_internal(est, "_baseline_prediction", path), dtype=np.float64).reshape(-1)
    if baseline.shape != (1,):
        raise ExportError("%s: baseline prediction of shape %s" % (path, baseline.shape))
    categorical = []
    is_cat = getattr(est, "is_categorical_", None)
    if is_cat is not None and np.any(is_cat):
        _check_category_codes(est, is_cat, path)
        mapper = _internal(est, "_bin_mapper", path)
        known, f_idx_map = _internal(mapper, "make_known_categories_bitsets", path, callable,
                                     "a method")()
        for f in np.flatnonzero(is_cat):
            categorical.append({"feature": int(f), "known": _bitset_codes(known[f_idx_map[f]])})
    cat_features = {c["feature"] for c in categorical}
    trees = []
    node_fields = {"is_leaf", "left", "right", "feature_idx", "num_threshold", "is_categorical",
                   "bitset_idx", "missing_go_to_left", "value", "count"}
    per_iteration = est.n_trees_per_iteration_
    for i, predictors in enumerate(_internal(
            est, "_predictors", path, lambda v: all(len(p) == per_iteration for p in v),
            "a list of lists of n_trees_per_iteration_ predictors")):
        sub = "%s._predictors[%d][0]" % (path, i)
        p = predictors[0]
        nodes = _internal(p, "nodes", sub, lambda v: node_fields <= set(v.dtype.names or ()),
                          "a structured array with fields %s" % ", ".join(sorted(node_fields)))
        _internal(p, "raw_left_cat_bitsets", sub)
        is_leaf, node_left, node_right = nodes["is_leaf"], nodes["left"], nodes["right"]
        splits, leaves = _preorder(0, lambda k: bool(is_leaf[k]), lambda k: int(node_left[k]),
                                   lambda k: int(node_right[k]))
        ref = _references(splits, leaves, len(nodes))
        sp = np.asarray(splits, dtype=np.intp)
        features = nodes["feature_idx"][sp].astype(np.int64).tolist()
        numeric = _thresholds(np.where(nodes["is_categorical"][sp] != 0, 0.0,
                                       nodes["num_threshold"][sp]), sub)
        thresholds = []
        for j, k in enumerate(splits):
            f = features[j]
            if nodes["is_categorical"][k]:
                b = int(nodes["bitset_idx"][k])
                if f not in cat_features or not 0 <= b < len(p.raw_left_cat_bitsets):
                    raise ExportError("%s: categorical split %d refers to bitset %d of %d"
                                      % (sub, k, b, len(p.raw_left_cat_bitsets)))
                # the codes scikit-learn's predictor tests, even for a "split on nans"
                # whose bitset it never filled
                thresholds.append(_bitset_codes(p.raw_left_cat_bitsets[b]))
            elif f in cat_features:
                raise ExportError("%s: numeric split %d on categorical feature %d" % (sub, k, f))
            else:
                thresholds.append(numeric[j])
        tree = {
            "feature": features,
            "threshold": thresholds,
            "left": ref[node_left[sp].astype(np.intp)].tolist(),
            "right": ref[node_right[sp].astype(np.intp)].tolist(),
            "missing_left": (nodes["missing_go_to_left"][sp] != 0).astype(int).tolist(),
            "value": _finite_list(nodes["value"][np.asarray(leaves, dtype=np.intp)], sub),
        }
        if WRITE_EXPLAIN_FIELDS:
            # the training samples that reached each node (unweighted: the grower counts
            # samples; sample weights only scale the gradients)
            _set_cover(tree, _cover(nodes["count"].astype(np.int64), splits, leaves))
        trees.append(tree)
    doc = {"type": "hist_gradient_boosting",
           "baseline": _float(baseline[0], path + ": baseline"),
           "categorical": categorical, "trees": trees}
    return doc, _scalar_label(classes[1], path), n


class _LeafProba:
    """Stands for a tree in _samme_proba: predict_proba returns the given rows."""

    def __init__(self, proba):
        self.proba = proba

    def predict_proba(self, X):
        return self.proba


def _adaboost_contributions(est, tree, algorithm, weight):
    """Leaf ids -> (n, 2) array: each leaf's contribution to the two columns of
    AdaBoostClassifier.decision_function's sum, computed by the same numpy operations
    that scikit-learn 1.2 applies to a row that reaches the leaf: SAMME.R's
    _samme_proba of the tree's predict_proba, SAMME's (predict == classes) * weight."""
    from sklearn.ensemble._weight_boosting import _samme_proba

    def contributions(leaves):
        value = tree.tree_.value[leaves, 0, :].astype(np.float64)
        if algorithm == "SAMME":
            pred = tree.classes_.take(np.argmax(value, axis=1), axis=0)
            return (pred == est.classes_[:, np.newaxis]).T * weight
        # DecisionTreeClassifier.predict_proba, then _samme_proba itself
        proba = value[:, :tree.n_classes_]
        normalizer = proba.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        proba /= normalizer
        return _samme_proba(_LeafProba(proba), est.n_classes_, None)
    return contributions


def _adaboost(est, path, sparse):
    """AdaBoostClassifier over decision trees: each tree with both classes' leaf
    contributions (value: classes_[1]'s, value_negative: classes_[0]'s) and the sum of
    estimator_weights_ that decision_function divides by."""
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
    classes = _binary_classes(est, path)
    n = int(est.n_features_in_)
    if est.algorithm not in ("SAMME.R", "SAMME"):
        raise ExportError("%s: AdaBoostClassifier algorithm=%r is not supported"
                          % (path, est.algorithm))
    base = getattr(est, "estimator_", None) or getattr(est, "base_estimator_", None)
    if type(base) not in (DecisionTreeClassifier, ExtraTreeClassifier):
        raise ExportError("%s: AdaBoostClassifier estimator=%s is not supported (decision "
                          "trees only)" % (path, _class_name(base)))
    trees = []
    weights = np.asarray(est.estimator_weights_, dtype=np.float64)
    for i, tree in enumerate(est.estimators_):
        sub = "%s.estimators_[%d]" % (path, i)
        if type(tree) not in (DecisionTreeClassifier, ExtraTreeClassifier):
            raise ExportError("%s: AdaBoostClassifier estimator=%s is not supported (decision "
                              "trees only)" % (sub, _class_name(tree)))
        if tree.n_outputs_ != 1 or list(tree.classes_) != list(classes):
            raise ExportError("%s: the tree's classes %r differ from the ensemble's"
                              % (sub, list(tree.classes_)))
        columns = {}

        def class_one(leaves, tree=tree, i=i, columns=columns):
            c = np.asarray(_adaboost_contributions(est, tree, est.algorithm, weights[i])(leaves))
            columns["negative"] = _finite_list(c[:, 0], sub)
            return c[:, 1]
        # no "cover": the format has none for adaboost, whose explanations it does not define
        doc = _standard_tree(tree, sub, class_one, False, cover=False)
        doc["value_negative"] = columns["negative"]
        trees.append(doc)
    weight_sum = _float(weights.sum(), path + ": estimator_weights_.sum()")
    if weight_sum == 0:
        raise ExportError("%s: estimator_weights_ sum to 0" % path)
    doc = {"type": "adaboost", "weight_sum": weight_sum, "trees": trees}
    return doc, _scalar_label(classes[1], path), n


def _float32_from_json(value, what):
    """The float32 that XGBoost's JSON model wrote as value (its shortest decimal, read
    here as a float64): the float32 near value whose own shortest decimal reads as the
    same float64, which rules out a rounding of the decimal between two float32s."""
    d = float(value)
    if not math.isfinite(d):
        raise ExportError("%s: %r is not a finite number" % (what, value))
    f = np.float32(d)
    for g in (f, np.nextafter(f, np.float32(np.inf)), np.nextafter(f, np.float32(-np.inf))):
        if np.isfinite(g) and float(np.format_float_scientific(g, unique=True)) == d:
            return float(g)
    raise ExportError("%s: %r is not a float32 written by XGBoost" % (what, value))


def _xgboost_tree(tree, sub):
    """One tree of XGBoost's JSON model as the format's compact arrays, in preorder.

    A node is a leaf when left_children is -1; a leaf's value is its split_conditions
    entry (XGBoost keeps the leaf value in the split condition's place).  A node's
    cover is its sum_hessian, a float32 like the split conditions."""
    left, right = tree["left_children"], tree["right_children"]
    cond, feature = tree["split_conditions"], tree["split_indices"]
    default_left, split_type = tree["default_left"], tree.get("split_type", [])
    hessian = tree.get("sum_hessian") if WRITE_EXPLAIN_FIELDS else None
    n = len(left)
    if not (len(right) == len(cond) == len(feature) == len(default_left) == n) or n == 0 or \
            (hessian is not None and len(hessian) != n):
        raise ExportError("%s: the tree's node arrays have different lengths" % sub)
    splits, leaves = _preorder(0, lambda k: left[k] == -1, lambda k: int(left[k]),
                               lambda k: int(right[k]))
    if any(split_type[k] != 0 for k in splits if k < len(split_type)):
        raise ExportError("%s: XGBClassifier categorical splits (enable_categorical=True) are "
                          "not supported; encode the categories in the pipeline" % sub)
    ref = _references(splits, leaves, n)
    doc = {
        "feature": [int(feature[k]) for k in splits],
        "threshold": [_float32_from_json(cond[k], "%s: split_conditions[%d]" % (sub, k))
                      for k in splits],
        "left": [int(ref[left[k]]) for k in splits],
        "right": [int(ref[right[k]]) for k in splits],
        "missing_left": [int(bool(default_left[k])) for k in splits],
        "value": [_float32_from_json(cond[k], "%s: leaf %d" % (sub, k)) for k in leaves],
    }
    if WRITE_EXPLAIN_FIELDS and hessian is not None:
        # each float32 written as the float64 of the same value, as the thresholds are
        covers = np.array([_float32_from_json(h, "%s: sum_hessian[%d]" % (sub, k))
                           for k, h in enumerate(hessian)], dtype=np.float64)
        _set_cover(doc, _cover(covers, splits, leaves))
    return doc


def _xgb_classifier(est, path, sparse):
    """XGBClassifier (binary:logistic, gbtree) from its booster's JSON model
    (save_raw("json")), the trees predict_proba uses (best_iteration after early
    stopping): XGBoost's own document, not the wrapper's private state."""
    classes = _binary_classes(est, path)
    if not _is_nan(est.missing):
        raise ExportError("%s: XGBClassifier missing=%r is not supported (only NaN, the "
                          "default)" % (path, est.missing))
    predictor = est.get_xgb_params().get("predictor")
    if predictor not in (None, "auto"):
        raise ExportError("%s: XGBClassifier predictor=%r is not supported (only the default, "
                          "which predicts in place)" % (path, predictor))
    model = json.loads(bytes(est.get_booster().save_raw("json")))["learner"]
    objective = model["objective"]["name"]
    if objective != "binary:logistic":
        raise ExportError("%s: XGBClassifier objective=%r is not supported (binary:logistic "
                          "only)" % (path, objective))
    booster = model["gradient_booster"]["name"]
    if booster != "gbtree":
        raise ExportError("%s: XGBClassifier booster=%r is not supported (gbtree only)"
                          % (path, booster))
    param = model["learner_model_param"]
    if int(param.get("num_class", "0")) != 0 or int(param.get("num_target", "1")) != 1:
        raise ExportError("%s: XGBClassifier with num_class=%s is not supported (binary only)"
                          % (path, param.get("num_class")))
    if "c" in (model.get("feature_types") or []):
        raise ExportError("%s: XGBClassifier categorical features (enable_categorical=True) "
                          "are not supported; encode the categories in the pipeline" % path)
    n = int(param["num_feature"])
    trees = model["gradient_booster"]["model"]["trees"]
    per_iteration = int(model["gradient_booster"]["model"]["gbtree_model_param"]
                        ["num_parallel_tree"])
    # XGBModel.predict's iteration range: best_iteration + 1 rounds when early stopping
    # recorded one, else every tree
    try:
        end = (int(est.best_iteration) + 1) * per_iteration
    except AttributeError:
        end = len(trees)
    if not 0 < end <= len(trees):
        raise ExportError("%s: best_iteration selects %d of %d trees" % (path, end, len(trees)))
    doc = {"type": "xgboost",
           "base_score": _float32_from_json(param["base_score"], path + ": base_score"),
           "zero_is_missing": bool(sparse),
           "trees": [_xgboost_tree(t, "%s: trees[%d]" % (path, i))
                     for i, t in enumerate(trees[:end])]}
    return doc, _scalar_label(classes[1], path), n


def _is_xgb_classifier(est):
    cls = type(est)
    return cls.__name__ == "XGBClassifier" and cls.__module__.split(".")[0] == "xgboost"


def _check_xgboost_blocks(est_doc, blocks, path):
    """XGBoost reads a sparse matrix's zeros as missing and its stored values as present:
    the format says "a zero is missing", which a scaler on the sparse matrix could break
    (a stored value scaled to zero stays stored)."""
    if est_doc["type"] != "xgboost" or not est_doc["zero_is_missing"]:
        return
    for b in blocks:
        if not b.one_hot and any(st["type"] == "multiply" for st in b.steps):
            raise ExportError("%s: XGBClassifier after a scaler on a sparse matrix (column %r) "
                              "is not supported" % (path, b.column))


# linear classifiers without predict_proba: refused by name (calibrate them instead)
_NO_PREDICT_PROBA = ("LinearSVC", "RidgeClassifier", "RidgeClassifierCV", "Perceptron",
                     "PassiveAggressiveClassifier")


def _linear_decision(est, path, sparse):
    """A linear classifier's decision_function alone (LinearClassifierMixin: X @ coef_.T +
    intercept_), for a calibrated fold: link "none"."""
    from sklearn.linear_model import SGDClassifier
    cls = _class_name(est)
    if cls not in _NO_PREDICT_PROBA and type(est) is not SGDClassifier:
        raise ExportError("%s: %s is not supported" % (path, cls))
    doc, positive, n = _logistic_regression(est, path, sparse, cls)
    doc["link"] = "none"
    return doc, positive, n


def _sgd_classifier(est, path, sparse):
    """SGDClassifier: log_loss is predict_proba of the logistic link (_predict_proba_lr,
    as LogisticRegression's one-vs-rest); modified_huber is (clip(d, -1, 1) + 1) / 2."""
    loss = est.loss
    if loss in ("log_loss", "log"):
        link = "logistic"
    elif loss == "modified_huber":
        link = "modified_huber"
    else:
        raise ExportError("%s: SGDClassifier loss=%r has no predict_proba (only 'log_loss' and "
                          "'modified_huber'; calibrate it with CalibratedClassifierCV)"
                          % (path, loss))
    doc, positive, n = _logistic_regression(est, path, sparse, "SGDClassifier")
    doc["link"] = link
    return doc, positive, n


def _gaussian_nb(est, path, sparse):
    """GaussianNB: per class, what _joint_log_likelihood computes from the fitted
    parameters alone, computed here by numpy as scikit-learn computes it: np.log of the
    prior and -0.5 * np.sum(np.log(2.0 * np.pi * var_)); and theta_, var_."""
    classes = _binary_classes(est, path)
    if sparse:
        raise ExportError("%s: GaussianNB on sparse input is not supported (scikit-learn "
                          "refuses sparse data)" % path)
    theta = np.asarray(est.theta_, dtype=np.float64)
    var = np.asarray(est.var_, dtype=np.float64)
    prior = np.asarray(est.class_prior_, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != 2 or var.shape != theta.shape:
        raise ExportError("%s: GaussianNB theta_ has shape %s" % (path, theta.shape))
    if not (var > 0).all():
        raise ExportError("%s: GaussianNB var_ has a value that is not positive" % path)
    log_prior, log_norm = [], []
    with np.errstate(divide="ignore"):
        for i in range(2):
            log_prior.append(_float(np.log(prior[i]), "%s: log(class_prior_[%d])" % (path, i)))
            n_ij = -0.5 * np.sum(np.log(2.0 * np.pi * var[i, :]))
            log_norm.append(_float(n_ij, "%s: -0.5 * sum(log(2 pi var_[%d]))" % (path, i)))
    doc = {
        "type": "gaussian_nb",
        "log_prior": log_prior,
        "log_norm": log_norm,
        "theta": [[_float(v, "%s: theta_" % path) for v in row] for row in theta],
        "var": [[_float(v, "%s: var_" % path) for v in row] for row in var],
    }
    return doc, _scalar_label(classes[1], path), theta.shape[1]


def _sub_estimator(est, path, sparse, parent):
    """An estimator inside a composite one: any supported estimator, not a pipeline."""
    from sklearn.pipeline import Pipeline
    if type(est) is Pipeline:
        raise ExportError("%s: a Pipeline inside %s is not supported (the estimators of the "
                          "document share the preprocessing: put it before the %s)"
                          % (path, parent, parent))
    if _is_xgb_classifier(est):
        # numpy keeps XGBoost's float32 predict_proba float32 through the combination
        raise ExportError("%s: XGBClassifier inside %s is not supported (its probabilities "
                          "are float32)" % (path, parent))
    return _estimator(est, path, sparse)


def _check_same_inputs(subs, path, cls):
    widths = {n for _, _, n in subs}
    if len(widths) != 1:
        raise ExportError("%s: the estimators of %s read %s features" % (path, cls, sorted(widths)))
    return widths.pop()


def _voting(est, path, sparse):
    """VotingClassifier(voting='soft'): np.average of the estimators' predict_proba,
    weighted by weights (the dropped estimators' left out)."""
    classes = _binary_classes(est, path)
    if est.voting != "soft":
        raise ExportError("%s: VotingClassifier voting=%r has no predict_proba (only 'soft')"
                          % (path, est.voting))
    subs = [_sub_estimator(e, "%s.estimators_[%d]" % (path, i), sparse, "VotingClassifier")
            for i, e in enumerate(est.estimators_)]
    weights = est._weights_not_none
    if weights is not None:
        weights = [_float(w, "%s: weights" % path) for w in weights]
        if len(weights) != len(subs):
            raise ExportError("%s: %d weights for %d estimators" % (path, len(weights), len(subs)))
        if any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ExportError("%s: VotingClassifier weights=%r is not supported (non-negative "
                              "weights with a positive sum only)" % (path, weights))
    n = _check_same_inputs(subs, path, "VotingClassifier")
    doc = {"type": "voting", "weights": weights, "estimators": [d for d, _, _ in subs]}
    return doc, _scalar_label(classes[1], path), n


def _calibrator(cal, path):
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression
    if type(cal) is _SigmoidCalibration:
        return "sigmoid", {"a": _float(cal.a_, path + ": a_"), "b": _float(cal.b_, path + ": b_")}
    if type(cal) is IsotonicRegression:
        if cal.out_of_bounds != "clip":
            raise ExportError("%s: IsotonicRegression out_of_bounds=%r is not supported"
                              % (path, cal.out_of_bounds))
        x = np.asarray(cal.X_thresholds_, dtype=np.float64)
        y = np.asarray(cal.y_thresholds_, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or len(x) == 0 or (np.diff(x) <= 0).any():
            raise ExportError("%s: IsotonicRegression thresholds are not increasing" % path)
        if x[0] != cal.X_min_ or x[-1] != cal.X_max_:
            raise ExportError("%s: IsotonicRegression X_min_/X_max_ are not the first and "
                              "last thresholds" % path)
        if not ((y >= 0) & (y <= 1.0 + 1e-5)).all():
            raise ExportError("%s: IsotonicRegression y_thresholds_ outside [0, 1]" % path)
        return "isotonic", {"x": _finite_list(x, path), "y": _finite_list(y, path)}
    raise ExportError("%s: calibrator %s is not supported" % (path, _class_name(cal)))


def _calibrated_pipeline(est):
    """The Pipeline a CalibratedClassifierCV with a single calibrated classifier
    calibrates (cv="prefit" or ensemble=False), else None."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    if type(est) is not CalibratedClassifierCV:
        return None
    ccs = getattr(est, "calibrated_classifiers_", None)
    if ccs is None or len(ccs) != 1 or type(ccs[0].estimator) is not Pipeline or \
            len(ccs[0].estimator.steps) < 2:
        return None
    return ccs[0].estimator


def _calibrated(est, path, sparse, inner=None):
    """CalibratedClassifierCV: the mean of its calibrated_classifiers_, each a fitted
    estimator whose decision_function (else predict_proba[:, 1]) its calibrator maps.

    inner: (final estimator, path) of the single calibrated Pipeline whose preprocessing
    the document's blocks already hold (_calibrated_pipeline)."""
    classes = _binary_classes(est, path)
    folds = []
    subs = []
    methods = set()
    for i, cc in enumerate(est.calibrated_classifiers_):
        sub_path = "%s.calibrated_classifiers_[%d]" % (path, i)
        base = cc.estimator
        if inner is not None:
            base, base_path = inner
        else:
            base_path = sub_path + ".estimator"
        if _class_name(base) in _NO_PREDICT_PROBA or (
                _class_name(base) == "SGDClassifier" and
                base.loss not in ("log_loss", "log", "modified_huber")):
            # no predict_proba: calibration reads its decision_function only
            sub = _linear_decision(base, base_path, sparse)
        else:
            sub = _sub_estimator(base, base_path, sparse, "CalibratedClassifierCV")
        base_classes = getattr(base, "classes_", None)
        if base_classes is None or len(base_classes) != 2 or \
                list(base_classes) != list(classes):
            raise ExportError("%s: the estimator's classes_ %r differ from %r"
                              % (sub_path, base_classes, list(classes)))
        has_decision = hasattr(base, "decision_function")
        if has_decision != (sub[0]["type"] in ("logistic_regression", "gradient_boosting",
                                               "hist_gradient_boosting", "adaboost")):
            raise ExportError("%s: %s's decision_function is not supported here"
                              % (sub_path, _class_name(base)))
        if len(cc.calibrators) != 1:
            raise ExportError("%s: %d calibrators (binary: 1)" % (sub_path, len(cc.calibrators)))
        method, cal = _calibrator(cc.calibrators[0], sub_path + ".calibrators[0]")
        methods.add(method)
        subs.append(sub)
        folds.append({"estimator": sub[0], "calibrator": cal})
    if not folds:
        raise ExportError("%s: CalibratedClassifierCV has no calibrated classifiers" % path)
    if len(methods) != 1:
        raise ExportError("%s: the folds mix calibration methods %s" % (path, sorted(methods)))
    n = _check_same_inputs(subs, path, "CalibratedClassifierCV")
    doc = {"type": "calibrated", "method": methods.pop(), "folds": folds}
    return doc, _scalar_label(classes[1], path), n


def _estimator(est, path, sparse=False):
    """(estimator document, positive class label, number of input features).

    sparse: whether the preprocessing hands the estimator a sparse matrix.
    """
    from sklearn.ensemble import (AdaBoostClassifier, ExtraTreesClassifier,
                                  GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier
    exporters = {
        LogisticRegression: _logistic_regression,
        # a LogisticRegression whose C was chosen by cross-validation: predict_proba is
        # LogisticRegression's (the same ovr/multinomial rule) on its coef_, intercept_
        LogisticRegressionCV: _logistic_regression,
        DecisionTreeClassifier: _decision_tree,
        ExtraTreeClassifier: _decision_tree,
        RandomForestClassifier: _random_forest,
        ExtraTreesClassifier: _random_forest,
        GradientBoostingClassifier: _gradient_boosting,
        HistGradientBoostingClassifier: _hist_gradient_boosting,
        AdaBoostClassifier: _adaboost,
    }
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    exporters.update({
        SGDClassifier: _sgd_classifier,
        GaussianNB: _gaussian_nb,
        VotingClassifier: _voting,
        CalibratedClassifierCV: _calibrated,
    })
    if isinstance(est, str):
        raise ExportError("%s: %r is not a classifier" % (path, est))
    est, path = unwrap_search(est, path)
    if _class_name(est) in _NO_PREDICT_PROBA:
        raise ExportError("%s: %s has no predict_proba (calibrate it with "
                          "CalibratedClassifierCV)" % (path, _class_name(est)))
    exporter = exporters.get(type(est))
    if exporter is None and _is_xgb_classifier(est):
        exporter = _xgb_classifier
    if exporter is None:
        raise ExportError("%s: %s is not supported" % (path, _class_name(est)))
    return exporter(est, path, sparse)


# --------------------------------------------------------------------------
# what is supported: the one list README.md shows (tools/predict-export --supported)

# (scikit-learn class, where it may appear, what is supported / refused).
# Adding a class to the exporter: add its line here, then paste the output of
# `tools/predict-export --supported` into README.md (test/docs checks they agree).
SUPPORTED = [
    ("Pipeline", "anywhere", "nested; a Pipeline as the last step contributes its steps; "
     "`'passthrough'`/`None` steps"),
    ("ColumnTransformer", "preprocessing", "remainder drop, passthrough or a transformer; "
     "`'drop'`/`'passthrough'` entries; column names, indices, masks, slices or "
     "`make_column_selector`; not `transformer_weights`"),
    ("SimpleImputer", "preprocessing", "NaN missing values, every strategy, `add_indicator`"),
    ("OneHotEncoder", "preprocessing", "`handle_unknown` ignore/error/infrequent_if_exist, every "
     "`drop`, infrequent categories (`min_frequency`, `max_categories`), sparse or dense output; "
     "a `dtype` other than float64 when only the estimator follows"),
    ("OrdinalEncoder", "preprocessing", "`handle_unknown` error/use_encoded_value, "
     "`encoded_missing_value`; a `dtype` that holds the codes"),
    ("FunctionTransformer", "preprocessing", "per column: `func` `np.log1p`, `np.log`, `np.sqrt`, "
     "`np.exp`, `np.expm1`, `np.abs` or None; no `kw_args`"),
    ("PowerTransformer", "preprocessing", "yeo-johnson or box-cox, `standardize`"),
    ("QuantileTransformer", "preprocessing", "uniform or normal output"),
    ("KBinsDiscretizer", "preprocessing", "every strategy; ordinal, onehot or onehot-dense; "
     "float64 or float32"),
    ("StandardScaler", "preprocessing", "dense or sparse input"),
    ("MinMaxScaler", "preprocessing", "`clip`; dense input"),
    ("MaxAbsScaler", "preprocessing", "dense or sparse input"),
    ("RobustScaler", "preprocessing", "dense or sparse (`with_centering=False`) input"),
    ("LogisticRegression", "final step", "binary; any solver; one-vs-rest or multinomial"),
    ("LogisticRegressionCV", "final step", "binary; exported as the LogisticRegression it "
     "fitted (`coef_`, `intercept_`)"),
    ("DecisionTreeClassifier", "final step", "binary"),
    ("ExtraTreeClassifier", "final step", "binary"),
    ("RandomForestClassifier", "final step", "binary"),
    ("ExtraTreesClassifier", "final step", "binary"),
    ("GradientBoostingClassifier", "final step", "binary `log_loss` or `exponential`; `init` "
     "the default prior, `'zero'`, a constant `DummyClassifier`, or a `LogisticRegression`, "
     "decision tree or forest (not in managed mode)"),
    ("HistGradientBoostingClassifier", "final step", "binary; `categorical_features` as "
     "indices or a mask (codes 0 to 255), not `'from_dtype'`"),
    ("AdaBoostClassifier", "final step", "binary; SAMME.R or SAMME over decision trees"),
    ("XGBClassifier", "final step", "XGBoost 1.7's; `binary:logistic`, booster `gbtree`, "
     "`missing` NaN; not categorical features; not in managed mode"),
    ("SGDClassifier", "final step", "binary; `loss` `log_loss` or "
     "`modified_huber` (others only inside `CalibratedClassifierCV`)"),
    ("GaussianNB", "final step", "binary; dense input; not in managed mode"),
    ("VotingClassifier", "final step", "binary; `voting='soft'`, with or without "
     "`weights`, `'drop'`ped estimators; its estimators without preprocessing of their own"),
    ("CalibratedClassifierCV", "final step", "binary; sigmoid or isotonic, any "
     "`cv` and `ensemble`, also over `LinearSVC`, `RidgeClassifier`, `Perceptron`, "
     "`PassiveAggressiveClassifier`, and over a whole pipeline with `cv='prefit'` or "
     "`ensemble=False`"),
    ("VarianceThreshold", "after the ColumnTransformer", "its fitted mask"),
    ("SelectKBest", "after the ColumnTransformer", "its fitted mask (also `SelectPercentile`, "
     "`GenericUnivariateSelect`, `SelectFromModel`)"),
    ("PolynomialFeatures", "after the ColumnTransformer", "`degree`, `interaction_only`, "
     "`include_bias`; degree 2 at most on sparse input"),
    ("SplineTransformer", "after the ColumnTransformer", "every `extrapolation` (`'linear'` "
     "from degree 2); periodic ones not in managed mode"),
    ("PCA", "after the ColumnTransformer", "`whiten`; dense input; not before a tree"),
    ("Normalizer", "after the ColumnTransformer", "l1, l2, max; l1/l2 not before a tree"),
    ("FeatureUnion", "after the ColumnTransformer", "of the transformers above; "
     "`transformer_weights`"),
    ("GridSearchCV", "anywhere", "fitted with `refit=True`: its `best_estimator_`"),
    ("RandomizedSearchCV", "anywhere", "fitted with `refit=True`: its `best_estimator_`"),
    ("HalvingGridSearchCV", "anywhere", "fitted with `refit=True`: its `best_estimator_`"),
    ("HalvingRandomSearchCV", "anywhere", "fitted with `refit=True`: its `best_estimator_`"),
]


def supported_markdown():
    """SUPPORTED as the markdown table README.md shows."""
    lines = ["| scikit-learn class | where | supported |", "|---|---|---|"]
    lines += ["| `%s` | %s | %s |" % row for row in SUPPORTED]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# what users pickle: search objects and bundles

_SEARCH_CLASSES = ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV",
                   "HalvingRandomSearchCV")


def _is_search(obj):
    """A fitted-or-not scikit-learn hyper-parameter search (BaseSearchCV)."""
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:   # moved in some version: fall back to the class names
        return _class_name(obj) in _SEARCH_CLASSES
    return isinstance(obj, BaseSearchCV)


def unwrap_search(est, path):
    """(estimator, path): a search object's best_estimator_ (refit), else est itself.

    predict_proba of a search object is its best_estimator_'s, so that is what
    is exported; without refit there is no single fitted estimator to export.
    """
    while _is_search(est):
        cls = _class_name(est)
        if not getattr(est, "refit", False):
            raise ExportError(
                "%s: %s refit=False is not supported (it keeps no fitted best_estimator_): "
                "fit it with refit=True, or fit the estimator with best_params_ and export "
                "that" % (path, cls))
        best = getattr(est, "best_estimator_", None)
        if best is None:
            raise ExportError("%s: %s is not fitted (no best_estimator_)" % (path, cls))
        est, path = best, "%s.best_estimator_" % path
    return est, path


def _is_estimator_like(obj):
    return hasattr(obj, "fit") and (hasattr(obj, "predict_proba") or hasattr(obj, "transform"))


def bundle_message(obj, source=None):
    """The one-line refusal for a dict, list or tuple pickled instead of the pipeline,
    or None when obj is not such a bundle."""
    if not isinstance(obj, (dict, list, tuple)):
        return None
    where = os.path.basename(source) if source else "the pipeline file"
    if isinstance(obj, dict):
        keys = list(obj.keys())
        found = "a dict with keys %s" % ", ".join(repr(k) for k in keys[:8])
        if len(keys) > 8:
            found += ", ... (%d keys)" % len(keys)
        model = [k for k in keys if _is_estimator_like(obj[k])]
        lists = [k for k in keys if isinstance(obj[k], (list, tuple)) and obj[k]
                 and all(isinstance(c, str) for c in obj[k])]
        ref = "bundle[%r]" % (model[0] if model else "...")
    else:
        kinds = [_class_name(x) for x in obj[:8]]
        found = "a %s of %d items (%s%s)" % (type(obj).__name__, len(obj), ", ".join(kinds),
                                            ", ..." if len(obj) > 8 else "")
        model = [i for i, x in enumerate(obj) if _is_estimator_like(x)]
        lists = [i for i, x in enumerate(obj) if isinstance(x, (list, tuple)) and x
                 and all(isinstance(c, str) for c in x)]
        ref = "bundle[%s]" % (model[0] if model else "...")
    columns = " and pass the columns with --columns" if lists else ""
    return ("%s holds %s, not a fitted pipeline: pickle the fitted pipeline itself (e.g. "
            "joblib.dump(%s, 'pipeline.pkl'))%s" % (where, found, ref, columns))
# the feature stage: transformers of the whole feature vector

# the estimators the core scores on the feature stage's dense vector (model.c's
# stage_estimator)
_STAGE_ESTIMATORS = ("logistic_regression", "decision_tree", "random_forest",
                     "gradient_boosting", "hist_gradient_boosting")


def _stage_classes():
    """The transformers the feature stage compiles, by class."""
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import (GenericUnivariateSelect, SelectFromModel,
                                           SelectKBest, SelectPercentile, VarianceThreshold)
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import Normalizer, PolynomialFeatures, SplineTransformer
    return {
        SplineTransformer: _stage_spline,
        VarianceThreshold: _stage_select, SelectKBest: _stage_select,
        SelectPercentile: _stage_select, SelectFromModel: _stage_select,
        GenericUnivariateSelect: _stage_select,
        PolynomialFeatures: _stage_polynomial,
        PCA: _stage_pca,
        Normalizer: _stage_normalizer,
        FeatureUnion: _stage_union,
    }


def _starts_stage(step):
    """True for a transformer of the whole vector (it starts the feature stage)."""
    from sklearn.pipeline import Pipeline
    if type(step) is Pipeline:
        return any(_starts_stage(s) for _, s in step.steps)
    return type(step) in _stage_classes()


class _Stage:
    """The transforms after the blocks: the current width, names and sparsity."""

    def __init__(self, width, names, sparse):
        self.width = width
        self.names = list(names)
        self.sparse = sparse
        # a transform whose sums scikit-learn leaves to BLAS or numpy's reductions:
        # its values may differ from ours in the last place (not for the trees)
        self.inexact = None


def _stage_check_width(est, width, path):
    expected = getattr(est, "n_features_in_", None)
    if expected is not None and int(expected) != width:
        raise ExportError("%s: %s was fitted on %d features but the pipeline gives it %d"
                          % (path, _class_name(est), expected, width))


def _stage_names(est, names, width, prefix):
    """est.get_feature_names_out(names), else prefix0, prefix1, ..."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = [str(x) for x in est.get_feature_names_out(np.asarray(names, dtype=object))]
        if len(out) == width:
            return out
    except Exception:  # noqa: BLE001 - names are for messages only
        pass
    return ["%s%d" % (prefix, j) for j in range(width)]


def _input_check(est):
    """What est's check_array refuses: "finite" unless its allow_nan tag says "none"."""
    from sklearn.utils._tags import _safe_tags
    return "none" if _safe_tags(est, key="allow_nan") else "finite"


def _stage_select(est, st, path):
    """A fitted selector (get_support()): the kept features, in order."""
    _stage_check_width(est, st.width, path)
    mask = np.asarray(est.get_support(), dtype=bool)
    if mask.shape != (st.width,):
        raise ExportError("%s: %s support of shape %s for %d features"
                          % (path, _class_name(est), mask.shape, st.width))
    indices = [int(i) for i in np.flatnonzero(mask)]
    if not indices:
        raise ExportError("%s: %s selects no feature" % (path, _class_name(est)))
    names = [st.names[i] for i in indices]
    return [{"type": "select", "check": _input_check(est), "indices": indices,
             "features": names}], names, st.sparse


def _stage_polynomial(est, st, path):
    """PolynomialFeatures: one term per output, its factors (input indices with
    repetition, in increasing order) multiplied from the last to the first."""
    _stage_check_width(est, st.width, path)
    if st.sparse and est._max_degree > 2:
        raise ExportError("%s: PolynomialFeatures degree=%r on sparse input is not supported "
                          "(its sparse products multiply in another order)" % (path, est.degree))
    powers = np.asarray(est.powers_)
    terms = []
    for row in powers:
        term = []
        for i, p in enumerate(row):
            term.extend([i] * int(p))
        terms.append(term)
    if len(terms) > 4096:
        raise ExportError("%s: PolynomialFeatures gives %d features; the format's limit "
                          "max_stage_features is 8192 for all transforms together" % (path, len(terms)))
    names = _stage_names(est, st.names, len(terms), "poly")
    return [{"type": "polynomial", "check": "finite", "terms": terms, "features": names}], \
        names, st.sparse


def _stage_pca(est, st, path):
    """PCA: (x - mean_) @ components_.T, divided by sqrt(explained_variance_) when whiten."""
    _stage_check_width(est, st.width, path)
    if st.sparse:
        raise ExportError("%s: PCA on sparse input is not supported (scikit-learn refuses it)"
                          % path)
    comps = np.asarray(est.components_, dtype=np.float64)
    mean = getattr(est, "mean_", None)
    divisor = None
    if est.whiten:
        divisor = np.sqrt(np.asarray(est.explained_variance_, dtype=np.float64))
        if not (divisor > 0).all():
            raise ExportError("%s: PCA whiten=True with a zero explained_variance_" % path)
    names = _stage_names(est, st.names, comps.shape[0], "pca")
    doc = {"type": "linear", "check": "finite",
           "mean": None if mean is None else [_float(v, path + ": mean_") for v in mean],
           "matrix": [[_float(v, path + ": components_") for v in row] for row in comps],
           "divisor": None if divisor is None else [_float(v, path) for v in divisor],
           "features": names}
    return [doc], names, False


def _stage_spline(est, st, path):
    """SplineTransformer: per input feature the knots of its B-spline basis (scipy's
    BSpline with an identity coefficient matrix, wrapped around when periodic)."""
    _stage_check_width(est, st.width, path)
    if st.sparse:
        raise ExportError("%s: SplineTransformer on sparse input is not supported "
                          "(scikit-learn refuses it)" % path)
    degree, mode = int(est.degree), est.extrapolation
    if mode not in ("error", "constant", "linear", "continue", "periodic"):
        raise ExportError("%s: SplineTransformer extrapolation=%r is not supported" % (path, mode))
    if mode == "linear" and degree <= 1:
        raise ExportError("%s: SplineTransformer extrapolation='linear' with degree=%d is not "
                          "supported (scikit-learn 1.2 continues degree + 1 functions and "
                          "raises the degree of the next features)" % (path, degree))
    if degree > 16:
        raise ExportError("%s: SplineTransformer degree=%d is not supported (at most 16)"
                          % (path, degree))
    n_splines = int(est.bsplines_[0].c.shape[1])
    coef = np.eye(n_splines, dtype=np.float64)
    if mode == "periodic":
        coef = np.concatenate((coef, coef[:degree, :]))
    knots = []
    for i, spl in enumerate(est.bsplines_):
        if int(spl.k) != degree or not np.array_equal(np.asarray(spl.c), coef) or \
                bool(spl.extrapolate) != (mode in ("periodic", "continue")):
            raise ExportError("%s: SplineTransformer bsplines_[%d] is not the basis it fits"
                              % (path, i))
        knots.append([_float(v, "%s: knots" % path) for v in np.asarray(spl.t, dtype=np.float64)])
    width = len(knots) * (n_splines - (0 if est.include_bias else 1))
    names = _stage_names(est, st.names, width, "spline")
    return [{"type": "spline", "check": "finite", "degree": degree, "extrapolation": mode,
             "include_bias": bool(est.include_bias), "splines": n_splines, "knots": knots,
             "features": names}], names, False


def _stage_normalizer(est, st, path):
    """Normalizer: each row divided by its norm; a dense row's norm below 10 eps is
    taken as 1 (_handle_zeros_in_scale), a sparse row's only when it is 0."""
    _stage_check_width(est, st.width, path)
    if est.norm not in ("l1", "l2", "max"):
        raise ExportError("%s: Normalizer norm=%r is not supported" % (path, est.norm))
    zero_below = 0.0 if st.sparse else float(10 * np.finfo(np.float64).eps)
    return [{"type": "normalize", "check": "finite", "norm": est.norm,
             "zero_below": zero_below, "features": list(st.names)}], list(st.names), st.sparse


def _stage_scaler(est, st, path):
    """A scaler over the whole vector: standardize / multiply / min_max arrays."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
    _stage_check_width(est, st.width, path)
    kind = type(est)
    cls = _class_name(est)

    def vec(a, what):
        return None if a is None else [_float(v, "%s: %s %s" % (path, cls, what))
                                       for v in np.asarray(a, dtype=np.float64).reshape(-1)]

    names = list(st.names)
    if kind is MinMaxScaler:
        if st.sparse:
            raise ExportError("%s: MinMaxScaler on sparse input" % path)
        lo, hi = est.feature_range
        clip = [_float(lo, path), _float(hi, path)] if getattr(est, "clip", False) else None
        doc = {"type": "min_max", "check": "no_infinity", "scale": vec(est.scale_, "scale_"),
               "min": vec(est.min_, "min_"), "clip": clip}
    elif st.sparse:
        centering = est.with_mean if kind is StandardScaler else \
            est.with_centering if kind is RobustScaler else False
        if centering:
            raise ExportError("%s: %s with centering on sparse input" % (path, cls))
        scaling = est.with_std if kind is StandardScaler else \
            est.with_scaling if kind is RobustScaler else True
        if not scaling or est.scale_ is None:
            return [], names, st.sparse
        doc = {"type": "multiply", "check": "no_infinity",
               "factor": vec(1 / np.asarray(est.scale_, dtype=np.float64), "1 / scale_")}
    else:
        if kind is StandardScaler:
            center = est.mean_ if est.with_mean else None
            scale = est.scale_ if est.with_std else None
        elif kind is RobustScaler:
            center = est.center_ if est.with_centering else None
            scale = est.scale_ if est.with_scaling else None
        elif kind is MaxAbsScaler:
            center, scale = None, est.scale_
        else:  # pragma: no cover
            raise ExportError("%s: %s is not supported" % (path, cls))
        doc = {"type": "standardize", "check": "no_infinity", "center": vec(center, "center"),
               "scale": vec(scale, "scale_")}
    doc["features"] = names
    return [doc], names, st.sparse


def _stage_union(est, st, path):
    """FeatureUnion: each part reads the union's input; outputs concatenated, each
    part's multiplied by its transformer_weights entry."""
    _stage_check_width(est, st.width, path)
    weights = est.transformer_weights or {}
    parts, names, part_weights = [], [], []
    sparse = False
    for i, (name, trans) in enumerate(est.transformer_list):
        sub = "%s.transformer_list[%d] %r" % (path, i, name)
        if isinstance(trans, str) and trans == "drop":
            continue
        part = _Stage(st.width, st.names, st.sparse)
        docs = _stage_chain([(sub, trans)], part)
        w = weights.get(name)
        parts.append(docs)
        part_weights.append(1.0 if w is None else _float(w, sub + ": weight"))
        names.extend("%s__%s" % (name, n) for n in part.names)
        sparse = sparse or part.sparse
        st.inexact = st.inexact or part.inexact
    if not parts:
        raise ExportError("%s: FeatureUnion has no transformer" % path)
    doc = {"type": "union", "parts": parts,
           "weights": part_weights if weights else None, "features": names}
    return [doc], names, sparse


def _stage_chain(steps, st):
    """Compile (path, step) pairs into transforms; updates st; returns the list."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (FunctionTransformer, MaxAbsScaler, MinMaxScaler,
                                       RobustScaler, StandardScaler)
    out = []
    for path, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if type(step) is Pipeline:
            out.extend(_stage_chain([("%s.steps[%d] %r" % (path, i, n), s)
                                     for i, (n, s) in enumerate(step.steps)], st))
            continue
        kind = type(step)
        if kind is FunctionTransformer and step.func is None:
            # FeatureUnion's 'passthrough' (and the identity): check_array if validate
            if not step.validate:
                continue
            docs, names, sparse = [{"type": "select", "check": "finite",
                                    "indices": list(range(st.width)),
                                    "features": list(st.names)}], list(st.names), st.sparse
        elif kind in (StandardScaler, RobustScaler, MaxAbsScaler, MinMaxScaler):
            docs, names, sparse = _stage_scaler(step, st, path)
        elif kind in _stage_classes():
            docs, names, sparse = _stage_classes()[kind](step, st, path)
        else:
            raise ExportError("%s: %s after a transformer of the whole feature vector is not "
                              "supported" % (path, _class_name(step)))
        out.extend(docs)
        st.width, st.names, st.sparse = len(names), names, sparse
        if docs and docs[-1]["type"] == "linear" or \
                docs and docs[-1]["type"] == "normalize" and docs[-1]["norm"] != "max":
            st.inexact = "%s (%s)" % (path, _class_name(step))
    return out


def _prefix_names(steps, blocks, input_names):
    """get_feature_names_out() of the fitted steps before the stage, else the blocks'."""
    from sklearn.pipeline import Pipeline
    width = sum(b.width for b in blocks)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = [str(x) for x in Pipeline(steps).get_feature_names_out()]
        if len(names) == width:
            return names
    except Exception:  # noqa: BLE001 - fall back on the blocks' own names
        pass
    return [n for group in _feature_names(None, blocks, input_names) for n in group]


# --------------------------------------------------------------------------
# column types

def column_type_from_dtype(dtype, column):
    """'number' for numeric/boolean pandas dtypes, 'string' for object/string ones; a
    category dtype by its categories' kind."""
    text = str(dtype)
    categories = column_categories_from_dtype(dtype, column)
    if categories is not None:
        return "string" if isinstance(categories[0], str) else "number"
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind == "f" and np.dtype(dtype).itemsize < 8:
        raise ExportError("column %r: dtype %s is not supported (astype rounds the values to "
                          "it; the core reads float64): use float64" % (column, text))
    if kind in ("i", "u", "f", "b"):
        return "number"
    if kind == "O" or text in ("str",):
        return "string"
    if column_values_from_dtype(dtype) is not None or text == "Float64":
        return "number"
    if text == "string":
        raise ExportError("column %r: dtype string is not supported (its astype turns numbers "
                          "into text and keeps pd.NA, which scikit-learn does not treat as "
                          "missing); use object" % column)
    if text in ("Int8", "Int16", "Int32", "UInt8", "UInt16", "UInt32", "UInt64", "Float32"):
        raise ExportError("column %r: the nullable dtype %s is not supported (Int64, Float64 "
                          "and boolean are)" % (column, text))
    raise ExportError("column %r: dtype %s is not supported (numeric, boolean, object or "
                      "category only)" % (column, text))


def column_values_from_dtype(dtype):
    """The "values" rule of a pandas nullable dtype whose astype refuses values that the
    float64 reading accepts: "integer" (Int64), "boolean"; else None."""
    return {"Int64": "integer", "boolean": "boolean"}.get(str(dtype))


def column_categories_from_dtype(dtype, column):
    """A pandas CategoricalDtype's categories as a JSON list (strings, or numbers), else
    None: astype to it turns any other value into NaN (docs: "Columns and input values")."""
    try:
        import pandas as pd
    except ImportError:      # pragma: no cover - pandas comes with scikit-learn's users
        return None
    if not isinstance(dtype, pd.CategoricalDtype):
        return None
    cats = dtype.categories
    if cats is None or len(cats) == 0:
        raise ExportError("column %r: a category dtype without categories is not supported"
                          % column)
    kind = cats.dtype.kind
    if kind == "O" and all(isinstance(c, str) for c in cats):
        return [str(c) for c in cats]
    if kind in ("i", "u", "f"):
        return [_number(c, "column %r category" % column) for c in cats]
    raise ExportError("column %r: category dtype with %s categories is not supported (strings "
                      "or numbers only)" % (column, cats.dtype))


def load_dtypes(obj):
    """A {column: dtype} dict from a pandas Series of dtypes (dtypes.pickle) or a mapping."""
    if hasattr(obj, "dtypes") and hasattr(obj, "columns"):
        raise ExportError("expected the training frame's dtypes (a pandas Series, X.dtypes), "
                          "got a %s: pickle its .dtypes" % type(obj).__name__)
    if not hasattr(obj, "items"):
        raise ExportError("expected the training frame's dtypes (a pandas Series, X.dtypes, or "
                          "a mapping of column name to dtype), got %s" % type(obj).__name__)
    out = {}
    for k, v in obj.items():
        if isinstance(v, (list, tuple, dict, set)) or hasattr(v, "shape") and \
                getattr(v, "ndim", 0) > 0:
            raise ExportError("column %r: expected a dtype, got %s: pickle the training frame's "
                              ".dtypes" % (str(k), type(v).__name__))
        out[str(k)] = v
    return out


# --------------------------------------------------------------------------
# the document

def _feature_names(pipeline, blocks, input_names):
    """get_feature_names_out() of the preprocessing, split per block."""
    from sklearn.pipeline import Pipeline
    names = None
    try:
        if type(pipeline) is Pipeline and len(pipeline.steps) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                names = [str(x) for x in pipeline[:-1].get_feature_names_out()]
    except Exception:
        names = None
    total = sum(b.width for b in blocks)
    if names is None or len(names) != total:
        names = []
        for b in blocks:
            onehot = [s for s in b.steps if s["type"] == "one_hot"]
            if onehot:
                s = onehot[0]
                grouped = [c for c in s["categories"] if c not in s.get("infrequent", [])]
                if "infrequent" in s:
                    grouped.append("infrequent_sklearn")
                cats = [c for j, c in enumerate(grouped) if j != s["drop"]]
                names.extend("%s_%s" % (b.column, "nan" if c is None else c) for c in cats)
            elif b.steps and b.steps[-1]["type"] == "indicator":
                names.append("missingindicator_%s" % b.column)
            else:
                names.append(b.column)
    out = []
    k = 0
    for b in blocks:
        out.append(names[k:k + b.width])
        k += b.width
    return out


def export(pipeline, columns=None, dtypes=None, name="model", threshold=None,
           source=None, training_rows=None, exported_at=None):
    """Compile a fitted pipeline (or bare classifier) into a model document (dict).

    threshold: None for scikit-learn's own predict() rule ("threshold": null,
        with the trees' class-0 fractions), or a number: predicted_class is
        proba >= threshold (a soft voting's trees get their class-0 fractions
        too for None: its predict() averages both columns).

    columns: the training frame's column names in order (columns.json), or None
        for the pipeline's feature_names_in_.
    dtypes: {column: dtype} of the training frame (dtypes.pickle), or None to
        infer each column's type from the transformers that read it.
    training_rows: used when no step records n_samples_seen_.
    Raises ExportError for anything unsupported.
    """
    import sklearn
    from sklearn.pipeline import Pipeline

    if threshold is not None and not (isinstance(threshold, (int, float)) and
                                      not isinstance(threshold, bool) and 0 <= threshold <= 1):
        raise ExportError("threshold: expected a number between 0 and 1, got %r" % (threshold,))
    name = str(name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", name):
        raise ExportError("name: %r is not 1 to 63 characters of [A-Za-z0-9_.-]" % name)
    bundle = bundle_message(pipeline, source)
    if bundle is not None:
        raise ExportError(bundle)
    searched, search_root = None, None
    if _is_search(pipeline):
        searched = pipeline
        pipeline, search_root = unwrap_search(pipeline, "search")
        if isinstance(pipeline, (dict, list, tuple)):
            raise ExportError(bundle_message(pipeline, source))

    if type(pipeline) is Pipeline:
        root = search_root or "pipeline"
        if not pipeline.steps:
            raise ExportError("%s: empty Pipeline" % root)

        def flatten(pipe, path):
            # a Pipeline as the last step contributes its own steps
            items = [("%s.steps[%d] %r" % (path, i, n), s) for i, (n, s) in enumerate(pipe.steps)]
            last_path, last = items[-1]
            last, last_path = unwrap_search(last, last_path)
            items[-1] = (last_path, last)
            if type(last) is Pipeline and last.steps:
                return items[:-1] + flatten(last, last_path)
            return items

        items = flatten(pipeline, root)
        transformers = items[:-1]
        final_path, final = items[-1]
    else:
        root = search_root or "estimator"
        transformers = []
        final = pipeline
        final_path = root

    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted
    try:
        check_is_fitted(pipeline if type(pipeline) is not Pipeline else final)
    except NotFittedError:
        raise ExportError("%s: %s is not fitted" % (final_path, _class_name(final)))
    except TypeError:
        pass   # not an estimator: refused below with its class name
    # a CalibratedClassifierCV of one pipeline (cv="prefit" or ensemble=False): its
    # preprocessing is the document's, its final estimator the calibrated fold's
    calibrated = None
    inner = _calibrated_pipeline(final)
    if inner is not None:
        calibrated = (final, final_path)
        inner_path = "%s.calibrated_classifiers_[0].estimator" % final_path
        inner_items = [("%s.steps[%d] %r" % (inner_path, i, n), step)
                       for i, (n, step) in enumerate(inner.steps)]
        transformers = transformers + inner_items[:-1]
        final_path, final = inner_items[-1]

    # the input columns the pipeline reads, in its own order
    real_steps = [s for _, s in transformers
                  if s is not None and not (isinstance(s, str) and s == "passthrough")]
    first = real_steps[0] if real_steps else final
    fitted_names = getattr(first, "feature_names_in_", None)
    while type(first) is Pipeline:      # the step that actually reads the frame
        inner = [s for _, s in first.steps
                 if s is not None and not (isinstance(s, str) and s == "passthrough")]
        if not inner:
            break
        first = inner[0]
    if columns is not None:
        columns = [str(c) for c in columns]
        if len(set(columns)) != len(columns):
            raise ExportError("columns: duplicate column names")
    if fitted_names is not None:
        input_names = [str(c) for c in fitted_names]
        if columns is not None:
            missing = [c for c in input_names if c not in columns]
            if missing:
                raise ExportError("columns: the pipeline reads columns %s that are not in "
                                  "columns.json" % missing)
    elif columns is not None:
        input_names = list(columns)   # fitted on arrays: columns.json gives the positions
    else:
        raise ExportError("%s: the pipeline was fitted without column names "
                          "(no feature_names_in_); pass --columns" % root)
    if columns is None:
        columns = list(input_names)
    if len(set(input_names)) != len(input_names):
        raise ExportError("%s: duplicate input column names" % root)
    from sklearn.compose import ColumnTransformer
    if fitted_names is not None and type(first) is not ColumnTransformer and \
            columns != input_names:
        raise ExportError("columns: columns.json must list the pipeline's feature_names_in_ "
                          "in the same order, because its first step (%s) reads the frame "
                          "by position" % _class_name(first))

    column_types = {}
    if dtypes is not None:
        for c in columns:
            if c in dtypes:
                column_types[c] = column_type_from_dtype(dtypes[c], c)
    ctx = _Context(column_types)
    blocks = [Block(c, column_types.get(c)) for c in input_names]
    sparse = False
    stage = None          # the feature stage, once a transformer of the whole vector came
    stage_docs = []
    block_names = None
    compiled = []
    for step_path, step in transformers:
        if stage is None and not _starts_stage(step):
            blocks, sparse = _compile(step, blocks, sparse, step_path, ctx)
            compiled.append(("s%d" % len(compiled), step))
            continue
        if stage is None:
            _check_numeric_blocks(blocks, step_path, _class_name(step), ctx)
            block_names = _prefix_names(compiled, blocks, input_names)
            stage = _Stage(sum(b.width for b in blocks), block_names, sparse)
        stage_docs.extend(_stage_chain([(step_path, step)], stage))
    if stage is not None:
        sparse = stage.sparse

    if calibrated is not None:
        est_doc, positive, n_inputs = _calibrated(calibrated[0], calibrated[1], sparse,
                                                  (final, final_path))
    else:
        est_doc, positive, n_inputs = _estimator(final, final_path, sparse)
    _check_xgboost_blocks(est_doc, blocks, final_path)
    if threshold is None:
        _add_class0_fractions(final, final_path, est_doc)
    if stage is not None and est_doc["type"] not in _STAGE_ESTIMATORS:
        raise ExportError("%s: %s after a transformer of the whole feature vector is not "
                          "supported (only LogisticRegression and scikit-learn's trees, forests "
                          "and gradient boosting there)" % (final_path, _class_name(final)))
    if stage is not None and isinstance(est_doc.get("init"), dict):
        raise ExportError("%s: GradientBoostingClassifier with an init estimator after a "
                          "transformer of the whole feature vector is not supported (only a "
                          "constant init there)" % final_path)
    if stage is not None and stage.inexact and est_doc["type"] != "logistic_regression":
        raise ExportError(
            "%s: %s after %s is not supported (the trees would compare values whose last "
            "bits scikit-learn leaves to BLAS's order of sums: a split could flip)"
            % (final_path, _class_name(final), stage.inexact))
    _check_numeric_blocks(blocks, final_path, _class_name(final), ctx)
    width = sum(b.width for b in blocks) if stage is None else stage.width
    if width != n_inputs:
        if est_doc["type"] == "logistic_regression":
            raise ExportError("%s: the preprocessing gives %d features but LogisticRegression "
                              "has %d coefficients" % (final_path, width, n_inputs))
        raise ExportError("%s: the preprocessing gives %d features but %s was fitted on %d"
                          % (final_path, width, _class_name(final), n_inputs))
    if not blocks:
        raise ExportError("%s: the preprocessing produces no features" % root)

    if block_names is not None:
        feature_names, k = [], 0
        for b in blocks:
            feature_names.append(block_names[k:k + b.width])
            k += b.width
    else:
        feature_names = _feature_names(pipeline, blocks, input_names)
    col_docs = []
    for c in columns:
        entry = {"name": c, "type": ctx.column_types.get(c, "string")}
        if dtypes is not None and c in dtypes:
            entry["dtype"] = str(dtypes[c])
            categories = column_categories_from_dtype(dtypes[c], c)
            if categories is not None:
                entry["categories"] = categories
            values = column_values_from_dtype(dtypes[c])
            if values is not None and entry["type"] == "number":
                entry["values"] = values
        col_docs.append(entry)
    pre = [{"column": b.column, "steps": b.steps, "features": f}
           for b, f in zip(blocks, feature_names)]

    _drop_partial_covers(est_doc)
    rows = ctx.training_rows[0] if ctx.training_rows else training_rows
    when = exported_at or datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    doc = {
        "format": FORMAT,
        "name": name,
        "columns": col_docs,
        "preprocessing": pre,
        "transforms": stage_docs,
        "estimator": est_doc,
        "positive_class": positive,
        "threshold": None if threshold is None else float(threshold),
        "provenance": {
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "exported_at": when,
            "training_rows": None if rows is None else int(rows),
            "exporter": EXPORTER,
            "source": None if source is None else os.path.basename(source),
            "pipeline": re.sub(r"\s*\n\s*", " ", repr(pipeline)),
        },
    }
    if est_doc["type"] == "xgboost":
        import xgboost
        doc["provenance"]["xgboost_version"] = xgboost.__version__
    if searched is not None:
        # what was searched, and what won: the document is the best_estimator_
        doc["provenance"]["search"] = "%s best_params_=%s" % (
            _class_name(searched), re.sub(r"\s*\n\s*", " ", repr(searched.best_params_)))
    if source is None:
        del doc["provenance"]["source"]
    if not stage_docs:
        del doc["transforms"]
    return doc


def _compact(obj):
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def dumps(doc):
    """The document as JSON text: one line per column, block and estimator field."""
    out = ["{"]
    keys = list(doc)
    for i, k in enumerate(keys):
        v = doc[k]
        comma = "," if i < len(keys) - 1 else ""
        key = json.dumps(k)
        if k == "reference" and isinstance(v, dict) and isinstance(v.get("columns"), list):
            out.append("  %s: {" % key)
            sub = list(v)
            for j, sk in enumerate(sub):
                tail = "," if j < len(sub) - 1 else ""
                if sk == "columns" and v[sk]:
                    out.append("    \"columns\": [")
                    for m, item in enumerate(v[sk]):
                        out.append("      %s%s" % (_compact(item), "," if m < len(v[sk]) - 1 else ""))
                    out.append("    ]%s" % tail)
                else:
                    out.append("    %s: %s%s" % (json.dumps(sk), _compact(v[sk]), tail))
            out.append("  }%s" % comma)
        elif k in ("columns", "preprocessing", "transforms") and v:
            out.append("  %s: [" % key)
            for j, item in enumerate(v):
                out.append("    %s%s" % (_compact(item), "," if j < len(v) - 1 else ""))
            out.append("  ]%s" % comma)
        elif isinstance(v, dict) and v:
            out.append("  %s: {" % key)
            sub = list(v)
            for j, sk in enumerate(sub):
                out.append("    %s: %s%s" % (json.dumps(sk), _compact(v[sk]),
                                             "," if j < len(sub) - 1 else ""))
            out.append("  }%s" % comma)
        else:
            out.append("  %s: %s%s" % (key, _compact(v), comma))
    out.append("}")
    text = "\n".join(out) + "\n"
    assert json.loads(text) == doc
    return text


def write_model(doc, path):
    text = dumps(doc)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# observations, the scikit-learn reference and the C CLI

class RejectedObservation(Exception):
    """An observation that docs/model-format.md says cannot be scored."""


def _json_number_as_float(v):
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def normalize_value(value, ctype, allow_inf=False):
    """An observation's JSON value as the reference frame holds it.

    This is the tutorial's pd.DataFrame([obs], columns).astype(dtypes) with the
    deliberate differences of docs/model-format.md: null is missing (NaN) like
    an absent key (†1), integer columns are float64 (†1'), and strings with
    non-ASCII characters are not numbers (†2).  Numbers are read as float64,
    as the C loader reads them.  Everything else is left to pandas and
    scikit-learn, which reject what they reject.
    """
    if value is None:
        return np.nan
    if isinstance(value, str) and "\x00" in value:
        raise RejectedObservation("string contains \\u0000")
    if isinstance(value, bool):
        return float(value) if ctype == "number" else value
    if isinstance(value, (int, float)):
        value = _json_number_as_float(value)
        if ctype == "number" and math.isinf(value) and not allow_inf:
            # every step reading a number column rejects infinity (docs); so does
            # scikit-learn on numeric arrays, but not on the object arrays made when a
            # number column is selected together with string columns
            raise RejectedObservation("infinite number")
        return value
    if isinstance(value, str) and ctype == "number" and not value.isascii():
        raise RejectedObservation("non-ASCII characters in a number")
    return value


def _nullable_value(value, name, rule):
    """A value through the tutorial's one-row astype to Int64 or boolean (pd.NA read as
    NaN, as scikit-learn reads it), or RejectedObservation where astype fails."""
    import pandas as pd
    if value is not None and not isinstance(value, (str, bool, int, float)):
        raise RejectedObservation("an object or array for a number column")
    if isinstance(value, str) and (not value.isascii() or "\x00" in value):
        raise RejectedObservation("non-ASCII characters in a number")
    dtype = "Int64" if rule == "integer" else "boolean"
    try:
        one = pd.DataFrame([{name: value}], columns=[name]).astype({name: dtype})
    except Exception as e:  # noqa: BLE001 - what astype refuses, the row is refused
        raise RejectedObservation("astype(%s): %s" % (dtype, e))
    v = one[name].iloc[0]
    return np.nan if v is pd.NA else float(v)


def _category_json_value(value):
    """A JSON value as the tutorial's frame holds it before astype to a category dtype:
    None for null, the Python value otherwise (its astype then keeps it or makes it NaN;
    an object or array is an error, like the core's)."""
    if isinstance(value, str) and "\x00" in value:
        raise RejectedObservation("string contains \\u0000")
    if isinstance(value, (dict, list)):
        raise RejectedObservation("an object or array for a category column")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _json_number_as_float(value)
    return value


def reference_frame(observations, columns, allow_inf=()):
    """A DataFrame of the observations, per the docs' reading rules.

    columns: the model's column entries ({"name", "type"}).  Columns that no
    block reads should be passed with type None: they are ignored (NaN).
    allow_inf: number columns whose infinite values are left for scikit-learn
    to judge (see infinite_columns).
    """
    import pandas as pd
    data = {}
    for col in columns:
        name, ctype = col["name"], col["type"]
        arr = np.empty(len(observations), dtype=object)
        for i, obs in enumerate(observations):
            if "values" in col and ctype is not None:
                arr[i] = _nullable_value(obs.get(name), name, col["values"])
            elif "categories" in col and ctype is not None:
                # the tutorial's astype to the category dtype, on a one-row frame (the
                # value's own dtype decides: True alone is bool, never the category 1)
                v = _category_json_value(obs.get(name))
                one = pd.DataFrame([{name: v}], columns=[name]).astype(
                    {name: pd.CategoricalDtype(col["categories"])})
                arr[i] = one[name].iloc[0]
            else:
                arr[i] = np.nan if ctype is None else normalize_value(obs.get(name), ctype,
                                                                       name in allow_inf)
        data[name] = pd.Series(arr, dtype=object)
    frame = pd.DataFrame(data, columns=[c["name"] for c in columns])
    types = {c["name"]: (pd.CategoricalDtype(c["categories"]) if "categories" in c and
                         c["type"] is not None else
                         "float64" if c["type"] == "number" else object) for c in columns}
    frame = frame.astype(types)
    numbers = [c["name"] for c in columns if c["type"] == "number" and c["name"] not in allow_inf
               and "categories" not in c]
    if numbers and np.isinf(frame[numbers].to_numpy()).any():
        raise RejectedObservation("infinite number")   # see normalize_value
    return frame


def leaf_estimators(est):
    """The estimators a composite (voting, calibrated) combines, recursively; else [est],
    followed for a gradient_boosting by its init estimator if it has one."""
    if est["type"] == "gradient_boosting" and isinstance(est["init"], dict):
        return [est] + leaf_estimators(est["init"])
    if est["type"] == "voting":
        return [x for sub in est["estimators"] for x in leaf_estimators(sub)]
    if est["type"] == "calibrated":
        return [x for fold in est["folds"] for x in leaf_estimators(fold["estimator"])]
    return [est]


def infinite_columns(doc):
    """Number columns whose infinite values reach the estimator unchanged and are
    scored: those read only by blocks without steps, when the estimator is
    hist_gradient_boosting (which takes infinity, force_all_finite=False) or
    xgboost (which checks nothing)."""
    if any(e["type"] not in ("hist_gradient_boosting", "xgboost")
           for e in leaf_estimators(doc["estimator"])) and not doc.get("transforms"):
        # (a feature stage may drop such a value before the estimator sees it)
        return set()
    out = set()
    for c in doc["columns"]:
        blocks = [b for b in doc["preprocessing"] if b["column"] == c["name"]]
        if c["type"] == "number" and blocks and not any(b["steps"] for b in blocks):
            out.add(c["name"])
    return out


def used_columns(doc):
    return {b["column"] for b in doc["preprocessing"]}


def model_columns(doc):
    used = used_columns(doc)
    out = []
    for c in doc["columns"]:
        entry = {"name": c["name"], "type": c["type"] if c["name"] in used else None}
        if "categories" in c:
            entry["categories"] = c["categories"]
        if "values" in c:
            entry["values"] = c["values"]
        out.append(entry)
    return out


def sklearn_scores(pipeline, doc, observations, positive_index=1):
    """scikit-learn's predict_proba[:, 1] for each observation (dict).

    Returns a list holding a float, or an Exception for the rows scikit-learn
    (or the docs' reading rules) reject.  A NaN probability counts as a
    rejection (docs: "the result is not a number").  Scores all rows in one
    frame when possible, else splits the batch until each failing row is alone.
    """
    def score(frame):
        return pipeline.predict_proba(frame)[:, positive_index]

    def as_result(p):
        p = float(p)
        return ValueError("probability is NaN") if math.isnan(p) else p

    return _sklearn_rows(doc, observations, score, as_result)


def sklearn_classes(pipeline, doc, observations):
    """Whether scikit-learn's predict() gives classes_[1] (the document's
    positive class), for each observation; an Exception for rejected rows."""
    positive = pipeline.classes_[1]

    def predict(frame):
        return pipeline.predict(frame) == positive

    return _sklearn_rows(doc, observations, predict, bool)


def _sklearn_rows(doc, observations, method, as_result):
    """method(frame) per row of observations as reference_frame builds them,
    as sklearn_scores describes."""
    cols = model_columns(doc)
    allow_inf = infinite_columns(doc)

    def score(obs_list):
        return method(reference_frame(obs_list, cols, allow_inf))

    def scores(obs_list):
        # the whole batch if it scores, else its halves: rows are independent, so this
        # gives each row the result it gets alone, with far fewer calls than row by row
        try:
            return [as_result(p) for p in score(obs_list)]
        except Exception as e:  # noqa: BLE001 - any rejection counts
            if len(obs_list) == 1:
                return [e]
        half = len(obs_list) // 2
        return scores(obs_list[:half]) + scores(obs_list[half:])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scores(list(observations)) if observations else []


# --------------------------------------------------------------------------
# the reference: what the training data looked like, for monitoring

REFERENCE_PROBA_BINS = 10          # uniform bins of the predicted probability
REFERENCE_QUANTILES = [i / 10 for i in range(1, 10)]   # deciles as bin edges
REFERENCE_MAX_CATEGORIES = 1000    # most frequent categories listed; the rest is "other"


def _bin_fractions(values, edges, rows):
    """Fractions of rows per bin of `values` (float64 array): bin i holds the
    values x with edges[i-1] <= x < edges[i] (the first bin everything below
    edges[0], the last everything from edges[-1] up, infinities included):
    numpy's searchsorted side 'right', PostgreSQL's width_bucket."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return [float(c) / rows for c in counts]


def _reference_number(raw, rows, quantiles):
    """A number column's entry: missing rate, decile edges, fractions of all rows."""
    values = []
    missing = 0
    for v in raw:
        x = np.nan if v is None else v
        if isinstance(x, str):
            try:
                x = float(x) if x.isascii() else np.nan
            except ValueError:
                x = np.nan
        else:
            x = _json_number_as_float(x)
        if math.isnan(x):
            missing += 1
        else:
            values.append(x)
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    edges = []
    if len(finite):
        edges = sorted({float(q) for q in np.quantile(finite, quantiles)})
    return {"missing": missing / rows, "edges": edges,
            "fractions": _bin_fractions(values, edges, rows)}


def category_text(value):
    """A string column's value as a reference category: strings as they are,
    other JSON scalars as their JSON text (what PostgreSQL's ->> gives)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        value = int(value)      # pandas reads integer columns with NaN as floats
    return json.dumps(value)


def _reference_string(raw, rows, max_categories):
    """A string column's entry: missing rate, the most frequent categories
    with their fractions of all rows, and the rest as "other"."""
    counts = {}
    missing = 0
    for v in raw:
        if v is None or _is_nan(v):
            missing += 1
            continue
        key = category_text(v)
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    listed = ranked[:max_categories]
    rest = sum(c for _, c in ranked[max_categories:])
    return {"missing": missing / rows, "categories": [k for k, _ in listed],
            "fractions": [c / rows for _, c in listed], "other": rest / rows}


def reference(doc, observations, probabilities, proba_bins=REFERENCE_PROBA_BINS,
              quantiles=REFERENCE_QUANTILES, max_categories=REFERENCE_MAX_CATEGORIES,
              pipeline=None):
    """The "reference" of a model document (docs/model-format.md) from the
    training observations (dicts, as frame_to_observations makes them) and
    scikit-learn's probability for each (a float, or an Exception for a row it
    refuses: such rows are left out, as they never reach a predictions table).

    The probability's distribution in proba_bins uniform bins; per model
    column, the missing rate and, for a number column, the fractions of rows
    between its deciles (numpy's linear interpolation; equal deciles merged),
    for a string column, the fractions of its max_categories most frequent
    categories (ties in text order) and of the others together.  Every
    fraction is of all rows.

    pipeline: the fitted pipeline the document was exported from.  Given, and
    the estimator a logistic_regression, the reference has "feature_means"
    (feature_means), which a linear model's explanations subtract; without it
    there are none.
    """
    kept = [(o, p) for o, p in zip(observations, probabilities) if not isinstance(p, Exception)]
    if not kept:
        raise ExportError("reference: no row of the data could be scored")
    rows = len(kept)
    edges = [i / proba_bins for i in range(1, proba_bins)]
    proba = np.array([p for _, p in kept], dtype=np.float64)
    columns = []
    for col in doc["columns"]:
        raw = [o.get(col["name"]) for o, _ in kept]
        entry = {"column": col["name"]}
        if col["type"] == "number":
            entry.update(_reference_number(raw, rows, quantiles))
        else:
            entry.update(_reference_string(raw, rows, max_categories))
        columns.append(entry)
    out = {"rows": rows,
           "proba": {"edges": edges, "fractions": _bin_fractions(proba, edges, rows)},
           "columns": columns}
    if pipeline is not None and doc["estimator"]["type"] == "logistic_regression" and \
            WRITE_EXPLAIN_FIELDS:
        out["feature_means"] = feature_means(pipeline, doc, [o for o, _ in kept])
    return out


def _estimator_inputs(pipeline, frame):
    """What the final estimator of pipeline receives for the rows of frame: the
    output of every step before it (pipeline[:-1].transform, where a Pipeline or a
    search as the last step contributes its own steps, as export flattens them),
    dense float64.  A bare estimator reads the frame's columns."""
    from scipy import sparse
    from sklearn.pipeline import Pipeline
    est, _ = unwrap_search(pipeline, "pipeline")
    X = frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while type(est) is Pipeline and est.steps:
            for _, step in est.steps[:-1]:
                if step is not None and not (isinstance(step, str) and step == "passthrough"):
                    X = step.transform(X)
            est, _ = unwrap_search(est.steps[-1][1], "pipeline")
    names = getattr(est, "feature_names_in_", None)
    if X is frame and names is not None:
        X = frame[[str(c) for c in names]]
    if sparse.issparse(X):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def _estimator_feature_names(doc):
    """The names of the features the estimator reads: the last transform's, else the
    blocks' (get_feature_names_out(), as export writes them)."""
    if doc.get("transforms"):
        return list(doc["transforms"][-1]["features"])
    return [f for b in doc["preprocessing"] for f in b["features"]]


def feature_means(pipeline, doc, observations):
    """The reference's "feature_means": per feature the estimator reads, np.mean over the
    observations (the rows the reference describes) of what the steps before the
    estimator make of them.  The rows are read as sklearn_scores reads them (the docs'
    reading rules), so the means are of the features the scorer computes.  A linear
    model's explanation of feature j is coef[j] * (x[j] - mean[j]): a mean that is not
    finite could explain nothing, and is refused naming the feature."""
    frame = reference_frame(observations, model_columns(doc), infinite_columns(doc))
    X = _estimator_inputs(pipeline, frame)
    names = _estimator_feature_names(doc)
    width = len(doc["estimator"]["coef"])
    if X.ndim != 2 or X.shape[1] != width or len(names) != width:
        raise ExportError("reference.feature_means: the steps before the estimator give %s "
                          "features for %d coefficients"
                          % (X.shape[1] if X.ndim == 2 else X.shape, width))
    with np.errstate(over="ignore", invalid="ignore"):
        means = np.mean(X, axis=0)
    for j, m in enumerate(means.tolist()):
        if not math.isfinite(m):
            raise ExportError("reference.feature_means: feature %r (%d) has the mean %r over "
                              "the reference rows, which is not a finite number"
                              % (names[j], j, m))
    return means.tolist()


def default_predict_score():
    """bin/predict-score of the repository holding this file, else predict-score on PATH."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidate = os.path.join(os.path.dirname(here), "bin", "predict-score")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("predict-score") or candidate


def c_scores(model_path, lines, predict_score=None, classes=None):
    """Score JSON lines with `predict-score --model MODEL -`.

    Returns a list of floats (proba) or strings (the error message), one per line.
    classes: a list to which each line's predicted_class is appended (None for errors).
    """
    exe = predict_score or default_predict_score()
    if not os.access(exe, os.X_OK):
        raise FileNotFoundError("%s not found: build it with `make bin/predict-score` "
                                "from the repository root" % exe)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    proc = subprocess.run([exe, "--model", model_path, "-"], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode not in (0, 1):
        raise RuntimeError("%s exited with status %d: %s"
                           % (exe, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    out = proc.stdout.decode("utf-8").splitlines()
    if len(out) != len(lines):
        raise RuntimeError("%s wrote %d lines for %d observations"
                           % (exe, len(out), len(lines)))
    results = []
    for text in out:
        obj = json.loads(text)
        if "error" in obj:
            results.append(str(obj["error"]))
        else:
            results.append(float(obj["proba"]))
        if classes is not None:
            classes.append(obj.get("predicted_class"))
    if proc.returncode == 0 and any(isinstance(r, str) for r in results):
        raise RuntimeError("%s exited 0 but reported errors" % exe)
    if proc.returncode == 1 and not any(isinstance(r, str) for r in results):
        raise RuntimeError("%s exited 1 but reported no error" % exe)
    return results


def compare(reference, got, tolerance=TOLERANCE):
    """(max |difference| over rows both scored, list of mismatching row indexes)."""
    max_diff = 0.0
    bad = []
    for i, (r, g) in enumerate(zip(reference, got)):
        r_err = isinstance(r, Exception)
        g_err = isinstance(g, str)
        if r_err or g_err:
            if r_err != g_err:
                bad.append(i)
            continue
        d = abs(r - g)
        if not d <= tolerance:
            bad.append(i)
        if not d <= max_diff:
            max_diff = d
    return max_diff, bad


def frame_to_observations(frame, columns):
    """JSON-ready observation dicts from a pandas frame: NaN/None -> key absent."""
    out = []
    names = [c for c in columns if c in frame.columns]
    values = {c: frame[c].tolist() for c in names}
    for i in range(len(frame)):
        obs = {}
        for c in names:
            v = values[c][i]
            if v is None or _is_nan(v) or type(v).__name__ == "NAType":   # pd.NA too
                continue
            if isinstance(v, (np.generic,)):
                v = v.item()
            if isinstance(v, float) and math.isinf(v):
                v = "inf" if v > 0 else "-inf"
            elif not isinstance(v, (str, int, float, bool)):
                v = str(v)
            obs[c] = v
        out.append(obs)
    return out


def observation_line(obs):
    return json.dumps(obs, ensure_ascii=False, allow_nan=False)


def verify(pipeline, doc, model_path, observations, predict_score=None, out=sys.stdout,
           lines=None, sklearn_results=None):
    """Score observations with scikit-learn and the C CLI; print the result; return ok.

    sklearn_results: scikit-learn's results for the observations when already
    computed (sklearn_scores), else they are computed here.
    """
    if lines is None:
        lines = [observation_line(o) for o in observations]
    reference = sklearn_results if sklearn_results is not None else \
        sklearn_scores(pipeline, doc, observations)
    classes = []
    got = c_scores(model_path, lines, predict_score, classes)
    max_diff, bad = compare(reference, got)
    scored = sum(1 for r, g in zip(reference, got)
                 if not isinstance(r, Exception) and not isinstance(g, str))
    wrong_class = _class_mismatches(pipeline, doc, observations, reference, got, classes)
    print("verify: %d rows, %d scored by both, max |difference| %.3g, %d mismatches, "
          "%d predicted_class mismatches" % (len(lines), scored, max_diff, len(bad),
                                             len(wrong_class)), file=out)
    for i in bad[:10]:
        r = reference[i]
        print("  row %d: scikit-learn %s, predict-score %s" % (
            i + 1, ("error: %s" % r) if isinstance(r, Exception) else repr(r),
            ("error: %s" % got[i]) if isinstance(got[i], str) else repr(got[i])), file=out)
    for i, want in wrong_class[:10]:
        print("  row %d: predicted_class %s, expected %s" % (i + 1, classes[i], want), file=out)
    if scored < len(lines):
        # rows both sides refuse agree, but verify nothing: the data is not what the model
        # was trained on (a column missing or misnamed, another file)
        print("verify: only %d of %d rows were scored (both sides refused the others: "
              "is this the training data, with the model's columns?)"
              % (scored, len(lines)), file=out)
    return not bad and not wrong_class and len(lines) > 0 and scored == len(lines)


def _class_mismatches(pipeline, doc, observations, reference, got, classes):
    """[(row, expected class)] where predict-score's predicted_class is not the
    document's rule: scikit-learn's predict() ("threshold": null), else
    proba >= threshold."""
    scored = [i for i, (r, g) in enumerate(zip(reference, got))
              if not isinstance(r, Exception) and not isinstance(g, str)]
    if doc.get("threshold", 0.5) is None:
        expected = sklearn_classes(pipeline, doc, [observations[i] for i in scored])
    else:
        expected = [got[i] >= doc.get("threshold", 0.5) for i in scored]
    return [(i, e) for i, e in zip(scored, expected) if classes[i] is not e]


def load_pipeline(path):
    import joblib
    try:
        return joblib.load(path)
    except Exception:
        with open(path, "rb") as fh:
            return pickle.load(fh)
