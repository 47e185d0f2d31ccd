"""Least privilege (issue 7), in both PostgreSQL modes: a gateway role with
only the grants of tools/grant-gateway.sql serves every route, and cannot
deploy or activate models, read model documents, change scored columns,
delete, truncate or drop anything; deploying needs the owner role."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg2
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GATEWAY = os.environ.get("PREDICT_GATEWAY", os.path.join(REPO, "bin", "predict-gateway"))
OBS = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}


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


def http(port, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def refused(conn, sql, params=()):
    """The statement fails with insufficient_privilege (42501)."""
    cur = conn.cursor()
    with pytest.raises(psycopg2.Error) as e:
        cur.execute(sql, params)
    return e.value.pgcode


@pytest.mark.parametrize("mode", ["extension", "managed"])
def test_gateway_role_has_only_what_it_needs(cluster, mode):
    port, superuser = cluster
    admin = connect(port, superuser, "postgres")
    db = "roles_" + mode
    admin.cursor().execute("CREATE ROLE %s_owner LOGIN" % db)
    admin.cursor().execute("CREATE ROLE %s_gw LOGIN" % db)
    admin.cursor().execute("CREATE DATABASE %s OWNER %s_owner" % (db, db))
    owner_user = superuser if mode == "extension" else db + "_owner"
    owner_url = "postgresql://%s@127.0.0.1:%s/%s" % (owner_user, port, db)
    # the owner prepares the schema and the first model (the gateway's start-up)
    proc, _ = run_gateway(owner_url, {"PREDICT_MODE": mode})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    subprocess.run(["psql", "-X", "-q", "-d", owner_url, "-v", "role=%s_gw" % db,
                    "-f", os.path.join(REPO, "tools", "grant-gateway.sql")], check=True)

    gw_user = db + "_gw"
    gw_url = "postgresql://%s@127.0.0.1:%s/%s" % (gw_user, port, db)
    proc, http_port = run_gateway(gw_url, {"PREDICT_MODE": mode})
    try:
        assert http(http_port, "GET", "/readyz")[0] == 200
        status, row = http(http_port, "POST", "/predict", {"id": 1, "observation": OBS})
        assert status == 200 and row["model_version"] == 1, row
        assert http(http_port, "POST", "/update", {"id": 1, "true_class": 1})[0] == 200
        assert http(http_port, "GET", "/predictions/1")[0] == 200
        assert http(http_port, "GET", "/list-db-contents")[0] == 200
        assert http(http_port, "POST", "/predict", {"id": 2, "observation": {"Age": "x"}})[0] == 422
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0

    gw = connect(port, gw_user, db)
    denied = "42501"
    deploy = ("SELECT predict_deploy('x', %s::jsonb)" if mode == "extension"
              else "SELECT predict_internal.deploy_compiled('x', %s::jsonb, 'SELECT 1')")
    assert refused(gw, deploy, (open(os.path.join(REPO, "models", "titanic.json")).read(),)) == denied
    assert refused(gw, "SELECT predict_activate('titanic', 1)") == denied
    assert refused(gw, "SELECT predict_set_default('titanic')") == denied
    assert refused(gw, "SELECT model FROM predict_model_versions") == denied
    assert refused(gw, "UPDATE predict_models SET active_version = 1") == denied
    assert refused(gw, "UPDATE predictions SET proba = 0.5") == denied
    assert refused(gw, "UPDATE predictions SET model_version = 9") == denied
    assert refused(gw, "DELETE FROM predictions") == denied
    assert refused(gw, "TRUNCATE predictions") == denied
    assert refused(gw, "DROP TABLE predictions") == denied
    assert refused(gw, "DROP TABLE predict_models") == denied
    assert refused(gw, "ALTER TABLE predictions DISABLE TRIGGER predictions_protect") == denied
    # what it may do: score, log, read, label
    cur = gw.cursor()
    cur.execute("SELECT predict_proba(%s::jsonb)", (json.dumps(OBS),))
    assert 0 < cur.fetchone()[0] < 1
    cur.execute("INSERT INTO predictions (observation_id, observation, proba) VALUES (3, %s, 0.99) "
                "RETURNING proba <> 0.99", (json.dumps(OBS),))
    assert cur.fetchone()[0], "the trigger overwrites a proba the client supplies"
    cur.execute("UPDATE predictions SET true_class = 0 WHERE observation_id = 3")
    gw.close()
    admin.close()
