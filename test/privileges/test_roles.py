"""Least privilege (issue 7, issue 14), in both PostgreSQL modes. The
database's owner is an ordinary role (as on Heroku): it creates the schema
(the extension is trusted; managed mode needs no privilege beyond owning the
database) and grants two roles what they need and nothing more:

- a gateway role (tools/grant-gateway.sql) serves every route, GET / and
  /report.json included, and is refused every registry change, the model
  documents, changes to scored columns, DELETE, TRUNCATE and DROP;
- an analyst role (tools/grant-analyst.sql) runs every report function and
  reads the predictions, and writes nothing.

Each documented function and each route is called under each role, and the
test asserts both what works and what is refused."""

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

import psycopg2
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GATEWAY = os.environ.get("PREDICT_GATEWAY", os.path.join(REPO, "bin", "predict-gateway"))
MODEL = os.path.join(REPO, "models", "titanic.json")
OBS = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}
DENIED = "42501"

# Every documented SQL function, called as the docs write them.
SCORING = [
    ("SELECT predict_proba(%s::jsonb)", (json.dumps(OBS),)),
    ("SELECT predict_proba(%s::jsonb, 'titanic')", (json.dumps(OBS),)),
    ("SELECT predict_class(%s::jsonb)", (json.dumps(OBS),)),
    ("SELECT predict_class(%s::jsonb, 'titanic')", (json.dumps(OBS),)),
    ("SELECT predict_proba('{\"Age\": 22, \"Sex\": \"male\"}')", ()),
    ("SELECT predict_class('{\"Age\": 22}', 'titanic')", ()),
]
# The extension's explanations (managed mode has none), of a second model,
# the Titanic model with its reference's feature means, which the owner
# deploys: the scoring roles may explain as they may score.
EXPLAINED = "titanic_explained"
EXPLAINING = [
    ("SELECT predict_explain(%s::jsonb, '" + EXPLAINED + "')", (json.dumps(OBS),)),
    ("SELECT predict_reasons(%s::jsonb, 3, '" + EXPLAINED + "')", (json.dumps(OBS),)),
    ("SELECT predict_explain('{\"Age\": 22, \"Sex\": \"male\"}', '" + EXPLAINED + "')", ()),
    ("SELECT predict_reasons('{\"Age\": 22}', 2, '" + EXPLAINED + "')", ()),
]
REPORTS = [
    "SELECT predict_report()",
    "SELECT predict_report('titanic', now() - interval '1 day', now() + interval '1 day')",
    "SELECT * FROM predict_report_metrics()",
    "SELECT * FROM predict_report_calibration('titanic', NULL, NULL, 5)",
    "SELECT * FROM predict_report_psi()",
    "SELECT * FROM predict_report_bins()",
    "SELECT * FROM predict_report_daily()",
    "SELECT * FROM predict_report_importance()",
]
REGISTRY_CHANGES = [
    "SELECT predict_activate('titanic', 1)",
    "SELECT predict_set_default('titanic')",
]
# Writes and reads no reader may do.
FORBIDDEN_TO_ALL = [
    "SELECT model FROM predict_model_versions",
    "UPDATE predict_models SET active_version = 1",
    "UPDATE predictions SET proba = 0.5",
    "UPDATE predictions SET model_version = 9",
    "DELETE FROM predictions",
    "TRUNCATE predictions",
    "DROP TABLE predictions",
    "DROP TABLE predict_models",
    "ALTER TABLE predictions DISABLE TRIGGER predictions_protect",
    "DROP FUNCTION predict_proba(jsonb)",
    "CREATE OR REPLACE FUNCTION predict_internal.report_model(requested text) RETURNS text "
    "LANGUAGE sql RETURN 'x'",
]


@pytest.fixture(scope="module")
def cluster():
    tmp = tempfile.mkdtemp(prefix="predict-roles-")
    os.chmod(tmp, 0o755)
    path = os.path.join(tmp, "pg")
    out = subprocess.run([os.path.join(REPO, "test", "pg-cluster"), "start", path],
                         capture_output=True, text=True, check=True).stdout
    env = dict(p.split("=", 1) for line in out.splitlines() for p in line.replace("export ", "").split() if "=" in p)
    yield env["PGPORT"], env["PGUSER"]
    subprocess.run([os.path.join(REPO, "test", "pg-cluster"), "stop", path])
    os.rmdir(tmp)


def connect(port, user, db):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname=db)
    conn.autocommit = True
    return conn


def run_gateway(url, extra_env=None):
    env = dict(os.environ, DATABASE_URL=url, PORT="0", PREDICT_THREADS="2")
    env.update(extra_env or {})
    proc = subprocess.Popen([GATEWAY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    port = None
    lines = []
    while time.time() < deadline and port is None:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "listening on http://" in line:
            port = int(line.split("listening on http://")[1].split("/")[0].split(":")[1])
    assert port, "gateway did not start:\n" + "".join(lines)
    return proc, port


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def http(port, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def refused(conn, sql, params=()):
    """The statement fails; returns its SQLSTATE."""
    cur = conn.cursor()
    with pytest.raises(psycopg2.Error) as e:
        cur.execute(sql, params)
    return e.value.pgcode


def works(conn, sql, params=()):
    cur = conn.cursor()
    cur.execute(sql, params)
    return cur.fetchall() if cur.description else None


@pytest.fixture(scope="module", params=["extension", "managed"])
def database(request, cluster):
    """A database owned by an ordinary role, its predict schema made by the
    owner's gateway, a gateway role and an analyst role granted by the
    tools' scripts; a few predictions and outcomes logged by the owner."""
    mode = request.param
    port, superuser = cluster
    admin = connect(port, superuser, "postgres")
    db = "roles_" + mode
    for role in ("owner", "gw", "analyst"):
        admin.cursor().execute("CREATE ROLE %s_%s LOGIN" % (db, role))
    admin.cursor().execute("CREATE DATABASE %s OWNER %s_owner" % (db, db))
    admin.close()
    owner_url = "postgresql://%s_owner@127.0.0.1:%s/%s" % (db, port, db)
    proc, http_port = run_gateway(owner_url, {"PREDICT_MODE": mode})
    for i in range(1, 4):
        assert http(http_port, "POST", "/predict", {"id": 100 + i, "observation": dict(OBS, Age=20 + i)})[0] == 200
    assert http(http_port, "POST", "/update", {"id": 101, "true_class": 1})[0] == 200
    stop(proc)
    if mode == "extension":
        doc = json.load(open(MODEL))
        doc["reference"]["feature_means"] = [0.0] * len(doc["estimator"]["coef"])
        owner = connect(port, db + "_owner", db)
        works(owner, "SELECT predict_deploy(%s, %s::jsonb)", (EXPLAINED, json.dumps(doc)))
        owner.close()
    for role, script in (("gw", "grant-gateway.sql"), ("analyst", "grant-analyst.sql")):
        subprocess.run(["psql", "-X", "-q", "-d", owner_url, "-v", "role=%s_%s" % (db, role),
                        "-f", os.path.join(REPO, "tools", script)], check=True)
    return mode, port, db


def test_the_owner_is_an_ordinary_role_and_created_the_schema(database):
    mode, port, db = database
    conn = connect(port, db + "_owner", db)
    assert works(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(False,)]
    if mode == "extension":
        assert works(conn, "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'predict'") \
            == [(db + "_owner",)]
    # the owner deploys and reads the documents
    assert works(conn, "SELECT count(*) > 0 FROM predict_model_versions WHERE model ? 'estimator'") == [(True,)]
    conn.close()


def test_gateway_role_serves_every_route(database):
    mode, port, db = database
    proc, http_port = run_gateway("postgresql://%s_gw@127.0.0.1:%s/%s" % (db, port, db), {"PREDICT_MODE": mode})
    try:
        assert http(http_port, "GET", "/healthz")[0] == 200
        assert http(http_port, "GET", "/readyz")[0] == 200
        status, body = http(http_port, "POST", "/predict", {"id": 1, "observation": OBS})
        assert status == 200 and json.loads(body)["model_version"] == 1, body
        assert http(http_port, "POST", "/update", {"id": 1, "true_class": 1})[0] == 200
        assert http(http_port, "GET", "/predictions/1")[0] == 200
        assert http(http_port, "GET", "/list-db-contents")[0] == 200
        status, body = http(http_port, "GET", "/report.json")
        assert status == 200 and json.loads(body)["model"] == "titanic", body
        status, body = http(http_port, "GET", "/")
        assert status == 200 and b"titanic" in body, body[:300]
        assert http(http_port, "GET", "/metrics")[0] == 200
        assert http(http_port, "POST", "/predict", {"id": 2, "observation": {"Age": "x"}})[0] == 422
    finally:
        stop(proc)


def test_gateway_role_sql(database):
    mode, port, db = database
    gw = connect(port, db + "_gw", db)
    for sql, params in SCORING + (EXPLAINING if mode == "extension" else []):
        assert works(gw, sql, params)[0][0] is not None, sql
    for sql in REPORTS:
        works(gw, sql)
    deploy = ("SELECT predict_deploy('x', %s::jsonb)" if mode == "extension"
              else "SELECT predict_internal.deploy_compiled('x', %s::jsonb, 'SELECT 1')")
    assert refused(gw, deploy, (open(MODEL).read(),)) == DENIED
    for sql in REGISTRY_CHANGES + FORBIDDEN_TO_ALL:
        assert refused(gw, sql) == DENIED, sql
    # what it may do: log (the trigger overwrites a proba the client supplies), label
    assert works(gw, "INSERT INTO predictions (observation_id, observation, proba) VALUES (3, %s, 0.99) "
                     "RETURNING proba <> 0.99", (json.dumps(OBS),)) == [(True,)]
    works(gw, "UPDATE predictions SET true_class = 0 WHERE observation_id = 3")
    # a row it brings with a score is checked against its version
    assert refused(gw, "INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, "
                       "model_version) VALUES (4, %s, 0.99, true, 'titanic', 1)", (json.dumps(OBS),)) == "23514"
    gw.close()


def test_analyst_role_reads_and_writes_nothing(database):
    mode, port, db = database
    analyst = connect(port, db + "_analyst", db)
    for sql in REPORTS:
        works(analyst, sql)
    rows = works(analyst, "SELECT metric, value FROM predict_report_metrics() WHERE metric = 'labelled_rows'")
    assert rows and rows[0][1] >= 1, rows
    assert works(analyst, "SELECT count(*) FROM predictions")[0][0] >= 3
    assert works(analyst, "SELECT name FROM predict_models WHERE is_default") == [("titanic",)]
    for sql, params in SCORING + (EXPLAINING if mode == "extension" else []):   # scoring writes nothing
        assert works(analyst, sql, params)[0][0] is not None, sql
    writes = [
        ("INSERT INTO predictions (observation_id, observation) VALUES (50, %s)", (json.dumps(OBS),)),
        ("UPDATE predictions SET true_class = 1 WHERE observation_id = 101", ()),
        ("SELECT nextval('predictions_id_seq')", ()),
    ]
    deploy = ("SELECT predict_deploy('x', %s::jsonb)" if mode == "extension"
              else "SELECT predict_internal.deploy_compiled('x', %s::jsonb, 'SELECT 1')")
    writes.append((deploy, (open(MODEL).read(),)))
    for sql, params in writes:
        assert refused(analyst, sql, params) == DENIED, sql
    for sql in REGISTRY_CHANGES + FORBIDDEN_TO_ALL:
        assert refused(analyst, sql) == DENIED, sql
    analyst.close()


def test_a_role_without_grants_gets_a_clear_refusal(database):
    mode, port, db = database
    admin = connect(port, cluster_superuser(port), db)
    admin.cursor().execute("CREATE ROLE %s_nobody LOGIN" % db)
    admin.close()
    nobody = connect(port, db + "_nobody", db)
    nobody.cursor().execute("SET search_path = public")
    cur = nobody.cursor()
    with pytest.raises(psycopg2.Error) as e:
        cur.execute("SELECT predict_report()")
    assert e.value.pgcode == DENIED
    assert "tools/grant-analyst.sql" in (e.value.diag.message_hint or ""), e.value.diag.message_hint
    nobody.close()


def cluster_superuser(port):
    return "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
