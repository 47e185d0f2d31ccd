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
- ``LogisticRegression`` (binary) -> ``logistic_regression`` with link
  ``logistic`` (one-vs-rest / auto) or ``softmax`` (multinomial).
- ``DecisionTreeClassifier``/``ExtraTreeClassifier`` -> ``decision_tree``,
  ``RandomForestClassifier``/``ExtraTreesClassifier`` -> ``random_forest``:
  each ``tree_`` as compact arrays renumbered in preorder, leaves holding
  classes_[1]'s fraction computed as ``predict_proba`` does.
- ``GradientBoostingClassifier`` (binary log-loss) -> ``gradient_boosting``:
  the init estimator's raw prediction from ``_raw_predict_init``, the
  learning rate and the regression trees' leaf values.
- ``HistGradientBoostingClassifier`` (binary) -> ``hist_gradient_boosting``:
  the baseline, the known categories, each predictor's nodes with their
  missing-value direction and raw category bitsets.

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

    __slots__ = ("column", "steps", "width", "vtype", "one_hot")

    def __init__(self, column, vtype=None):
        self.column = column      # input column name
        self.steps = []           # list of step dicts
        self.width = 1            # number of features it outputs now
        self.vtype = vtype        # "number", "string" or None (raw, type not yet known)
        self.one_hot = False      # a one_hot step has been applied

    def copy(self):
        b = Block(self.column, self.vtype)
        b.steps = copy.deepcopy(self.steps)
        b.width = self.width
        b.one_hot = self.one_hot
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
    if kind is SimpleImputer:
        return _simple_imputer(est, blocks, sparse, path, ctx)
    if kind is OneHotEncoder:
        return _one_hot(est, blocks, sparse, path, ctx)
    if kind is OrdinalEncoder:
        return _ordinal(est, blocks, sparse, path, ctx)
    if kind in (StandardScaler, RobustScaler, MaxAbsScaler, MinMaxScaler):
        return _scaler(est, blocks, sparse, path, ctx)
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


def _check_encoder_dtype(est, path, cls):
    try:
        ok = np.dtype(est.dtype) == np.float64
    except TypeError:
        ok = False
    if not ok:
        raise ExportError("%s: %s dtype=%r is not supported (only float64)"
                          % (path, cls, est.dtype))


def _one_hot(est, blocks, sparse, path, ctx):
    cls = "OneHotEncoder"
    if getattr(est, "_infrequent_enabled", False) or \
            getattr(est, "min_frequency", None) is not None or \
            getattr(est, "max_categories", None) is not None:
        raise ExportError(
            "%s: OneHotEncoder infrequent categories (min_frequency=%r, max_categories=%r) "
            "are not supported" % (path, getattr(est, "min_frequency", None),
                                   getattr(est, "max_categories", None)))
    _check_encoder_dtype(est, path, cls)
    _check_width_one(blocks, path, cls)
    _check_n_features(est, blocks, path)
    handle = est.handle_unknown
    if handle == "infrequent_if_exist":
        handle = "ignore"   # without infrequent categories it behaves as "ignore"
    if handle not in ("error", "ignore"):
        raise ExportError("%s: OneHotEncoder handle_unknown=%r is not supported" % (path, handle))
    # scikit-learn >= 1.2 calls it sparse_output (fit() copies a non-default,
    # deprecated `sparse` into it); earlier versions only have `sparse`
    if hasattr(est, "sparse_output"):
        sparse_out = bool(est.sparse_output)
    else:
        sparse_out = bool(est.sparse)
    drop_idx = est.drop_idx_
    out = []
    for i, b in enumerate(blocks):
        cats = est.categories_[i]
        ctx.require(b, _category_vtype(cats), path, cls)
        categories = _categories(cats, path, b.column)
        d = None
        if drop_idx is not None and drop_idx[i] is not None:
            d = int(drop_idx[i])
        nb = b.copy()
        nb.steps.append({"type": "one_hot", "categories": categories, "drop": d,
                         "handle_unknown": handle})
        nb.width = len(categories) - (d is not None)
        nb.vtype = "number"
        nb.one_hot = True
        if nb.width == 0:
            raise ExportError("%s: column %r one-hot encodes to no feature" % (path, b.column))
        out.append(nb)
    return out, sparse_out


def _encoded_value(value, what):
    if value is None or _is_nan(value):
        return None
    return _number(value, what)


def _ordinal(est, blocks, sparse, path, ctx):
    cls = "OrdinalEncoder"
    _check_encoder_dtype(est, path, cls)
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


def _standard_tree(est, path, leaf_values, missing_left):
    """A fitted sklearn.tree estimator's tree_ as the format's compact arrays.

    leaf_values(leaf_node_ids) -> the value each leaf contributes (float64 array).
    Splits are renumbered in preorder, so that children come after their parent.
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


def _gradient_boosting(est, path, sparse):
    from sklearn.dummy import DummyClassifier
    classes = _binary_classes(est, path)
    n = int(est.n_features_in_)
    loss = _class_name(_internal(est, "_loss", path))
    if est.loss not in ("log_loss", "deviance") or \
            loss not in ("BinomialDeviance", "HalfBinomialLoss"):
        raise ExportError("%s: GradientBoostingClassifier loss=%r is not supported (binary "
                          "log_loss only)" % (path, est.loss))
    init = est.init_
    if not (isinstance(init, str) and init == "zero"):
        if type(init) is not DummyClassifier or init.strategy not in (
                "prior", "most_frequent", "constant"):
            raise ExportError(
                "%s: GradientBoostingClassifier init=%s is not supported: only the default "
                "prior, 'zero' or a DummyClassifier with a constant prediction, whose raw "
                "prediction does not depend on the row" % (path, _class_name(init)))
    if est.estimators_.ndim != 2 or est.estimators_.shape[1] != 1:
        raise ExportError("%s: estimators_ has shape %s" % (path, est.estimators_.shape))
    # the init estimator's raw prediction, computed by scikit-learn itself: it is the
    # same for every row (checked on two different rows)
    rows = np.array([[0.0] * n, [1.0] * n], dtype=np.float32)
    raw = np.asarray(_internal(est, "_raw_predict_init", path, callable, "a method")(rows),
                     dtype=np.float64)
    if raw.shape != (2, 1) or raw[0, 0] != raw[1, 0]:
        raise ExportError("%s: the init estimator's raw prediction depends on the row" % path)
    missing = _missing_mode(est, n, sparse)
    trees = []
    for i, tree in enumerate(est.estimators_[:, 0]):
        sub = "%s.estimators_[%d, 0]" % (path, i)
        trees.append(_standard_tree(tree, sub, _regression_values(tree), missing == "learned"))
    doc = {"type": "gradient_boosting", "init": _float(raw[0, 0], path + ": init"),
           "learning_rate": _float(est.learning_rate, path + ": learning_rate"),
           "missing": missing, "trees": trees}
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
                   "bitset_idx", "missing_go_to_left", "value"}
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
        trees.append({
            "feature": features,
            "threshold": thresholds,
            "left": ref[node_left[sp].astype(np.intp)].tolist(),
            "right": ref[node_right[sp].astype(np.intp)].tolist(),
            "missing_left": (nodes["missing_go_to_left"][sp] != 0).astype(int).tolist(),
            "value": _finite_list(nodes["value"][np.asarray(leaves, dtype=np.intp)], sub),
        })
    doc = {"type": "hist_gradient_boosting",
           "baseline": _float(baseline[0], path + ": baseline"),
           "categorical": categorical, "trees": trees}
    return doc, _scalar_label(classes[1], path), n


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
                                               "hist_gradient_boosting")):
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
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  HistGradientBoostingClassifier, RandomForestClassifier)
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
    ("OneHotEncoder", "preprocessing", "`handle_unknown` ignore/error, every `drop`, sparse or "
     "dense float64 output; not infrequent categories"),
    ("OrdinalEncoder", "preprocessing", "`handle_unknown` error/use_encoded_value, "
     "`encoded_missing_value`, float64 output"),
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
    ("GradientBoostingClassifier", "final step", "binary `log_loss`; `init` the default "
     "prior, `'zero'` or a constant `DummyClassifier`"),
    ("HistGradientBoostingClassifier", "final step", "binary; `categorical_features` as "
     "indices or a mask (codes 0 to 255), not `'from_dtype'`"),
    ("SGDClassifier", "final step", "binary; `loss` `log_loss` or "
     "`modified_huber` (others only inside `CalibratedClassifierCV`)"),
    ("GaussianNB", "final step", "binary (not in managed mode)"),
    ("VotingClassifier", "final step", "binary; `voting='soft'`, with or without "
     "`weights`, `'drop'`ped estimators; its estimators without preprocessing of their own"),
    ("CalibratedClassifierCV", "final step", "binary; sigmoid or isotonic, any "
     "`cv` and `ensemble`, also over `LinearSVC`, `RidgeClassifier`, `Perceptron`, "
     "`PassiveAggressiveClassifier`, and over a whole pipeline with `cv='prefit'` or "
     "`ensemble=False`"),
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


# --------------------------------------------------------------------------
# column types

def column_type_from_dtype(dtype, column):
    """'number' for numeric/boolean pandas dtypes, 'string' for object/string ones."""
    text = str(dtype)
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind in ("i", "u", "f", "b"):
        return "number"
    if kind == "O" or text in ("string", "str"):
        return "string"
    raise ExportError("column %r: dtype %s is not supported (numeric, boolean or object only)"
                      % (column, text))


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
                cats = [c for j, c in enumerate(s["categories"]) if j != s["drop"]]
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
        proba >= threshold.

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
    for step_path, step in transformers:
        blocks, sparse = _compile(step, blocks, sparse, step_path, ctx)

    if calibrated is not None:
        est_doc, positive, n_inputs = _calibrated(calibrated[0], calibrated[1], sparse,
                                                  (final, final_path))
    else:
        est_doc, positive, n_inputs = _estimator(final, final_path, sparse)
    if threshold is None:
        _add_class0_fractions(final, final_path, est_doc)
    for b in blocks:
        if b.vtype == "string" and not b.steps:
            raise ExportError("%s: column %r reaches the estimator as a string column"
                              % (final_path, b.column))
        ctx.require(b, "number", final_path, _class_name(final))
    width = sum(b.width for b in blocks)
    if width != n_inputs:
        if est_doc["type"] == "logistic_regression":
            raise ExportError("%s: the preprocessing gives %d features but LogisticRegression "
                              "has %d coefficients" % (final_path, width, n_inputs))
        raise ExportError("%s: the preprocessing gives %d features but %s was fitted on %d"
                          % (final_path, width, _class_name(final), n_inputs))
    if not blocks:
        raise ExportError("%s: the preprocessing produces no features" % root)

    feature_names = _feature_names(pipeline, blocks, input_names)
    col_docs = []
    for c in columns:
        entry = {"name": c, "type": ctx.column_types.get(c, "string")}
        if dtypes is not None and c in dtypes:
            entry["dtype"] = str(dtypes[c])
        col_docs.append(entry)
    pre = [{"column": b.column, "steps": b.steps, "features": f}
           for b, f in zip(blocks, feature_names)]

    rows = ctx.training_rows[0] if ctx.training_rows else training_rows
    when = exported_at or datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    doc = {
        "format": FORMAT,
        "name": name,
        "columns": col_docs,
        "preprocessing": pre,
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
    if searched is not None:
        # what was searched, and what won: the document is the best_estimator_
        doc["provenance"]["search"] = "%s best_params_=%s" % (
            _class_name(searched), re.sub(r"\s*\n\s*", " ", repr(searched.best_params_)))
    if source is None:
        del doc["provenance"]["source"]
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
        elif k in ("columns", "preprocessing") and v:
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
            arr[i] = np.nan if ctype is None else normalize_value(obs.get(name), ctype,
                                                                   name in allow_inf)
        data[name] = pd.Series(arr, dtype=object)
    frame = pd.DataFrame(data, columns=[c["name"] for c in columns])
    types = {c["name"]: ("float64" if c["type"] == "number" else object) for c in columns}
    frame = frame.astype(types)
    numbers = [c["name"] for c in columns if c["type"] == "number" and c["name"] not in allow_inf]
    if numbers and np.isinf(frame[numbers].to_numpy()).any():
        raise RejectedObservation("infinite number")   # see normalize_value
    return frame


def leaf_estimators(est):
    """The estimators a composite (voting, calibrated) combines, recursively; else [est]."""
    if est["type"] == "voting":
        return [x for sub in est["estimators"] for x in leaf_estimators(sub)]
    if est["type"] == "calibrated":
        return [x for fold in est["folds"] for x in leaf_estimators(fold["estimator"])]
    return [est]


def infinite_columns(doc):
    """Number columns whose infinite values reach the estimator unchanged and are
    scored: those read only by blocks without steps, when the estimator is
    hist_gradient_boosting (which takes infinity, force_all_finite=False)."""
    if any(e["type"] != "hist_gradient_boosting" for e in leaf_estimators(doc["estimator"])):
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
    return [{"name": c["name"], "type": c["type"] if c["name"] in used else None}
            for c in doc["columns"]]


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
              quantiles=REFERENCE_QUANTILES, max_categories=REFERENCE_MAX_CATEGORIES):
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
    return {"rows": rows,
            "proba": {"edges": edges, "fractions": _bin_fractions(proba, edges, rows)},
            "columns": columns}


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
            if v is None or _is_nan(v):
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
