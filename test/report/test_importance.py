"""Global importance (issue 20): predict_report's importance and
predict_report_importance against an independent computation in Python
(the mean of |contribution| of the stored explanations, per version and
per week, Monday 00:00 UTC), in both PostgreSQL modes. The bundled Titanic
model (models/titanic.json) is deployed with explain (version 1), again
without it and explained row by row with explanation = true (version 2),
and again without any explanation (version 3: null with the reason)."""

import datetime
import json
import math
import os

import pytest

from conftest import DAY0, MODES, REPO, connect, deploy, new_database
import predict_export as pe
from titanic_data import features_and_target, load_titanic

TOLERANCE = 1e-12
REASON = ("no row of this version has an explanation; deploy it with explain "
          "or insert with explanation = true")


def insert(conn, rows, explain=False):
    with conn.cursor() as cur:
        for i, o, t in rows:
            if explain:
                cur.execute("INSERT INTO predictions (observation_id, observation, created_at, explanation) "
                            "VALUES (%s, %s, %s, 'true')", (i, json.dumps(o), t))
            else:
                cur.execute("INSERT INTO predictions (observation_id, observation, created_at) "
                            "VALUES (%s, %s, %s)", (i, json.dumps(o), t))


@pytest.fixture(scope="module")
def explained(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("importance")
    with open(os.path.join(REPO, "models", "titanic.json")) as fh:
        doc = json.load(fh)
    X, _ = features_and_target(load_titanic())
    observations = pe.frame_to_observations(X, list(X.columns))[:400]
    dsns = {}
    for mode in MODES:
        dsn = new_database(cluster, "importance_" + mode, mode)
        conn = connect(dsn)
        # version 1, explained by the trigger: rows over four weeks (DAY0 is a Sunday: its week began on October 26)
        assert deploy(conn, mode, "titanic", doc, tmp, explain=True) == 1
        insert(conn, [(i, o, DAY0 + datetime.timedelta(hours=(i * 7) % (24 * 16), seconds=i))
                      for i, o in enumerate(observations[:300])])
        # version 2: explained only where the insert asks, in its second week
        assert deploy(conn, mode, "titanic", doc, tmp, explain=False) == 2
        insert(conn, [(1000 + i, o, DAY0 + datetime.timedelta(days=2, hours=i))
                      for i, o in enumerate(observations[300:340])])
        insert(conn, [(2000 + i, o, DAY0 + datetime.timedelta(days=9, hours=i))
                      for i, o in enumerate(observations[340:380])], explain=True)
        # version 3: no explanation at all
        assert deploy(conn, mode, "titanic", doc, tmp, explain=False) == 3
        insert(conn, [(3000 + i, o, DAY0 + datetime.timedelta(days=10, hours=i))
                      for i, o in enumerate(observations[380:400])])
        conn.close()
        dsns[mode] = dsn
    return dsns


def expected(dsn, since=None, until=None):
    """{version: importance} computed in Python from the stored explanations."""
    conn = connect(dsn)
    with conn.cursor() as cur:
        cur.execute("""SELECT model_version, created_at, explanation FROM predictions
                        WHERE model = 'titanic' AND explanation IS NOT NULL
                          AND (%s::timestamptz IS NULL OR created_at >= %s)
                          AND (%s::timestamptz IS NULL OR created_at < %s)""",
                    (since, since, until, until))
        rows = cur.fetchall()
    conn.close()
    groups = {}
    for version, created, x in rows:
        day = created.astimezone(datetime.timezone.utc).date()
        week = day - datetime.timedelta(days=day.weekday())
        for key in (None, week):
            g = groups.setdefault(version, {}).setdefault(key, {"rows": 0, "abs": {}, "space": set()})
            g["rows"] += 1
            g["space"].add(x["space"])
            for column, c in x["contributions"].items():
                g["abs"].setdefault(column, []).append(abs(c))
    out = {}
    for version, by_week in groups.items():
        means = {k: {c: math.fsum(v) / len(v) for c, v in g["abs"].items()} for k, g in by_week.items()}
        weeks = sorted(k for k in by_week if k is not None)
        out[version] = {
            "rows": by_week[None]["rows"],
            "space": by_week[None]["space"],
            "columns": means[None],
            "weekly": [(w, by_week[w]["rows"], means[w],
                        {c: (m - means[weeks[i - 1]][c] if i > 0 and c in means[weeks[i - 1]] else None)
                         for c, m in means[w].items()})
                       for i, w in enumerate(weeks)],
        }
    return out


def close(a, b):
    return abs(a - b) <= TOLERANCE * max(1.0, abs(b))


def check_ranked(columns, want, change=None):
    assert {c["column"] for c in columns} == set(want)
    assert [c["rank"] for c in columns] == list(range(1, len(want) + 1))
    means = [c["mean_abs_contribution"] for c in columns]
    assert means == sorted(means, reverse=True)
    for c in columns:
        assert close(c["mean_abs_contribution"], want[c["column"]]), c
        if change is not None:
            w = change[c["column"]]
            assert (c["change"] is None) == (w is None), c
            assert w is None or abs(c["change"] - w) <= TOLERANCE, (c, w)


def report(dsn, since=None, until=None):
    conn = connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT predict_report('titanic', %s, %s)", (since, until))
        doc = cur.fetchone()[0]
    conn.close()
    return {v["version"]: v for v in doc["versions"]}


WINDOWS = [(None, None),
           (DAY0 + datetime.timedelta(days=3, hours=5), DAY0 + datetime.timedelta(days=12)),
           (DAY0 + datetime.timedelta(days=40), None)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("window", WINDOWS, ids=["all", "mid-week", "empty"])
def test_importance_matches_python(explained, mode, window):
    dsn = explained[mode]
    want = expected(dsn, *window)
    versions = report(dsn, *window)
    if window == (None, None):
        assert set(want) == {1, 2} and len(want[1]["weekly"]) == 4 and len(want[2]["weekly"]) == 1
    for number, v in versions.items():
        if number not in want:
            assert v["importance"] is None
            assert v["reasons"]["importance"] == REASON
            continue
        imp, w = v["importance"], want[number]
        assert "importance" not in v["reasons"]
        assert imp["rows"] == w["rows"] and {imp["space"]} == w["space"] == {"log-odds"}
        check_ranked(imp["columns"], w["columns"])
        assert [x["week"] for x in imp["weekly"]] == [k.isoformat() for k, _, _, _ in w["weekly"]]
        for x, (_, rows, means, change) in zip(imp["weekly"], w["weekly"]):
            assert x["rows"] == rows
            check_ranked(x["columns"], means, change)
    # version 3 never has explanations; every version listed
    assert versions[3]["importance"] is None and versions[3]["reasons"]["importance"] == REASON


@pytest.mark.parametrize("mode", MODES)
def test_table_function_is_the_document(explained, mode):
    conn = connect(explained[mode])
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM predict_report_importance('titanic')")
        rows = cur.fetchall()
        assert [d.name for d in cur.description] == ["model_version", "week", "column", "rows",
                                                     "mean_abs_contribution", "change", "rank"]
        # the defaults: the default model, the whole log
        cur.execute("SELECT count(*) FROM predict_report_importance()")
        assert cur.fetchone()[0] == len(rows)
    conn.close()
    want = []
    for number, v in sorted(report(explained[mode]).items()):
        if v["importance"] is None:
            continue
        want += [(number, None, c["column"], v["importance"]["rows"], c["mean_abs_contribution"], None, c["rank"])
                 for c in v["importance"]["columns"]]
        for x in v["importance"]["weekly"]:
            want += [(number, datetime.date.fromisoformat(x["week"]), c["column"], x["rows"],
                      c["mean_abs_contribution"], c["change"], c["rank"]) for c in x["columns"]]
    assert rows == want
    assert not any(r[0] == 3 for r in rows)


def test_modes_agree(explained):
    a, b = (report(explained[m]) for m in MODES)
    assert a.keys() == b.keys()
    for number in a:
        assert (a[number]["importance"] is None) == (b[number]["importance"] is None)
        if a[number]["importance"] is None:
            continue
        x, y = a[number]["importance"], b[number]["importance"]
        assert x["rows"] == y["rows"] and [c["column"] for c in x["columns"]] == [c["column"] for c in y["columns"]]
        for c, d in zip(x["columns"], y["columns"]):
            assert close(c["mean_abs_contribution"], d["mean_abs_contribution"])


def test_the_week_is_utc_whatever_the_time_zone(explained):
    conn = connect(explained["extension"])
    with conn.cursor() as cur:
        cur.execute("SELECT predict_report('titanic') #> '{versions,0,importance,weekly}'")
        utc = cur.fetchone()[0]
        cur.execute("SET TimeZone = 'Pacific/Kiritimati'")
        cur.execute("SELECT predict_report('titanic') #> '{versions,0,importance,weekly}'")
        assert cur.fetchone()[0] == utc
    conn.close()


@pytest.fixture(scope="module")
def sqlite_explained(explained, tmp_path_factory):
    """The extension database's registry and log in an SQLite file: the rows PostgreSQL
    explained are explained by SQLite's log (explanation = 'true'), or, in a log without
    the explanation column, copied into one added for the test."""
    import sqlite3
    pg = connect(explained["extension"])
    with pg.cursor() as cur:
        cur.execute("SELECT name, version, model::text FROM predict_model_versions ORDER BY name, version")
        versions = cur.fetchall()
        cur.execute("""SELECT observation_id, observation::text, proba, predicted_class::int, true_class,
                              model, model_version,
                              to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                              explanation::text
                         FROM predictions ORDER BY id""")
        rows = cur.fetchall()
    pg.close()
    db = sqlite3.connect(str(tmp_path_factory.mktemp("sqlite") / "importance.db"), isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(os.path.join(REPO, "predict_sqlite"))
    for name, version, model in versions:
        assert db.execute("SELECT predict_deploy(?, ?)", (name, model)).fetchone() == (version,)
    if any(r[1] == "explanation" for r in db.execute("PRAGMA table_info(predictions)")):
        # the SQLite log explains rows itself: ask for the rows PostgreSQL explained
        rows = [r[:8] + (None if r[8] is None else "true",) for r in rows]
    else:
        db.execute("ALTER TABLE predictions ADD COLUMN explanation TEXT")
    db.execute("BEGIN")
    db.executemany("INSERT INTO predictions (observation_id, observation, proba, predicted_class, true_class, "
                   "model, model_version, created_at, updated_at, explanation) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?8, ?9)", rows)
    db.execute("COMMIT")
    yield db
    db.close()


@pytest.mark.parametrize("window", WINDOWS, ids=["all", "mid-week", "empty"])
def test_sqlite_importance_equals_postgresql(explained, sqlite_explained, window):
    """SQLite's document, importance included, against PostgreSQL's: every
    number within 1e-12 (relative, or absolute below 1)."""
    since, until = window
    pg = report(explained["extension"], since, until)
    fmt = lambda t: None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = json.loads(sqlite_explained.execute("SELECT predict_report('titanic', ?, ?)",
                                              (fmt(since), fmt(until))).fetchone()[0])
    lite = {v["version"]: v for v in doc["versions"]}
    assert pg.keys() == lite.keys()

    def same(a, b, path):
        if isinstance(a, dict):
            assert isinstance(b, dict) and a.keys() == b.keys(), (path, a, b)
            for k in a:
                same(a[k], b[k], path + "." + k)
        elif isinstance(a, list):
            assert isinstance(b, list) and len(a) == len(b), (path, a, b)
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, "%s[%d]" % (path, i))
        elif isinstance(a, (int, float)) and not isinstance(a, bool):
            assert isinstance(b, (int, float)) and close(b, a), (path, a, b)
        else:
            assert a == b, (path, a, b)

    for number in pg:
        same(pg[number]["importance"], lite[number]["importance"], "v%d.importance" % number)
        assert pg[number]["reasons"].get("importance") == lite[number]["reasons"].get("importance")
    assert lite[3]["importance"] is None and lite[3]["reasons"]["importance"] == REASON


# A column name longer than an identifier (63 bytes), which the report reads
# by its path rather than as a field of jsonb_to_record.
LONG = "Fare_" + "paid_for_the_ticket_" * 4


def renamed(doc, old, new):
    doc = json.loads(json.dumps(doc))
    for entry, key in ((c, "name") for c in doc["columns"]):
        if entry[key] == old:
            entry[key] = new
    for step in doc["preprocessing"]:
        if step.get("column") == old:
            step["column"] = new
    for entry in doc["reference"]["columns"]:
        if entry["column"] == old:
            entry["column"] = new
    return doc


@pytest.mark.parametrize("mode", MODES)
def test_long_names_and_rows_written_around_the_triggers(cluster, mode, tmp_path):
    """A column named longer than an identifier is reported as any other; a
    row written with the triggers off (session_replication_role = replica,
    as a superuser may) whose contribution is not a number, or whose
    contributions are not an object, counts as a row without it, and the
    report does not fail."""
    with open(os.path.join(REPO, "models", "titanic.json")) as fh:
        doc = renamed(json.load(fh), "Fare", LONG)
    assert len(LONG.encode()) > 63
    X, _ = features_and_target(load_titanic())
    observations = [{(LONG if k == "Fare" else k): v for k, v in o.items()}
                    for o in pe.frame_to_observations(X, list(X.columns))[:50]]
    dsn = new_database(cluster, "importance_long_" + mode, mode)
    conn = connect(dsn)
    deploy(conn, mode, "titanic", doc, tmp_path, explain=True)
    insert(conn, [(i, o, DAY0 + datetime.timedelta(hours=i)) for i, o in enumerate(observations)])
    want = expected(dsn)[1]
    assert LONG in want["columns"]
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("INSERT INTO predictions (observation_id, observation, proba, predicted_class, model, "
                    "model_version, created_at, explanation) SELECT observation_id + 100, observation, proba, "
                    "predicted_class, model, model_version, created_at, "
                    "CASE WHEN observation_id = 0 THEN jsonb_set(explanation, ARRAY['contributions', %s], '\"x\"') "
                    "ELSE jsonb_set(explanation, '{contributions}', '[1]') END "
                    "FROM predictions WHERE observation_id IN (0, 1)", (LONG,))
        cur.execute("RESET session_replication_role")
    with conn.cursor() as cur:
        cur.execute("SELECT explanation FROM predictions ORDER BY observation_id")
        stored = [r[0] for r in cur.fetchall()]
    importance = report(dsn)[1]["importance"]
    conn.close()
    # a column's mean over the rows whose contributions have it as a number
    values = {}
    for x in stored:
        contributions = x["contributions"] if isinstance(x["contributions"], dict) else {}
        for column, c in contributions.items():
            if isinstance(c, (int, float)):
                values.setdefault(column, []).append(abs(c))
    assert importance["rows"] == want["rows"] + 2 == len(stored)
    assert len(values[LONG]) == want["rows"] and len(values["Sex"]) == want["rows"] + 1
    got = {c["column"]: c["mean_abs_contribution"] for c in importance["columns"]}
    assert set(got) == set(values)
    for column, v in values.items():
        assert close(got[column], math.fsum(v) / len(v)), column
