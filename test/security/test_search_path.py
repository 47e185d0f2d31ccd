"""The search_path attack (issue 14), played as an attacker would.

A role that may create objects in schema public (every database created
before PostgreSQL 15 lets PUBLIC) plants, in public, for every function and
operator name that our SQL calls, a same-named object with an exact-match
signature (concrete types where PostgreSQL's own is polymorphic, so that the
planted one is the better match wherever it can be seen) that records that
it ran: a WARNING in the server's log, and a row in the attacker's table.
The names are collected from our SQL by the test: the schema files, the
scorers the C core compiles, and the installed functions' own sources, so
that a new call in our SQL is planted for automatically.

Then a superuser installs the schema (CREATE EXTENSION predict, or the
gateway's managed-mode set-up) after the planting, calls every documented
function (with the default search_path, and with public before
pg_catalog), and a gateway connected as the owner serves every route, in
both modes. Nothing of the attacker's may run."""

import json
import os
import re
import subprocess

import psycopg2
import pytest

from processes import REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

MODES = ("extension", "managed")
OBS = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}
CONCRETE = ["text", "double precision", "integer", "bigint", "numeric", "jsonb", "boolean", "smallint",
            "timestamp with time zone"]
POLYMORPHIC = ("anyelement", "anycompatible", "anynonarray", "anycompatiblenonarray")
POLYMORPHIC_ARRAY = ("anyarray", "anycompatiblearray")
NOT_PLANTABLE = ("internal", "cstring", "\"any\"", "anyrange", "anymultirange", "anyenum",
                 "anycompatiblerange", "anycompatiblemultirange", "record", "trigger", "event_trigger",
                 "language_handler", "fdw_handler", "table_am_handler", "index_am_handler", "tsm_handler")
# SQL words that look like calls
KEYWORDS = {"in", "exists", "values", "any", "all", "case", "coalesce", "greatest", "least", "nullif", "cast",
            "filter", "over", "array", "row", "not", "and", "or", "select", "from", "where", "on", "using",
            "as", "returns", "table", "function", "trigger", "procedure", "insert", "into", "update", "set",
            "grouping", "substring", "position", "overlay", "trim", "extract", "current_setting_", "if",
            "elsif", "loop", "return", "perform", "raise", "execute", "lateral", "join", "with", "materialized",
            "key", "references", "check", "unique", "primary", "default", "index", "exception", "when",
            "then", "else", "end", "begin", "declare", "format_type_"}


def sql_sources():
    """Our SQL: the schema files and the scorers the core compiles."""
    texts = []
    parts = os.path.join(REPO, "sql", "schema")
    for name in sorted(os.listdir(parts)):
        texts.append(open(os.path.join(parts, name)).read())
    score = os.path.join(REPO, "bin", "predict-score")
    models = [os.path.join(REPO, "models", "titanic.json")]
    models += [os.path.join(REPO, "test", "pg", "models", f)
               for f in sorted(os.listdir(os.path.join(REPO, "test", "pg", "models"))) if f.endswith(".json")]
    for model in models:
        done = subprocess.run([score, "--model", model, "--sql"], capture_output=True, text=True)
        if done.returncode == 0:
            texts.append(done.stdout)
    return texts


def strip(text):
    """SQL without comments; string literals are kept apart, as words (dynamic
    SQL is in literals: what they call is called too)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i + 2)
            i = n if i < 0 else i + 2
        elif c == "'":
            start = i + 1
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))
            i += 1
            while i < n:
                if escapes and text[i] == "\\":
                    i += 2
                elif text[i] == "'" and text.startswith("''", i):
                    i += 2
                elif text[i] == "'":
                    i += 1
                    break
                else:
                    i += 1
            out.append(" %s " % text[start:i])
        else:
            out.append(c)
            i += 1
    return "".join(out)


def called_names(texts):
    names, operators = set(), set()
    for text in texts:
        text = strip(text)
        for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
            names.add(m.group(1).lower())
        for m in re.finditer(r"OPERATOR\(pg_catalog\.([^)]+)\)", text):
            operators.add(m.group(1))
        for m in re.finditer(r"(?<![A-Za-z0-9_$])([+\-*/<>=~!@#%^&|?]{1,3})(?![A-Za-z0-9_]?[+\-*/<>=~!@#%^&|?])",
                             text):
            operators.add(m.group(1))
    return names - KEYWORDS, operators


def concrete(typename, t):
    if typename in POLYMORPHIC:
        return t
    if typename in POLYMORPHIC_ARRAY:
        return t + "[]"
    return typename


def plant_statements(conn, names, operators, counter):
    """CREATE statements of the attacker's objects for these names."""
    cur = conn.cursor()
    cur.execute("""SELECT p.oid, p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                          p.proretset, p.prokind, p.proargtypes::regtype[]::text[]
                     FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY(%s)
                      AND p.prokind = 'f'""", (sorted(names),))
    statements = []
    for oid, name, args, result, retset, kind, argtypes in cur.fetchall():
        if any(a in NOT_PLANTABLE for a in argtypes) or any(b in result for b in NOT_PLANTABLE):
            continue
        polymorphic = any(a in POLYMORPHIC + POLYMORPHIC_ARRAY for a in argtypes)
        for t in (CONCRETE if polymorphic else [None]):
            a, r = args, result
            if t is not None:
                for poly in POLYMORPHIC_ARRAY + POLYMORPHIC:
                    a = re.sub(r"\b%s\b" % poly, concrete(poly, t), a)
                    r = re.sub(r"\b%s\b" % poly, concrete(poly, t), r)
            if " out " in (" " + a.lower() + " ") or "table(" in r.lower() or r == "void" or retset:
                ret = "RETURN;"
            else:
                ret = "RETURN NULL;"
            counter[0] += 1
            statements.append((
                "CREATE FUNCTION public.%s(%s) RETURNS %s LANGUAGE plpgsql AS $attack$ BEGIN "
                "RAISE WARNING 'HIJACKED %s'; INSERT INTO public.attacker_log VALUES ('%s'); %s END $attack$"
                % (name, a, r, name, name, ret)))
    cur.execute("""SELECT o.oprname, o.oprleft::regtype::text, o.oprright::regtype::text, o.oprresult::regtype::text
                     FROM pg_operator o WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprname = ANY(%s)""",
                (sorted(operators),))
    for op, left, right, result in cur.fetchall():
        types = [left, right, result]
        if any(x in NOT_PLANTABLE for x in types):
            continue
        polymorphic = any(x in POLYMORPHIC + POLYMORPHIC_ARRAY for x in types)
        for t in (CONCRETE if polymorphic else [None]):
            l, rt, res = [concrete(x, t) if t else x for x in types]
            counter[1] += 1
            fn = "attack_op_%d" % counter[1]
            params = ", ".join(x for x in (l if l != "-" else None, rt) if x)
            statements.append(
                "CREATE FUNCTION public.%s(%s) RETURNS %s LANGUAGE plpgsql AS $attack$ BEGIN "
                "RAISE WARNING 'HIJACKED operator %s'; INSERT INTO public.attacker_log VALUES ('%s'); "
                "RETURN NULL; END $attack$" % (fn, params, res, op.replace("%", "%%"), op))
            statements.append("CREATE OPERATOR public.%s (%sRIGHTARG = %s, FUNCTION = public.%s)"
                              % (op, "LEFTARG = %s, " % l if l != "-" else "", rt, fn))
    return statements


def plant(cluster, db, names, operators):
    """Plant as the attacker; (functions, operators) planted."""
    conn = cluster.connect(db, "attacker")
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS public.attacker_log (what text)")
    cur.execute("GRANT ALL ON public.attacker_log TO PUBLIC")
    counter = [0, 0]
    planted = [0, 0]
    for statement in plant_statements(conn, names, operators, counter):
        try:
            cur.execute(statement)
            planted[1 if statement.startswith("CREATE OPERATOR") else 0] += 1
        except psycopg2.Error:
            pass                    # exists already (ours, or PostgreSQL's exact twin in public), or refused
    conn.close()
    return planted


def installed_sources(cluster, db):
    rows = cluster.sql(db, """SELECT pg_get_functiondef(p.oid) FROM pg_proc p
                               WHERE p.pronamespace IN (SELECT oid FROM pg_namespace
                                                        WHERE nspname IN ('public', 'predict_internal'))
                                 AND p.prokind = 'f' AND p.proowner <> 'attacker'::regrole""")
    return [r[0] for r in rows]


def mark(cluster, db):
    """Where the evidence stands now: the server log's size, the attacker's rows."""
    return (os.path.getsize(os.path.join(cluster.dir, "server.log")),
            cluster.sql(db, "SELECT count(*) FROM public.attacker_log")[0][0])


def hijacked(cluster, db, since):
    """What the attacker's objects recorded after mark() gave since."""
    rows = cluster.sql(db, "SELECT what FROM public.attacker_log OFFSET %s", (since[1],))
    with open(os.path.join(cluster.dir, "server.log")) as fh:
        fh.seek(since[0])
        warnings = [line for line in fh if "HIJACKED" in line]
    return [r[0] for r in rows], warnings


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    c.sql("postgres", "CREATE ROLE attacker LOGIN")
    yield c
    c.stop()


@pytest.fixture(scope="module", params=MODES)
def attacked(request, cluster):
    """A database whose public schema the attacker planted before the predict
    schema was installed, then installed and given a model, by a superuser."""
    mode = request.param
    db = "attacked_" + mode
    cluster.sql("postgres", "CREATE DATABASE " + db)
    cluster.sql(db, "GRANT CREATE ON SCHEMA public TO attacker")
    names, operators = called_names(sql_sources())
    assert {"array_position", "width_bucket", "jsonb_typeof", "format", "abs"} <= names, names
    assert {"=", "->", "->>", "||", "~"} <= operators, operators
    before = plant(cluster, db, names, operators)
    since = mark(cluster, db)
    url = cluster.url(db)
    if mode == "extension":
        cluster.sql(db, "CREATE EXTENSION predict")
        cluster.sql(db, "SELECT predict_deploy('titanic', %s::jsonb)",
                    (open(os.path.join(REPO, "models", "titanic.json")).read(),))
    else:
        proc, _ = run_gateway(url, {"PREDICT_MODE": "managed"})
        stop_gateway(proc)
    # what the installed functions call, deparsed, is planted too
    names2, operators2 = called_names(installed_sources(cluster, db))
    after = plant(cluster, db, names2 - names, operators2 - operators)
    planted = (before[0] + after[0], before[1] + after[1])
    print("%s: planted %d functions and %d operators" % (mode, planted[0], planted[1]))
    log, warnings = hijacked(cluster, db, since)
    assert log == [] and warnings == [], ("the install ran the attacker's objects", log, warnings[:5])
    return {"mode": mode, "db": db, "url": url, "planted": planted}


def test_the_attackers_objects_are_many_and_do_run_where_they_are_seen(cluster, attacked):
    db, planted = attacked["db"], attacked["planted"]
    assert planted[0] > 150 and planted[1] > 50, planted
    since = mark(cluster, db)
    conn = cluster.connect(db, "attacker")
    cur = conn.cursor()
    cur.execute("SET search_path = public, pg_catalog")
    cur.execute("SELECT array_position(ARRAY['a', 'b'], 'b'), width_bucket(1.5::float8, ARRAY[1, 2]::float8[])")
    conn.close()
    log, warnings = hijacked(cluster, db, since)
    assert len(log) >= 2 and len(warnings) >= 2, "a planted object never runs: the test could not fail"


def documented_calls(mode, safe_caller):
    """The documented calls. With public before pg_catalog on the caller's own
    search_path, the caller's own operators and functions are the attacker's
    too (that path is the caller's to choose, docs/sql-reference.md,
    Security): safe_caller writes them qualified, to test only what ours do."""
    obs = json.dumps(OBS)
    now, minus, plus, eq = ("pg_catalog.now()", "OPERATOR(pg_catalog.-)", "OPERATOR(pg_catalog.+)",
                            "OPERATOR(pg_catalog.=)") if safe_caller else ("now()", "-", "+", "=")
    calls = [
        ("SELECT predict_proba(%s::jsonb)", (obs,)),
        ("SELECT predict_proba(%s::jsonb, 'titanic')", (obs,)),
        ("SELECT predict_class(%s::jsonb)", (obs,)),
        ("SELECT predict_class(%s::jsonb, 'titanic')", (obs,)),
        # the README's untyped call
        ("SELECT predict_proba('{\"Pclass\": 3, \"Sex\": \"male\", \"Age\": 22, \"SibSp\": 1, \"Parch\": 0, "
         "\"Fare\": 7.25, \"Embarked\": \"S\"}')", ()),
        ("SELECT predict_class('{\"Age\": 22}', 'titanic')", ()),
        ("INSERT INTO predictions (observation_id, observation) VALUES (%s, %s::jsonb)", None),
        ("UPDATE predictions SET true_class = 1 WHERE observation_id %s %%s" % eq, None),
        ("SELECT predict_activate('titanic', 1)", ()),
        ("SELECT predict_set_default('titanic')", ()),
        ("SELECT predict_report()", ()),
        ("SELECT predict_report('titanic', %s %s interval '1 day', %s %s interval '1 day')"
         % (now, minus, now, plus), ()),
        ("SELECT * FROM predict_report_metrics()", ()),
        ("SELECT * FROM predict_report_calibration('titanic', NULL, NULL, 5)", ()),
        ("SELECT * FROM predict_report_psi()", ()),
        ("SELECT * FROM predict_report_bins()", ()),
        ("SELECT * FROM predict_report_daily()", ()),
    ]
    if mode == "extension":
        calls.append(("SELECT predict_deploy('titanic', %s::jsonb)",
                      (open(os.path.join(REPO, "models", "titanic.json")).read(),)))
        calls.append(("SELECT predict_deploy('titanic', %s)",
                      (open(os.path.join(REPO, "models", "titanic.json")).read(),)))
    return calls


def expected_proba():
    done = subprocess.run([os.path.join(REPO, "bin", "predict-score"), "--model",
                           os.path.join(REPO, "models", "titanic.json")],
                          input=json.dumps(OBS) + "\n", capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["proba"]


@pytest.mark.parametrize("search_path", ['"$user", public', "public, pg_catalog"])
def test_a_superuser_calls_every_documented_function_and_nothing_of_the_attackers_runs(
        cluster, attacked, search_path):
    mode, db = attacked["mode"], attacked["db"]
    since = mark(cluster, db)
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("SET search_path = " + search_path)
    next_id = 1000 if search_path.startswith('"') else 2000
    for sql, params in documented_calls(mode, safe_caller=not search_path.startswith('"')):
        if params is None:
            params = (next_id, json.dumps(OBS)) if sql.startswith("INSERT") else (next_id,)
        cur.execute(sql, params)
        if cur.description:
            cur.fetchall()
    cur.execute("SELECT predict_proba(%s::jsonb)", (json.dumps(OBS),))
    assert cur.fetchone()[0] == expected_proba()
    if mode == "managed":
        done = gateway_command(cluster.url(db), "deploy", os.path.join(REPO, "models", "titanic.json"),
                               env={"PREDICT_MODE": "managed", "PGOPTIONS": "-c search_path=public,pg_catalog"})
        assert done.returncode == 0, done.stderr
    conn.close()
    log, warnings = hijacked(cluster, db, since)
    assert log == [] and warnings == [], (log, warnings[:5])


def test_the_gateway_serves_every_route_and_nothing_of_the_attackers_runs(cluster, attacked):
    mode, db, url = attacked["mode"], attacked["db"], attacked["url"]
    since = mark(cluster, db)
    proc, port = run_gateway(url, {"PREDICT_MODE": mode, "PGOPTIONS": "-c search_path=public,pg_catalog"})
    try:
        assert http(port, "GET", "/readyz")[0] == 200
        status, body, _ = http(port, "POST", "/predict", {"id": 7, "observation": OBS})
        assert status == 200 and body["proba"] == expected_proba(), body
        assert http(port, "POST", "/update", {"id": 7, "true_class": 0})[0] == 200
        assert http(port, "GET", "/predictions/7")[0] == 200
        assert http(port, "GET", "/list-db-contents")[0] == 200
        assert http(port, "GET", "/report.json")[0] == 200
        status, body, _ = http(port, "GET", "/")
        assert status == 200 and b"titanic" in body
        assert http(port, "GET", "/metrics")[0] == 200
        assert http(port, "POST", "/predict", {"id": 8, "observation": {"Age": "x"}})[0] == 422
    finally:
        stop_gateway(proc)
    log, warnings = hijacked(cluster, db, since)
    assert log == [] and warnings == [], (log, warnings[:5])


def test_our_own_untyped_call_cannot_be_taken(cluster, attacked):
    """predict_proba('{...}') is of type unknown, which PostgreSQL resolves to a
    text overload before a jsonb one: ours exists, so the attacker's cannot."""
    conn = cluster.connect(attacked["db"], "attacker")
    cur = conn.cursor()
    for signature in ("predict_proba(obs text)", "predict_proba(obs text, model text)", "predict_class(obs text)"):
        with pytest.raises(psycopg2.Error):
            cur.execute("CREATE FUNCTION public.%s RETURNS float8 LANGUAGE sql AS 'SELECT 1'" % signature)
    conn.close()
