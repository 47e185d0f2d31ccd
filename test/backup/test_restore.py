"""Backups that restore every prediction untouched (issue 14), in both
PostgreSQL modes, with the tools every production database is run with:
pg_dump in custom, directory (-j 2) and plain formats, pg_restore (-j 4 for
the directory), psql; as a superuser and as the database's owner (an ordinary
role, restoring with --no-owner --no-acl as Heroku's pg:backups does); into a
fresh database of the same cluster and of a second cluster (where the owner
is a role of another name, as on Heroku).

The source database has a history: titanic version 1, then 2 (another
intercept), a second model "other" made the default, its version 2 deployed
then rolled back to 1, titanic rolled back to 1, outcomes labelled. Its rows
carry four model versions with different probabilities, and neither default
nor active versions are the latest deployed. Each restore must bring back
every row of every table byte for byte (COPY text), the sequence, the active
and default versions, re-score nothing, give the next prediction the next id
scored by the restored default model's active version, and serve a gateway
at once, without a redeploy.

Integrity: a dump whose prediction was edited does not restore that
prediction (extension mode: the trigger is there before the data); managed
mode's triggers are created after the data, so there a tampered dump loads as
dumped (measured and asserted, as is SQLite's .dump); an INSERT that brings a
score that is not its version's is refused (23514) in both modes.

Also measured and asserted: a superuser's restore of an extension database
leaves its owner without privileges (pg_restore --role=OWNER avoids it,
tools/grant-gateway.sql repairs it); restored predictions wait for the
registry under pg_restore, and in any COPY (a wrapper's PGAPPNAME), never in
an INSERT.

SQLite: .backup, VACUUM INTO and .dump | sqlite3, taken while a gateway is
running, come back identical (.dump text byte for byte) and are served."""

import io
import json
import os
import random
import re
import sqlite3
import subprocess
import time

import psycopg2
import pytest

from processes import PG_BIN, REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

MODEL = os.path.join(REPO, "models", "titanic.json")
MODES = ("extension", "managed")
FORMATS = ("custom", "directory", "plain")
ROLES = ("superuser", "owner")
TARGETS = ("same-cluster", "new-cluster")
OWNER = "app"            # owns the source database (and the same-cluster targets)
OTHER_OWNER = "u7restore"   # owns the new cluster's targets: another name, as on Heroku
TABLES = {
    "predict_model_versions": "name, version",
    "predict_models": "name",
    "predictions": "id",
}
NEXT = {"Pclass": 2, "Sex": "female", "Age": 30, "SibSp": 0, "Parch": 1, "Fare": 26.0, "Embarked": "C"}


def observation(rng):
    return {"Pclass": rng.choice([1, 2, 3]), "Sex": rng.choice(["male", "female"]),
            "Age": rng.choice([None, rng.randint(1, 80)]), "SibSp": rng.randint(0, 3),
            "Parch": rng.randint(0, 2), "Fare": round(rng.uniform(5, 200), 2),
            "Embarked": rng.choice(["S", "C", "Q"])}


def model_file(tmp, name, intercept):
    """models/titanic.json under another name and intercept (estimator.intercept)."""
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


def command(url, mode, *args):
    done = gateway_command(url, *args, env={"PREDICT_MODE": mode} if mode else None)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout.strip()


def copy_text(cur, query):
    buf = io.StringIO()
    cur.copy_expert("COPY (%s) TO STDOUT" % query, buf)
    return buf.getvalue()


def table_dumps(cluster, db):
    """Every row of every predict table and the sequence's state, as COPY
    writes them (every column, floats with every digit, timestamps in UTC)."""
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 3")
    cur.execute("SET TimeZone = 'UTC'")
    cur.execute("SET DateStyle = 'ISO, YMD'")
    out = {table: copy_text(cur, "SELECT * FROM %s ORDER BY %s" % (table, order))
           for table, order in TABLES.items()}
    out["predictions_id_seq"] = copy_text(cur, "SELECT last_value, is_called FROM predictions_id_seq")
    conn.close()
    return out


def rows(text):
    return [line.split("\t") for line in text.splitlines()]


def scorers(cluster, db):
    """Managed mode's compiled scorers: name and source."""
    return cluster.sql(db, "SELECT p.proname, md5(p.prosrc) FROM pg_proc p "
                           "WHERE p.pronamespace = 'predict_internal'::regnamespace AND p.proname LIKE 'model\\_%%' "
                           "ORDER BY 1")


def not_rescored(cluster, db):
    """Rows of titanic version 2 whose proba is not what titanic's active
    version (1) computes: all of them, if nothing re-scored them."""
    return cluster.sql(db, "SELECT count(*) FILTER (WHERE proba <> predict_proba(observation, 'titanic')), "
                           "count(*) FROM predictions WHERE model = 'titanic' AND model_version = 2")[0]


def tool(cluster, args, user=None, check=True, env=None, **kwargs):
    """pg_dump, pg_restore, psql... against cluster as user, with more
    environment (PGOPTIONS, PGAPPNAME)."""
    cmd = [os.path.join(PG_BIN, args[0]), *args[1:]]
    done = subprocess.run(cmd, env=dict(cluster.env(user), **(env or {})), capture_output=True, text=True,
                          **kwargs)
    if check:
        assert done.returncode == 0, (args, done.stderr)
    return done


def error_lines(stderr):
    return [line for line in stderr.splitlines() if re.search(r"error|fatal", line, re.I)]


@pytest.fixture(scope="module")
def clusters():
    a = Cluster()
    b = Cluster()
    a.sql("postgres", "CREATE ROLE %s LOGIN" % OWNER)
    # the new cluster: the source's owner exists (a superuser's restore sets
    # owners by name), and the owner of its targets has another name
    b.sql("postgres", "CREATE ROLE %s LOGIN" % OWNER)
    b.sql("postgres", "CREATE ROLE %s LOGIN" % OTHER_OWNER)
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
        a.sql("postgres", "CREATE DATABASE %s OWNER %s" % (db, OWNER))
        url = a.url(db, OWNER)
        env = {"PREDICT_MODE": mode}
        proc, port = run_gateway(url, env)              # deploys models/titanic.json: titanic 1
        post_predictions(port, range(1, 101), rng)
        stop_gateway(proc)
        assert command(url, mode, "deploy", model_file(tmp, "titanic", 1.25)) == "2"
        proc, port = run_gateway(url, env)
        post_predictions(port, range(101, 201), rng)   # titanic 2
        assert command(url, mode, "deploy", "--name", "other", model_file(tmp, "other", -0.5)) == "1"
        command(url, mode, "set-default", "other")
        post_predictions(port, range(201, 241), rng)   # other 1
        assert command(url, mode, "deploy", "--name", "other", model_file(tmp, "other", 0.3)) == "2"
        post_predictions(port, range(241, 281), rng)   # other 2
        command(url, mode, "activate", "other", "1")
        command(url, mode, "activate", "titanic", "1")
        post_predictions(port, range(281, 321), rng)   # other 1
        for i in range(1, 321, 3):
            assert http(port, "POST", "/update", {"id": i, "true_class": i % 2})[0] == 200
        stop_gateway(proc)
        # rows that asked for their explanation (other 1): a restore checks those too
        for i in range(321, 341):
            a.sql(db, "INSERT INTO predictions (observation_id, observation, explanation) VALUES (%s, %s, 'true')",
                  (i, json.dumps(observation(rng))), user=OWNER)
        assert a.sql(db, "SELECT count(*) FILTER (WHERE explanation = predict_explain(observation, model)), "
                         "count(explanation) FROM predictions") == [(20, 20)]
        dumps = table_dumps(a, db)
        predictions = rows(dumps["predictions"])
        assert len(predictions) == 340
        versions = {(r[6], r[7]) for r in predictions}
        assert versions == {("titanic", "1"), ("titanic", "2"), ("other", "1"), ("other", "2")}, versions
        assert rows(dumps["predict_models"]) == [
            ["other", "1", "t", rows(dumps["predict_models"])[0][3]],
            ["titanic", "1", "f", rows(dumps["predict_models"])[1][3]]]
        assert sum(1 for r in predictions if r[5] != "\\N") == 107
        assert sum(1 for r in predictions if r[8] != r[9]) == 107      # labelled: updated_at moved
        assert not_rescored(a, db) == (100, 100)
        made[mode] = (db, dumps)
    return made


@pytest.fixture(scope="module")
def dumps(clusters, sources, tmp_path_factory):
    """dumps(mode, fmt, role): the path of that dump, taken once and reused
    for every target. The superuser dumps everything; the owner (as on
    Heroku) too, and its plain dumps leave owners and ACLs out, since psql
    has no --no-owner."""
    a, _ = clusters
    tmp = tmp_path_factory.mktemp("dumps")
    made = {}

    def get(mode, fmt, role):
        key = (mode, fmt, role)
        if key not in made:
            path = str(tmp / ("%s-%s-%s.%s" % (key + (fmt,))))
            args = {"custom": ["pg_dump", "-Fc", "-f", path],
                    "directory": ["pg_dump", "-Fd", "-j", "2", "-f", path],
                    "plain": ["pg_dump", "-f", path]}[fmt]
            if fmt == "plain" and role == "owner":
                args += ["--no-owner", "--no-acl"]
            done = a.tool(args + [sources[mode][0]], user=OWNER if role == "owner" else None)
            assert done.stderr == "", done.stderr
            made[key] = path
        return made[key]
    return get


def restore_command(fmt, path, db, role):
    """The restore, as the docs write it."""
    if fmt == "plain":
        return ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-f", path, db]
    return (["pg_restore"] + (["-j", "4"] if fmt == "directory" else [])
            + (["--no-owner", "--no-acl"] if role == "owner" else []) + ["-d", db, path])


def restore(cluster, fmt, path, db, role, owner, check=True, env=None):
    """CREATE DATABASE db OWNER owner, restore into it as the superuser or
    that owner; the tool's completed process."""
    cluster.sql("postgres", "CREATE DATABASE %s OWNER %s" % (db, owner))
    done = tool(cluster, restore_command(fmt, path, db, role), user=owner if role == "owner" else None,
                check=False, env=env)
    if check:
        assert done.returncode == 0 and not error_lines(done.stderr), done.stderr
    return done


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_restore_brings_back_every_row_untouched(clusters, sources, dumps, mode, fmt, role, target):
    a, b = clusters
    src_db, want = sources[mode]
    dest = a if target == "same-cluster" else b
    owner = OTHER_OWNER if (role, target) == ("owner", "new-cluster") else OWNER
    user = owner if role == "owner" else None
    db = "r_%s_%s_%s_%s" % (mode, fmt, role, target.split("-")[0])
    done = restore(dest, fmt, dumps(mode, fmt, role), db, role, owner)
    assert done.stderr == "", done.stderr

    # every table byte for byte, the sequence, the scorers
    got = table_dumps(dest, db)
    for table in want:
        assert got[table] == want[table], "%s differs after the restore" % table
    if mode == "managed":
        assert scorers(dest, db) == scorers(a, src_db)
    # nothing re-scored: titanic's active version is 1, its version 2's rows kept theirs
    assert not_rescored(dest, db) == (100, 100)
    if mode == "extension":
        expected_owner = user or dest.superuser
        assert dest.sql(db, "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'predict'") \
            == [(expected_owner,)]

    # scoring works as in the source, with the restored active versions
    probe = "SELECT predict_proba(%s::jsonb), predict_proba(%s::jsonb, 'titanic'), predict_class(%s::jsonb)"
    args = (json.dumps(NEXT),) * 3
    assert dest.sql(db, probe, args, user=user) == a.sql(src_db, probe, args)

    # the next prediction: the next id, scored by the default model's active version
    last = rows(want["predictions_id_seq"])[0]
    assert last[1] == "t" and int(last[0]) == max(int(r[0]) for r in rows(want["predictions"]))
    row = dest.sql(db, "INSERT INTO predictions (observation_id, observation) VALUES (100000, %s) "
                       "RETURNING id, model, model_version, proba = predict_proba(observation, 'other')",
                   (json.dumps(NEXT),), user=user)[0]
    assert row == (int(last[0]) + 1, "other", 1, True), row

    # a gateway on the restored database serves at once, without a redeploy
    proc, port = run_gateway(dest.url(db, user), {"PREDICT_MODE": mode})
    try:
        assert not any("deployed model" in line for line in proc.start_lines), proc.start_lines
        status, body, _ = http(port, "POST", "/predict", {"id": 100001, "observation": NEXT})
        assert status == 200, body
        assert (body["id"], body["model"], body["model_version"]) == (int(last[0]) + 2, "other", 1), body
        status, body, _ = http(port, "GET", "/predictions/150")
        old = [r for r in rows(want["predictions"]) if r[1] == "150"][0]
        assert status == 200 and (repr(body["proba"]), body["model"], body["model_version"]) \
            == (old[3], "titanic", 2), body
    finally:
        stop_gateway(proc)


@pytest.mark.parametrize("mode", MODES)
def test_the_owner_after_a_superuser_restore(clusters, sources, dumps, mode):
    """Measured: who may use a database a superuser restored for its owner.
    Managed mode's dump sets every owner (ALTER ... OWNER TO app): the owner
    uses it. The extension's privileges are granted to the role that runs
    CREATE EXTENSION (extension-grants.sql, @extowner@), and pg_dump does not
    dump a member's initial privileges (pg_init_privs): a superuser's restore
    creates the extension as the superuser, and the owner is refused every
    table (42501) until it is granted them (see the report). A superuser who
    restores as the owner (pg_restore --role, psql with PGOPTIONS=-c role=)
    makes the owner the extension's owner, as the owner's own restore does."""
    _, b = clusters
    src_db, want = sources[mode]
    db = "su_for_owner_" + mode
    restore(b, "custom", dumps(mode, "custom", "superuser"), db, "superuser", OWNER)
    statement = "INSERT INTO predictions (observation_id, observation) VALUES (100000, '{}') RETURNING model"
    if mode == "managed":
        assert b.sql(db, statement, user=OWNER) == [("other",)]
    else:
        with pytest.raises(psycopg2.Error) as e:
            b.sql(db, statement, user=OWNER)
        assert e.value.pgcode == "42501", e.value
        with pytest.raises(psycopg2.Error) as e:
            b.sql(db, "SELECT count(*) FROM predictions", user=OWNER)
        assert e.value.pgcode == "42501", e.value
        # the repair the docs give for a gateway role: tools/grant-gateway.sql
        b.tool(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "role=" + OWNER,
                "-f", os.path.join(REPO, "tools", "grant-gateway.sql"), "-d", db])
        assert b.sql(db, statement, user=OWNER) == [("other",)]

    for fmt, env in (("custom", None), ("plain", {"PGOPTIONS": "-c role=%s" % OWNER})):
        db = "su_as_owner_%s_%s" % (mode, fmt)
        if fmt == "custom":
            b.sql("postgres", "CREATE DATABASE %s OWNER %s" % (db, OWNER))
            done = b.tool(["pg_restore", "--role", OWNER, "-d", db, dumps(mode, fmt, "superuser")], check=False)
        else:
            done = restore(b, fmt, dumps(mode, fmt, "superuser"), db, "superuser", OWNER, check=False, env=env)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert table_dumps(b, db) == want
        assert b.sql(db, statement, user=OWNER) == [("other",)], fmt
        if mode == "extension":
            assert b.sql(db, "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'predict'") \
                == [(OWNER,)]


def tamper_plain_dump(path, out):
    """A copy of a plain dump whose prediction of observation 150 (titanic
    version 2) has another proba; the forged proba."""
    lines = open(path).read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("COPY public.predictions "))
    i = next(i for i in range(start + 1, len(lines)) if lines[i].split("\t")[1] == "150")
    fields = lines[i].split("\t")
    forged = repr(float(fields[3]) + 1e-9)          # a plausible proba, off in the ninth digit
    fields[3] = forged
    lines[i] = "\t".join(fields)
    with open(out, "w") as fh:
        fh.write("\n".join(lines))
    return forged


def test_a_restore_cannot_forge_a_prediction_extension(clusters, sources, dumps, tmp_path):
    """The extension's trigger is there before the data: the tampered row is
    refused, and with it the COPY that brings every prediction (one
    statement): the restore fails loudly and restores no prediction."""
    a, b = clusters
    src_db, want = sources["extension"]
    path = str(tmp_path / "forged.sql")
    tamper_plain_dump(dumps("extension", "plain", "owner"), path)
    done = restore(b, "plain", path, "forged_ext", "owner", OTHER_OWNER, check=False)
    assert done.returncode == 3, (done.returncode, done.stderr)      # psql: ON_ERROR_STOP
    assert 'does not carry the score of model "titanic" version 2' in done.stderr, done.stderr
    # the SQLSTATE (psql's verbose errors)
    b.sql("postgres", "CREATE DATABASE forged_ext_v OWNER %s" % OTHER_OWNER)
    done = b.tool(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-f", path, "forged_ext_v"],
                  user=OTHER_OWNER, check=False)
    assert done.returncode == 3 and 'ERROR:  23514: new row of relation "predictions" does not carry the score' \
        in done.stderr, done.stderr
    for db in ("forged_ext", "forged_ext_v"):
        assert b.sql(db, "SELECT count(*) FROM predictions WHERE observation_id = 150") == [(0,)]
        assert b.sql(db, "SELECT count(*) FROM predictions") == [(0,)]
        assert b.sql(db, "SELECT count(*) FROM predict_model_versions") == [(4,)]   # loaded before it
    # without ON_ERROR_STOP psql goes on: everything else restored, still no prediction
    b.sql("postgres", "CREATE DATABASE forged_ext_go OWNER %s" % OTHER_OWNER)
    done = b.tool(["psql", "-X", "-f", path, "forged_ext_go"], user=OTHER_OWNER, check=False)
    assert done.returncode == 0 and len(error_lines(done.stderr)) == 1, done.stderr
    assert b.sql("forged_ext_go", "SELECT count(*) FROM predictions") == [(0,)]
    got = table_dumps(b, "forged_ext_go")
    assert got["predict_model_versions"] == want["predict_model_versions"]
    assert got["predict_models"] == want["predict_models"]


def test_a_forged_archive_is_refused_by_pg_restore(clusters, sources, tmp_path):
    """The same through pg_restore: a superuser forges a row in a copy of the
    source (triggers off: session_replication_role = replica) and dumps it
    with -Fc; restoring that archive reports the refusal and exits 1 (the
    errors counted), and the forged row is not restored."""
    a, b = clusters
    src_db, _ = sources["extension"]
    a.sql("postgres", "CREATE DATABASE forger TEMPLATE %s OWNER %s" % (src_db, OWNER))
    conn = a.connect("forger")
    cur = conn.cursor()
    cur.execute("SET session_replication_role = replica")
    cur.execute("UPDATE predictions SET proba = 0.5 WHERE observation_id = 150")
    conn.close()
    path = str(tmp_path / "forged.dump")
    a.tool(["pg_dump", "-Fc", "-f", path, "forger"], user=OWNER)
    done = restore(b, "custom", path, "forged_archive", "owner", OTHER_OWNER, check=False)
    assert done.returncode == 1, done.stderr
    assert "does not carry the score" in done.stderr and "errors ignored on restore: 1" in done.stderr, done.stderr
    assert b.sql("forged_archive", "SELECT count(*) FROM predictions WHERE proba = 0.5") == [(0,)]


def test_a_tampered_managed_dump_loads_as_dumped(clusters, sources, dumps, tmp_path):
    """Measured: managed mode's tables are ordinary tables, and pg_dump
    creates their triggers after their data, so a tampered dump loads as
    dumped (the forged proba is restored without a word). Only the database's
    owner restores, and the owner could disable its own triggers anyway; the
    triggers are there afterwards, and refuse the same row in an INSERT."""
    a, b = clusters
    path = str(tmp_path / "forged.sql")
    forged = tamper_plain_dump(dumps("managed", "plain", "owner"), path)
    done = restore(b, "plain", path, "forged_managed", "owner", OTHER_OWNER)
    assert done.stderr == "", done.stderr
    row = b.sql("forged_managed", "SELECT proba, model, model_version, predict_proba(observation, 'titanic') "
                                  "FROM predictions WHERE observation_id = 150")
    assert len(row) == 1 and repr(row[0][0]) == forged and row[0][1:3] == ("titanic", 2), row
    # the comparison every restore passes sees it: one line of predictions differs
    want = sources["managed"][1]
    got = table_dumps(b, "forged_managed")
    diff = [(w, g) for w, g in zip(rows(want["predictions"]), rows(got["predictions"])) if w != g]
    assert len(diff) == 1 and diff[0][1][3] == forged and diff[0][0][:3] + diff[0][0][4:] == \
        diff[0][1][:3] + diff[0][1][4:], diff
    assert b.sql("forged_managed", "SELECT tgname FROM pg_trigger WHERE tgrelid = 'predictions'::regclass "
                                   "AND NOT tgisinternal ORDER BY 1") \
        == [("predictions_protect",), ("predictions_score",)]
    with pytest.raises(psycopg2.Error) as e:
        b.sql("forged_managed", "INSERT INTO predictions (observation_id, observation, proba, predicted_class, "
                                "model, model_version) SELECT 99999, observation, proba, predicted_class, model, "
                                "model_version FROM predictions WHERE observation_id = 150", user=OTHER_OWNER)
    assert e.value.pgcode == "23514", e.value


@pytest.mark.parametrize("mode", MODES)
def test_an_insert_with_a_score_not_its_versions_is_refused(clusters, sources, dumps, mode):
    """In a restored copy (the source stays as the dumps were taken)."""
    _, b = clusters
    db = "inserts_" + mode
    restore(b, "custom", dumps(mode, "custom", "owner"), db, "owner", OTHER_OWNER)
    conn = b.connect(db, OTHER_OWNER)
    cur = conn.cursor()
    cur.execute("SELECT observation, proba, predicted_class FROM predictions WHERE observation_id = 150")
    obs, proba, cls = cur.fetchone()                                                      # titanic 2
    insert = ("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version) "
              "VALUES (%s, %s, %s, %s, %s, %s) RETURNING proba, predicted_class")
    refusals = [
        ((99990, json.dumps(obs), 0.5, cls, "titanic", 2), "23514"),          # not its version's proba
        ((99991, json.dumps(obs), proba, cls, "titanic", 1), "23514"),        # version 2's score as version 1's
        ((99992, json.dumps(obs), proba, not cls, "titanic", 2), "23514"),    # its proba, the other class
        ((99993, json.dumps(obs), proba, cls, "titanic", 7), "42704"),        # no such version
    ]
    for params, code in refusals:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute(insert, params)
        assert e.value.pgcode == code, (params, e.value)
        if code == "23514":
            assert "does not carry the score" in str(e.value)
    # the version's own score is kept, and filled in when missing
    cur.execute(insert, (99994, json.dumps(obs), proba, cls, "titanic", 2))
    assert cur.fetchall() == [(proba, cls)]
    cur.execute(insert, (99995, json.dumps(obs), None, None, "titanic", 2))
    assert cur.fetchall() == [(proba, cls)]
    assert b.sql(db, "SELECT count(*) FROM predictions WHERE observation_id >= 99990") == [(2,)]
    conn.close()


@pytest.mark.parametrize("first", ["predictions", "predict_models"])
@pytest.mark.parametrize("appname", [None, "restore-wrapper"])
def test_restored_rows_that_arrive_before_the_registry_wait_for_it(clusters, sources, dumps, first, appname):
    """pg_restore -j loads an extension's tables in parallel and in any order:
    here the predictions' (or predict_models') data is restored first, by
    itself, and waits until another pg_restore loads the registry; then every
    row is there, checked. The same with PGAPPNAME set (a wrapper, a hosted
    restore service): a COPY waits whatever the application's name."""
    _, b = clusters
    src_db, want = sources["extension"]
    path = dumps("extension", "custom", "superuser")
    db = "waits_%s_%s" % (first, "appname" if appname else "pg_restore")
    env = dict(b.env(), **({"PGAPPNAME": appname} if appname else {}))
    b.sql("postgres", "CREATE DATABASE " + db)
    b.tool(["pg_restore", "--section=pre-data", "-d", db, path])
    t0 = time.monotonic()
    waiting = subprocess.Popen([os.path.join(PG_BIN, "pg_restore"), "-a", "-t", first, "-d", db, path],
                               env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert waiting.poll() is None, "the restore of %s did not wait: %s" % (first, waiting.stderr.read())
    rest = [t for t in ("predict_model_versions", "predict_models", "predictions") if t != first]
    for table in rest:
        b.tool(["pg_restore", "-a", "-t", table, "-d", db, path])
    assert waiting.wait(30) == 0, waiting.stderr.read()
    assert time.monotonic() - t0 > 1.5
    b.tool(["pg_restore", "--section=post-data", "-d", db, path])
    got = table_dumps(b, db)
    for table in ("predict_model_versions", "predict_models", "predictions"):
        assert got[table] == want[table], table


def test_a_parallel_restore_under_another_application_name(clusters, sources, dumps):
    """A wrapper that sets PGAPPNAME runs pg_restore -j 4: every row back
    (1.1 as first written waited only under application_name 'pg_restore',
    and such restores failed 5 times in 6 with 'model "titanic" has no
    version 1')."""
    _, b = clusters
    src_db, want = sources["extension"]
    path = dumps("extension", "directory", "superuser")
    for i in range(3):
        db = "appname_parallel_%d" % i
        b.sql("postgres", "CREATE DATABASE " + db)
        done = tool(b, ["pg_restore", "-j", "4", "-d", db, path], check=False,
                    env={"PGAPPNAME": "restore-wrapper"})
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert table_dumps(b, db) == want


def test_a_row_for_an_empty_registry_is_refused_at_once_outside_a_restore(clusters):
    """Only a restore (pg_restore, a COPY) waits for the registry: an INSERT of
    a row with a version into a database without any model fails at once."""
    a, _ = clusters
    a.sql("postgres", "CREATE DATABASE empty_registry")
    a.sql("empty_registry", "CREATE EXTENSION predict")
    with pytest.raises(psycopg2.Error) as e:
        a.sql("empty_registry", "INSERT INTO predictions (observation_id, observation, model, model_version) "
                                "VALUES (1, '{}', 'titanic', 1)")
    assert e.value.pgcode == "42704", e.value


# ---------------------------------------------------------------- SQLite

def sqlite3_cli(db, *args, input=None, check=True):
    done = subprocess.run(["sqlite3", db, *args], input=input, capture_output=True, text=True)
    if check:
        assert done.returncode == 0 and done.stderr == "", done.stderr
    return done


def sqlite_rows(path):
    """Every row of every table, each value quote()d (exact REALs)."""
    conn = sqlite3.connect(path)
    out = {}
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY 1")]
    for table in tables:
        cols = [c[1] for c in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]
        out[table] = conn.execute("SELECT %s FROM %s ORDER BY 1, 2" % (
            ", ".join("quote(%s)" % c for c in cols), table)).fetchall()
    conn.close()
    return out


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory):
    """A SQLite database with a history, and a gateway still running on it."""
    tmp = tmp_path_factory.mktemp("sqlite")
    src = str(tmp / "src.db")
    url = "sqlite:///" + src
    rng = random.Random(15)
    proc, port = run_gateway(url)
    post_predictions(port, range(1, 101), rng)
    stop_gateway(proc)
    assert command(url, None, "deploy", model_file(str(tmp), "titanic", 0.75)) == "2"
    proc, port = run_gateway(url)
    post_predictions(port, range(101, 201), rng)
    for i in range(1, 201, 4):
        assert http(port, "POST", "/update", {"id": i, "true_class": 1})[0] == 200
    yield tmp, src, proc
    stop_gateway(proc)


def test_sqlite_backups_come_back_identical(sqlite_source):
    """Taken while the gateway runs on the database (WAL mode)."""
    tmp, src, _ = sqlite_source
    want = sqlite_rows(src)
    assert {r[7] for r in want["predictions"]} == {"1", "2"}
    assert sorted(want) == ["predict_model_versions", "predict_models", "predictions", "sqlite_sequence"]
    want_dump = sqlite3_cli(src, ".dump").stdout

    copies = {"backup": str(tmp / "backup.db"), "vacuum": str(tmp / "vacuum.db"), "dump": str(tmp / "dump.db")}
    sqlite3_cli(src, ".backup '%s'" % copies["backup"])
    sqlite3_cli(src, "VACUUM INTO '%s'" % copies["vacuum"])
    sqlite3_cli(copies["dump"], input=want_dump)      # triggers come after the data in .dump: nothing runs

    for kind, path in copies.items():
        assert sqlite_rows(path) == want, kind
        got_dump = sqlite3_cli(path, ".dump").stdout
        if kind == "vacuum":
            # VACUUM INTO writes the schema's entries in another order (its
            # triggers after the index): the same statements, the same data
            assert sorted(got_dump.splitlines()) == sorted(want_dump.splitlines())
        else:
            assert got_dump == want_dump, kind
        proc, port = run_gateway("sqlite:///" + path)
        try:
            assert not any("deployed model" in line for line in proc.start_lines), proc.start_lines
            status, body, _ = http(port, "POST", "/predict", {"id": 1000, "observation": NEXT})
            assert status == 200 and (body["model"], body["model_version"]) == ("titanic", 2), (kind, body)
            assert body["id"] == 201, (kind, body)
            status, body, _ = http(port, "GET", "/predictions/5")
            assert status == 200 and body["model_version"] == 1, (kind, body)
        finally:
            stop_gateway(proc)


def test_sqlite_tampered_dump_loads_as_dumped(sqlite_source):
    """Measured: .dump creates the triggers after the data, so a tampered
    dump restores as dumped (as managed mode's do). The restored database's
    trigger then refuses forged rows, but only where the extension's functions
    exist: the plain sqlite3 CLI cannot insert into predictions at all."""
    tmp, src, _ = sqlite_source
    text = sqlite3_cli(src, ".dump").stdout
    line = next(l for l in text.splitlines() if l.startswith("INSERT INTO predictions VALUES(7,"))
    m = re.match(r"(INSERT INTO predictions VALUES\(7,7,'\{[^']*\}',)([0-9.e-]+)(,.*)$", line)
    assert m, line
    forged = str(tmp / "forged.db")
    sqlite3_cli(forged, input=text.replace(line, m.group(1) + "0.5" + m.group(3)))
    assert sqlite3_cli(forged, "SELECT proba FROM predictions WHERE id = 7").stdout == "0.5\n"
    done = sqlite3_cli(forged, "INSERT INTO predictions (observation_id, observation, proba, predicted_class, "
                               "model, model_version) VALUES (9999, '{}', 0.5, 1, 'titanic', 2)", check=False)
    assert done.returncode != 0 and "no such function: predict" in done.stderr, done.stderr
