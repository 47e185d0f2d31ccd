"""Adversarial observations for a model: raw JSON lines with a label each.

Built from a model document and a base observation (a real Titanic row): for
every column the model reads, the base row with that column's value replaced
by each of a list of awkward JSON values (written as JSON text, so that
-0.0, 1e400, huge integers and duplicate keys reach both sides exactly as
written), plus whole-row probes.  The scikit-learn side parses the same text
with Python's json module.  For tree models (threshold_lines) it adds rows
whose features land exactly at each split threshold and one float32 (or
float64) step either side, after the block's scaler, and for
HistGradientBoosting categorical numbers the codes scikit-learn truncates.
"""

import json

import numpy as np

# JSON literals tried in every "number" column
NUMBER_VALUES = [
    "0", "-0.0", "-0", "1", "2.5", "3", "-7", "1e300", "-1e300", "5e-324", "1e-320",
    "9007199254740993", "18446744073709551616", "-9223372036854775809",
    "1" + "0" * 400, "1e400", "-1e400",
    "true", "false",
    '"22"', '" 7.25 "', '"1_0"', '"1_000.5"', '"nan"', '"NaN"', '"-nan"', '"inf"', '"-Infinity"',
    '"+1.5e2"', '".5"', '"5."', '"1e400"', '"9007199254740993"',
    '"abc"', '""', '" "', '"1__0"', '"_1"', '"1_"', '"0x10"', '"1,5"', '"1 2"',
    '"\\u0661\\u0662"', '"\\u00a01"', '"\\uff11\\uff12"', '"\\t3\\n"', '"\\r\\n4\\f"',
    '"\\u000b3"', '"\\u001c3"',
    "{}", "[]", "[1]", '{"a": 1}', '["1"]',
    # underflow and very long numerals
    "1e-400", '"1e-400"', '"-1e-400"', '"0.%s1"' % ("0" * 400), '"%s"' % ("9" * 400),
    '"%s.5"' % ("1" * 300), "0.%s1" % ("0" * 400), "%s.25" % ("3" * 300),
]

# JSON literals tried in every "string" column
STRING_VALUES = [
    '"Zzz"', '""', '" "', '"MALE"', '"male "', '"nan"', '"NaN"', '"None"', '"null"',
    '"missing"', '"\\u00e9"', '"\\uff33"', '"S\\u0301"', '"22"',
    "5", "0", "-0.0", "1", "2.5", "1e300", "-1e300", "1e400", "9007199254740993",
    "true", "false", "{}", "[]", '["S"]', '{"S": 1}',
    '"%s"' % ("x" * 10000), '"%s"' % ("\\u00e9" * 3000), "1e-400",
]

# values that the docs say must be refused however they would be read
NUL_VALUES = ['"\\u0000"', '"S\\u0000"']


def _replace(base, column, literal):
    """JSON text of base with column's value written as literal (None: key absent)."""
    parts = ["%s: %s" % (json.dumps(k), json.dumps(v)) for k, v in base.items() if k != column]
    if literal is not None:
        parts.append("%s: %s" % (json.dumps(column), literal))
    return "{" + ", ".join(parts) + "}"


def _category_literals(doc, column):
    """The categories the model's encoders know for column, as JSON literals, and near misses."""
    out = []
    for block in doc["preprocessing"]:
        if block["column"] != column:
            continue
        for step in block["steps"]:
            if step["type"] in ("one_hot", "ordinal"):
                cats = [c for c in step["categories"] if c is not None]
                # the first, last and a few others: enough to hit every branch, not every category
                picks = cats if len(cats) <= 6 else cats[:3] + cats[-3:]
                # and some infrequent ones (OneHotEncoder min_frequency/max_categories)
                picks += [c for c in step.get("infrequent", []) if c is not None][:3]
                for c in picks:
                    out.append(json.dumps(c))
                    if isinstance(c, (int, float)) and not isinstance(c, bool):
                        out.append(json.dumps(c + 0.5))
                        out.append(json.dumps(str(c)))
                        out.append(json.dumps(float(c)))
            elif step["type"] == "impute":
                out.append(json.dumps(step["value"]))
    seen = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def adversarial_lines(doc, base):
    """[(label, json_text)] for the model doc, starting from observation base (a dict)."""
    used = {b["column"] for b in doc["preprocessing"]}
    columns = [c for c in doc["columns"] if c["name"] in used]
    lines = []
    for col in columns:
        name = col["name"]
        values = NUMBER_VALUES if col["type"] == "number" else STRING_VALUES
        lines.append(("%s absent" % name, _replace(base, name, None)))
        lines.append(("%s null" % name, _replace(base, name, "null")))
        for lit in values + NUL_VALUES + _category_literals(doc, name):
            lines.append(("%s=%s" % (name, lit), _replace(base, name, lit)))
    everything_null = {c["name"]: None for c in doc["columns"]}
    lines += [
        ("empty object", "{}"),
        ("every column null", json.dumps(everything_null)),
        ("extra keys", json.dumps(dict(base, Extra={"a": [1, 2]}, sex="female", **{"": 1}))),
        ("keys reversed", json.dumps(dict(reversed(list(base.items()))))),
        ("unicode key", json.dumps(dict(base, **{"S\u00e9x": "male"}), ensure_ascii=False)),
    ]
    # extremes in every number column at once: overflows in the decision value
    # (inf, or inf - inf = NaN, which the docs make an error)
    numbers = [c["name"] for c in columns if c["type"] == "number"]
    big = "1.7976931348623157e308"
    for label, signs in (("+max", [1]), ("-max", [-1]), ("+-max", [1, -1]), ("-+max", [-1, 1])):
        obs = ", ".join("%s: %s%s" % (json.dumps(n), "-" if signs[i % len(signs)] < 0 else "", big)
                        for i, n in enumerate(numbers))
        if numbers:
            rest = json.dumps({k: v for k, v in base.items() if k not in numbers})
            text = rest[:-1] + (", " if rest != "{}" else "") + obs + "}"
            lines.append(("every number column %s" % label, text))
    if "trees" in doc["estimator"] or "tree" in doc["estimator"]:
        lines += threshold_lines(doc, base)
    lines += skew_lines(doc, base)
    for col in columns:
        name = col["name"]
        # duplicate keys: the last occurrence wins (Python json, PostgreSQL jsonb)
        first, second = ('"abc"', "null") if col["type"] == "number" else ("5", '"Zzz"')
        text = _replace(base, name, first)[:-1] + ", %s: %s}" % (json.dumps(name), second)
        lines.append(("%s duplicated, last %s" % (name, second), text))
        text = _replace(base, name, second)[:-1] + ", %s: %s}" % (json.dumps(name), first)
        lines.append(("%s duplicated, last %s" % (name, first), text))
    return lines


# ---------- tree models: rows at the split thresholds ----------

# numbers tried in a number column passed through to a HistGradientBoosting
# categorical feature: codes truncated, wrapped modulo 256, from 2^31 read as 0,
# negative ones sent the missing way
CATEGORY_CODE_VALUES = [
    "-1", "-0.5", "-0.0", "0.5", "0.99", "1.9", "2.5", "7", "254", "255", "255.5", "256",
    "257", "258.7", "511", "65537", "2147483647", "2147483648", "4294967297", "1e300",
    '"inf"', '"-inf"', "1e400",
]

STANDARD_TREES = ("decision_tree", "random_forest", "gradient_boosting", "adaboost")
MAX_THRESHOLDS = 80     # (feature, threshold) pairs probed per model


def _trees(estimator):
    return [estimator["tree"]] if "tree" in estimator else estimator["trees"]


def _scalar_chain(block):
    """(forward, inverse) of a number column's block whose steps are all invertible on a
    present value (impute, standardize, multiply, min_max without clipping), else None.
    forward performs the core's float64 operations in its order."""
    ops = []
    for st in block["steps"]:
        t = st["type"]
        if t == "impute":
            continue
        if t == "standardize":
            ops.append(("standardize", st["center"], st["scale"]))
        elif t == "multiply":
            ops.append(("multiply", st["factor"], None))
        elif t == "min_max" and st["clip"] is None:
            ops.append(("min_max", st["scale"], st["min"]))
        else:
            return None

    def forward(x):
        x = np.float64(x)
        for op, a, b in ops:
            if op == "standardize":
                if a is not None:
                    x = x - np.float64(a)
                if b is not None:
                    x = x / np.float64(b)
            elif op == "multiply":
                x = x * np.float64(a)
            else:
                x = x * np.float64(a)
                x = x + np.float64(b)
        return x

    def inverse(z):
        z = np.float64(z)
        for op, a, b in reversed(ops):
            if op == "standardize":
                if b is not None:
                    z = z * np.float64(b)
                if a is not None:
                    z = z + np.float64(a)
            elif op == "multiply":
                z = z / np.float64(a)
            else:
                z = (z - np.float64(b)) / np.float64(a)
        return z

    return forward, inverse


def _float32_at_or_below(t):
    f = np.float32(t)
    if np.float64(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return f


def _feature_targets(thr, standard):
    """Feature values to aim at around a threshold: for the standard trees the float32
    at or below it, one float32 ulp either side, the tie between float32 neighbours and
    float64 values that round to them; for HistGradientBoosting float64 neighbours."""
    thr = np.float64(thr)
    out = [thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)]
    if standard:
        t32 = _float32_at_or_below(thr)
        up = np.nextafter(t32, np.float32(np.inf))
        down = np.nextafter(t32, np.float32(-np.inf))
        mid = (np.float64(t32) + np.float64(up)) / 2
        out += [np.float64(t32), np.float64(up), np.float64(down), mid,
                np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf),
                np.nextafter(np.float64(t32), np.inf), np.nextafter(np.float64(up), -np.inf)]
    return [z for z in out if np.isfinite(z)]


def goes_left_float32(z, thr):
    return bool(np.float64(np.float32(z)) <= np.float64(thr))


def _xgboost_targets(thr):
    """XGBoost's rule is float32(x) < split_condition (a float32): beyond the standard
    targets, the tie between the float32 below the condition and the condition, and the
    float64 values either side of it, which round to one or the other."""
    t32 = np.float32(thr)
    down = np.nextafter(t32, np.float32(-np.inf))
    mid = (np.float64(down) + np.float64(t32)) / 2
    return [mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf)]


def goes_left_xgboost(z, thr):
    return bool(np.float32(z) < np.float32(thr))


def threshold_lines(doc, base):
    """[(label, json_text)]: the base observation with one number column set so that the
    feature a split reads lands exactly at, or one float32 (or float64) step around, the
    split's threshold.  A label ends with " [float32 flips]" when the float64 value and its
    float32 cast fall on different sides of a standard tree's threshold."""
    est = doc["estimator"]
    xgb = est["type"] == "xgboost"
    standard = est["type"] in STANDARD_TREES or xgb     # float32 comparisons
    numbers = {c["name"] for c in doc["columns"] if c["type"] == "number"}
    owner = []
    for b in doc["preprocessing"]:
        owner.extend([b] * len(b["features"]))
    if doc.get("transforms"):
        owner = [None if s is None else owner[s] for s in stage_sources(doc)]
    pairs = set()
    for tree in _trees(est):
        for f, t in zip(tree["feature"], tree["threshold"]):
            b = owner[f]
            if b is None:
                continue    # a value the feature stage computes: no column to aim with
            if isinstance(t, (int, float)) and b["column"] in numbers and len(b["features"]) == 1:
                pairs.add((f, float(t)))
    pairs = sorted(pairs)
    if len(pairs) > MAX_THRESHOLDS:
        step = len(pairs) / MAX_THRESHOLDS
        pairs = [pairs[int(i * step)] for i in range(MAX_THRESHOLDS)]
    lines = []
    for f, thr in pairs:
        b = owner[f]
        chain = _scalar_chain(b)
        if chain is None:
            continue
        forward, inverse = chain
        for z in _feature_targets(thr, standard) + (_xgboost_targets(thr) if xgb else []):
            x0 = inverse(z)
            if not np.isfinite(x0):
                continue
            # the raw value whose transform is z, if one is near the inverse
            x = x0
            for k in (0, 1, -1, 2, -2, 3, -3):
                cand = x0
                for _ in range(abs(k)):
                    cand = np.nextafter(cand, np.inf if k > 0 else -np.inf)
                if forward(cand) == z:
                    x = cand
                    break
            zx = forward(x)
            if xgb:
                flips = goes_left_xgboost(zx, thr) != bool(zx < thr)
            else:
                flips = standard and goes_left_float32(zx, thr) != bool(zx <= thr)
            label = "split on %s (feature %d) %s %r: x=%r -> %r%s" % (
                b["column"], f, "<" if xgb else "<=", thr, float(x), float(zx),
                " [float32 flips]" if flips else "")
            lines.append((label, _replace(base, b["column"], json.dumps(float(x)))))
    if est["type"] == "hist_gradient_boosting":
        cats = {c["feature"] for c in est.get("categorical", [])}
        for f in sorted(cats):
            b = owner[f]
            if b is not None and b["column"] in numbers and not b["steps"]:
                for lit in CATEGORY_CODE_VALUES:
                    lines.append(("category code of %s=%s" % (b["column"], lit),
                                  _replace(base, b["column"], lit)))
    return lines


# ---------- per-column transforms (function, power): domain edges and overflow ----------

DBL_MAX = np.finfo(np.float64).max
TINY = np.float64(5e-324)


def _around(z, ulps=2):
    """z and its float64 neighbours, ulps either side."""
    out = [np.float64(z)]
    for direction in (np.inf, -np.inf):
        v = np.float64(z)
        for _ in range(ulps):
            v = np.nextafter(v, direction)
            out.append(v)
    return out


def _pow_limits(e):
    """Bases b >= 1 around which pow(b, e) overflows (e > 0) or underflows to 0 (e < 0)."""
    with np.errstate(all="ignore"):
        b = np.exp(np.log(DBL_MAX) / e) if e > 0 else np.exp(np.log(TINY) / e)
    return _around(b, 3) if np.isfinite(b) and b > 1 else []


def _quantile_targets(st):
    """Values on a quantile step's quantiles (some of them: the ends, repeated ones and
    a spread of others) and one or two ulps either side; for normal output, around
    where x -+ 1e-7 crosses the end quantiles (BOUNDS_THRESHOLD)."""
    q = st["quantiles"]
    n = len(q)
    picks = {0, n - 1} | {int(i * (n - 1) / 8) for i in range(9)}
    picks |= {i for i in range(1, n) if q[i] == q[i - 1]}
    out = []
    for i in sorted(picks)[:40]:
        out += _around(q[i], 2)
    if st["output"] == "normal":
        out += _around(np.float64(q[0]) + 1e-7, 2) + _around(np.float64(q[-1]) - 1e-7, 2)
    return out + [q[0] - 1, q[-1] + 1]


def _kbins_targets(st):
    """Values on a kbins step's edges and one or two ulps either side; for float32 also
    around the float32 values next to each edge and the midpoints between them, where
    the float32 cast decides the bin."""
    out = []
    for e in st["edges"][:40]:
        out += _around(e, 2)
        if st["dtype"] == "float32":
            f = np.float32(e)
            for g in (np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))):
                out += _around(np.float64(g), 1)
                mid = (np.float64(g) + np.float64(np.nextafter(g, np.float32(np.inf)))) / 2
                out += _around(mid, 1)
    return out


def _step_targets(st):
    """Values entering a function, power or quantile step at its domain edges, where its
    libm function starts to overflow or underflow (managed mode guards those), or on
    the points it interpolates."""
    edges = [0.0, -0.0, TINY, -TINY, 1e-300, -1e-300, 1.0, -1.0]
    if st["type"] == "quantile":
        return edges + _quantile_targets(st)
    if st["type"] == "kbins":
        return edges + _kbins_targets(st) + [3.4028235677973366e38, 3.4028235677973362e38]
    if st["type"] == "function":
        if st["func"] in ("exp", "expm1"):
            return edges + _around(709.782712893384) + _around(-745.1332191019411) + \
                _around(-708.3964185322641)
        if st["func"] == "log1p":
            return edges + _around(-1.0)
        return edges
    lam = st["lambda"]
    if st["method"] == "box-cox":
        return edges + [x for x in _pow_limits(lam)]
    # yeo-johnson: pow(x + 1, lambda) for x >= 0, pow(-x + 1, 2 - lambda) below
    return edges + [b - 1 for b in _pow_limits(lam)] + [1 - b for b in _pow_limits(2 - lam)]


def skew_lines(doc, base):
    """[(label, json_text)]: the base observation with one number column set so that the
    value entering a function or power step hits the targets of _step_targets, through
    the invertible steps before it (impute, standardize, multiply, min_max)."""
    numbers = {c["name"] for c in doc["columns"] if c["type"] == "number"}
    lines = []
    for b in doc["preprocessing"]:
        for i, st in enumerate(b["steps"]):
            if st["type"] not in ("function", "power", "quantile", "kbins"):
                continue
            chain = _scalar_chain({"steps": b["steps"][:i]})
            if chain is None or b["column"] not in numbers:
                break
            forward, inverse = chain
            for z in _step_targets(st):
                with np.errstate(all="ignore"):
                    x = inverse(z)
                    if not np.isfinite(x):
                        continue
                    for cand in _around(x, 2):
                        if forward(cand) == z:
                            x = cand
                            break
                label = "%s step %d (%s) at %r: %s=%r" % (
                    b["column"], i, st.get("func", st.get("method", st["type"])), float(z),
                    b["column"],
                    float(x))
                lines.append((label, _replace(base, b["column"], json.dumps(float(x)))))
            break
    return lines
def stage_sources(doc):
    """For each feature the estimator reads after the feature stage ("transforms"),
    the index of the block feature it equals unchanged (a selection, a union
    part of weight 1, a polynomial term of one factor), else None."""
    def chain(transforms, src):
        for t in transforms:
            if t["type"] == "select":
                src = [src[i] for i in t["indices"]]
            elif t["type"] == "polynomial":
                src = [src[term[0]] if len(term) == 1 else None for term in t["terms"]]
            elif t["type"] == "union":
                out = []
                weights = t["weights"] or [1.0] * len(t["parts"])
                for part, w in zip(t["parts"], weights):
                    part_src = chain(part, src)
                    out.extend(part_src if w == 1.0 else [None] * len(part_src))
                src = out
            else:
                src = [None] * len(t["features"])
        return src
    width = sum(len(b["features"]) for b in doc["preprocessing"])
    return chain(doc["transforms"], list(range(width)))
