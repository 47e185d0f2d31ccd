"""The monitoring queries of README.md and docs/monitoring.md, run as they
are written (read from the files), in both PostgreSQL modes: the daily alert
must return a row, with its reason, where drift cannot be computed."""

import datetime
import json
import os
import re

import pytest

from conftest import MODES, REPO, connect, deploy, insert, new_database

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


def alert_queries():
    """The statements that read predict_report_psi with a WHERE on reading."""
    return doc_statements(lambda q: "predict_report_psi" in q and "WHERE" in q and "reading" in q)


def drift_queries():
    """The statements that read drift (what needs the reference)."""
    return doc_statements(lambda q: re.search(r"\bpredict_report(_psi|_bins)?\(", q) is not None
                          and q.upper().startswith("SELECT"))


def test_the_docs_have_alert_queries():
    assert {name for name, _ in alert_queries()} == {"README.md", os.path.join("docs", "monitoring.md")}


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


def rows_of(dsn, query):
    """The query's rows, as dicts by column name."""
    conn = connect(dsn)
    with conn.cursor() as cur:
        cur.execute(query)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    conn.close()
    return rows


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where,query", alert_queries())
def test_alert_is_not_silent_without_a_reference(databases, mode, where, query):
    rows = rows_of(databases[mode], query)
    features = {r["feature"] for r in rows}
    assert "(probability)" in features and "Sex" in features, (where, rows)
    assert all(r["reading"] is None and "no reference" in r["reason"] for r in rows), (where, rows)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where,query", drift_queries())
def test_every_drift_example_answers_without_a_reference(databases, mode, where, query):
    assert rows_of(databases[mode], query), (where, query)
