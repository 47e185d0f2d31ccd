"""Adversarial observations for a model: raw JSON lines with a label each.

Built from a model document and a base observation (a real Titanic row): for
every column the model reads, the base row with that column's value replaced
by each of a list of awkward JSON values (written as JSON text, so that
-0.0, 1e400, huge integers and duplicate keys reach both sides exactly as
written), plus whole-row probes.  The scikit-learn side parses the same text
with Python's json module.
"""

import json

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
    for col in columns:
        name = col["name"]
        # duplicate keys: the last occurrence wins (Python json, PostgreSQL jsonb)
        first, second = ('"abc"', "null") if col["type"] == "number" else ("5", '"Zzz"')
        text = _replace(base, name, first)[:-1] + ", %s: %s}" % (json.dumps(name), second)
        lines.append(("%s duplicated, last %s" % (name, second), text))
        text = _replace(base, name, second)[:-1] + ", %s: %s}" % (json.dumps(name), first)
        lines.append(("%s duplicated, last %s" % (name, first), text))
    return lines
