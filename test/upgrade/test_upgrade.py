"""Upgrades (issue 14), as PostgreSQL's contrib modules are tested:

- the extension installed as 1.0 to 1.4 (each release's install
  script as it shipped), with predictions logged and labelled, then
  `ALTER EXTENSION predict UPDATE`: the rows are unchanged, scoring works,
  and the upgraded schema equals a fresh install, seen two ways: the
  catalog (every member's definition, privileges, columns, constraints,
  indexes and triggers with their state, pg_init_privs, extconfig) and
  pg_dump --schema-only --binary-upgrade, which writes the members out (a
  plain dump prints only CREATE EXTENSION); both see deliberate changes. The
  same in a schema of its own under the user's views and functions, and for
  a 1.0 dump restored where this version is installed; the update to 1.2 makes the
  daily alert report a version without a reference, which 1.1's kept quiet;
- every regression test passes on databases whose extension was created as
  1.0 to 1.4, and updated;
- managed mode: a database set up by the 1.0 gateway (built from this
  repository's history) is migrated by this gateway at start-up, in one
  transaction, into what a new schema is (also in a schema whose name
  needs quoting), with the same rows and the same scores, while a 1.0
  gateway already running keeps serving; the 1.0 gateway then refuses the
  newer schema and changes nothing, and this gateway refuses a schema newer
  than its own; a migration that fails midway leaves the 1.0 schema exactly
  as it was; a role that may not migrate is served with the 1.0 schema; a
  database set up by a 1.1 to 1.8 gateway gets its functions again, and
  every stored version its explanation function.
"""

import concurrent.futures
import difflib
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import processes
from processes import EXTENSION_VERSION, REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

OLD_COMMIT = "c3f04ab"          # the last commit of 1.0
MANAGED_COMMITS = {"1.1": "50f0fe1",   # the last commit of each managed schema
                   "1.2": "08bf354",
                   "1.3": "fa4d0e8",
                   "1.4": "9af3a3c",
                   "1.5": "bf6aa1e",
                   "1.6": "b4a5910",
                   "1.7": "9f5177e",
                   "1.8": "72caaab",
                   "1.9": "10ea4cb"}
MANAGED_VERSION = "1.10"        # src/managed/sql/managed.sql's schema_version()
OLDER_EXTENSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4"]
NEW_GATEWAY = os.path.join(REPO, "bin", "predict-gateway")
MODEL = os.path.join(REPO, "models", "titanic.json")
PG_BIN = processes.PG_BIN
PG_REGRESS = "/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress"
OBS = [{"Pclass": p, "Sex": s, "Age": a, "Fare": f, "Embarked": e}
       for p, s, a, f, e in [(3, "male", 22, 7.25, "S"), (1, "female", 38, 71.3, "C"), (2, "male", None, 13, "Q"),
                             (3, "female", 4, 16.7, "S"), (1, "male", 54, 51.9, "S")]]

# ------------------------------------------------------------ the comparisons

# The definition of every object of the extension (its members: pg_depend
# deptype 'e') or, in managed mode, of every object in the tables' schema and
# predict_internal: what a schema comparison must see. Internal triggers (a
# foreign key's) are listed with their enabled state; their names carry an
# OID (RI_ConstraintTrigger_c_<oid>), so they are named by their constraint.
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
     WHERE %(managed)s AND c.relnamespace IN (%(schemas)s) AND c.relkind NOT IN ('i', 'I', 't')
    UNION
    SELECT 'pg_namespace'::regclass, n.oid FROM pg_namespace n
     WHERE %(managed)s AND n.oid IN (%(schemas)s)
    UNION
    SELECT 'pg_type'::regclass, t.oid FROM pg_type t
     WHERE %(managed)s AND t.typnamespace IN (%(schemas)s) AND t.typcategory <> 'A'
       AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    UNION
    SELECT 'pg_operator'::regclass, o.oid FROM pg_operator o
     WHERE %(managed)s AND o.oprnamespace IN (%(schemas)s)
)
SELECT pg_describe_object(o.classid, o.objid, 0) || E'\n' || coalesce(CASE o.classid
    WHEN 'pg_proc'::regclass THEN
        (SELECT CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(p.oid) END
                || E'\n  volatile=' || p.provolatile::text || ' parallel=' || p.proparallel::text
                || ' strict=' || p.proisstrict || ' security_definer=' || p.prosecdef
                || ' leakproof=' || p.proleakproof || ' cost=' || p.procost || ' rows=' || p.prorows
                || ' config=' || coalesce(p.proconfig::text, '-')
                || E'\n  owner=' || p.proowner::regrole || ' acl=' || coalesce(p.proacl::text, '-')
                || coalesce(E'\n  comment=' || obj_description(p.oid, 'pg_proc'), '')
           FROM pg_proc p WHERE p.oid = o.objid)
    WHEN 'pg_class'::regclass THEN
        (SELECT 'kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
                || ' owner=' || c.relowner::regrole || ' acl=' || coalesce(c.relacl::text, '-')
                || ' options=' || coalesce(c.reloptions::text, '-')
                || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
                || ' replica_identity=' || c.relreplident::text
                || coalesce(E'\n  comment=' || obj_description(c.oid, 'pg_class'), '')
                || CASE WHEN c.relkind IN ('v', 'm') THEN E'\n  view: ' || pg_get_viewdef(c.oid) ELSE '' END
                || coalesce((SELECT E'\n  sequence ' || format_type(s.seqtypid, NULL) || ' start=' || s.seqstart
                                    || ' increment=' || s.seqincrement || ' min=' || s.seqmin || ' max=' || s.seqmax
                                    || ' cache=' || s.seqcache || ' cycle=' || s.seqcycle
                               FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
                || coalesce((SELECT string_agg(E'\n  owned by ' || pg_describe_object(d.refclassid, d.refobjid,
                                                                                      d.refobjsubid), '')
                               FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass
                                AND d.refobjsubid <> 0), '')
                || coalesce((SELECT string_agg(E'\n  column ' || a.attname
                                          || ' ' || format_type(a.atttypid, a.atttypmod)
                                          || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                                          || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
                                          || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text
                                                  ELSE '' END
                                          || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
                                          || CASE WHEN a.attcollation <> 0 THEN ' collate '
                                                  || a.attcollation::regcollation ELSE '' END
                                          || ' storage=' || a.attstorage::text || ' stats=' || a.attstattarget
                                          || ' acl=' || coalesce(a.attacl::text, '-')
                                          || coalesce(' comment=' || col_description(c.oid, a.attnum), ''),
                                          '' ORDER BY a.attnum)
                               FROM pg_attribute a LEFT JOIN pg_attrdef ad
                                 ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
                || coalesce((SELECT string_agg(E'\n  constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid),
                                               '' ORDER BY k.conname)
                               FROM pg_constraint k WHERE k.conrelid = c.oid), '')
                || coalesce((SELECT string_agg(E'\n  ' || pg_get_indexdef(i.indexrelid)
                                               || CASE WHEN i.indisclustered THEN ' clustered' ELSE '' END
                                               || CASE WHEN i.indisvalid THEN '' ELSE ' invalid' END,
                                               '' ORDER BY pg_get_indexdef(i.indexrelid))
                               FROM pg_index i WHERE i.indrelid = c.oid), '')
                || coalesce((SELECT string_agg(E'\n  ' || tr.def, '' ORDER BY tr.def)
                               FROM (SELECT regexp_replace(pg_get_triggerdef(t.oid),
                                                           'RI_ConstraintTrigger_([ac])_[0-9]+',
                                                           'RI_ConstraintTrigger_\1_<oid>')
                                            || CASE WHEN t.tgisinternal THEN ' internal, of constraint '
                                                    || (SELECT conname FROM pg_constraint WHERE oid = t.tgconstraint)
                                                    ELSE '' END
                                            || ' enabled=' || t.tgenabled::text AS def
                                       FROM pg_trigger t WHERE t.tgrelid = c.oid) tr), '')
                || coalesce((SELECT string_agg(E'\n  policy ' || pol.polname || ' ' || pol.polcmd::text
                                               || ' permissive=' || pol.polpermissive
                                               || ' roles=' || pol.polroles::regrole[]::text
                                               || ' using=' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '-')
                                               || ' check='
                                               || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '-'),
                                               '' ORDER BY pol.polname)
                               FROM pg_policy pol WHERE pol.polrelid = c.oid), '')
                || coalesce((SELECT string_agg(E'\n  rule ' || pg_get_ruledef(r.oid), '' ORDER BY r.rulename)
                               FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN'), '')
           FROM pg_class c WHERE c.oid = o.objid)
    WHEN 'pg_namespace'::regclass THEN
        (SELECT 'owner=' || n.nspowner::regrole || ' acl=' || coalesce(n.nspacl::text, '-')
                || coalesce(E'\n  comment=' || obj_description(n.oid, 'pg_namespace'), '')
           FROM pg_namespace n WHERE n.oid = o.objid)
    WHEN 'pg_type'::regclass THEN
        (SELECT 'type=' || t.typtype::text || ' ' || format_type(t.oid, NULL) || ' owner=' || t.typowner::regrole
                || ' acl=' || coalesce(t.typacl::text, '-')
           FROM pg_type t WHERE t.oid = o.objid)
    WHEN 'pg_operator'::regclass THEN
        (SELECT 'function=' || op.oprcode::regprocedure || ' owner=' || op.oprowner::regrole
           FROM pg_operator op WHERE op.oid = o.objid)
    END, '') AS definition
  FROM objs o
 ORDER BY 1
"""

# The extension itself: its version, owner and schema, its configuration
# tables (pg_dump dumps their rows) and the initial privileges of its members
# (pg_init_privs: what pg_dump compares a member's privileges with).
EXTENSION = r"""
SELECT 'extension ' || e.extname || ' version=' || e.extversion || ' relocatable=' || e.extrelocatable
       || ' owner=' || e.extowner::regrole || ' schema=' || e.extnamespace::regnamespace
       || E'\n  config=' || coalesce((SELECT string_agg(c.cfg::regclass::text || ' where ' || quote_literal(c.cond),
                                                        ', ' ORDER BY c.cfg::regclass::text)
                                        FROM unnest(e.extconfig, e.extcondition) AS c(cfg, cond)), '-')
       || coalesce((SELECT string_agg(E'\n  init privileges of ' || pg_describe_object(i.classoid, i.objoid, i.objsubid)
                                      || ' (' || i.privtype::text || '): ' || i.initprivs::text, ''
                                      ORDER BY pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype)
                      FROM pg_init_privs i
                     WHERE EXISTS (SELECT FROM pg_depend d
                                    WHERE d.classid = i.classoid AND d.objid = i.objoid AND d.deptype = 'e'
                                      AND d.refobjid = e.oid)), '')
  FROM pg_extension e WHERE e.extname = 'predict'
"""


def catalog(cluster, db, managed=False, schema="public"):
    """The definitions of the extension's members (or, managed, of the objects
    in schema and predict_internal), one string per object, sorted."""
    schemas = ("SELECT oid FROM pg_namespace WHERE nspname IN ('%s', 'predict_internal')" % schema
               if managed else "0")
    out = [r[0] for r in cluster.sql(db, CATALOG % {"managed": "true" if managed else "false", "schemas": schemas})]
    if not managed:
        out += [r[0] for r in cluster.sql(db, EXTENSION)]
    return out


def diff(a, b, names=("upgraded", "fresh")):
    """A unified diff of two listings, for an assertion's message."""
    return "\n" + "\n".join(difflib.unified_diff("\n".join(a).splitlines(), "\n".join(b).splitlines(),
                                                 names[0], names[1], lineterm="", n=3))


def dump_schema(cluster, db, binary_upgrade=False):
    """pg_dump --schema-only (with --binary-upgrade, the extension's members
    are written out), with what differs between two databases by
    construction left out or normalised: comments and blank lines; pg_dump's
    \\restrict keys (random); the binary_upgrade_* calls, which carry OIDs
    (what they set is in the catalog comparison: extconfig, and the OIDs
    themselves); relfrozenxid (a transaction number) and the OID of the
    pg_class row it is set in; setval (the sequence's value is data); the
    OIDs in the names of a foreign key's internal triggers."""
    args = ["pg_dump", "--schema-only", db] + (["--binary-upgrade"] if binary_upgrade else [])
    kept = []
    for line in cluster.tool(args).stdout.splitlines():
        if (line.startswith("--") or not line.strip() or re.match(r"\\(un)?restrict ", line)
                or "binary_upgrade_" in line or "relfrozenxid" in line
                or line.startswith("SELECT pg_catalog.setval(")):
            continue
        line = re.sub(r"WHERE oid = '\d+'", "WHERE oid = <oid>", line)
        kept.append(re.sub(r"RI_ConstraintTrigger_([ac])_\d+", r"RI_ConstraintTrigger_\1_<oid>", line))
    return kept


# The columns an upgrade adds (1.5, managed 1.9: explanations in the log),
# with the value every row stored before it has.
ADDED_COLUMNS = {"predict_model_versions": ("explain", "False"), "predictions": ("explanation", None)}


def rows(cluster, db):
    """Every row of the three tables, every column as text (floats exact),
    and the predictions' sequence. The columns an upgrade adds are left
    out, once checked to hold their value for rows stored before it."""
    conn = cluster.connect(db)
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 3")
    out = {}
    for table, order in (("predict_model_versions", "name, version"), ("predict_models", "name"),
                         ("predictions", "id")):
        cur.execute("SELECT * FROM %s ORDER BY %s" % (table, order))
        names = [d[0] for d in cur.description]
        table_rows = [tuple(None if v is None else str(v) for v in r) for r in cur.fetchall()]
        if table in ADDED_COLUMNS and ADDED_COLUMNS[table][0] in names:
            column, value = ADDED_COLUMNS[table]
            at = names.index(column)
            assert [r[at] for r in table_rows] == [value] * len(table_rows), (table, column)
            table_rows = [r[:at] + r[at + 1:] for r in table_rows]
        out[table] = table_rows
    cur.execute("SELECT last_value, is_called FROM predictions_id_seq")
    out["predictions_id_seq"] = cur.fetchall()
    conn.close()
    return out


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.stop()


# ------------------------------------------------------------ the extension

def store_model(cluster, db, doc, schema="public"):
    """A model deployed into an older extension, as its predict_deploy (C,
    whose symbol the module keeps only to ask for the update) stored it:
    version 1, active, the default."""
    cluster.sql(db, "INSERT INTO {0}.predict_model_versions (name, version, model) VALUES ('titanic', 1, %s::jsonb);"
                    " INSERT INTO {0}.predict_models (name, active_version, is_default) VALUES ('titanic', 1, true)"
                .format(schema), (doc,))


def deploy_and_log(cluster, db):
    doc = open(MODEL).read()
    if extversion(cluster, db) == EXTENSION_VERSION:
        cluster.sql(db, "SELECT predict_deploy('titanic', %s::jsonb)", (doc,))
    else:
        store_model(cluster, db, doc)
    for i, obs in enumerate(OBS, 1):
        cluster.sql(db, "INSERT INTO predictions (observation_id, observation) VALUES (%s, %s)", (i, json.dumps(obs)))
    cluster.sql(db, "UPDATE predictions SET true_class = 1 WHERE observation_id IN (1, 3)")
    cluster.sql(db, "UPDATE predictions SET true_class = 0 WHERE observation_id = 2")


def score_all(cluster, db):
    return [cluster.sql(db, "SELECT predict_proba(%s::jsonb), predict_proba(%s::jsonb, 'titanic')",
                        (json.dumps(o), json.dumps(o)))[0] for o in OBS]


def extversion(cluster, db):
    return cluster.sql(db, "SELECT extversion FROM pg_extension WHERE extname = 'predict'")[0][0]


@pytest.fixture(scope="module")
def fresh(cluster):
    """A database with a fresh install of this version."""
    cluster.sql("postgres", "CREATE DATABASE fresh")
    cluster.sql("fresh", "CREATE EXTENSION predict")
    assert extversion(cluster, "fresh") == EXTENSION_VERSION
    return "fresh"


@pytest.mark.parametrize("installed", OLDER_EXTENSIONS)
def test_extension_update_equals_a_fresh_install(cluster, fresh, installed):
    upgraded = "upgraded_" + installed.replace(".", "_")
    cluster.sql("postgres", "CREATE DATABASE " + upgraded)
    cluster.sql(upgraded, "CREATE EXTENSION predict VERSION '%s'" % installed)
    assert extversion(cluster, upgraded) == installed
    deploy_and_log(cluster, upgraded)
    before, scores = rows(cluster, upgraded), score_all(cluster, upgraded)
    assert len(before["predictions"]) == len(OBS)

    cluster.sql(upgraded, "ALTER EXTENSION predict UPDATE")
    assert extversion(cluster, upgraded) == EXTENSION_VERSION
    assert rows(cluster, upgraded) == before
    # scoring works: the same scores, a logged row scored by the trigger, a label, the reports
    assert score_all(cluster, upgraded) == scores
    assert [p for p, _ in scores] == [float(r[3]) for r in before["predictions"]]
    logged = cluster.sql(upgraded, "INSERT INTO predictions (observation_id, observation) VALUES (99, %s) "
                                   "RETURNING proba, model_version", (json.dumps(OBS[1]),))
    assert logged == [(scores[1][0], 1)]
    cluster.sql(upgraded, "UPDATE predictions SET true_class = 1 WHERE observation_id = 99")
    assert cluster.sql(upgraded, "SELECT count(*) FROM predict_report_metrics()")[0][0] > 0
    # and 1.5's explanations in the log: a version deployed with explain explains the rows it logs
    with open(MODEL, encoding="utf-8") as fh:
        cluster.sql(upgraded, "SELECT predict_deploy('titanic', %s::jsonb, explain => true)", (fh.read(),))
    explained = cluster.sql(upgraded, "INSERT INTO predictions (observation_id, observation) VALUES (98, %s) "
                                      "RETURNING explanation = predict_explain(observation)", (json.dumps(OBS[0]),))
    assert explained == [(True,)]

    upgraded_catalog, fresh_catalog = catalog(cluster, upgraded), catalog(cluster, fresh)
    assert len(fresh_catalog) > 30
    assert any(line.startswith("schema predict_internal") for line in fresh_catalog)
    assert any("init privileges of function predict_deploy(text,jsonb)" in line for line in fresh_catalog)
    assert upgraded_catalog == fresh_catalog, diff(upgraded_catalog, fresh_catalog)

    upgraded_dump, fresh_dump = dump_schema(cluster, upgraded, True), dump_schema(cluster, fresh, True)
    # the members are in it, not only CREATE EXTENSION
    assert any(line.startswith("CREATE FUNCTION predict_internal.report_versions(") for line in fresh_dump)
    assert any(line.startswith("ALTER EXTENSION predict ADD TABLE public.predictions") for line in fresh_dump)
    assert upgraded_dump == fresh_dump, diff(upgraded_dump, fresh_dump)


ALERT = ("SELECT feature, reading, reason FROM predict_report_psi() "
         "WHERE reading <> 'stable' OR unseen_rows > 0 ORDER BY feature")


def test_the_update_to_1_2_makes_the_alert_see_a_version_without_a_reference(cluster):
    """What 1.2 changes, through the update: on 1.1 the README's daily alert
    returns nothing for a version without a reference (its reading is null);
    after ALTER EXTENSION predict UPDATE it returns every feature, 'unknown',
    with the reason."""
    cluster.sql("postgres", "CREATE DATABASE blind_1_1")
    cluster.sql("blind_1_1", "CREATE EXTENSION predict VERSION '1.1'")
    doc = json.load(open(MODEL))
    del doc["reference"]
    store_model(cluster, "blind_1_1", json.dumps(doc))
    for i, obs in enumerate(OBS, 1):
        cluster.sql("blind_1_1", "INSERT INTO predictions (observation_id, observation) VALUES (%s, %s)",
                    (i, json.dumps(obs)))
    assert cluster.sql("blind_1_1", ALERT) == []
    assert {r for (r,) in cluster.sql("blind_1_1", "SELECT reading FROM predict_report_psi()")} == {None}
    cluster.sql("blind_1_1", "ALTER EXTENSION predict UPDATE")
    seen = cluster.sql("blind_1_1", ALERT)
    assert len(seen) == 1 + len(doc["columns"]), seen
    assert all(reading == "unknown" and "has no reference" in reason for _, reading, reason in seen), seen


def test_a_1_0_dump_restores_as_the_current_version(cluster, tmp_path):
    """The other way to upgrade: pg_dump a 1.0 database, pg_restore -j it where
    this version is installed. CREATE EXTENSION in the dump names no version:
    the restore makes this version, with every row of 1.0, and the schema of
    a fresh install."""
    cluster.sql("postgres", "CREATE DATABASE dumped_1_0")
    cluster.sql("dumped_1_0", "CREATE EXTENSION predict VERSION '1.0'")
    deploy_and_log(cluster, "dumped_1_0")
    dump = str(tmp_path / "1.0.dump")
    cluster.tool(["pg_dump", "-Fc", "-f", dump, "dumped_1_0"])
    cluster.sql("postgres", "CREATE DATABASE restored_1_0")
    cluster.tool(["pg_restore", "-j", "2", "-d", "restored_1_0", dump])
    assert extversion(cluster, "restored_1_0") == EXTENSION_VERSION
    assert rows(cluster, "restored_1_0") == rows(cluster, "dumped_1_0")
    assert score_all(cluster, "restored_1_0") == score_all(cluster, "dumped_1_0")
    cluster.sql("postgres", "CREATE DATABASE fresh_for_restore")
    cluster.sql("fresh_for_restore", "CREATE EXTENSION predict")
    restored, fresh = catalog(cluster, "restored_1_0"), catalog(cluster, "fresh_for_restore")
    assert restored == fresh, diff(restored, fresh, ("restored", "fresh"))


USER_OBJECTS = """
CREATE VIEW public.scored AS
    SELECT observation_id, ml.predict_proba(observation) AS p, ml.predict_class(observation, 'titanic') AS c
      FROM ml.predictions;
CREATE VIEW public.metrics AS SELECT * FROM ml.predict_report_metrics();
CREATE FUNCTION public.report() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT ml.predict_report(); END;
"""


def test_extension_update_in_its_own_schema_under_users_objects(cluster):
    """CREATE EXTENSION predict SCHEMA ml VERSION '1.0', views and a function of
    the user's calling it; the update keeps them working, and the database
    equals one where the same were made on a fresh install (the user's objects
    are in the dump: they are the same text)."""
    for db, version in (("upgraded_ml", " VERSION '1.0'"), ("fresh_ml", "")):
        cluster.sql("postgres", "CREATE DATABASE %s" % db)
        cluster.sql(db, "CREATE SCHEMA ml")
        cluster.sql(db, "CREATE EXTENSION predict SCHEMA ml%s" % version)
        cluster.sql(db, USER_OBJECTS)
    store_model(cluster, "upgraded_ml", open(MODEL).read(), schema="ml")
    cluster.sql("upgraded_ml", "INSERT INTO ml.predictions (observation_id, observation) VALUES (1, %s)",
                (json.dumps(OBS[0]),))
    before = cluster.sql("upgraded_ml", "SELECT * FROM scored"), cluster.sql("upgraded_ml", "SELECT report()")
    cluster.sql("upgraded_ml", "ALTER EXTENSION predict UPDATE")
    assert extversion(cluster, "upgraded_ml") == EXTENSION_VERSION
    assert cluster.sql("upgraded_ml", "SELECT * FROM scored") == before[0]
    # the same report, but for 1.5's importance: null with its reason (no row is explained)
    after = json.loads(cluster.sql("upgraded_ml", "SELECT report()")[0][0])
    for version in after["versions"]:
        assert version.pop("importance") is None
        assert version["reasons"].pop("importance").startswith("no row of this version has an explanation")
    assert after == json.loads(before[1][0][0])
    assert cluster.sql("upgraded_ml", "SELECT count(*) FROM metrics")[0][0] > 0
    upgraded, fresh = catalog(cluster, "upgraded_ml"), catalog(cluster, "fresh_ml")
    assert any(line.startswith("function ml.predict_proba(jsonb)") for line in fresh)
    assert upgraded == fresh, diff(upgraded, fresh)
    upgraded, fresh = dump_schema(cluster, "upgraded_ml", True), dump_schema(cluster, "fresh_ml", True)
    assert any(line.startswith("CREATE VIEW public.scored") for line in fresh)
    assert upgraded == fresh, diff(upgraded, fresh)


@pytest.fixture(scope="module")
def altered(cluster):
    """A fresh install, changed and restored by the next test."""
    cluster.sql("postgres", "CREATE DATABASE altered")
    cluster.sql("altered", "CREATE EXTENSION predict")


@pytest.mark.parametrize("change, undo", [
    ("ALTER FUNCTION predict_proba(jsonb) COST 5", "ALTER FUNCTION predict_proba(jsonb) COST 20"),
    ("ALTER TABLE predictions DISABLE TRIGGER predictions_protect",
     "ALTER TABLE predictions ENABLE TRIGGER predictions_protect"),
    ("GRANT SELECT (proba) ON predictions TO PUBLIC", "REVOKE SELECT (proba) ON predictions FROM PUBLIC"),
    ("ALTER FUNCTION predict_internal.report_model(text) SET work_mem = '1MB'",
     "ALTER FUNCTION predict_internal.report_model(text) RESET work_mem"),
])
def test_the_comparisons_see_a_difference(cluster, altered, change, undo):
    """The schema comparisons can fail: each change to a fresh install is seen by
    both, and undoing it makes the schema equal again."""
    reference = catalog(cluster, "altered"), dump_schema(cluster, "altered", True)
    cluster.sql("altered", change)
    try:
        assert catalog(cluster, "altered") != reference[0]
        assert dump_schema(cluster, "altered", True) != reference[1]
    finally:
        cluster.sql("altered", undo)
    assert (catalog(cluster, "altered"), dump_schema(cluster, "altered", True)) == reference


def rewrite_create_extension(text, expected, installed):
    """Each CREATE EXTENSION [IF NOT EXISTS] predict [SCHEMA x]; made as the
    installed version then updated. pg_regress echoes the statements, so the
    expected outputs get the same rewrite; where the CREATE does not create
    (the extension exists: an ERROR, or IF NOT EXISTS's NOTICE), the added
    UPDATE finds the current version installed and says so: the one line of
    output the rewrite adds."""
    pattern = re.compile(r"^CREATE EXTENSION (IF NOT EXISTS )?predict( SCHEMA \w+)?;$", re.M)
    text, n = pattern.subn(lambda m: "CREATE EXTENSION %spredict%s VERSION '%s'; ALTER EXTENSION predict UPDATE;"
                           % (m.group(1) or "", m.group(2) or "", installed), text)
    if expected:
        text = re.sub(r"^(CREATE EXTENSION [^\n]*ALTER EXTENSION predict UPDATE;\n"
                      r"(?:ERROR|NOTICE):  extension \"predict\" already exists[^\n]*\n)",
                      r'\1NOTICE:  version "%s" of extension "predict" is already installed\n' % EXTENSION_VERSION,
                      text, flags=re.M)
    return text, n


@pytest.mark.parametrize("installed", OLDER_EXTENSIONS)
def test_every_regression_test_passes_on_an_updated_extension(cluster, tmp_path, installed):
    """The regression suite (as make installcheck runs it), each CREATE
    EXTENSION made as an older version then updated."""
    tests = sorted(f[:-4] for f in os.listdir(os.path.join(REPO, "sql"))
                   if f.endswith(".sql"))
    assert len(tests) >= 7
    os.makedirs(tmp_path / "sql")
    os.makedirs(tmp_path / "expected")
    rewritten = {}
    for name in tests:
        for kind, ext in (("sql", ".sql"), ("expected", ".out")):
            text, n = rewrite_create_extension(open(os.path.join(REPO, kind, name + ext)).read(), kind == "expected",
                                               installed)
            rewritten[kind] = rewritten.get(kind, 0) + n
            with open(tmp_path / kind / (name + ext), "w") as fh:
                fh.write(text)
    # every CREATE EXTENSION of the inputs was rewritten, and echoed in the outputs
    creates = sum(len(re.findall(r"^CREATE EXTENSION", open(os.path.join(REPO, "sql", t + ".sql")).read(), re.M))
                  for t in tests)
    assert rewritten["sql"] == rewritten["expected"] == creates >= len(tests), (rewritten, creates)
    # the tests read models relative to the repository (\set tiny `cat test/pg/models/tiny.json`)
    done = subprocess.run([PG_REGRESS, "--inputdir", str(tmp_path), "--outputdir", str(tmp_path),
                           "--bindir", PG_BIN, "--load-extension=plpgsql",
                           "--host", "127.0.0.1", "--port", cluster.port, "--user", cluster.superuser,
                           "--dbname", "contrib_regression_upgraded_" + installed.replace(".", "_"), *tests],
                          cwd=REPO, capture_output=True, text=True)
    diffs = tmp_path / "regression.diffs"
    assert done.returncode == 0, done.stdout + done.stderr + (open(diffs).read() if diffs.exists() else "")
    assert "All %d tests passed" % len(tests) in done.stdout, done.stdout


@pytest.mark.parametrize("installed", OLDER_EXTENSIONS)
def test_the_gateway_updates_an_older_extension_when_its_role_may(cluster, installed):
    """Started on a database with an older extension, the gateway runs ALTER
    EXTENSION predict UPDATE itself when its role owns the extension, and says
    so; a role that may not gets a warning naming the command, and is served."""
    db, reader = ("gw_updates_" + installed.replace(".", "_"), "reader_" + installed.replace(".", "_"))
    cluster.sql("postgres", "CREATE DATABASE " + db)
    cluster.sql(db, "CREATE EXTENSION predict VERSION '%s'" % installed)
    deploy_and_log(cluster, db)
    cluster.sql("postgres", "CREATE ROLE %s LOGIN" % reader)
    cluster.sql(db, "GRANT SELECT, INSERT ON predictions, predict_models TO " + reader)
    cluster.sql(db, "GRANT USAGE ON SEQUENCE predictions_id_seq TO " + reader)
    proc, port = run_gateway(cluster.url(db, reader))
    try:
        assert any("predict extension is version %s and this role cannot update it" % installed in line
                   and "ALTER EXTENSION predict UPDATE" in line for line in proc.start_lines), proc.start_lines
        status, body, _ = http(port, "POST", "/predict", {"id": 900, "observation": OBS[0]})
        assert status == 200 and "explanation" not in body, body
        # a log without the explanation column (before 1.5): explain is refused, not lost
        status, body, _ = http(port, "POST", "/predict", {"id": 901, "observation": OBS[0],
                                                          "explain": True})
        assert status == 422 and body["error"].startswith("explain needs the predict extension 1.5"), body
    finally:
        stop_gateway(proc)
    assert extversion(cluster, db) == installed
    proc, port = run_gateway(cluster.url(db))
    try:
        assert any("updated the predict extension from %s to %s" % (installed, EXTENSION_VERSION) in line
                   for line in proc.start_lines), proc.start_lines
        assert http(port, "GET", "/report.json")[0] == 200
    finally:
        stop_gateway(proc)
    assert extversion(cluster, db) == EXTENSION_VERSION


# ---------------------------------------------------------------- managed mode

@pytest.fixture(scope="session")
def old_gateway():
    """The 1.0 gateway, built from this repository's history."""
    return gateway_of(OLD_COMMIT, "1.0")


@pytest.fixture(scope="session")
def gateway_of_release():
    """release -> the last gateway of that managed schema, built from this
    repository's history."""
    return lambda release: gateway_of(MANAGED_COMMITS[release], release)


def gateway_of(wanted, release):
    """The gateway of a commit, cached by commit under test/output/ (a few
    seconds to build; reused after that)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the %s gateway is built from commit %s" % (release, wanted))
    found = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", "--quiet", wanted + "^{commit}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        pytest.skip("commit %s (%s) is not in this checkout's git history (a shallow clone, or no .git): "
                    "the %s gateway cannot be built; clone without --depth to run this test"
                    % (wanted, release, release))
    commit = found.stdout.strip()
    cache = os.path.join(REPO, "test", "output", "old-gateway-" + commit)
    binary = os.path.join(cache, "predict-gateway")
    if os.access(binary, os.X_OK):
        return binary
    src = tempfile.mkdtemp(prefix="predict-old-")
    try:
        archive = subprocess.run(["git", "-C", REPO, "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        built = subprocess.run(["make", "-C", src, "-s", "-j2", "bin/predict-gateway"], capture_output=True,
                               text=True)
        assert built.returncode == 0, "cannot build the %s gateway:\n" % release + built.stdout + built.stderr
        os.makedirs(cache, exist_ok=True)
        shutil.copy(os.path.join(src, "bin", "predict-gateway"), binary + ".tmp")
        os.replace(binary + ".tmp", binary)    # whole, or not there
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return binary


def start(binary, url, env=None):
    """run_gateway with another gateway binary."""
    saved = processes.GATEWAY
    processes.GATEWAY = binary
    try:
        return run_gateway(url, env)
    finally:
        processes.GATEWAY = saved


def refused(binary, url, env=None, args=()):
    """Start a gateway (or run one of its commands) that must refuse: its one
    line of stderr."""
    done = subprocess.run([binary, *args], env=dict(os.environ, DATABASE_URL=url, PORT="0", **(env or {})),
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, (done.returncode, done.stderr)
    return lines[0]


def scores_by_version(cluster, db, versions):
    """The score of each observation by each version (each activated in a
    transaction that is rolled back)."""
    conn = cluster.connect(db, "app")
    conn.autocommit = False
    cur = conn.cursor()
    out = {}
    try:
        for v in versions:
            cur.execute("SELECT predict_activate('titanic', %s)", (v,))
            out[v] = []
            for o in OBS:
                cur.execute("SELECT predict_proba(%s::jsonb), predict_proba(%s::jsonb, 'titanic')",
                            (json.dumps(o), json.dumps(o)))
                out[v].append(cur.fetchone())
    finally:
        conn.rollback()
        conn.close()
    return out


def model_for_old_gateways():
    """models/titanic.json as the managed gateways before 1.8 can read it:
    without its reference's feature_means (issue 20), which their loaders
    refuse as an unknown field. Every managed database here, old or new, is
    set up with it, so that their versions and compiled functions compare."""
    doc = json.load(open(MODEL))
    del doc["reference"]["feature_means"]
    os.makedirs(os.path.join(REPO, "test", "output"), exist_ok=True)
    path = os.path.join(REPO, "test", "output", "titanic-for-old-gateways.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(doc, fh)
    os.replace(path + ".tmp", path)
    return path


OLD_MODEL = model_for_old_gateways()


def version_2(tmp):
    """A second version of titanic: another intercept, other scores."""
    doc = json.load(open(OLD_MODEL))
    doc["estimator"]["intercept"] = 0.5
    path = os.path.join(tmp, "titanic-v2.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path


MANAGED = {"PREDICT_MODE": "managed", "PREDICT_MODEL": OLD_MODEL}


@pytest.fixture(scope="module")
def managed_1_0(cluster, old_gateway, tmp_path_factory):
    """make(db[, schema]): a database the 1.0 gateway set up in managed mode
    (in schema, else in public), as an
    ordinary role that owns it, with two versions deployed (the second by the
    1.0 gateway's deploy command) and predictions logged and labelled over
    HTTP by each. (The installed extension is trusted: the
    owner could create it, so managed mode is asked for with PREDICT_MODE.)"""
    cluster.sql("postgres", "CREATE ROLE app LOGIN")
    v2 = version_2(str(tmp_path_factory.mktemp("models")))

    def make(db, schema=None):
        cluster.sql("postgres", "CREATE DATABASE %s OWNER app" % db)
        if schema:     # the role's first schema (the set-up's home) is another
            cluster.sql(db, 'CREATE SCHEMA "%s"' % schema, user="app")
            cluster.sql("postgres", 'ALTER DATABASE %s SET search_path = "%s"' % (db, schema))
        url = cluster.url(db, "app")
        proc, port = start(old_gateway, url, MANAGED)
        for i, o in enumerate(OBS, 1):
            assert http(port, "POST", "/predict", {"id": i, "observation": o})[0] == 200
        stop_gateway(proc)
        done = subprocess.run([old_gateway, "deploy", v2], env=dict(os.environ, DATABASE_URL=url, **MANAGED),
                              capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == "2", (done.stdout, done.stderr)
        proc, port = start(old_gateway, url, MANAGED)
        for i, o in enumerate(OBS, 101):
            assert http(port, "POST", "/predict", {"id": i, "observation": o})[0] == 200
        assert http(port, "POST", "/update", {"id": 1, "true_class": 1})[0] == 200
        assert http(port, "POST", "/update", {"id": 102, "true_class": 0})[0] == 200
        stop_gateway(proc)
        # what the 1.0 gateway makes: no extension, its functions and scorers in the tables' schema
        assert cluster.sql(db, "SELECT predict__schema_version()") == [("1.0",)]
        assert cluster.sql(db, "SELECT count(*) FROM pg_extension WHERE extname = 'predict'") == [(0,)]
        assert cluster.sql(db, "SELECT count(*) FROM pg_proc "
                               "WHERE pronamespace = quote_ident(current_schema())::regnamespace "
                               "AND proname LIKE 'predict\\_\\_m\\_%%'") == [(2,)]
        assert cluster.sql(db, "SELECT to_regnamespace('predict_internal')") == [(None,)]
        return url
    return make


@pytest.fixture(scope="module")
def migrated(cluster, managed_1_0, old_gateway):
    """A 1.0 managed database, what it held before, and this gateway's first
    start on it (the migration), during which it served a few predictions;
    a 1.0 gateway started before the migration kept running through it (as
    dynos of the old release do while the new one rolls out), and served
    after it."""
    url = managed_1_0("mg_migrated")
    before = {"rows": rows(cluster, "mg_migrated"), "scores": scores_by_version(cluster, "mg_migrated", [1, 2])}
    old, old_port = start(old_gateway, url, MANAGED)
    try:
        proc, port = run_gateway(url)
        try:
            served = [http(port, "POST", "/predict", {"id": 500 + i, "observation": o}) for i, o in enumerate(OBS)]
        finally:
            stop_gateway(proc)
        old_served = [http(old_port, "POST", "/predict", {"id": 600 + i, "observation": o})
                      for i, o in enumerate(OBS)]
        old_served += [http(old_port, "POST", "/update", {"id": 600, "true_class": 1}),
                       http(old_port, "GET", "/report.json")]
    finally:
        stop_gateway(old)
    return {"url": url, "before": before, "start_lines": proc.start_lines, "served": served,
            "old_served": old_served}


@pytest.fixture(scope="module")
def fresh_managed(cluster, migrated, tmp_path_factory):
    """A new 1.3 managed database made by this gateway, as the same role, with
    the same two versions deployed."""
    cluster.sql("postgres", "CREATE DATABASE mg_fresh OWNER app")
    url = cluster.url("mg_fresh", "app")
    proc, _ = run_gateway(url, MANAGED)
    stop_gateway(proc)
    done = gateway_command(url, "deploy", version_2(str(tmp_path_factory.mktemp("models"))), env=MANAGED)
    assert done.returncode == 0 and done.stdout.strip() == "2", (done.stdout, done.stderr)
    return url


def test_managed_1_0_is_migrated_at_start_up_and_serves_the_same_scores(migrated):
    assert any("migrated the managed predict schema from 1.0 to " + MANAGED_VERSION in line
               for line in migrated["start_lines"]), \
        migrated["start_lines"]
    # /predict scores as the 1.0 gateway did: its logged rows 101.. were scored by version 2, active
    logged = {int(r[1]): float(r[3]) for r in migrated["before"]["rows"]["predictions"]}
    for i, (status, body, _) in enumerate(migrated["served"]):
        assert status == 200 and body["model_version"] == 2, body
        assert body["proba"] == logged[101 + i] == migrated["before"]["scores"][2][i][0], body


def test_a_1_0_gateway_running_through_the_migration_keeps_serving(migrated):
    logged = {int(r[1]): float(r[3]) for r in migrated["before"]["rows"]["predictions"]}
    for i, (status, body, _) in enumerate(migrated["old_served"][:len(OBS)]):
        assert status == 200 and body["model_version"] == 2 and body["proba"] == logged[101 + i], body
    status, body, _ = migrated["old_served"][len(OBS)]
    assert status == 200 and body["true_class"] == 1, body
    status, body, _ = migrated["old_served"][len(OBS) + 1]
    assert status == 200 and body["model"] == "titanic", body


def test_managed_migration_keeps_every_row(cluster, migrated):
    after = rows(cluster, "mg_migrated")
    before = migrated["before"]["rows"]
    n = len(before["predictions"])
    assert n == 2 * len(OBS)
    assert after["predictions"][:n] == before["predictions"]
    assert [r[1] for r in after["predictions"][n:]] == [str(k + i) for k in (500, 600) for i in range(len(OBS))]
    assert after["predict_model_versions"] == before["predict_model_versions"]
    assert after["predict_models"] == before["predict_models"]


def test_managed_migration_keeps_every_version_s_scores(cluster, migrated):
    before = migrated["before"]["scores"]
    assert before[1] != before[2]
    assert scores_by_version(cluster, "mg_migrated", [1, 2]) == before


def test_managed_internals_are_in_predict_internal(cluster, migrated):
    # what \df lists in the tables' schema: what users call, and the guard of 1.0 gateways
    public = [p for (p,) in cluster.sql("mg_migrated", "SELECT DISTINCT proname FROM pg_proc "
                                                       "WHERE pronamespace = 'public'::regnamespace ORDER BY 1")]
    assert [p for p in public if p.startswith("predict__")] == ["predict__schema_version"], public
    assert "predict_proba" in public and "predict_report" in public and "predict_explain" in public
    # the compiled functions, three per version (the PL/pgSQL and inlinable scorers, the
    # explanation), in predict_internal and nowhere else
    scorers = cluster.sql("mg_migrated", "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n "
                                         "ON n.oid = p.pronamespace WHERE p.proname ~ '^(predict__m_|model_)' "
                                         "ORDER BY 2")
    expected = cluster.sql("mg_migrated", "SELECT 'predict_internal', predict_internal.function_name('titanic', v) "
                                          "|| s FROM generate_series(1, 2) v, unnest(array['', '_explain', '_inline']) s "
                                          "ORDER BY 2")
    assert scorers == expected, scorers
    assert cluster.sql("mg_migrated", "SELECT predict_internal.schema_version()") == [(MANAGED_VERSION,)]
    with pytest.raises(Exception, match="newer than this gateway understands"):
        cluster.sql("mg_migrated", "SELECT predict__schema_version()")


@pytest.mark.parametrize("release", sorted(MANAGED_COMMITS))
def test_managed_schema_of_functions_only_is_migrated_keeping_every_row_and_score_and_equals_a_fresh_one(
        cluster, gateway_of_release, fresh_managed, tmp_path, release):
    """A database a 1.1 to 1.7 gateway set up (two versions deployed,
    predictions logged): this gateway's first start creates the functions
    again, in one transaction, and the schema is then the one a new
    database gets."""
    old_gateway = gateway_of_release(release)
    db = "mg_from_" + release.replace(".", "_")
    cluster.sql("postgres", "CREATE DATABASE %s OWNER app" % db)
    url = cluster.url(db, "app")
    old, old_port = start(old_gateway, url, MANAGED)
    try:
        for i, o in enumerate(OBS):
            assert http(old_port, "POST", "/predict", {"id": 700 + i, "observation": o})[0] == 200
    finally:
        stop_gateway(old)
    done = subprocess.run([old_gateway, "deploy", version_2(str(tmp_path))],
                          env=dict(os.environ, DATABASE_URL=url, **MANAGED), capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "2", (done.stdout, done.stderr)
    assert cluster.sql(db, "SELECT predict_internal.schema_version()") == [(release,)]
    before = rows(cluster, db), scores_by_version(cluster, db, [1, 2])
    # a window without predictions: no PSI, which the reports before 1.3 read as null
    blind = "SELECT DISTINCT reading FROM predict_report_psi(since => now() + interval '1 day')"
    assert cluster.sql(db, blind) == [(None if release < "1.3" else "unknown",)]

    proc, port = run_gateway(url)
    try:
        assert http(port, "POST", "/predict", {"id": 800, "observation": OBS[0]})[0] == 200
    finally:
        stop_gateway(proc)
    assert any("migrated the managed predict schema from %s to %s" % (release, MANAGED_VERSION) in line
               for line in proc.start_lines), proc.start_lines
    assert cluster.sql(db, "SELECT predict_internal.schema_version()") == [(MANAGED_VERSION,)]
    assert cluster.sql(db, blind) == [("unknown",)]
    after = rows(cluster, db)
    for table in ("predict_model_versions", "predict_models"):
        assert after[table] == before[0][table], table
    logged = before[0]["predictions"]
    assert after["predictions"][:len(logged)] == logged and len(after["predictions"]) == len(logged) + 1
    assert scores_by_version(cluster, db, [1, 2]) == before[1]
    # every version deployed before 1.8 is compiled again with its explanation
    # function: titanic's says why it cannot explain (no feature means), where
    # a version without one would have none
    for v in (1, 2):
        with pytest.raises(Exception, match="cannot explain this model: logistic_regression explanations "
                                            "need the mean of each feature"):
            cluster.sql(db, "SELECT predict_internal.%s(%%s::jsonb)"
                        % cluster.sql(db, "SELECT predict_internal.function_name('titanic', %s) || '_explain'",
                                      (v,))[0][0], (json.dumps(OBS[0]),))
    migrated_catalog, fresh = catalog(cluster, db, True), catalog(cluster, "mg_fresh", True)
    assert migrated_catalog == fresh, diff(migrated_catalog, fresh, ("migrated from " + release, "fresh"))


def test_managed_migrated_schema_equals_a_fresh_one(cluster, migrated, fresh_managed):
    migrated_catalog, fresh = catalog(cluster, "mg_migrated", True), catalog(cluster, "mg_fresh", True)
    assert len(fresh) > 50
    # the registry's triggers are seen, with their state, and no foreign key is left (1.4)
    assert any("predict_models_check" in line and "enabled=O" in line for line in fresh)
    assert not any("RI_ConstraintTrigger" in line or "_fkey" in line for line in migrated_catalog + fresh)
    assert migrated_catalog == fresh, diff(migrated_catalog, fresh, ("migrated", "fresh"))
    # and pg_dump sees them the same (in managed mode, a plain dump writes every object out)
    migrated_dump, fresh_dump = dump_schema(cluster, "mg_migrated"), dump_schema(cluster, "mg_fresh")
    assert any(line.startswith("CREATE FUNCTION predict_internal.model_") for line in fresh_dump)
    assert migrated_dump == fresh_dump, diff(migrated_dump, fresh_dump, ("migrated", "fresh"))


def test_the_managed_comparison_sees_a_disabled_trigger(cluster, fresh_managed):
    """The comparison can fail: the registry's triggers disabled (only a
    superuser may disable them all) are seen, and enabled again, are not."""
    reference = catalog(cluster, "mg_fresh", True)
    cluster.sql("mg_fresh", "ALTER TABLE predict_models DISABLE TRIGGER ALL")
    try:
        changed = catalog(cluster, "mg_fresh", True)
    finally:
        cluster.sql("mg_fresh", "ALTER TABLE predict_models ENABLE TRIGGER ALL")
    assert any("predict_models_check" in line and "enabled=D" in line
               for line in changed), diff(reference, changed)
    assert catalog(cluster, "mg_fresh", True) == reference


def test_the_1_0_gateway_refuses_the_migrated_schema_and_changes_nothing(cluster, migrated, old_gateway):
    snapshot = catalog(cluster, "mg_migrated", True), dump_schema(cluster, "mg_migrated"), rows(cluster, "mg_migrated")
    # with its defaults (auto mode: it could have created the extension) and in managed mode
    for env in ({}, MANAGED):
        line = refused(old_gateway, migrated["url"], env)
        assert "newer than this gateway" in line, line
        assert (catalog(cluster, "mg_migrated", True), dump_schema(cluster, "mg_migrated"),
                rows(cluster, "mg_migrated")) == snapshot
        # and so do its model commands
        for command in (["deploy", OLD_MODEL], ["activate", "titanic", "1"], ["set-default", "titanic"]):
            line = refused(old_gateway, migrated["url"], env, command)
            assert "newer than this gateway understands" in line, line
    assert (catalog(cluster, "mg_migrated", True), dump_schema(cluster, "mg_migrated"),
            rows(cluster, "mg_migrated")) == snapshot
    assert cluster.sql("mg_migrated", "SELECT count(*) FROM pg_extension WHERE extname = 'predict'") == [(0,)]


def test_the_gateway_refuses_a_newer_managed_schema(cluster, migrated):
    definition = cluster.sql("mg_migrated",
                             "SELECT pg_get_functiondef('predict_internal.schema_version()'::regprocedure)")
    snapshot = catalog(cluster, "mg_migrated", True), rows(cluster, "mg_migrated")
    major, minor = MANAGED_VERSION.split(".")
    newer = "%s.%d" % (major, int(minor) + 1)
    cluster.sql("mg_migrated", "CREATE OR REPLACE FUNCTION predict_internal.schema_version() RETURNS text "
                               "LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN '%s'" % newer, user="app")
    try:
        line = refused(NEW_GATEWAY, migrated["url"])
        assert "version %s, newer than this gateway (%s)" % (newer, MANAGED_VERSION) in line, line
        line = refused(NEW_GATEWAY, migrated["url"], args=["deploy", MODEL])
        assert "version %s, newer than this gateway (%s)" % (newer, MANAGED_VERSION) in line, line
        assert cluster.sql("mg_migrated", "SELECT predict_internal.schema_version()") == [(newer,)]
        assert rows(cluster, "mg_migrated") == snapshot[1]
    finally:
        cluster.sql("mg_migrated", definition[0][0], user="app")
    assert catalog(cluster, "mg_migrated", True) == snapshot[0]


def test_a_migration_that_fails_midway_leaves_the_1_0_schema_as_it_was(cluster, managed_1_0):
    url = managed_1_0("mg_failing")
    # a stored document this gateway cannot compile, after titanic's versions in
    # the migration's order (name, version): the 1.0 functions are dropped, the
    # current ones created and titanic's scorers compiled into predict_internal
    # before it fails
    cluster.sql("mg_failing", "INSERT INTO predict_model_versions (name, version, model) "
                              "VALUES ('zz_broken', 1, '{\"format\": \"predict-model/1\"}')")
    before = catalog(cluster, "mg_failing", True), dump_schema(cluster, "mg_failing"), rows(cluster, "mg_failing")
    line = refused(NEW_GATEWAY, url)
    assert "cannot migrate the managed predict schema from 1.0 to " + MANAGED_VERSION in line, line
    assert 'model "zz_broken" version 1' in line, line
    after = catalog(cluster, "mg_failing", True), dump_schema(cluster, "mg_failing"), rows(cluster, "mg_failing")
    assert after[0] == before[0], diff(before[0], after[0], ("before", "after"))
    assert after[1] == before[1], diff(before[1], after[1], ("before", "after"))
    assert after[2] == before[2]
    assert cluster.sql("mg_failing", "SELECT predict__schema_version()") == [("1.0",)]
    assert cluster.sql("mg_failing", "SELECT to_regnamespace('predict_internal')") == [(None,)]
    # the database is the 1.0 one still: without the document, the migration succeeds
    cluster.sql("mg_failing", "DELETE FROM predict_model_versions WHERE name = 'zz_broken'")
    proc, port = run_gateway(url)
    try:
        assert any("migrated the managed predict schema from 1.0 to " + MANAGED_VERSION in line
                   for line in proc.start_lines), proc.start_lines
        assert http(port, "POST", "/predict", {"id": 900, "observation": OBS[0]})[0] == 200
    finally:
        stop_gateway(proc)


def test_a_role_that_cannot_migrate_is_served_with_the_1_0_schema(cluster, managed_1_0):
    """A least-privilege gateway role (granted by 1.0's tools/grant-gateway.sql)
    may not migrate: it warns, naming what to do, serves with the 1.0 schema
    and changes nothing; it may not deploy. Once the owner's gateway has
    migrated, the same role, with the same grants, is served by the current schema."""
    url = managed_1_0("mg_least")
    cluster.sql("postgres", "CREATE ROLE least_gw LOGIN")
    grants = subprocess.run(["git", "-C", REPO, "show", OLD_COMMIT + ":tools/grant-gateway.sql"],
                            capture_output=True, text=True, check=True).stdout
    subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-d", url, "-v", "role=least_gw"],
                   input=grants, text=True, check=True, capture_output=True)
    gw_url = cluster.url("mg_least", "least_gw")
    logged = {int(r[1]): float(r[3]) for r in rows(cluster, "mg_least")["predictions"]}
    before = catalog(cluster, "mg_least", True), dump_schema(cluster, "mg_least")

    proc, port = run_gateway(gw_url)
    try:
        assert any("the managed predict schema is version 1.0 and this role cannot migrate it" in line
                   and "start a gateway once as the schema's owner" in line for line in proc.start_lines), \
            proc.start_lines
        status, body, _ = http(port, "POST", "/predict", {"id": 700, "observation": OBS[0]})
        assert status == 200 and body["model_version"] == 2 and body["proba"] == logged[101], body
    finally:
        stop_gateway(proc)
    done = gateway_command(gw_url, "deploy", MODEL)
    assert done.returncode != 0 and "the managed predict schema is version 1.0" in done.stderr, done.stderr
    assert (catalog(cluster, "mg_least", True), dump_schema(cluster, "mg_least")) == before

    proc, _ = run_gateway(url)
    stop_gateway(proc)
    assert any("migrated the managed predict schema from 1.0 to " + MANAGED_VERSION in line
               for line in proc.start_lines)
    proc, port = run_gateway(gw_url)
    try:
        assert not any("level=warning" in line for line in proc.start_lines), proc.start_lines
        status, body, _ = http(port, "POST", "/predict", {"id": 701, "observation": OBS[0]})
        assert status == 200 and body["model_version"] == 2 and body["proba"] == logged[101], body
        assert http(port, "POST", "/update", {"id": 701, "true_class": 0})[0] == 200
    finally:
        stop_gateway(proc)


def test_managed_migration_in_a_schema_of_its_own(cluster, managed_1_0, tmp_path):
    """A 1.0 schema in the role's own schema (a name to quote): migrated in
    place, the same scores, equal to a new schema of this gateway made there."""
    schema = "My Schema"
    url = managed_1_0("mg_schema", schema)
    before = rows(cluster, "mg_schema"), scores_by_version(cluster, "mg_schema", [1, 2])
    proc, port = run_gateway(url)
    try:
        assert any("migrated the managed predict schema from 1.0 to " + MANAGED_VERSION in line
                   for line in proc.start_lines)
        assert http(port, "POST", "/predict", {"id": 800, "observation": OBS[0]})[0] == 200
    finally:
        stop_gateway(proc)
    after = rows(cluster, "mg_schema")
    assert after["predictions"][:-1] == before[0]["predictions"]
    assert scores_by_version(cluster, "mg_schema", [1, 2]) == before[1]
    assert cluster.sql("mg_schema", "SELECT predict_internal.tables_schema()") == [(schema,)]

    cluster.sql("postgres", "CREATE DATABASE mg_schema_fresh OWNER app")
    cluster.sql("mg_schema_fresh", 'CREATE SCHEMA "%s"' % schema, user="app")
    cluster.sql("postgres", 'ALTER DATABASE mg_schema_fresh SET search_path = "%s"' % schema)
    fresh_url = cluster.url("mg_schema_fresh", "app")
    proc, _ = run_gateway(fresh_url, MANAGED)
    stop_gateway(proc)
    assert gateway_command(fresh_url, "deploy", version_2(str(tmp_path)), env=MANAGED).returncode == 0
    migrated, fresh = catalog(cluster, "mg_schema", True, schema), catalog(cluster, "mg_schema_fresh", True, schema)
    assert any('FUNCTION "My Schema".predict_proba(' in line for line in fresh), fresh[:5]
    assert migrated == fresh, diff(migrated, fresh, ("migrated", "fresh"))
    migrated, fresh = dump_schema(cluster, "mg_schema"), dump_schema(cluster, "mg_schema_fresh")
    assert migrated == fresh, diff(migrated, fresh, ("migrated", "fresh"))


def test_gateways_starting_together_migrate_once(cluster, managed_1_0):
    """Three gateways of the new release start at once on a 1.0 schema (dynos
    of a release rolling out): one migrates, under the set-up's lock; the
    others wait for it, find the current schema, and serve."""
    url = managed_1_0("mg_together")
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        started = list(pool.map(lambda _: run_gateway(url), range(3)))
    try:
        migrations = [any("migrated the managed predict schema from 1.0 to " + MANAGED_VERSION in line
                          for line in p.start_lines)
                      for p, _ in started]
        assert migrations.count(True) == 1, [p.start_lines for p, _ in started]
        for i, (_, port) in enumerate(started):
            status, body, _ = http(port, "POST", "/predict", {"id": 1000 + i, "observation": OBS[0]})
            assert status == 200 and body["model_version"] == 2, body
    finally:
        for p, _ in started:
            stop_gateway(p)
    assert cluster.sql("mg_together", "SELECT predict_internal.schema_version()") == [(MANAGED_VERSION,)]
