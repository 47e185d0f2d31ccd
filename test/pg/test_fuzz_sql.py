"""Randomised observations: SQL and bin/predict-score agree on every one.

A fixed-seed generator writes observations that mix the model's columns with
other keys and give them every kind of JSON value: numbers of all sizes and
precisions, numeric strings (valid and not), booleans, null, escapes and
non-ASCII text, nested arrays and objects, duplicate keys. Each is scored by
predict_proba in SQL and by the CLI: the same probability to the last bit, or
an error with SQLSTATE 22023 and the CLI's message. The backend must survive
all of them.

One difference is expected: jsonb stores numbers as numeric, which has no
negative zero, so -0.0 reaches the core as 0 (the same probability; an error
message quotes the category as 0 where the CLI says -0).
"""

import json
import os
import random
import subprocess

import psycopg2
import pytest

from conftest import PREDICT_SCORE, TINY_MODEL, TITANIC_MODEL, connect, read

SEED = int(os.environ.get("PREDICT_FUZZ_SEED", "20261126"))
COUNT = int(os.environ.get("PREDICT_FUZZ_COUNT", "3000"))

NUMERIC_STRINGS = ["1", " 2 ", "-3.5", "1_000", "1e3", "+.5", "inf", "-Infinity", "nan", "NaN",
                   "1__0", "_1", "1_", "0x10", "", " ", "1e", "e1", ".", "--1", "١٢", "1e400",
                   "12345678901234567890", "0.1000000000000000055511151231257827"]
WORDS = ["male", "female", "S", "C", "Q", "missing", "a", "b", "C85", "B96 B98", "", "MALE",
         "é", "日本", "tab\there", 'quote"', "back\\slash", "new\nline", "\u2028", "x" * 300]


def number(rng):
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randrange(-5, 100)
    if kind == 1:
        return rng.uniform(-1e3, 1e3)
    if kind == 2:
        return rng.choice([0, -0.0, 1e-320, 5e-324, 1.7976931348623157e308, 2 ** 53 + 1, 10 ** 20])
    if kind == 3:
        return float("%.*g" % (rng.randrange(1, 18), rng.uniform(-100, 100)))
    if kind == 4:
        return rng.randrange(-10 ** 25, 10 ** 25)
    if kind == 5:
        return rng.uniform(0, 1) * 10 ** rng.randrange(-30, 30)
    if kind == 6:
        return round(rng.uniform(0, 600), rng.randrange(0, 6))
    if kind == 7:
        return rng.choice([1, 2, 3])
    return rng.randrange(0, 90) + 0.5


def value(rng, depth=0):
    kind = rng.randrange(12)
    if kind < 4:
        return number(rng)
    if kind < 7:
        return rng.choice(WORDS)
    if kind == 7:
        return rng.choice(NUMERIC_STRINGS)
    if kind == 8:
        return rng.choice([True, False, None])
    if kind == 9 and depth < 6:
        return [value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 10 and depth < 6:
        return {rng.choice(["x", "Age", "k"]): value(rng, depth + 1) for _ in range(rng.randrange(0, 3))}
    return None


def observation_text(rng, columns):
    keys = columns + ["x", "c", "unused", "age", "Sex ", ""]
    pairs = [(rng.choice(keys), value(rng)) for _ in range(rng.randrange(0, 12))]
    if rng.random() < 0.1:
        return json.dumps(value(rng), ensure_ascii=rng.random() < 0.5)
    body = ", ".join("%s: %s" % (json.dumps(k), json.dumps(v, ensure_ascii=rng.random() < 0.5))
                     for k, v in pairs)
    return "{" + body + "}"


@pytest.mark.parametrize("model_path,name", [(TITANIC_MODEL, "titanic"), (TINY_MODEL, "tiny")])
def test_random_observations_agree_with_cli(database, model_path, name):
    columns = [c["name"] for c in json.loads(read(model_path))["columns"]]
    rng = random.Random(SEED)
    lines = [observation_text(rng, columns) for _ in range(COUNT)]
    cli = subprocess.run([PREDICT_SCORE, "--model", model_path], input="".join(l + "\n" for l in lines),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert cli.returncode in (0, 1), cli.stderr
    expected = [json.loads(r) for r in cli.stdout.split("\n")[:-1]]   # not splitlines: U+2028
    assert len(expected) == COUNT

    conn = connect(database)
    cur = conn.cursor()
    cur.execute("SELECT predict_deploy(%s, %s::jsonb)", (name, read(model_path)))
    scored = errors = 0
    for i, (line, want) in enumerate(zip(lines, expected)):
        try:
            cur.execute("SELECT predict_proba(%s::jsonb, %s)", (line, name))
            got = cur.fetchone()[0]
        except psycopg2.Error as e:
            assert e.pgcode == "22023", "line %d %r: %s %s" % (i, line, e.pgcode, e)
            message = want.get("error", "").replace("unknown category -0 (", "unknown category 0 (")
            assert message == e.diag.message_primary, "line %d %r" % (i, line)
            errors += 1
            continue
        assert "proba" in want, "line %d %r: SQL %r, CLI %r" % (i, line, got, want)
        assert got == want["proba"], "line %d %r: SQL %r, CLI %r" % (i, line, got, want)
        scored += 1
    cur.execute("SELECT 1")
    conn.close()
    assert scored > COUNT // 5 and errors > COUNT // 10, (scored, errors)
