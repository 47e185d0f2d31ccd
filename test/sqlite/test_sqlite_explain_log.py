"""Explanations in the SQLite log (issue 20): predict_deploy's explain, the
predictions table's explanation column filled by its triggers
(src/sqlite/schema.c), the audit rule over it, and a database made before
them (fixtures/schema-before-explanations.sql, the schema as the extension
at 72caaab made it) upgraded with its rows. test/conformance has the cases
every host shares; these are SQLite's own paths and spellings."""

import copy
import json
import os
import sqlite3
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "http"))

from harness import Gateway  # noqa: E402
from test_sqlite_extension import TITANIC_MODEL, cli_scores, connect  # noqa: E402

FIXTURE = os.path.join(HERE, "fixtures", "schema-before-explanations.sql")
FEMALE = {"Sex": "female", "Pclass": 1, "Age": 38}
MALE = {"Sex": "male", "Pclass": 3, "Age": 22}
CANNOT_NO_MEANS = ("cannot explain this model: logistic_regression explanations need the mean of each feature "
                   "over the reference data (reference.feature_means); export the model with --reference "
                   "DATA.csv\nHINT:  The models that can be explained are listed in docs/model-format.md, "
                   "\"Explanations\".")
SUPPLIED = ('explanation of a new row of relation "predictions" must be true, false or null\nDETAIL:  The log '
            "computes a new row's explanation: true asks for it, false or null leaves it to the version's "
            "setting.\nHINT:  Deploy the model with explain set to have every row explained.")
NOT_EXPLAINED = ('new row of relation "predictions" does not carry the explanation of model "titanic" version 1'
                 "\nDETAIL:  The row's explanation differs from the one the version computes for its "
                 "observation.\nHINT:  A row inserted with a model_version (as a restore does) keeps only the "
                 "explanation that version computes; set explanation to true or null to have it computed.")
AUDIT = ('column "explanation" of relation "predictions" cannot be changed\nDETAIL:  Predictions are an audit '
         "log: only true_class can be updated.")


def model_text(means=True):
    doc = json.load(open(TITANIC_MODEL))
    if not means:
        del doc["reference"]["feature_means"]
    return json.dumps(doc)


def obs_text(obs):
    return json.dumps(obs)


@pytest.fixture
def conn(tmp_path):
    """A new file with the extension loaded: the schema, nothing deployed."""
    c = connect(tmp_path / "log.db")
    yield c
    c.close()


def refused(conn, sql, params=()):
    with pytest.raises(sqlite3.Error) as e:
        conn.execute(sql, params)
    return str(e.value)


def deploy(conn, explain=None, means=True):
    if explain is None:
        return conn.execute("SELECT predict_deploy('titanic', ?)", (model_text(means),)).fetchone()[0]
    return conn.execute("SELECT predict_deploy('titanic', ?, ?)", (model_text(means), explain)).fetchone()[0]


def insert(conn, oid, obs, **columns):
    names = ["observation_id", "observation", *columns]
    conn.execute("INSERT INTO predictions (%s) VALUES (%s)" % (", ".join(names), ", ".join("?" * len(names))),
                 (oid, obs_text(obs), *columns.values()))


def restore(conn, oid, obs, explanation, version=1, returning=False):
    """A row with its version and score (as a restore or the gateway inserts it)."""
    sql = ("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, model_version,"
           " explanation) SELECT ?1, ?2, predict_proba(?2), predict_class(?2), 'titanic', ?3, ?4")
    cur = conn.execute(sql + (" RETURNING observation_id" if returning else ""),
                       (oid, obs_text(obs), version, explanation))
    return cur.fetchall()


def explanation(conn, oid):
    return conn.execute("SELECT explanation FROM predictions WHERE observation_id = ?", (oid,)).fetchone()[0]


def explained(conn, obs):
    return conn.execute("SELECT predict_explain(?)", (obs_text(obs),)).fetchone()[0]


# ---------- predict_deploy(name, model, explain) ----------

def test_deploy_stores_explain(conn):
    assert deploy(conn) == 1
    assert deploy(conn, 1) == 2
    assert deploy(conn, 0) == 3
    assert deploy(conn, True) == 4
    assert deploy(conn, "1") == 5          # SQLite's integer affinity, as predict_activate's version
    assert conn.execute("SELECT version, explain FROM predict_model_versions ORDER BY version").fetchall() == \
        [(1, 0), (2, 1), (3, 0), (4, 1), (5, 1)]


def test_deploy_refuses_a_null_or_other_explain_and_writes_nothing(conn):
    assert refused(conn, "SELECT predict_deploy('titanic', ?, NULL)", (model_text(),)) == \
        ("explain must not be null\nHINT:  Deploy with explain 1 (true) to explain every row the version "
         "logs, or 0 (false, the default).")
    for bad in (2, -1, 0.5, "yes", b"\x01"):
        assert refused(conn, "SELECT predict_deploy('titanic', ?, ?)", (model_text(), bad)) == \
            "predict_deploy(name, model_json, explain): explain must be 0 or 1"
    # PostgreSQL's order: the name and the document first
    assert refused(conn, "SELECT predict_deploy(NULL, ?, NULL)", (model_text(),)) == "model name must not be null"
    assert refused(conn, "SELECT predict_deploy('titanic', NULL, NULL)") == "model document must not be null"
    assert conn.execute("SELECT count(*) FROM predict_model_versions").fetchone() == (0,)


def test_deploy_with_explain_refuses_a_model_that_cannot_be_explained(conn):
    assert refused(conn, "SELECT predict_deploy('titanic', ?, 1)", (model_text(means=False),)) == CANNOT_NO_MEANS
    assert conn.execute("SELECT count(*) FROM predict_model_versions").fetchone() == (0,)
    # without explain it deploys, as before
    assert deploy(conn, 0, means=False) == 1


def test_deploy_with_explain_is_refused_inside_triggers(conn):
    conn.execute("CREATE TABLE t (x)")
    conn.execute("CREATE TRIGGER t_deploy AFTER INSERT ON t BEGIN SELECT predict_deploy('x', NEW.x, 1); END")
    assert "unsafe use of predict_deploy()" in refused(conn, "INSERT INTO t VALUES (?)", (model_text(),))


# ---------- new rows ----------

def test_a_version_with_explain_explains_every_row_as_predict_explain(conn):
    deploy(conn, 1)
    insert(conn, 1, FEMALE)
    insert(conn, 2, MALE, explanation=None)
    insert(conn, 3, MALE, explanation="false")       # false leaves it to the version
    insert(conn, 4, MALE, explanation=0)
    for oid, obs in ((1, FEMALE), (2, MALE), (3, MALE), (4, MALE)):
        assert explanation(conn, oid) == explained(conn, obs)         # byte for byte
    e = json.loads(explanation(conn, 1))
    assert set(e) == {"space", "base", "contributions"} and e["space"] == "log-odds"


def test_a_version_without_explain_explains_the_rows_that_ask(conn):
    deploy(conn)
    insert(conn, 1, FEMALE)
    insert(conn, 2, FEMALE, explanation="true")
    insert(conn, 3, MALE, explanation=1)
    insert(conn, 4, MALE, explanation=True)
    insert(conn, 5, MALE, explanation="false")
    insert(conn, 6, MALE, explanation=0)
    got = [explanation(conn, i) for i in range(1, 7)]
    assert got == [None, explained(conn, FEMALE), explained(conn, MALE), explained(conn, MALE), None, None]


@pytest.mark.parametrize("given", ['{"space": "log-odds"}', "null", "[]", "2", '"true"', " true", "1.0", 2])
def test_a_new_row_may_carry_only_true_false_or_null(conn, given):
    deploy(conn, 1)
    assert refused(conn, "INSERT INTO predictions (observation_id, observation, explanation) VALUES (1, ?, ?)",
                   (obs_text(FEMALE), given)) == SUPPLIED
    assert conn.execute("SELECT count(*) FROM predictions").fetchone() == (0,)


def test_asking_a_model_that_cannot_be_explained_refuses_the_row(conn):
    deploy(conn, means=False)
    insert(conn, 1, FEMALE)
    assert refused(conn, "INSERT INTO predictions (observation_id, observation, explanation)"
                   " VALUES (2, ?, 'true')", (obs_text(FEMALE),)) == CANNOT_NO_MEANS
    assert conn.execute("SELECT observation_id, explanation FROM predictions").fetchall() == [(1, None)]


# ---------- rows with their version (restores, copies, the gateway) ----------

def test_a_restored_row_keeps_its_versions_explanation_as_given(conn):
    deploy(conn)
    right = explained(conn, FEMALE)
    assert restore(conn, 1, FEMALE, right, returning=True) == [(1,)]     # RETURNING has it
    assert conn.execute("SELECT changes()").fetchone() == (1,)
    assert explanation(conn, 1) == right
    # equal as JSON values: other key order, other spacing, 0 as 0.0, 0.5 as 5e-1
    e = json.loads(right)
    reordered = {"contributions": dict(reversed(list(e["contributions"].items()))), "base": e["base"],
                 "space": e["space"]}
    text = json.dumps(reordered, indent=1).replace('"SibSp": 0', '"SibSp": 0.0')
    assert '"SibSp": 0.0' in text
    restore(conn, 2, FEMALE, text)
    assert explanation(conn, 2) == text


def test_a_restored_row_with_another_explanation_is_refused(conn):
    deploy(conn)
    e = json.loads(explained(conn, FEMALE))
    wrong = []
    for change in ("base", "column", "extra", "missing", "space", "digits"):
        w = copy.deepcopy(e)
        if change == "base":
            w["base"] += 1e-9
        elif change == "column":
            w["contributions"]["Age"] = 0.25
        elif change == "extra":
            w["contributions"]["Name"] = 0
        elif change == "missing":
            del w["contributions"]["Age"]
        elif change == "space":
            w["space"] = "probability"
        wrong.append(json.dumps(w))
    # the same double, more digits: jsonb compares numbers as decimals, so does SQLite
    base = json.dumps(e["base"])
    wrong[-1] = explained(conn, FEMALE).replace(base, "%.17e" % e["base"], 1)
    assert float("%.17e" % e["base"]) == e["base"] and wrong[-1] != explained(conn, FEMALE)
    for i, w in enumerate(wrong, 1):
        assert refused(conn, "INSERT INTO predictions (observation_id, observation, proba, predicted_class,"
                       " model, model_version, explanation) SELECT ?1, ?2, predict_proba(?2), predict_class(?2),"
                       " 'titanic', 1, ?3", (i, obs_text(FEMALE), w)) == NOT_EXPLAINED, w
    assert conn.execute("SELECT count(*) FROM predictions").fetchone() == (0,)


def test_a_restored_row_gets_its_explanation_filled_in(conn, tmp_path):
    deploy(conn)                # version 1: no explain
    deploy(conn, 1)             # version 2: explain
    restore(conn, 1, FEMALE, None)
    restore(conn, 2, FEMALE, "false")
    restore(conn, 3, FEMALE, "true")
    restore(conn, 4, FEMALE, 1)
    restore(conn, 5, MALE, None, version=2)
    restore(conn, 6, MALE, 0, version=2)
    assert restore(conn, 7, MALE, "true", version=2, returning=True) == [(7,)]
    female = conn.execute("SELECT predict_explain(?, 'titanic')", (obs_text(FEMALE),)).fetchone()[0]
    male = explained(conn, MALE)
    assert [explanation(conn, i) for i in range(1, 8)] == [None, None, female, female, male, male, male]
    # a restored row keeps its timestamps: filling its explanation is no update
    conn.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                 " model_version, created_at, updated_at) SELECT 8, ?1, predict_proba(?1), predict_class(?1),"
                 " 'titanic', 2, '2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.678Z'", (obs_text(MALE),))
    assert conn.execute("SELECT created_at, updated_at, explanation FROM predictions WHERE observation_id = 8")\
        .fetchone() == ("2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05.678Z", male)


def test_a_restored_explanation_of_a_model_that_cannot_be_explained_is_refused(conn):
    deploy(conn, means=False)
    restore(conn, 1, FEMALE, None)
    assert refused(conn, "INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                   " model_version, explanation) SELECT 2, ?1, predict_proba(?1), predict_class(?1), 'titanic',"
                   " 1, 'true'", (obs_text(FEMALE),)) == CANNOT_NO_MEANS
    assert conn.execute("SELECT count(*) FROM predictions").fetchone() == (1,)


# ---------- the audit rule ----------

def test_an_explanation_cannot_be_changed(conn):
    deploy(conn, 1)
    insert(conn, 1, FEMALE)
    deploy(conn, 0)
    insert(conn, 2, MALE)
    right = explained(conn, MALE)
    for oid, value in ((1, None), (1, "true"), (1, right), (2, right), (2, "true"), (2, "{}")):
        assert refused(conn, "UPDATE predictions SET explanation = ? WHERE observation_id = ?", (value, oid)) \
            == AUDIT, (oid, value)
    before = explanation(conn, 1)
    conn.execute("UPDATE predictions SET true_class = 1")
    assert [explanation(conn, 1), explanation(conn, 2)] == [before, None]


# ---------- a database made before explanations ----------

def statements(path):
    buf = ""
    for line in open(path):
        if not buf and line.startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""


def old_database(path):
    """The schema as the extension at 72caaab made it, one model and two
    predictions: the tables first, the rows, then the triggers (which call the
    extension's functions)."""
    ddl = list(statements(FIXTURE))
    scores = cli_scores(TITANIC_MODEL, [FEMALE, MALE])
    conn = sqlite3.connect(str(path), isolation_level=None)
    for s in ddl:
        if not s.startswith("CREATE TRIGGER"):
            conn.execute(s)
    conn.execute("INSERT INTO predict_model_versions (name, version, model) VALUES ('titanic', 1, ?)",
                 (model_text(),))
    conn.execute("INSERT INTO predict_models (name, active_version, is_default) VALUES ('titanic', 1, 1)")
    for i, (obs, s) in enumerate(zip([FEMALE, MALE], scores), 1):
        conn.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
                     " model_version, true_class) VALUES (?, ?, ?, ?, 'titanic', 1, ?)",
                     (i, json.dumps(obs, separators=(",", ":"), sort_keys=True), s["proba"],
                      int(s["predicted_class"]), i % 2))
    for s in ddl:
        if s.startswith("CREATE TRIGGER"):
            conn.execute(s)
    conn.close()


def columns(conn, table):
    return [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]


def test_an_older_database_gains_the_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old_database(path)
    plain = sqlite3.connect(str(path))
    before = plain.execute("SELECT * FROM predictions ORDER BY id").fetchall()
    versions = plain.execute("SELECT * FROM predict_model_versions").fetchall()
    assert "explanation" not in columns(plain, "predictions")
    plain.close()
    conn = connect(path)            # loading the extension brings the schema up to date
    assert columns(conn, "predictions")[-1] == "explanation"
    assert columns(conn, "predict_model_versions")[-1] == "explain"
    assert conn.execute("SELECT * FROM predictions ORDER BY id").fetchall() == [r + (None,) for r in before]
    assert conn.execute("SELECT * FROM predict_model_versions").fetchall() == [r + (0,) for r in versions]
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # the new rules hold on it
    insert(conn, 3, MALE, explanation="true")
    assert explanation(conn, 3) == explained(conn, MALE)
    assert refused(conn, "UPDATE predictions SET explanation = 'true' WHERE observation_id = 1") == AUDIT
    deploy(conn, 1)
    insert(conn, 4, FEMALE)
    assert explanation(conn, 4) == explained(conn, FEMALE)
    conn.close()
    # and once up to date, loading it again writes nothing
    conn = connect(path)
    assert conn.total_changes == 0 and conn.execute("SELECT predict_install()").fetchone() == (None,)
    assert conn.total_changes == 0
    conn.close()


def test_an_older_database_opened_read_only_still_scores(tmp_path):
    path = tmp_path / "old.db"
    old_database(path)
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    conn.enable_load_extension(True)
    conn.load_extension(os.path.join(REPO, "predict_sqlite"))
    assert "explanation" not in columns(conn, "predictions")
    assert conn.execute("SELECT predict_class(?)", (obs_text(FEMALE),)).fetchone() == (1,)
    assert json.loads(explained(conn, FEMALE))["space"] == "log-odds"
    conn.close()


# ---------- the gateway ----------

def test_the_gateway_logs_explained_rows_of_a_version_with_explain(tmp_path):
    """The gateway's INSERT names its columns and carries the score: its rows
    are those of a version that explains, filled in after the insert, and
    its RETURNING still hands the row over (counted as written, not as a
    retry's)."""
    path = tmp_path / "gw.db"
    conn = connect(path)
    deploy(conn, 1)
    conn.close()
    gw = Gateway("sqlite:///%s" % path, threads=2)
    try:
        c = gw.client()
        r = c.predict(1, FEMALE)
        assert r.status == 200 and r.json["id"] == 1, r.json
        assert c.predict(1, FEMALE).status == 200          # a retry
        assert "predict_predictions_written_total 1\n" in c.get("/metrics").body
        assert c.post("/update", {"id": 1, "true_class": 1}).json["true_class"] == 1
    finally:
        assert gw.stop() == 0, gw.stderr()[-3000:]
    conn = connect(path)
    assert explanation(conn, 1) == explained(conn, FEMALE)
    assert conn.execute("SELECT true_class FROM predictions").fetchall() == [(1,)]
    conn.close()
