"""Upgrades (issue 14), as PostgreSQL's contrib modules are tested:

- the extension installed as 1.0, with predictions logged, then `ALTER
  EXTENSION predict UPDATE`: the rows are unchanged, and the upgraded schema
  equals a fresh 1.1 install (every member's definition, privileges and
  trigger state, and pg_dump --schema-only --binary-upgrade, which writes the
  members out);
- every regression test passes on a database whose extension was created as
  1.0 and updated;
- managed mode: a database set up by the 1.0 gateway (built from this
  repository's history) is migrated by this gateway at start-up, in one
  transaction, into what a new 1.1 schema is, with the same scores; the 1.0
  gateway then refuses the newer schema, and this gateway refuses a newer
  one than its own; a migration that fails leaves the 1.0 schema as it was.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from processes import REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

OLD_COMMIT = "c3f04ab"          # the last commit of 1.0
MODEL = os.path.join(REPO, "models", "titanic.json")
PG_REGRESS = "/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress"
OBS = [{"Pclass": p, "Sex": s, "Age": a, "Fare": f, "Embarked": e}
       for p, s, a, f, e in [(3, "male", 22, 7.25, "S"), (1, "female", 38, 71.3, "C"), (2, "male", None, 13, "Q"),
                             (3, "female", 4, 16.7, "S"), (1, "male", 54, 51.9, "S")]]

# The definition of every object of the extension, and of managed mode's
# schemas, from the catalog: what a schema comparison must see.
CATALOG = r"""
WITH objs AS (
    SELECT d.classid, d.objid
      FROM pg_depend d
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'predict')
    UNION
    SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p
     WHERE %(managed)s AND p.pronamespace IN (%(schemas)s)
    UNION
    SELECT 'pg_class'::regclass, c.oid FROM pg_class c
     WHERE %(managed)s AND c.relnamespace IN (%(schemas)s) AND c.relkind IN ('r', 'S')
    UNION
    SELECT 'pg_namespace'::regclass, n.oid FROM pg_namespace n
     WHERE %(managed)s AND n.nspname = 'predict_internal'
)
SELECT pg_describe_object(o.classid, o.objid, 0) || E'\n' || coalesce(CASE o.classid
    WHEN 'pg_proc'::regclass THEN
        (SELECT pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '-')
                || ' cost=' || p.procost || ' owner=' || p.proowner::regrole
           FROM pg_proc p WHERE p.oid = o.objid)
    WHEN 'pg_class'::regclass THEN
        (SELECT 'kind=' || c.relkind::text || ' owner=' || c.relowner::regrole || ' acl=' || coalesce(c.relacl::text, '-')
                || E'\n' || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                          || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                                          || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                          E'\n' ORDER BY a.attnum)
                                       FROM pg_attribute a LEFT JOIN pg_attrdef ad
                                         ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
                || E'\n' || coalesce((SELECT string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid), E'\n'
                                                        ORDER BY k.conname)
                                       FROM pg_constraint k WHERE k.conrelid = c.oid), '')
                || E'\n' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\n' ORDER BY 1)
                                       FROM pg_index i WHERE i.indrelid = c.oid), '')
                || E'\n' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text,
                                                        E'\n' ORDER BY t.tgname)
                                       FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
           FROM pg_class c WHERE c.oid = o.objid)
    WHEN 'pg_namespace'::regclass THEN
        (SELECT 'owner=' || n.nspowner::regrole || ' acl=' || coalesce(n.nspacl::text, '-')
           FROM pg_namespace n WHERE n.oid = o.objid)
    END, '') AS definition
  FROM objs o
 ORDER BY 1
"""

EXTRA = r"""
SELECT 'extension', e.extversion, e.extrelocatable,
       (SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM unnest(e.extconfig) AS c),
       e.extcondition,
       (SELECT array_agg(pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' ' || i.privtype::text || ' '
                         || i.initprivs::text ORDER BY 1)
          FROM pg_init_privs i
          JOIN pg_depend d ON d.classid = i.classoid AND d.objid = i.objoid AND d.deptype = 'e'
         WHERE d.refobjid = e.oid)
  FROM pg_extension e WHERE e.extname = 'predict'
"""


def catalog(cluster, db, managed=False, schema="public"):
    schemas = ("SELECT oid FROM pg_namespace WHERE nspname IN ('%s', 'predict_internal')" % schema
               if managed else "0")
    rows = cluster.sql(db, CATALOG % {"managed": "true" if managed else "false", "schemas": schemas})
    out = [r[0] for r in rows]
    if not managed:
        out += [repr(r) for r in cluster.sql(db, EXTRA)]
    return out


def diff(a, b):
    import difflib
    return "\n".join(difflib.unified_diff("\n".join(a).splitlines(), "\n".join(b).splitlines(),
                                          "upgraded", "fresh", lineterm="", n=2))


def binary_upgrade_schema(cluster, db):
    """pg_dump --schema-only --binary-upgrade: the extension's members written
    out, with what differs between two databases by construction (OIDs,
    the extension's own creation) left out."""
    text = cluster.tool(["pg_dump", "--schema-only", "--binary-upgrade", db]).stdout
    kept = []
    for line in text.splitlines():
        if (line.startswith("--") or "binary_upgrade_" in line or not line.strip()
                or re.match(r"\\(un)?restrict ", line) or "relfrozenxid" in line
                or line.startswith("SELECT pg_catalog.setval(")):   # data, not schema
            continue
        kept.append(re.sub(r"WHERE oid = '\d+'", "WHERE oid = <oid>", line))
    return kept


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.stop()


def deploy_and_log(cluster, db):
    doc = open(MODEL).read()
    cluster.sql(db, "SELECT predict_deploy('titanic', %s::jsonb)", (doc,))
    for i, obs in enumerate(OBS, 1):
        cluster.sql(db, "INSERT INTO predictions (observation_id, observation) VALUES (%s, %s)", (i, json.dumps(obs)))
    cluster.sql(db, "UPDATE predictions SET true_class = 1 WHERE observation_id IN (1, 3)")


def rows(cluster, db, table="predictions", order="id"):
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 3")
    cur.execute("SELECT * FROM %s ORDER BY %s" % (table, order))
    out = [tuple(str(v) for v in r) for r in cur.fetchall()]
    conn.close()
    return out


def test_extension_update_from_1_0_equals_a_fresh_1_1(cluster):
    cluster.sql("postgres", "CREATE DATABASE upgraded")
    cluster.sql("postgres", "CREATE DATABASE fresh")
    cluster.sql("upgraded", "CREATE EXTENSION predict VERSION '1.0'")
    deploy_and_log(cluster, "upgraded")
    before = rows(cluster, "upgraded")
    scores = [cluster.sql("upgraded", "SELECT predict_proba(%s::jsonb)", (json.dumps(o),))[0][0] for o in OBS]
    cluster.sql("upgraded", "ALTER EXTENSION predict UPDATE")
    assert cluster.sql("upgraded", "SELECT extversion FROM pg_extension WHERE extname = 'predict'") == [("1.1",)]
    assert rows(cluster, "upgraded") == before
    assert [cluster.sql("upgraded", "SELECT predict_proba(%s::jsonb)", (json.dumps(o),))[0][0] for o in OBS] == scores
    assert cluster.sql("upgraded", "SELECT count(*) FROM predict_report_metrics()")[0][0] > 0

    cluster.sql("fresh", "CREATE EXTENSION predict")
    assert cluster.sql("fresh", "SELECT extversion FROM pg_extension WHERE extname = 'predict'") == [("1.1",)]
    upgraded, fresh = catalog(cluster, "upgraded"), catalog(cluster, "fresh")
    assert len(fresh) > 30
    assert upgraded == fresh, diff(upgraded, fresh)
    upgraded, fresh = binary_upgrade_schema(cluster, "upgraded"), binary_upgrade_schema(cluster, "fresh")
    assert any("predict_internal.report_versions" in line for line in fresh)
    assert upgraded == fresh, diff(upgraded, fresh)


def test_the_comparison_sees_a_difference(cluster):
    """The schema comparison can fail: one changed cost is seen by both views."""
    cluster.sql("postgres", "CREATE DATABASE altered")
    cluster.sql("altered", "CREATE EXTENSION predict")
    reference = catalog(cluster, "altered"), binary_upgrade_schema(cluster, "altered")
    cluster.sql("altered", "ALTER FUNCTION predict_proba(jsonb) COST 5")
    assert catalog(cluster, "altered") != reference[0]
    assert binary_upgrade_schema(cluster, "altered") != reference[1]


def test_every_regression_test_passes_on_an_updated_extension(cluster, tmp_path):
    """The regression suite, each CREATE EXTENSION made as 1.0 then updated
    (the same rewrite in the inputs and the expected outputs, which echo them)."""
    tests = sorted(f[:-4] for f in os.listdir(os.path.join(REPO, "sql"))
                   if f.endswith(".sql") and not f.startswith("predict--"))
    assert len(tests) >= 7
    os.makedirs(tmp_path / "sql")
    os.makedirs(tmp_path / "expected")
    pattern = re.compile(r"^CREATE EXTENSION predict( SCHEMA \w+)?;$", re.M)
    rewritten = 0
    for name in tests:
        for kind, ext in (("sql", ".sql"), ("expected", ".out")):
            text = open(os.path.join(REPO, kind, name + ext)).read()
            text, n = pattern.subn(lambda m: "CREATE EXTENSION predict%s VERSION '1.0'; ALTER EXTENSION predict UPDATE;"
                                   % (m.group(1) or ""), text)
            rewritten += n
            if kind == "expected":
                # where the CREATE fails (a second schema), the UPDATE runs on the existing one
                text = text.replace("ALTER EXTENSION predict UPDATE;\nERROR:  extension \"predict\" already exists\n",
                                    "ALTER EXTENSION predict UPDATE;\nERROR:  extension \"predict\" already exists\n"
                                    "NOTICE:  version \"1.1\" of extension \"predict\" is already installed\n")
            with open(tmp_path / kind / (name + ext), "w") as fh:
                fh.write(text)
    assert rewritten >= 2 * len(tests)
    # the tests read models relative to the repository (\set tiny `cat test/pg/models/tiny.json`)
    done = subprocess.run([PG_REGRESS, "--inputdir", str(tmp_path), "--outputdir", str(tmp_path),
                           "--bindir", "/usr/lib/postgresql/15/bin", "--load-extension=plpgsql",
                           "--host", "127.0.0.1", "--port", cluster.port, "--user", cluster.superuser,
                           "--dbname", "contrib_regression_upgraded", *tests],
                          cwd=REPO, capture_output=True, text=True)
    diffs = tmp_path / "regression.diffs"
    assert done.returncode == 0, done.stdout + (open(diffs).read() if diffs.exists() else "")


# ---------------------------------------------------------------- managed mode

@pytest.fixture(scope="module")
def old_gateway():
    """The 1.0 gateway, built from this repository's history (cached by commit)."""
    cache = os.path.join(REPO, "build", "old-gateway-" + OLD_COMMIT)
    binary = os.path.join(cache, "bin", "predict-gateway")
    if os.path.exists(binary):
        return binary
    if subprocess.run(["git", "-C", REPO, "cat-file", "-e", OLD_COMMIT + "^{commit}"],
                      capture_output=True).returncode != 0:
        pytest.skip("commit %s (1.0) is not in this clone's history: clone without --depth" % OLD_COMMIT)
    tmp = tempfile.mkdtemp(prefix="predict-old-", dir=os.path.join(REPO, "build"))
    archive = subprocess.run(["git", "-C", REPO, "archive", OLD_COMMIT], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
    subprocess.run(["make", "-C", tmp, "-s", "bin/predict-gateway"], check=True, capture_output=True)
    shutil.rmtree(cache, ignore_errors=True)
    os.rename(tmp, cache)
    return binary


def start_with(binary, url, env=None):
    old = os.environ.get("PREDICT_GATEWAY")
    import processes
    processes.GATEWAY = binary
    try:
        return run_gateway(url, env)
    finally:
        processes.GATEWAY = old or os.path.join(REPO, "bin", "predict-gateway")


def scores_by_version(cluster, db, versions):
    """The score of each observation by each version (activating each in turn, rolled back)."""
    conn = cluster.connect(db, "app")
    conn.autocommit = False
    cur = conn.cursor()
    out = {}
    try:
        for v in versions:
            cur.execute("SELECT predict_activate('titanic', %s)", (v,))
            out[v] = []
            for o in OBS:
                cur.execute("SELECT predict_proba(%s::jsonb)", (json.dumps(o),))
                out[v].append(cur.fetchone()[0])
    finally:
        conn.rollback()
        conn.close()
    return out


@pytest.fixture(scope="module")
def managed_1_0(cluster, old_gateway, tmp_path_factory):
    """A database the 1.0 gateway set up in managed mode, as an ordinary owner,
    with two versions deployed and predictions logged."""
    cluster.sql("postgres", "CREATE ROLE app LOGIN")
    tmp = tmp_path_factory.mktemp("models")
    doc = json.load(open(MODEL))
    doc["estimator"]["intercept"] = 0.5
    v2 = str(tmp / "v2.json")
    json.dump(doc, open(v2, "w"))

    def make(db):
        cluster.sql("postgres", "CREATE DATABASE %s OWNER app" % db)
        url = cluster.url(db, "app")
        env = {"PREDICT_MODE": "managed"}
        proc, port = start_with(old_gateway, url, env)
        for i, o in enumerate(OBS, 1):
            assert http(port, "POST", "/predict", {"id": i, "observation": o})[0] == 200
        stop_gateway(proc)
        done = subprocess.run([old_gateway, "deploy", v2], env=dict(os.environ, DATABASE_URL=url, **env),
                              capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
        proc, port = start_with(old_gateway, url, env)
        for i, o in enumerate(OBS, 101):
            assert http(port, "POST", "/predict", {"id": i, "observation": o})[0] == 200
        assert http(port, "POST", "/update", {"id": 1, "true_class": 1})[0] == 200
        stop_gateway(proc)
        assert cluster.sql(db, "SELECT predict__schema_version()") == [("1.0",)]
        return url
    return make


def test_managed_1_0_is_migrated_to_1_1_with_the_same_scores(cluster, managed_1_0, old_gateway):
    url = managed_1_0("mg_migrated")
    before_rows = rows(cluster, "mg_migrated")
    before_scores = scores_by_version(cluster, "mg_migrated", [1, 2])
    assert before_scores[1] != before_scores[2]

    proc, port = run_gateway(url)
    try:
        assert any("migrated the managed predict schema from 1.0 to 1.1" in line for line in proc.start_lines), \
            proc.start_lines
        status, body, _ = http(port, "POST", "/predict", {"id": 500, "observation": OBS[0]})
        assert status == 200 and body["proba"] == before_scores[2][0], body
    finally:
        stop_gateway(proc)
    assert rows(cluster, "mg_migrated")[:len(before_rows)] == before_rows
    assert scores_by_version(cluster, "mg_migrated", [1, 2]) == before_scores
    # the tables' schema holds what users call, and the guard; the rest is predict_internal's
    public = cluster.sql("mg_migrated", "SELECT DISTINCT proname FROM pg_proc "
                                        "WHERE pronamespace = 'public'::regnamespace ORDER BY 1")
    assert [p for (p,) in public if p.startswith("predict__")] == ["predict__schema_version"], public
    scorers = cluster.sql("mg_migrated", "SELECT count(*) FROM pg_proc WHERE pronamespace = "
                                         "'predict_internal'::regnamespace AND proname LIKE 'model\\_%%'")
    assert scorers == [(2,)]

    # the migrated schema is what a new 1.1 schema is, with the same two versions deployed
    cluster.sql("postgres", "CREATE DATABASE mg_fresh OWNER app")
    fresh_url = cluster.url("mg_fresh", "app")
    proc, _ = run_gateway(fresh_url, {"PREDICT_MODE": "managed"})
    stop_gateway(proc)
    doc = json.load(open(MODEL))
    doc["estimator"]["intercept"] = 0.5
    v2 = os.path.join(tempfile.mkdtemp(), "v2.json")
    json.dump(doc, open(v2, "w"))
    assert gateway_command(fresh_url, "deploy", v2, env={"PREDICT_MODE": "managed"}).returncode == 0
    migrated, fresh = catalog(cluster, "mg_migrated", True), catalog(cluster, "mg_fresh", True)
    assert len(fresh) > 50
    assert migrated == fresh, diff(migrated, fresh)

    # the 1.0 gateway stops on the newer schema, changing nothing
    snapshot = catalog(cluster, "mg_migrated", True)
    done = subprocess.run([old_gateway], env=dict(os.environ, DATABASE_URL=url, PORT="0"),
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "newer than this gateway" in lines[0], lines
    assert catalog(cluster, "mg_migrated", True) == snapshot

    # and this gateway stops on a schema newer than its own
    cluster.sql("mg_migrated", "CREATE OR REPLACE FUNCTION predict_internal.schema_version() RETURNS text "
                               "LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN '1.2'", user="app")
    done = subprocess.run([os.path.join(REPO, "bin", "predict-gateway")],
                          env=dict(os.environ, DATABASE_URL=url, PORT="0"), capture_output=True, text=True,
                          timeout=30)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "version 1.2, newer than this gateway (1.1)" in lines[0], lines


def test_a_failed_migration_leaves_the_1_0_schema_as_it_was(cluster, managed_1_0):
    url = managed_1_0("mg_failing")
    # a stored document this gateway cannot compile: the migration must fail midway
    cluster.sql("mg_failing", "INSERT INTO predict_model_versions (name, version, model) "
                              "VALUES ('broken', 1, '{\"format\": \"predict-model/1\"}')")
    before = catalog(cluster, "mg_failing", True)
    done = subprocess.run([os.path.join(REPO, "bin", "predict-gateway")],
                          env=dict(os.environ, DATABASE_URL=url, PORT="0"), capture_output=True, text=True,
                          timeout=30)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "cannot migrate the managed predict schema from 1.0 to 1.1" in lines[0], lines
    assert 'model "broken" version 1' in lines[0], lines
    assert catalog(cluster, "mg_failing", True) == before
    assert cluster.sql("mg_failing", "SELECT predict__schema_version()") == [("1.0",)]


def test_the_gateway_updates_a_1_0_extension_when_its_role_may(cluster):
    """Started on a database with extension 1.0, the gateway runs ALTER
    EXTENSION predict UPDATE itself when its role owns the extension, and says
    so; a role that may not gets a warning naming the command, and is served."""
    cluster.sql("postgres", "CREATE DATABASE gw_updates")
    cluster.sql("gw_updates", "CREATE EXTENSION predict VERSION '1.0'")
    deploy_and_log(cluster, "gw_updates")
    cluster.sql("postgres", "CREATE ROLE reader LOGIN")
    cluster.sql("gw_updates", "GRANT SELECT, INSERT ON predictions, predict_models TO reader")
    cluster.sql("gw_updates", "GRANT USAGE ON SEQUENCE predictions_id_seq TO reader")
    proc, port = run_gateway(cluster.url("gw_updates", "reader"))
    try:
        assert any("cannot update it" in line and "ALTER EXTENSION predict UPDATE" in line
                   for line in proc.start_lines), proc.start_lines
        assert http(port, "POST", "/predict", {"id": 900, "observation": OBS[0]})[0] == 200
    finally:
        stop_gateway(proc)
    assert cluster.sql("gw_updates", "SELECT extversion FROM pg_extension WHERE extname = 'predict'") == [("1.0",)]
    proc, port = run_gateway(cluster.url("gw_updates"))
    try:
        assert any("updated the predict extension from 1.0 to 1.1" in line for line in proc.start_lines), \
            proc.start_lines
        assert http(port, "GET", "/report.json")[0] == 200
    finally:
        stop_gateway(proc)
    assert cluster.sql("gw_updates", "SELECT extversion FROM pg_extension WHERE extname = 'predict'") == [("1.1",)]
