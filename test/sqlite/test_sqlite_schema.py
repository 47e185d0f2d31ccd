"""The schema the SQLite extension owns (src/sqlite/schema.c): created when the
extension is loaded, with PostgreSQL's rules and messages (src/pg/sql/tables.sql,
src/pg/pg_predict.c: predictions_score, predictions_protect); the functions the
gateway's idempotent retries rely on; and a database made by the gateway before
the extension owned the schema (fixtures/gateway-schema-before-16.sql), which
keeps working, through the shell and through the gateway."""

import json
import os
import re
import sqlite3
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "http"))

from harness import Gateway  # noqa: E402
from test_sqlite_extension import (TITANIC_MODEL, cli_scores, connect, shell,  # noqa: E402
                                   shell_error, with_version_detail)

FIXTURE = os.path.join(HERE, "fixtures", "gateway-schema-before-16.sql")
AUDIT = "\nDETAIL:  Predictions are an audit log: only true_class can be updated."
TRUE_CLASS_CHECK = 'new row for relation "predictions" violates check constraint "predictions_true_class_check"'
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FEMALE = {"Sex": "female", "Pclass": 1, "Age": 38}
MALE = {"Sex": "male", "Pclass": 3, "Age": 22}


def error(db, sql):
    """shell_error without the result code the shell appends to constraint failures."""
    return shell_error(db, sql).removesuffix(" (19)")


def quoted(obs):
    return "'%s'" % json.dumps(obs).replace("'", "''")


@pytest.fixture
def db(tmp_path):
    """A new file, the extension loaded once (which creates the schema), titanic deployed."""
    path = tmp_path / "predictions.db"
    shell(path, "SELECT predict_deploy('titanic', readfile('%s'));" % TITANIC_MODEL)
    return path


def rows(db, columns="observation_id, observation, proba, predicted_class, true_class, model, model_version"):
    conn = sqlite3.connect(str(db))
    out = conn.execute("SELECT %s FROM predictions ORDER BY id" % columns).fetchall()
    conn.close()
    return out


# the registry's checks of the active version (PostgreSQL's triggers), since 1.3
REGISTRY_TRIGGERS = {"predict_models_check", "predict_models_check_update", "predict_model_versions_protect",
                     "predict_model_versions_protect_update"}


def test_loading_creates_the_schema(tmp_path):
    path = tmp_path / "new.db"
    shell(path, "SELECT 1;")
    conn = sqlite3.connect(str(path))
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'")}
    assert names == {"predict_model_versions", "predict_models", "predict_models_one_default", "predictions",
                     "predictions_score", "predictions_check_score", "predictions_protect",
                     "predictions_touch", "predictions_explain"} | REGISTRY_TRIGGERS


def test_loading_a_database_that_has_the_schema_writes_nothing(db):
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(os.path.join(REPO, "predict_sqlite"))
    assert conn.total_changes == 0
    assert conn.execute("SELECT predict_install()").fetchone() == (None,)
    assert conn.total_changes == 0


def test_a_read_only_database_is_left_as_it_is(tmp_path):
    path = tmp_path / "plain.db"
    sqlite3.connect(str(path)).execute("CREATE TABLE t (x)").connection.commit()
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    conn.enable_load_extension(True)
    conn.load_extension(os.path.join(REPO, "predict_sqlite"))
    assert conn.execute("SELECT predict_proba(NULL)").fetchone() == (None,)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_schema")] == ["t"]


def test_an_insert_of_the_observation_alone_is_scored_by_the_default_model(db):
    shell(db, "INSERT INTO predictions (observation_id, observation) VALUES (1, %s);"
          "INSERT INTO predictions (observation_id, observation, true_class)"
          " SELECT 2, %s, 1 UNION ALL SELECT 3, '{}', NULL;" % (quoted(FEMALE), quoted(MALE)))
    want = cli_scores(TITANIC_MODEL, [FEMALE, MALE, {}])
    got = rows(db)
    assert [r[0] for r in got] == [1, 2, 3]
    assert [r[2] for r in got] == [w["proba"] for w in want]              # every bit
    assert [r[3] for r in got] == [int(w["predicted_class"]) for w in want]
    assert [r[4] for r in got] == [None, 1, None]
    assert {(r[5], r[6]) for r in got} == {("titanic", 1)}
    # stored in canonical form, as the gateway stores it (and jsonb normalises)
    assert got[0][1] == '{"Age":38,"Pclass":1,"Sex":"female"}'
    for created, updated in rows(db, "created_at, updated_at"):
        assert ISO.match(created) and created == updated


def test_client_scores_are_replaced_as_postgresql_replaces_them(db):
    """Without a model_version the row is the default model's, whatever proba it came with."""
    shell(db, "INSERT INTO predictions (observation_id, observation, proba, predicted_class, model)"
          " VALUES (1, %s, 0.5, 0, 'made-up');" % quoted(FEMALE))
    assert rows(db)[0][2:] == (cli_scores(TITANIC_MODEL, [FEMALE])[0]["proba"], 1, None, "titanic", 1)


def test_a_row_with_its_version_keeps_its_score_only_if_it_is_the_versions(db):
    model = json.load(open(TITANIC_MODEL))
    model["estimator"]["intercept"] += 1.0
    conn = connect(db)
    p1 = conn.execute("SELECT predict_proba(?)", (json.dumps(FEMALE),)).fetchone()[0]
    conn.execute("SELECT predict_deploy('titanic', ?)", (json.dumps(model),))
    # version 1 is no longer active: a copied row of it is still checked against it
    conn.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                 " model_version) VALUES (1, ?, ?, 1, 'titanic', 1)", (json.dumps(FEMALE), p1))
    with pytest.raises(sqlite3.IntegrityError) as e:
        conn.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                     " model_version) VALUES (2, ?, ?, 1, 'titanic', 2)", (json.dumps(FEMALE), p1))
    assert str(e.value).startswith('new row of relation "predictions" does not carry the score of model '
                                   '"titanic" version 2\nDETAIL:  The row has proba %r and predicted_class true;'
                                   % p1)
    assert str(e.value).endswith("\nHINT:  A row inserted with a model_version (as a restore does) keeps only the score that "
                                 "version computes; leave model_version out to have the row scored by the "
                                 "default model.")
    with pytest.raises(sqlite3.OperationalError) as e:
        conn.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                     " model_version) VALUES (3, '{}', 0.5, 1, 'titanic', 7)")
    assert str(e.value) == 'model "titanic" has no version 7'
    assert [r[0] for r in rows(db)] == [1]


@pytest.mark.parametrize("column,value", [
    ("id", "99"), ("observation_id", "99"), ("observation", "'{}'"), ("proba", "0.5"),
    ("predicted_class", "1 - predicted_class"), ("model", "'other'"), ("model_version", "2"),
    ("created_at", "'2020-01-01T00:00:00.000Z'")])
def test_forbidden_updates_are_refused_with_postgresqls_message(db, column, value):
    shell(db, "INSERT INTO predictions (observation_id, observation) VALUES (1, %s);" % quoted(MALE))
    before = rows(db, "*")
    assert error(db, "UPDATE predictions SET %s = %s;" % (column, value)) == \
        'column "%s" of relation "predictions" cannot be changed%s' % (column, AUDIT)
    assert rows(db, "*") == before


def test_true_class_checks(db):
    shell(db, "INSERT INTO predictions (observation_id, observation) VALUES (1, %s);" % quoted(MALE))
    assert error(db, "INSERT INTO predictions (observation_id, observation, true_class)"
                 " VALUES (2, '{}', 2);") == TRUE_CLASS_CHECK
    assert error(db, "UPDATE predictions SET true_class = 2;") == TRUE_CLASS_CHECK
    assert error(db, "UPDATE predictions SET true_class = -1;") == TRUE_CLASS_CHECK
    for value, want in [("1", 1), ("0", 0), ("NULL", None)]:
        shell(db, "UPDATE predictions SET true_class = %s;" % value)
        assert rows(db, "true_class") == [(want,)]
    assert len(rows(db)) == 1


def test_every_update_sets_updated_at(db):
    shell(db, "INSERT INTO predictions (observation_id, observation) VALUES (1, %s);" % quoted(MALE))
    shell(db, "UPDATE predictions SET true_class = 1, updated_at = '2000-01-01T00:00:00.000Z';")
    [(created, updated)] = rows(db, "created_at, updated_at")
    assert ISO.match(updated) and updated >= created and updated != "2000-01-01T00:00:00.000Z"


def test_not_null_inputs_have_postgresqls_message(db):
    assert error(db, "INSERT INTO predictions (observation) VALUES ('{}');") == \
        'null value in column "observation_id" of relation "predictions" violates not-null constraint'
    assert error(db, "INSERT INTO predictions (observation_id) VALUES (1);") == \
        'null value in column "observation" of relation "predictions" violates not-null constraint'


def test_scoring_errors_and_a_missing_default_refuse_the_row(tmp_path):
    path = tmp_path / "empty.db"
    assert error(path, "INSERT INTO predictions (observation_id, observation) VALUES (1, '{}');") \
        .startswith("no default model is deployed\nHINT:  ")
    shell(path, "SELECT predict_deploy('titanic', readfile('%s'));" % TITANIC_MODEL)
    assert error(path, "INSERT INTO predictions (observation_id, observation) VALUES (1, '{\"Age\": \"abc\"}');") \
        == with_version_detail(cli_scores(TITANIC_MODEL, [{"Age": "abc"}])[0]["error"])
    assert rows(path) == []


def test_the_retry_functions(db):
    conn = connect(db)
    same = lambda a, b: conn.execute("SELECT predict_json_equal(?, ?)", (a, b)).fetchone()[0]
    assert same('{"a": 22, "b": [1, {"c": null}]}', '{"b":[1.0,{"c":null}], "a":2.2e1}') == 1
    assert same('{"a": 1, "a": 2}', '{"a": 2}') == 1                    # the last of duplicate keys
    assert same('{"a": "\\u00e9"}', '{"a": "\u00e9"}') == 1
    assert same('{"a": 1}', '{"a": 1, "b": null}') == 0
    assert same('{"a": "1"}', '{"a": 1}') == 0
    assert conn.execute("SELECT predict_json_equal(NULL, '{}')").fetchone() == (None,)
    assert conn.execute("SELECT predict_json(?)", ('{ "b" : 1.50, "a" : [true] }',)).fetchone() == \
        ('{"a":[true],"b":1.50}',)
    with pytest.raises(sqlite3.OperationalError, match="invalid input syntax for type json"):
        conn.execute("SELECT predict_json('{\"a\": }')")


# ---------- a database made by the gateway before the extension owned the schema ----------

def old_database(path):
    """The previous gateway's schema (verbatim), one model and two predictions, written
    without the extension: the rows first, then the triggers (which call its functions)."""
    ddl = open(FIXTURE).read()
    tables, triggers = ddl.split("CREATE TRIGGER", 1)
    scores = cli_scores(TITANIC_MODEL, [FEMALE, MALE])
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.executescript(tables)
    conn.execute("INSERT INTO predict_model_versions (name, version, model) VALUES ('titanic', 1, ?)",
                 (open(TITANIC_MODEL).read(),))
    conn.execute("INSERT INTO predict_models (name, active_version, is_default) VALUES ('titanic', 1, 1)")
    for i, (obs, s) in enumerate(zip([FEMALE, MALE], scores), 1):
        conn.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                     " model_version) VALUES (?, ?, ?, ?, 'titanic', 1)",
                     (i, json.dumps(obs, separators=(",", ":"), sort_keys=True), s["proba"],
                      int(s["predicted_class"])))
    conn.executescript("CREATE TRIGGER" + triggers)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return scores


def schema_sql(path, kind):
    conn = sqlite3.connect(str(path))
    out = dict(conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = ?", (kind,)).fetchall())
    conn.close()
    return out


# the columns added since (explanations in the log), and where ALTER TABLE
# writes them: after the last column, before the table's constraints
ADDED_COLUMNS = {"predict_model_versions": ("explain INTEGER NOT NULL DEFAULT 0 CHECK (explain IN (0, 1))",
                                            ", PRIMARY KEY (name, version))"),
                 "predictions": ("explanation TEXT CHECK (explanation IS NULL OR json_valid(explanation))", ")")}


def with_added_columns(tables):
    """The tables' CREATE TABLE text once the columns added since are there."""
    out = dict(tables)
    for name, (column, before) in ADDED_COLUMNS.items():
        head, _, tail = out[name].rpartition(before)
        out[name] = "%s, %s%s%s" % (head, column, before, tail)
    return out


def test_an_old_database_keeps_its_tables_and_gets_the_rules(tmp_path):
    path = tmp_path / "old.db"
    old_database(path)
    tables = schema_sql(path, "table")
    old_triggers = schema_sql(path, "trigger")
    before = rows(path, "*")
    shell(path, "SELECT 1;")
    assert schema_sql(path, "table") == with_added_columns(tables)  # only columns added
    assert schema_sql(path, "trigger") != old_triggers              # the rules brought up to date
    assert set(schema_sql(path, "trigger")) == set(old_triggers) | {"predictions_check_score",
                                                                     "predictions_explain"} | REGISTRY_TRIGGERS
    assert rows(path, "*") == [r + (None,) for r in before]         # explanation NULL
    # the rules of the extension hold on it
    shell(path, "INSERT INTO predictions (observation_id, observation) VALUES (3, %s);" % quoted(MALE))
    assert rows(path)[2][2] == before[1][3]
    assert error(path, "UPDATE predictions SET model = 'x' WHERE observation_id = 1;") == \
        'column "model" of relation "predictions" cannot be changed' + AUDIT
    assert error(path, "UPDATE predictions SET true_class = 5;") == TRUE_CLASS_CHECK
    shell(path, "UPDATE predictions SET true_class = 1 WHERE observation_id = 1;")
    assert shell(path, "PRAGMA integrity_check;").stdout.strip() == "ok"


def test_the_gateway_serves_an_old_database(tmp_path):
    path = tmp_path / "old.db"
    scores = old_database(path)
    gw = Gateway("sqlite:///%s" % path, threads=2)
    try:
        c = gw.client()
        got = c.get("/predictions/1").json
        assert got["observation"] == FEMALE and got["proba"] == scores[0]["proba"]
        # a retry of a row the old gateway stored is told from a different observation
        retry = c.predict(2, {"Age": 22.0, "Pclass": 3, "Sex": "male"})
        assert retry.status == 200 and retry.json["id"] == 2
        assert c.predict(2, FEMALE).status == 409
        new = c.predict(3, MALE)
        assert new.status == 201 or new.status == 200
        assert new.json["proba"] == scores[1]["proba"] and new.json["id"] == 3
        assert c.post("/update", {"id": 1, "true_class": 1}).json["true_class"] == 1
    finally:
        assert gw.stop() == 0, gw.stderr()[-3000:]
    assert schema_sql(path, "table")["predictions"] == with_added_columns({
        "predictions": re.search(r"CREATE TABLE IF NOT EXISTS (predictions \(.*?\) STRICT);", open(FIXTURE).read())
        .group(1).join(["CREATE TABLE ", ""]), "predict_model_versions": ADDED_COLUMNS["predict_model_versions"][1]})[
        "predictions"]


def test_the_active_version_is_always_one_of_the_models_versions(db):
    """PostgreSQL's checks of the registry's tables, by hand (the conformance
    suite has the UPDATE and the DELETE): a model row inserted for a version
    that is not stored, an active version renamed; nothing changes."""
    missing = ('model "churn" has no version 1\nDETAIL:  The active version of a model must be one of its '
               'versions in predict_model_versions.')
    assert error(db, "INSERT INTO predict_models (name, active_version) VALUES ('churn', 1);") == missing
    active = ('model "titanic" version 1 is active\nDETAIL:  The active version of a model cannot be deleted or '
              'renamed.\nHINT:  Activate another version first (predict_activate).')
    assert error(db, "UPDATE predict_model_versions SET version = 7;") == active
    assert error(db, "UPDATE predict_model_versions SET name = 'other';") == active
    # a version that is not active may be deleted
    shell(db, "SELECT predict_deploy('titanic', readfile('%s'));" % TITANIC_MODEL)
    shell(db, "DELETE FROM predict_model_versions WHERE version = 1;")
    conn = sqlite3.connect(str(db))
    assert conn.execute("SELECT name, version FROM predict_model_versions").fetchall() == [("titanic", 2)]
    assert conn.execute("SELECT name, active_version, is_default FROM predict_models").fetchall() == \
        [("titanic", 2, 1)]
