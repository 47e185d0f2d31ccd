"""The SQL scorer of managed mode (issue 6): each model compiled to PL/pgSQL
by the C core and deployed in a database without the predict extension
scores every Titanic row and every adversarial row of the parity suite
exactly as bin/predict-score does: the same probabilities, bit for bit, the
same predicted classes (scikit-learn's predict() where the threshold is
null), and the same rows refused with the same messages."""

import json
import math
import os
import pickle
import subprocess
import sys

import joblib
import psycopg2
import pytest

from conftest import PREDICT_SCORE, REPO, compiled_sql

import predict_export as pe
from adversarial import adversarial_lines
from titanic_data import features_and_target
from tree_variants import TREE_VARIANTS
from variants import VARIANTS
from variants_estimators import ESTIMATOR_VARIANTS, MANAGED_REFUSED
from variants_skew import MANAGED_REFUSED as STEP_REFUSED
from variants_boosting import MANAGED_REFUSED as GB_INIT_REFUSED

# variants refused by name for what they hold, not for an estimator type
STEP_REFUSED = dict(STEP_REFUSED, **GB_INIT_REFUSED)

ALL = dict(VARIANTS)
ALL.update(TREE_VARIANTS)
ALL.update(ESTIMATOR_VARIANTS)
# models that managed mode refuses by name: test_sql_stage.py expects each refusal
from variants_features import SQL_REFUSED  # noqa: E402

for _name in SQL_REFUSED:
    del ALL[_name]

# A row the core scores but PostgreSQL's checked float8 arithmetic refuses
# with "value out of range" (22003) would fail this suite; rows both refuse
# count as agreeing (docs/heroku.md, "Differences").
TRY_SCORE = """
CREATE OR REPLACE FUNCTION pg_temp.try_score(obs text, model text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN predict_proba(obs::jsonb, model)::text || ' ' || predict_class(obs::jsonb, model)::text;
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ' ' || SQLERRM;
END
$$;
"""


def observations(X):
    # (pd.NA, a nullable dtype's missing value, is missing too)
    return [{k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))
             and type(v).__name__ != "NAType"}
            for rec in X.to_dict("records")]


def cli(model_path, lines):
    proc = subprocess.run([PREDICT_SCORE, "--model", str(model_path)], input="".join(l + "\n" for l in lines),
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def sql_scores(dsn, name, lines):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 3")
    cur.execute(TRY_SCORE)
    cur.execute("SELECT pg_temp.try_score(o, %s) FROM unnest(%s::text[]) WITH ORDINALITY AS t(o, i) ORDER BY i",
                (name, lines))
    rows = [r[0] for r in cur.fetchall()]
    conn.close()
    return rows


def deploy(dsn, name, model_path):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT predict_internal.deploy_compiled(%s, %s::jsonb, %s)",
                (name, open(model_path).read(), compiled_sql(model_path)))
    version = cur.fetchone()[0]
    conn.close()
    return version


def export_variant(name, tmp_path):
    X, y = features_and_target()
    v = ALL[name](X, y)
    doc = pe.export(v.estimator, name=name.replace("_", "-")[:63],
                    dtypes=v.X.dtypes if v.use_dtypes else None,
                    columns=list(v.X.columns) if v.use_dtypes else None)
    path = tmp_path / "model.json"
    pe.write_model(doc, str(path))
    return doc, path, observations(v.X)


# Estimator types the SQL scorer refuses by name, alone or in a composite
# (src/managed/sql_codegen.c, check_compiled_type): their variants must be
# refused, with this message.
REFUSED = {
    "xgboost": 'the SQL scorer does not compile "xgboost" models (float32 arithmetic); '
               'use the predict extension for them',
    "gaussian_nb": "managed mode does not compile gaussian_nb estimators to SQL "
                   "(use the predict extension)",
}
assert set(MANAGED_REFUSED) <= set(REFUSED), MANAGED_REFUSED


@pytest.mark.parametrize("name", list(ALL))
def test_sql_scorer_equals_predict_score(name, managed_db, tmp_path):
    dsn, _ = managed_db
    doc, path, obs = export_variant(name, tmp_path)
    refused = [e["type"] for e in pe.leaf_estimators(doc["estimator"]) if e["type"] in REFUSED]
    if refused:
        # not compiled to SQL: refused by name, explicitly (docs/heroku.md)
        proc = subprocess.run([PREDICT_SCORE, "--model", str(path), "--sql"],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stdout == "", proc.stdout[:200]
        assert proc.stderr == "predict-score: %s: %s\n" % (path, REFUSED[refused[0]]), \
            proc.stderr
        return
    model = doc["name"]
    if name in STEP_REFUSED:
        # steps with no PostgreSQL equivalent: refused by name, never approximated
        proc = subprocess.run([PREDICT_SCORE, "--model", str(path), "--sql"],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and STEP_REFUSED[name] in proc.stderr, proc.stderr
        return
    deploy(dsn, model, path)
    lines = [json.dumps(o) for o in obs]
    base = max(obs, key=len)
    lines += [text for _, text in adversarial_lines(doc, base)]
    want = cli(path, lines)
    got = sql_scores(dsn, model, lines)
    mismatches = []
    for line, w, g in zip(lines, want, got):
        if g.startswith("ERROR "):
            code, message = g[6:11], g[12:]
            if "error" not in w:
                mismatches.append((line, w, g))
            elif code == "22023" and message != w["error"] and \
                    message != w["error"].replace("category -0 ", "category 0 "):
                # (jsonb has no negative zero: -0.0 arrives as 0, in the extension too)
                mismatches.append((line, w, g))
            elif code not in ("22023", "22003", "22P02", "22P05", "22021"):
                mismatches.append((line, w, g))
        elif "error" in w or float(g.split()[0]) != w["proba"] or \
                (g.split()[1] == "true") != w["predicted_class"]:
            mismatches.append((line, w, g))
    assert len(want) == len(got) == len(lines)
    assert not mismatches, "%d of %d rows differ, e.g.:\n%s" % (
        len(mismatches), len(lines), "\n".join("  %s\n    predict-score: %s\n    SQL: %s" % m for m in mismatches[:8]))


def test_gateway_knows_the_managed_schema_version():
    """The gateway migrates a managed schema whose version is older than its
    own, and refuses a newer one: the two constants must move together."""
    import re
    sql = open(os.path.join(REPO, "src", "managed", "sql", "managed.sql")).read()
    gateway = open(os.path.join(REPO, "gateway", "pg_setup.c")).read()
    in_sql = re.search(r"predict_internal\.schema_version\(\)\s+RETURNS text .*?RETURN '([^']+)'", sql, re.S).group(1)
    in_gateway = re.search(r'#define MANAGED_SCHEMA_VERSION "([^"]+)"', gateway).group(1)
    assert in_sql == in_gateway
