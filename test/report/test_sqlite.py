"""The SQLite build's predict_report() (computed in C, src/sqlite/report.c)
against PostgreSQL's on the same rows: the Titanic scenario of conftest.py
(two versions, ties, unlabelled drifted rows with null values, strings and
booleans in number columns, unseen categories) copied into an SQLite file,
every number of the document within 1e-9, for the whole log and for
windows (one of them with one class only)."""

import datetime
import json
import os
import sqlite3

import pytest

from conftest import DAY0, REPO, connect, record

EXTENSION = os.path.join(REPO, "predict_sqlite")
TOLERANCE = 1e-9

@pytest.fixture(scope="module")
def sqlite_copy(scenario, tmp_path_factory):
    """An SQLite file with the extension database's registry and predictions (the
    extension creates the tables when it is loaded, and checks each copied row's
    score against its version, as PostgreSQL's trigger does)."""
    pg = connect(scenario["dsn"]["extension"])
    with pg.cursor() as cur:
        cur.execute("SELECT name, version, model::text FROM predict_model_versions ORDER BY name, version")
        versions = cur.fetchall()
        cur.execute("""SELECT observation_id, observation::text, proba, predicted_class::int, true_class,
                              model, model_version,
                              to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                         FROM predictions ORDER BY id""")
        rows = cur.fetchall()
    pg.close()
    path = str(tmp_path_factory.mktemp("sqlite") / "report.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXTENSION)
    for name, version, model in versions:
        assert db.execute("SELECT predict_deploy(?, ?)", (name, model)).fetchone() == (version,)
    db.execute("BEGIN")
    db.executemany("INSERT INTO predictions (observation_id, observation, proba, predicted_class, true_class, "
                   "model, model_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?8)", rows)
    db.execute("COMMIT")
    yield db
    db.close()


def both(scenario, db, since=None, until=None):
    """(PostgreSQL's report, SQLite's report) of the window."""
    pg = connect(scenario["dsn"]["extension"])
    with pg.cursor() as cur:
        cur.execute("SELECT predict_report('titanic', %s, %s)", (since, until))
        a = cur.fetchone()[0]
    pg.close()
    fmt = lambda t: None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    b = json.loads(db.execute("SELECT predict_report('titanic', ?, ?)", (fmt(since), fmt(until))).fetchone()[0])
    return a, b


def compare(agreement, a, b, path="report"):
    if path.endswith((".first_at", ".last_at", ".since", ".until")):
        assert (a is None) == (b is None), path
    elif isinstance(a, bool) or a is None or isinstance(a, str):
        assert a == b, (path, a, b)
    elif isinstance(a, (int, float)):
        assert isinstance(b, (int, float)) and not isinstance(b, bool), (path, a, b)
        assert record(agreement, "sqlite vs postgresql", float(b), float(a)) <= TOLERANCE, (path, a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            compare(agreement, a[k], b[k], path + "." + k)
    else:
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            compare(agreement, x, y, "%s[%d]" % (path, i))


@pytest.mark.parametrize("window", [
    (None, None),
    (DAY0 + datetime.timedelta(hours=24), DAY0 + datetime.timedelta(hours=60)),
    (DAY0 + datetime.timedelta(days=3), DAY0 + datetime.timedelta(days=4)),      # unlabelled, drifted
    (DAY0 + datetime.timedelta(days=4), DAY0 + datetime.timedelta(days=4, seconds=1)),  # one class
    (DAY0 + datetime.timedelta(days=40), None),                                   # nothing
], ids=["all", "days-2-3", "drifted", "one-class", "empty"])
def test_sqlite_report_equals_postgresql(scenario, sqlite_copy, agreement, window):
    a, b = both(scenario, sqlite_copy, *window)
    compare(agreement, a, b)
    assert [v["version"] for v in a["versions"]] == [v["version"] for v in b["versions"]]


def test_sqlite_report_errors(sqlite_copy):
    db = sqlite_copy
    for args, message in [
            (("nope",), 'model "nope" does not exist'),
            (("titanic", "not a date"), 'since: invalid input syntax for a timestamp: "not a date"'),
            (("titanic", None, "2026-13-45"), "until: invalid input syntax"),
            (("titanic", "2026-11-03", "2026-11-02"), "is after until"),
    ]:
        with pytest.raises(sqlite3.OperationalError) as e:
            db.execute("SELECT predict_report(%s)" % ", ".join("?" * len(args)), args).fetchone()
        assert message in str(e.value), (args, str(e.value))
    # the default model
    assert json.loads(db.execute("SELECT predict_report()").fetchone()[0])["model"] == "titanic"
