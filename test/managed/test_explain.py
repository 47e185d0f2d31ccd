"""Explanations in managed mode (issue 20): predict_explain and predict_reasons
in a database without the extension, where each model version's explanation
is compiled to PL/pgSQL (src/managed/sql_codegen.c, <scorer>_explain; the
trees' TreeSHAP is managed.sql's tree_shap), give what the core gives
(bin/predict-score --explain, whose numbers the extension's predict_explain
writes): the same base and contributions, bit for bit, the same reasons, and
the same errors: an observation that cannot be scored cannot be explained,
with predict_proba's message; a model that cannot be explained says why
(0A000, the core's message); k out of range (22023); a contribution that
overflows (22023, naming the column)."""

import json
import math
import os
import subprocess

import psycopg2
import pytest

from conftest import PREDICT_SCORE, compiled_sql, managed_schema_sql

import predict_export as pe
from adversarial import adversarial_lines
from titanic_data import features_and_target
from tree_variants import TREE_VARIANTS
from variants import VARIANTS
from variants_estimators import ESTIMATOR_VARIANTS
from variants_features import FEATURE_TREE_VARIANTS, FEATURE_VARIANTS

ALL = {}
for _variants in (VARIANTS, TREE_VARIANTS, ESTIMATOR_VARIANTS, FEATURE_VARIANTS, FEATURE_TREE_VARIANTS):
    ALL.update(_variants)

# Explainable models: logistic regressions exported with their feature means
# (plain, one-hot with a dropped category, multinomial, a spline stage),
# trees exported with their covers (a single tree, a forest, gradient
# boosting, HistGradientBoosting with missing values and with categories, a
# spline stage before a forest).
EXPLAINED = ["tutorial", "median_indicator_drop_first", "scaler_after_sparse_ct_multinomial",
             "feat_spline_constant", "decision_tree_depth3", "random_forest_depth6_sqrt",
             "gradient_boosting_default", "gradient_boosting_zero_init_subsample",
             "hist_gradient_boosting_missing", "hist_gradient_boosting_categorical",
             "feat_spline_continue_tree"]

# TreeSHAP in PL/pgSQL walks every path of every tree: a sample of the rows
# (and of those, fewer for the reasons, which explain again)
ROWS = 80
REASONS_ROWS = 25
KS = (0, 2, 100)
HINT = 'The models that can be explained are listed in docs/model-format.md, "Explanations".'


# ------------------------------------------------------------ the documents

def add_feature_means(doc, pipeline, obs):
    """reference.feature_means, as predict-export --reference writes them (the
    rest of a reference, which explanations do not read, kept minimal)."""
    doc["reference"] = {"rows": len(obs), "proba": {"edges": [0.5], "fractions": [0.5, 0.5]},
                        "columns": [], "feature_means": pe.feature_means(pipeline, doc, obs)}


def drop_covers(doc):
    """The document as a predict-export before issue 20 wrote it: no "cover"."""
    e = doc["estimator"]
    for tree in e.get("trees", [e.get("tree")] if "tree" in e else []):
        del tree["cover"]


def observations(X):
    return [{k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))
             and type(v).__name__ != "NAType"}
            for rec in X.to_dict("records")]


def export(name, tmp_path, explainable=True):
    """(document, path, observations) of a variant, with what explanations need
    (predict-export writes the trees' covers), or without it."""
    X, y = features_and_target()
    v = ALL[name](X, y)
    doc = pe.export(v.estimator, name=name.replace("_", "-")[:63],
                    dtypes=v.X.dtypes if v.use_dtypes else None,
                    columns=list(v.X.columns) if v.use_dtypes else None)
    obs = observations(v.X)
    if explainable and doc["estimator"]["type"] == "logistic_regression":
        add_feature_means(doc, v.estimator, obs)
    elif not explainable and doc["estimator"]["type"] != "logistic_regression":
        drop_covers(doc)
    path = tmp_path / ("%s.json" % name)
    pe.write_model(doc, str(path))
    return doc, path, obs


# ------------------------------------------------------------ both sides

def cli_explain(path, lines):
    proc = subprocess.run([PREDICT_SCORE, "--model", str(path), "--explain"],
                          input="".join(line + "\n" for line in lines), capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def cli_refusal(path):
    proc = subprocess.run([PREDICT_SCORE, "--model", str(path), "--explain"], input="",
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout
    prefix = "predict-score: %s: " % path
    assert proc.stderr.startswith(prefix), proc.stderr
    return proc.stderr[len(prefix):].rstrip("\n")


def deploy(dsn, name, path):
    with psycopg2.connect(dsn) as conn:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT predict_internal.deploy_compiled(%s, %s::jsonb, %s)",
                    (name, open(path).read(), compiled_sql(path)))


# Each call's result or error, one row per observation (an error ends no query).
TRY = """
CREATE OR REPLACE FUNCTION pg_temp.try(call text, obs text, model text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE call INTO result USING obs::jsonb, model;
    RETURN result;
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ' ' || SQLERRM;
END
$$;
"""


def sql_results(dsn, call, model, lines):
    with psycopg2.connect(dsn) as conn:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(TRY)
        cur.execute("SELECT pg_temp.try(%s, o, %s) FROM unnest(%s::text[]) WITH ORDINALITY AS t(o, i) "
                    "ORDER BY i", (call, model, lines))
        return [r[0] for r in cur.fetchall()]


def loads(text):
    """jsonb's text as the core's numbers: jsonb writes a number without an
    exponent (1e+300 as 1000...0), which reads back as the same double."""
    return json.loads(text, parse_int=float)


def as_jsonb(x):
    """A number of the core's JSON as jsonb holds it: jsonb has no infinity or
    NaN, and PostgreSQL's to_jsonb writes them as strings, as the core writes
    an infinite value of an observation."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity"
    return x


def value_shown(obs, column):
    """An observation's value as the core's reasons show it (explain.c, append_value)."""
    v = obs.get(column)
    # (float(str(v)) reads a huge integer as strtod does: infinite)
    return as_jsonb(float(str(v))) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def expected_reasons(obs, contributions, k):
    """predict_reasons_json from the core's contributions (in the columns' order)."""
    ranked = sorted((c, i, col) for i, (col, c) in enumerate(contributions.items()) if c < 0)
    return [{"column": col, "value": value_shown(obs, col), "contribution": as_jsonb(c)}
            for c, _, col in ranked[:k]]


def lines_of(doc, obs):
    lines = [json.dumps(o) for o in obs[:ROWS]]
    lines += [text for _, text in adversarial_lines(doc, max(obs, key=len))]
    return lines


# ------------------------------------------------------------ the tests

@pytest.mark.parametrize("name", EXPLAINED)
def test_managed_explanations_equal_the_core_s(name, managed_db, tmp_path):
    dsn, _ = managed_db
    doc, path, obs = export(name, tmp_path)
    model = doc["name"]
    deploy(dsn, model, path)
    lines = lines_of(doc, obs)
    want = cli_explain(path, lines)
    got = sql_results(dsn, "SELECT predict_explain($1, $2)::text", model, lines)
    scored = sql_results(dsn, "SELECT predict_proba($1, $2)::text", model, lines)
    # the reasons of the first rows and of every refused one
    asked = [n for n, w in enumerate(want) if n < REASONS_ROWS or "error" in w]
    reasons = {k: dict(zip(asked, sql_results(dsn, "SELECT predict_reasons($1, %d, $2)::text" % k, model,
                                              [lines[n] for n in asked])))
               for k in KS}
    assert len(want) == len(got) == len(lines)
    mismatches = []
    explained = 0
    for n, (line, w, g) in enumerate(zip(lines, want, got)):
        if "error" in w:
            # refused as scoring refuses it, with predict_proba's message (which
            # test_sql_scorer.py compares with the core's); a row that scores, as
            # the core refuses its explanation
            refused = scored[n] if scored[n].startswith("ERROR ") else "ERROR 22023 " + w["error"]
            if not (g == refused and all(reasons[k][n] == g for k in KS)):
                mismatches.append((line, w, g, scored[n]))
            continue
        if g.startswith("ERROR "):
            mismatches.append((line, w, g, scored[n]))
            continue
        explained += 1
        e, we = loads(g), w["explanation"]
        if e["space"] != we["space"] or e["base"] != as_jsonb(we["base"]) or \
                e["contributions"] != {c: as_jsonb(x) for c, x in we["contributions"].items()}:
            mismatches.append((line, we, e, None))
        for k in KS if n in reasons[KS[0]] else ():
            if loads(reasons[k][n]) != expected_reasons(json.loads(line), we["contributions"], k):
                mismatches.append((line, expected_reasons(json.loads(line), we["contributions"], k),
                                   reasons[k][n], k))
    assert not mismatches, "%d of %d rows differ, e.g.:\n%s" % (
        len(mismatches), len(lines), "\n".join("  %s\n    core: %s\n    SQL: %s\n    (%s)" % m
                                               for m in mismatches[:6]))
    assert explained >= min(ROWS, len(obs))


def _sql_error(dsn, sql, args):
    with psycopg2.connect(dsn) as conn:
        conn.autocommit = True
        with pytest.raises(psycopg2.Error) as raised:
            conn.cursor().execute(sql, args)
    return raised.value


@pytest.mark.parametrize("name, explainable", [
    ("random_forest_depth6_sqrt", False),      # trees exported without their covers
    ("tutorial", False),                       # a linear model without its feature means
    ("sgd_modified_huber", True),              # a link that is not the logistic of a sum
    ("voting_soft_forest_boosting", True),     # estimators without exact explanations
    ("calibrated_sigmoid_logistic", True),
    ("feat_poly_scaled", True),                # a feature that mixes columns
])
def test_a_model_that_cannot_be_explained_says_why(name, explainable, managed_db, tmp_path):
    dsn, _ = managed_db
    doc, path, obs = export(name, tmp_path, explainable)
    model = doc["name"] + "-unexplained"
    deploy(dsn, model, path)
    message = cli_refusal(path)
    assert message.startswith("cannot explain this model: "), message
    line = json.dumps(obs[0])
    for sql, args in [("SELECT predict_explain(%s::jsonb, %s)", (line, model)),
                      ("SELECT predict_reasons(%s::jsonb, 3, %s)", (line, model)),
                      # about the model, whatever the observation
                      ("SELECT predict_explain('[]'::jsonb, %s)", (model,))]:
        e = _sql_error(dsn, sql, args)
        assert (e.pgcode, e.diag.message_primary, e.diag.message_hint) == ("0A000", message, HINT), e


def test_the_default_model_and_the_errors_of_the_arguments(managed_db, tmp_path):
    dsn, _ = managed_db
    doc, path, obs = export("gradient_boosting_default", tmp_path)
    deploy(dsn, doc["name"], path)
    line = json.dumps(obs[0])
    want = cli_explain(path, [line])[0]["explanation"]
    with psycopg2.connect(dsn) as conn:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT predict_set_default(%s)", (doc["name"],))
        cur.execute("SELECT predict_explain(%s::jsonb), predict_explain(%s), predict_reasons(%s::jsonb, 2), "
                    "predict_reasons(%s, 2)", (line, line, line, line))
        e, e_text, r, r_text = cur.fetchone()
        assert e == e_text and e["base"] == want["base"] and e["contributions"] == want["contributions"]
        assert r == r_text == expected_reasons(obs[0], want["contributions"], 2)
        # strict, as the extension's functions
        cur.execute("SELECT predict_explain(NULL::jsonb), predict_reasons(NULL::jsonb, 3), "
                    "predict_reasons(%s::jsonb, NULL)", (line,))
        assert cur.fetchone() == (None, None, None)
    # k first, whatever the model (the extension checks it before anything else)
    for k in (-1, 101):
        e = _sql_error(dsn, "SELECT predict_reasons(%s::jsonb, %s, 'no such model')", (line, k))
        assert (e.pgcode, e.diag.message_primary) == ("22023", "k must be between 0 and 100, got %d" % k)
    # an unknown model: predict_proba's error
    unknown = _sql_error(dsn, "SELECT predict_proba(%s::jsonb, 'no such model')", (line,))
    for sql in ("SELECT predict_explain(%s::jsonb, 'no such model')",
                "SELECT predict_reasons(%s::jsonb, 1, 'no such model')"):
        e = _sql_error(dsn, sql, (line,))
        assert (e.pgcode, e.diag.message_primary) == (unknown.pgcode, unknown.diag.message_primary)


def test_a_contribution_that_overflows_is_refused_by_column(managed_db, tmp_path):
    """A row can score (its probability rounds to 1) while its explanation
    overflows: Fare = 1.5e308 times a coefficient of 1.5. Refused by column,
    as the core refuses it."""
    dsn, _ = managed_db
    doc, path, obs = export("bare_estimator", tmp_path)
    features = [f for block in doc["preprocessing"] for f in block["features"]]
    doc["estimator"]["coef"][features.index("Fare")] = 1.5
    doc["name"] = "overflowing"
    pe.write_model(doc, str(path))
    deploy(dsn, doc["name"], path)
    lines = [json.dumps(dict(obs[0], Fare=1.5e308)), json.dumps(dict(obs[0], Fare=-1.5e308)), json.dumps(obs[0])]
    want = cli_explain(path, lines)
    assert [w.get("error") for w in want[:2]] == \
        ['column "Fare": its contribution to the explanation overflows (a value too large to explain)'] * 2, want
    scored = sql_results(dsn, "SELECT predict_proba($1, $2)::text", doc["name"], lines)
    assert [float(p) for p in scored] == [w["proba"] for w in cli(path, lines)]
    for call in ("SELECT predict_explain($1, $2)::text", "SELECT predict_reasons($1, 3, $2)::text"):
        got = sql_results(dsn, call, doc["name"], lines)
        assert got[:2] == ["ERROR 22023 " + w["error"] for w in want[:2]], got
        assert not got[2].startswith("ERROR"), got


def cli(path, lines):
    proc = subprocess.run([PREDICT_SCORE, "--model", str(path)], input="".join(line + "\n" for line in lines),
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


# The extension's predict_explain and predict_reasons in a database of the
# same cluster (the suite's `make temp-install` puts the extension built
# here in the cluster's installation), against managed mode's: the same jsonb.
EXTENSION_COMPARED = ["tutorial", "scaler_after_sparse_ct_multinomial", "random_forest_depth6_sqrt",
                      "gradient_boosting_default", "hist_gradient_boosting_missing",
                      "hist_gradient_boosting_categorical"]


@pytest.fixture(scope="module")
def extension_db(managed_db):
    """dsn of a database of the same cluster with the predict extension."""
    _, admin = managed_db
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE explain_extension")
    conn.close()
    dsn = admin.replace("dbname=postgres", "dbname=explain_extension")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("CREATE EXTENSION predict")
        cur.execute("SELECT to_regprocedure('predict_explain(jsonb, text)') IS NOT NULL")
        explains = cur.fetchone()[0]
    except psycopg2.Error as e:
        pytest.skip("the predict extension cannot be created in the test cluster (make temp-install): %s" % e)
    finally:
        conn.close()
    if not explains:
        pytest.skip("the installed predict extension has no predict_explain (make temp-install)")
    return dsn


@pytest.mark.parametrize("name", EXTENSION_COMPARED)
def test_managed_explanations_equal_the_extension_s(name, managed_db, extension_db, tmp_path):
    dsn, _ = managed_db
    doc, path, obs = export(name, tmp_path)
    model = doc["name"] + "-both"
    deploy(dsn, model, path)
    with psycopg2.connect(extension_db) as conn:
        conn.autocommit = True
        conn.cursor().execute("SELECT predict_deploy(%s, %s::jsonb)", (model, open(path).read()))
    lines = lines_of(doc, obs)
    asked = lines[:REASONS_ROWS]
    calls = [("SELECT predict_explain($1, $2)::text", lines), ("SELECT predict_reasons($1, 3, $2)::text", asked)]
    differ = []
    compared = 0
    for call, rows in calls:
        managed = sql_results(dsn, call, model, rows)
        extension = sql_results(extension_db, call, model, rows)
        for line, m, e in zip(rows, managed, extension):
            # jsonb's text: the same keys, and numbers of the same value written the same;
            # the same errors, but where PostgreSQL's float8 arithmetic refuses a row
            # the extension refuses otherwise (22003, docs/heroku.md, Differences)
            if m != e and not (m.startswith("ERROR 22003 ") and e.startswith("ERROR ")):
                differ.append((call, line, e, m))
            compared += not m.startswith("ERROR")
    assert not differ, "%d results differ, e.g.:\n%s" % (
        len(differ), "\n".join("  %s %s\n    extension: %s\n    managed: %s" % d for d in differ[:6]))
    assert compared >= min(ROWS, len(obs))


# ------------------------------------------------------------ the log

# Explanations in the log (managed 1.9, the extension's 1.5): a version
# deployed with explain explains every row the trigger scores, as the
# extension's trigger does, and a restored row keeps only its version's.
LOGGED = ["tutorial", "random_forest_depth6_sqrt", "hist_gradient_boosting_missing"]


def log_rows(dsn, rows, **columns):
    """INSERT each (observation_id, observation) with columns, each in its own
    transaction; each row's error (SQLSTATE and message) or None."""
    out = []
    names = ["observation_id", "observation"] + list(columns)
    insert = "INSERT INTO predictions (%s) VALUES (%s)" % (", ".join(names), ", ".join(["%s"] * len(names)))
    # not `with connect()`: psycopg2 2.9 opens a transaction there even in autocommit
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    for oid, obs in rows:
        try:
            cur.execute(insert, [oid, obs] + list(columns.values()))
            out.append(None)
        except psycopg2.Error as e:
            out.append((e.pgcode, e.diag.message_primary))
    conn.close()
    return out


def logged(dsn):
    with psycopg2.connect(dsn) as conn:
        cur = conn.cursor()
        cur.execute("SELECT observation_id, model_version, explanation::text, "
                    "explanation = predict_explain(observation, model) "
                    "FROM predictions ORDER BY observation_id")
        return cur.fetchall()


@pytest.mark.parametrize("name", LOGGED)
def test_the_log_explains_each_row_as_the_extension_s_does(name, managed_db, extension_db, tmp_path):
    app, admin = managed_db
    doc, path, obs = export(name, tmp_path)
    model = doc["name"]
    db = "log_" + name[:40]
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE DATABASE %s_m OWNER app" % db)
    cur.execute("CREATE DATABASE %s_x" % db)
    conn.close()
    managed = app.replace("dbname=appdb", "dbname=%s_m" % db)
    extension = admin.replace("dbname=postgres", "dbname=%s_x" % db)
    with psycopg2.connect(managed) as conn:
        conn.autocommit = True
        conn.cursor().execute(managed_schema_sql())
        conn.cursor().execute("SELECT predict_internal.deploy_compiled(%s, %s::jsonb, %s, true)",
                              (model, open(path).read(), compiled_sql(path)))
    with psycopg2.connect(extension) as conn:
        conn.autocommit = True
        conn.cursor().execute("CREATE EXTENSION predict")
        conn.cursor().execute("SELECT predict_deploy(%s, %s::jsonb, explain => true)", (model, open(path).read()))
    lines = lines_of(doc, obs)
    rows = list(enumerate(lines, 1))
    outcomes = []
    for dsn in (managed, extension):
        assert log_rows(dsn, rows[:3], explanation="false") == [None] * 3
        outcomes.append(log_rows(dsn, rows[3:]))
    # the same rows refused, with the same errors (but where PostgreSQL's float8
    # arithmetic refuses a row the extension refuses otherwise, as above)
    differ = [(line, a, b) for (_, line), a, b in zip(rows[3:], *outcomes)
              if a != b and not (a and b and a[0] == "22003")]
    assert not differ, differ[:3]
    assert outcomes[0].count(None) >= min(ROWS, len(obs)) - 3, outcomes[0][:3]
    m, x = logged(managed), logged(extension)
    # every row that scores is logged, explained, as predict_explain explains it, in both modes
    assert len(m) >= min(ROWS, len(obs)) and all(r[2] is not None and r[3] for r in m), m[:3]
    assert m == x, [(a, b) for a, b in zip(m, x) if a != b][:3]

    # a restore: the rows again with their model_version and explanation are kept;
    # one whose explanation differs (its base) is refused, in both modes
    for dsn in (managed, extension):
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("INSERT INTO predictions (observation_id, observation, model, model_version, explanation) "
                    "SELECT observation_id + 100000, observation, model, model_version, explanation "
                    "FROM predictions WHERE observation_id < 100000")
        cur.execute("SELECT count(*) FROM predictions a JOIN predictions b "
                    "ON b.observation_id = a.observation_id + 100000 WHERE a.explanation = b.explanation")
        assert cur.fetchone()[0] == len(m)
        with pytest.raises(psycopg2.Error) as refused:
            cur.execute("INSERT INTO predictions (observation_id, observation, model, model_version, explanation) "
                        "SELECT -1, observation, model, model_version, jsonb_set(explanation, '{base}', "
                        "to_jsonb((explanation->>'base')::float8 + 1)) FROM predictions "
                        "ORDER BY observation_id LIMIT 1")
        assert refused.value.pgcode == "23514"
        assert "does not carry the explanation of model \"%s\" version 1" % model in str(refused.value)
        with pytest.raises(psycopg2.Error) as refused:
            cur.execute("INSERT INTO predictions (observation_id, observation, explanation) "
                        "VALUES (-2, %s, '{}')", (lines[0],))
        assert refused.value.pgcode == "22023"
        conn.close()
