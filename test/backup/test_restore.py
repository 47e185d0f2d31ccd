"""Backups that restore every prediction untouched (issue 14), in both
PostgreSQL modes, with the tools every production database is run with:
pg_dump in custom, directory and plain formats, pg_restore (-j 4 for the
directory), psql; as a superuser and as the database's owner (an ordinary
role, as Heroku's pg:backups restores); into a fresh database of the same
cluster and of a second cluster.

The source database has a history: titanic version 1, then 2, rolled back to
1, then a second model made the default, outcomes labelled; its rows carry
three model versions with different probabilities. Each restore must bring
back every row of every table byte for byte, the sequence, the active and
default versions, re-score nothing, give the next prediction a new id and
score it without a redeploy. A dump whose prediction was edited does not
restore that prediction (extension mode); an INSERT that brings a score that
is not its version's is refused in both modes. SQLite's backups (.backup,
VACUUM INTO, .dump) come back identical too."""

import json
import os
import random
import sqlite3
import subprocess

import pytest

from processes import REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

MODEL = os.path.join(REPO, "models", "titanic.json")
MODES = ("extension", "managed")
FORMATS = ("custom", "directory", "plain")
TABLES = {
    "predict_model_versions": "name, version",
    "predict_models": "name",
    "predictions": "id",
}


def observation(rng):
    return {"Pclass": rng.choice([1, 2, 3]), "Sex": rng.choice(["male", "female"]),
            "Age": rng.choice([None, rng.randint(1, 80)]), "SibSp": rng.randint(0, 3),
            "Parch": rng.randint(0, 2), "Fare": round(rng.uniform(5, 200), 2),
            "Embarked": rng.choice(["S", "C", "Q"])}


def model_file(tmp, name, intercept):
    doc = json.load(open(MODEL))
    doc["name"] = name
    doc["estimator"]["intercept"] = intercept
    path = os.path.join(tmp, "%s-%s.json" % (name, intercept))
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path


def post_predictions(port, ids, rng):
    for i in ids:
        status, body, _ = http(port, "POST", "/predict", {"id": i, "observation": observation(rng)})
        assert status == 200, body


def table_dumps(cluster, db, user=None):
    """Every row of every predict table, and the sequence, as text."""
    conn = cluster.connect(db, user)
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 3")
    cur.execute("SET TimeZone = 'UTC'")
    cur.execute("SET DateStyle = 'ISO, YMD'")
    out = {}
    for table, order in TABLES.items():
        cur.execute("SELECT * FROM %s ORDER BY %s" % (table, order))
        out[table] = [tuple(str(v) for v in row) for row in cur.fetchall()]
    cur.execute("SELECT last_value, is_called FROM predictions_id_seq")
    out["predictions_id_seq"] = cur.fetchall()
    conn.close()
    return out


def scorers(cluster, db):
    """Managed mode's compiled scorers: name and source."""
    return cluster.sql(db, "SELECT p.proname, md5(p.prosrc) FROM pg_proc p "
                           "WHERE p.pronamespace = 'predict_internal'::regnamespace AND p.proname LIKE 'model\\_%%' "
                           "ORDER BY 1")


@pytest.fixture(scope="module")
def clusters():
    a = Cluster()
    b = Cluster()
    for c in (a, b):
        c.sql("postgres", "CREATE ROLE app LOGIN")
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def sources(clusters, tmp_path_factory):
    """A database with a history per mode, owned by app; its table dumps."""
    a, _ = clusters
    tmp = str(tmp_path_factory.mktemp("models"))
    rng = random.Random(14)
    made = {}
    for mode in MODES:
        db = "src_" + mode
        a.sql("postgres", "CREATE DATABASE %s OWNER app" % db)
        url = a.url(db, "app")
        env = {"PREDICT_MODE": mode}
        proc, port = run_gateway(url, env)
        post_predictions(port, range(1, 121), rng)
        stop_gateway(proc)
        for args in (("deploy", model_file(tmp, "titanic", 1.25)),):
            done = gateway_command(url, *args, env=env)
            assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
        proc, port = run_gateway(url, env)
        post_predictions(port, range(121, 241), rng)
        for args in (("activate", "titanic", "1"), ("deploy", model_file(tmp, "other", -0.5)),
                     ("set-default", "other")):
            done = gateway_command(url, *args, env=env)
            assert done.returncode == 0, done.stderr
        post_predictions(port, range(241, 301), rng)
        for i in range(1, 301, 3):
            assert http(port, "POST", "/update", {"id": i, "true_class": i % 2})[0] == 200
        stop_gateway(proc)
        dumps = table_dumps(a, db)
        versions = {(r[6], r[7]) for r in dumps["predictions"]}
        assert versions == {("titanic", "1"), ("titanic", "2"), ("other", "1")}, versions
        made[mode] = (db, dumps)
    return made


def dump(cluster, db, fmt, path, user):
    args = {"custom": ["pg_dump", "-Fc", "-f", path],
            "directory": ["pg_dump", "-Fd", "-j", "2", "-f", path],
            "plain": ["pg_dump", "-f", path]}[fmt]
    cluster.tool(args + [db], user=user)


def restore(cluster, fmt, path, db, user, as_owner):
    """Restore into a new database db; the tool's completed process."""
    cluster.sql("postgres", "CREATE DATABASE %s%s" % (db, " OWNER app" if as_owner else ""))
    if fmt == "plain":
        return cluster.tool(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", path],
                            user=user, check=False)
    args = ["pg_restore", "-d", db] + (["-j", "4"] if fmt == "directory" else [])
    if as_owner:
        args += ["--no-owner", "--no-acl"]
    return cluster.tool(args + [path], user=user, check=False)


@pytest.mark.parametrize("target", ["same-cluster", "new-cluster"])
@pytest.mark.parametrize("role", ["superuser", "owner"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_restore_brings_back_every_row_untouched(clusters, sources, tmp_path, mode, fmt, role, target):
    a, b = clusters
    src_db, want = sources[mode]
    as_owner = role == "owner"
    user = "app" if as_owner else None
    path = str(tmp_path / ("dump." + fmt))
    dump(a, src_db, fmt, path, user)
    dest = a if target == "same-cluster" else b
    db = "r_%s_%s_%s_%s" % (mode, fmt, role, target.split("-")[0])
    done = restore(dest, fmt, path, db, user, as_owner)
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done.stderr

    got = table_dumps(dest, db)
    for table in want:
        assert got[table] == want[table], "%s differs after the restore" % table
    if mode == "managed":
        assert scorers(dest, db) == scorers(a, src_db)

    # the next prediction: a new id, scored by the restored default model's active version
    row = dest.sql(db, "INSERT INTO predictions (observation_id, observation) VALUES (100000, %s) "
                       "RETURNING id, model, model_version, proba = predict_proba(observation)",
                   (json.dumps({"Age": 30, "Sex": "female"}),), user=user)[0]
    assert row[0] > max(int(r[0]) for r in want["predictions"]), row
    assert row[1:] == ("other", 1, True), row


@pytest.mark.parametrize("mode", MODES)
def test_a_restored_database_serves_at_once(clusters, sources, tmp_path, mode):
    """No redeploy: a gateway started on the restored database answers /predict
    with the restored default model, and finds the restored rows."""
    a, b = clusters
    src_db, want = sources[mode]
    path = str(tmp_path / "dump.custom")
    dump(a, src_db, "custom", path, "app")
    db = "serve_" + mode
    assert restore(b, "custom", path, db, "app", True).returncode == 0
    proc, port = run_gateway(b.url(db, "app"), {"PREDICT_MODE": mode})
    try:
        assert not any("deployed model" in line for line in proc.start_lines), proc.start_lines
        status, body, _ = http(port, "POST", "/predict", {"id": 5000, "observation": {"Age": 4}})
        assert status == 200 and (body["model"], body["model_version"]) == ("other", 1), body
        status, body, _ = http(port, "GET", "/predictions/2")
        old = [r for r in want["predictions"] if r[1] == "2"][0]
        assert status == 200 and repr(body["proba"]) == old[3] and body["model_version"] == int(old[7]), body
    finally:
        stop_gateway(proc)


def tampered_plain_dump(cluster, db, tmp_path):
    """A plain dump of db whose first prediction's proba was edited."""
    path = str(tmp_path / "dump.sql")
    dump(cluster, db, "plain", path, None)
    lines = open(path).read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("COPY public.predictions "))
    fields = lines[start + 1].split("\t")
    fields[3] = "0.5"                                   # proba
    lines[start + 1] = "\t".join(fields)
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    return path, fields[1]


def test_a_restore_cannot_forge_a_prediction_extension(clusters, sources, tmp_path):
    a, _ = clusters
    src_db, want = sources["extension"]
    path, observation_id = tampered_plain_dump(a, src_db, tmp_path)
    done = restore(a, "plain", path, "forged_extension", None, False)
    assert done.returncode != 0
    assert "does not carry the score of model" in done.stderr, done.stderr
    # COPY loads a table in one statement: the predictions did not load, the registry did
    assert a.sql("forged_extension", "SELECT count(*) FROM predictions") == [(0,)]
    assert a.sql("forged_extension", "SELECT count(*) FROM predict_model_versions") == [(3,)]


def test_a_tampered_managed_dump_loads_as_dumped(clusters, sources, tmp_path):
    """Managed mode's tables are ordinary tables: pg_dump creates their triggers
    after their data, so a restore loads the rows as they were dumped (only the
    database's owner restores, and it could disable its own triggers anyway);
    the trigger is there afterwards."""
    a, _ = clusters
    src_db, _ = sources["managed"]
    path, observation_id = tampered_plain_dump(a, src_db, tmp_path)
    done = restore(a, "plain", path, "forged_managed", None, False)
    assert done.returncode == 0, done.stderr
    assert a.sql("forged_managed", "SELECT proba FROM predictions WHERE observation_id = %s",
                 (int(observation_id),)) == [(0.5,)]
    assert a.sql("forged_managed", "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'predictions'::regclass "
                                   "AND tgname IN ('predictions_score', 'predictions_protect')") == [(2,)]


@pytest.mark.parametrize("mode", MODES)
def test_an_insert_with_a_score_not_its_versions_is_refused(clusters, sources, mode):
    """(In a transaction rolled back: the source stays as the restores compare it.)"""
    import psycopg2
    a, _ = clusters
    src_db, _ = sources[mode]
    conn = a.connect(src_db, "app")
    conn.autocommit = False
    cur = conn.cursor()
    try:
        for proba, model, version, code in ((0.5, "titanic", 1, "23514"), (None, "titanic", 7, "42704")):
            cur.execute("SAVEPOINT s")
            with pytest.raises(psycopg2.Error) as e:
                cur.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, "
                            "model_version) VALUES (99999, '{}', %s, true, %s, %s)", (proba, model, version))
            assert e.value.pgcode == code, e.value
            cur.execute("ROLLBACK TO SAVEPOINT s")
        # the version's own score is kept, and filled in when missing
        cur.execute("INSERT INTO predictions (observation_id, observation, model, model_version) "
                    "VALUES (99998, '{\"Age\": 3}', 'titanic', 2) RETURNING proba, predicted_class")
        got = cur.fetchall()
        cur.execute("SELECT predict_proba('{\"Age\": 3}'::jsonb, 'titanic')")   # titanic's active is 1
        assert got[0][0] != cur.fetchone()[0]
        cur.execute("SELECT proba, predicted_class FROM predictions WHERE observation_id = 99998")
        assert cur.fetchall() == got
    finally:
        conn.rollback()
        conn.close()


# ---------------------------------------------------------------- SQLite

def sqlite_rows(path):
    conn = sqlite3.connect(path)
    out = {}
    for table in ("predictions", "predict_model_versions", "predict_models", "sqlite_sequence"):
        out[table] = conn.execute("SELECT * FROM %s ORDER BY 1, 2" % table).fetchall()
    conn.close()
    return out


def test_sqlite_backups_come_back_identical(tmp_path):
    src = str(tmp_path / "src.db")
    url = "sqlite:///" + src
    rng = random.Random(15)
    proc, port = run_gateway(url)
    post_predictions(port, range(1, 101), rng)
    stop_gateway(proc)
    done = gateway_command(url, "deploy", model_file(str(tmp_path), "titanic", 0.75))
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
    proc, port = run_gateway(url)
    post_predictions(port, range(101, 201), rng)
    for i in range(1, 201, 4):
        assert http(port, "POST", "/update", {"id": i, "true_class": 1})[0] == 200
    stop_gateway(proc)
    want = sqlite_rows(src)
    assert {r[7] for r in want["predictions"]} == {1, 2}

    copies = {"backup": str(tmp_path / "backup.db"), "vacuum": str(tmp_path / "vacuum.db"),
              "dump": str(tmp_path / "dump.db")}
    subprocess.run(["sqlite3", src, ".backup '%s'" % copies["backup"]], check=True)
    subprocess.run(["sqlite3", src, "VACUUM INTO '%s'" % copies["vacuum"]], check=True)
    text = subprocess.run(["sqlite3", src, ".dump"], check=True, capture_output=True, text=True).stdout
    done = subprocess.run(["sqlite3", copies["dump"]], input=text, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr

    for kind, path in copies.items():
        assert sqlite_rows(path) == want, kind
        proc, port = run_gateway("sqlite:///" + path)
        try:
            status, body, _ = http(port, "POST", "/predict", {"id": 1000, "observation": {"Age": 9}})
            assert status == 200 and body["model_version"] == 2, (kind, body)
            assert body["id"] == max(r[0] for r in want["predictions"]) + 1, (kind, body)
        finally:
            stop_gateway(proc)


def test_restored_rows_that_arrive_before_the_registry_wait_for_it(clusters, sources, tmp_path):
    """pg_restore -j loads an extension's tables in parallel and in any order:
    here the predictions' data is restored first, by itself, and waits until
    another pg_restore loads the registry; then every row is there, checked."""
    import time
    a, b = clusters
    src_db, want = sources["extension"]
    path = str(tmp_path / "dump.custom")
    dump(a, src_db, "custom", path, None)
    db = "waits_for_registry"
    b.sql("postgres", "CREATE DATABASE " + db)
    b.tool(["pg_restore", "--section=pre-data", "-d", db, path])
    t0 = time.monotonic()
    predictions = subprocess.Popen(
        [os.path.join("/usr/lib/postgresql/15/bin", "pg_restore"), "-a", "-t", "predictions", "-d", db, path],
        env=b.env(), stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert predictions.poll() is None, "the predictions' restore did not wait: " + predictions.stderr.read()
    for table in ("predict_model_versions", "predict_models"):
        b.tool(["pg_restore", "-a", "-t", table, "-d", db, path])
    assert predictions.wait(30) == 0, predictions.stderr.read()
    assert time.monotonic() - t0 > 1.5
    b.tool(["pg_restore", "--section=post-data", "-d", db, path])
    got = table_dumps(b, db)
    for table in ("predict_model_versions", "predict_models", "predictions"):
        assert got[table] == want[table], table


def test_a_row_for_an_empty_registry_is_refused_at_once_outside_pg_restore(clusters):
    """Only pg_restore waits for the registry: an INSERT of a row with a version
    into a database without any model fails at once."""
    import psycopg2
    a, _ = clusters
    a.sql("postgres", "CREATE DATABASE empty_registry")
    a.sql("empty_registry", "CREATE EXTENSION predict")
    with pytest.raises(psycopg2.Error) as e:
        a.sql("empty_registry", "INSERT INTO predictions (observation_id, observation, model, model_version) "
                                "VALUES (1, '{}', 'titanic', 1)")
    assert e.value.pgcode == "42704", e.value
