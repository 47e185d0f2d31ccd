"""The monitoring queries of README.md and docs/monitoring.md, run as they
are written (read from the files), in both PostgreSQL modes and, for the
SQLite ones (over the report document), in SQLite: the daily alert must
return a row, reading 'unknown' with its reason, where drift cannot be
computed, and still stay quiet where it is stable."""

import datetime
import json
import os
import re
import sqlite3

import pytest

from conftest import MODES, REPO, connect, deploy, export_with_reference, fit, insert, new_database, pe

SQLITE_EXTENSION = os.path.join(REPO, "predict_sqlite")

HERE = os.path.dirname(os.path.abspath(__file__))
TITANIC = os.path.join(REPO, "models", "titanic.json")


def doc_statements(keep):
    """(page, statement) for each SQL statement of README.md's and docs/monitoring.md's sql
    blocks, comments left out, that keep(statement) accepts."""
    found = []
    for name in ("README.md", os.path.join("docs", "monitoring.md")):
        text = open(os.path.join(REPO, name)).read()
        for block in re.findall(r"```sql\n(.*?)```", text, re.S):
            for stmt in block.split(";"):
                body = "\n".join(l for l in stmt.splitlines() if not l.strip().startswith("--")).strip()
                if keep(body):
                    found.append((name, body))
    return found


def for_sqlite(query):
    """SQLite's queries read the report document (json_each); PostgreSQL's the companions."""
    return "json_each(" in query


def alert_queries(sqlite=False):
    """The statements that keep the rows whose reading is not 'stable'."""
    return doc_statements(lambda q: "WHERE" in q and "'stable'" in q and for_sqlite(q) == sqlite)


def drift_queries():
    """The statements that read drift (what needs the reference)."""
    return doc_statements(lambda q: re.search(r"\bpredict_report(_psi|_bins)?\(", q) is not None
                          and q.upper().startswith("SELECT") and not for_sqlite(q))


def test_the_docs_have_alert_queries():
    assert {name for name, _ in alert_queries()} == {"README.md", os.path.join("docs", "monitoring.md")}
    assert [name for name, _ in alert_queries(sqlite=True)] == [os.path.join("docs", "monitoring.md")]


def rows_of(database, query):
    """The query's rows, as dicts by column name; database is a PostgreSQL dsn or
    an SQLite connection."""
    if isinstance(database, sqlite3.Connection):
        cur = database.execute(query)
        return [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
    conn = connect(database)
    with conn.cursor() as cur:
        cur.execute(query)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    conn.close()
    return rows


def assert_unknown_with_reason(rows, where):
    """Every feature of the model, reading 'unknown', the reason the missing reference."""
    features = {r["feature"] for r in rows}
    assert features == {"(probability)", "Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Cabin", "Embarked"}, \
        (where, rows)
    assert all(r["reading"] == "unknown" and "no reference" in r["reason"] for r in rows), (where, rows)


@pytest.fixture(scope="module")
def databases(cluster, tmp_path_factory):
    """Per mode: titanic version 1 without a reference, scored rows today."""
    tmp = tmp_path_factory.mktemp("docs")
    doc = json.load(open(TITANIC))
    doc.pop("reference", None)
    now = datetime.datetime.now(datetime.timezone.utc)
    out = {}
    for mode in MODES:
        dsn = new_database(cluster, "docs_" + mode, mode)
        conn = connect(dsn)
        assert deploy(conn, mode, "titanic", doc, tmp) == 1
        insert(conn, [(i, {"Pclass": 1 + i % 3, "Sex": "male" if i % 2 else "female", "Age": 20 + i},
                       None, now) for i in range(20)])
        conn.close()
        out[mode] = dsn
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where,query", alert_queries())
def test_alert_is_not_silent_without_a_reference(databases, mode, where, query):
    assert_unknown_with_reason(rows_of(databases[mode], query), where)


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory):
    """The same in SQLite: titanic version 1 without a reference, scored rows today."""
    doc = json.load(open(TITANIC))
    doc.pop("reference", None)
    db = sqlite3.connect(str(tmp_path_factory.mktemp("docs-sqlite") / "docs.db"), isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(SQLITE_EXTENSION)
    assert db.execute("SELECT predict_deploy('titanic', ?)", (json.dumps(doc),)).fetchone() == (1,)
    db.executemany("INSERT INTO predictions (observation_id, observation) VALUES (?, ?)",
                   [(i, json.dumps({"Pclass": 1 + i % 3, "Sex": "male" if i % 2 else "female", "Age": 20 + i}))
                    for i in range(20)])
    yield db
    db.close()


@pytest.mark.parametrize("where,query", alert_queries(sqlite=True))
def test_sqlite_alert_is_not_silent_without_a_reference(sqlite_database, where, query):
    assert_unknown_with_reason(rows_of(sqlite_database, query), where)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where,query", drift_queries())
def test_every_drift_example_answers_without_a_reference(databases, mode, where, query):
    assert rows_of(databases[mode], query), (where, query)


@pytest.fixture(scope="module")
def stable(cluster, tmp_path_factory):
    """Per host: a model exported with its training rows as reference, and those
    rows logged today (no drift). {"extension": dsn, "managed": dsn, "sqlite": connection}"""
    tmp = tmp_path_factory.mktemp("stable")
    pipeline, X, _ = fit("lr")
    doc = export_with_reference(pipeline, X, "titanic")
    observations = pe.frame_to_observations(X, list(X.columns))
    now = datetime.datetime.now(datetime.timezone.utc)
    out = {}
    for mode in MODES:
        dsn = new_database(cluster, "stable_" + mode, mode)
        conn = connect(dsn)
        assert deploy(conn, mode, "titanic", doc, tmp) == 1
        insert(conn, [(i, o, None, now) for i, o in enumerate(observations)])
        conn.close()
        out[mode] = dsn
    db = sqlite3.connect(str(tmp / "stable.db"), isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(SQLITE_EXTENSION)
    assert db.execute("SELECT predict_deploy('titanic', ?)", (json.dumps(doc),)).fetchone() == (1,)
    db.executemany("INSERT INTO predictions (observation_id, observation) VALUES (?, ?)",
                   [(i, json.dumps(o)) for i, o in enumerate(observations)])
    out["sqlite"] = db
    yield out
    db.close()


@pytest.mark.parametrize("host", MODES + ("sqlite",))
def test_alert_is_quiet_where_nothing_drifted(stable, host):
    """The other half: with a reference and the training rows logged, every
    reading is 'stable' and the alerts return nothing."""
    queries = alert_queries(sqlite=host == "sqlite")
    for where, query in queries:
        assert rows_of(stable[host], query) == [], where
    readings = rows_of(stable[host], "SELECT json_extract(f.value, '$.reading') AS reading "
                                     "FROM json_each(predict_report(), '$.versions') AS v, "
                                     "json_each(v.value, '$.drift.features') AS f" if host == "sqlite"
                       else "SELECT reading FROM predict_report_psi()")
    assert queries and [r["reading"] for r in readings] == ["stable"] * 9, readings
