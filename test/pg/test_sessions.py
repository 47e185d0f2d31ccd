"""Two sessions and the model registry: a deploy committed in one session is
used by the other session's next statement; one rolled back is never seen;
concurrent deploys of one name get gapless, unique versions.
"""

import json
import math
import threading

import pytest

from conftest import TINY_MODEL, connect, read

TINY = json.loads(read(TINY_MODEL))
OBS = json.dumps({"x": 0})


def tiny(intercept):
    """The tiny model with another intercept: proba({"x": 0}) = sigmoid(intercept)."""
    doc = json.loads(json.dumps(TINY))
    doc["estimator"]["intercept"] = intercept
    return json.dumps(doc)


def sigmoid(d):
    return 1.0 / (1.0 + math.exp(-d))


def proba(cur, name=None):
    if name is None:
        cur.execute("SELECT predict_proba(%s::jsonb)", (OBS,))
    else:
        cur.execute("SELECT predict_proba(%s::jsonb, %s)", (OBS, name))
    return cur.fetchone()[0]


def deploy(cur, name, intercept):
    cur.execute("SELECT predict_deploy(%s, %s::jsonb)", (name, tiny(intercept)))
    return cur.fetchone()[0]


@pytest.fixture
def sessions(database):
    a = connect(database, application_name="session A")
    b = connect(database, application_name="session B")
    yield a, b
    a.close()
    b.close()


def test_committed_deploy_is_used_by_the_next_statement(sessions):
    a, b = sessions
    ca, cb = a.cursor(), b.cursor()
    assert deploy(cb, "two", 1.0) == 1
    cb.execute("SELECT predict_set_default('two')")
    # A scores with version 1 (and caches it)
    assert proba(ca) == sigmoid(1.0)
    assert proba(ca, "two") == sigmoid(1.0)
    # B deploys version 2 and commits: A's next statement uses it
    assert deploy(cb, "two", 2.0) == 2
    assert proba(ca) == sigmoid(2.0)
    assert proba(ca, "two") == sigmoid(2.0)
    # and A's trigger too
    ca.execute("INSERT INTO predictions (observation_id, observation) VALUES (1, %s::jsonb)"
               " RETURNING proba, model, model_version", (OBS,))
    assert ca.fetchone() == (sigmoid(2.0), "two", 2)
    # B rolls back to version 1: A follows
    cb.execute("SELECT predict_activate('two', 1)")
    assert proba(ca) == sigmoid(1.0)


def test_rolled_back_deploy_changes_nothing(sessions):
    a, b = sessions
    ca, cb = a.cursor(), b.cursor()
    version = deploy(cb, "rb", 3.0)
    before = proba(ca, "rb")
    assert before == sigmoid(3.0)
    b.autocommit = False
    cb = b.cursor()
    assert deploy(cb, "rb", -3.0) == version + 1
    # B sees its own deploy; A, meanwhile, does not
    assert proba(cb, "rb") == sigmoid(-3.0)
    assert proba(ca, "rb") == before
    b.rollback()
    b.autocommit = True
    cb = b.cursor()
    assert proba(ca, "rb") == before
    assert proba(cb, "rb") == before
    cb.execute("SELECT max(version) FROM predict_model_versions WHERE name = 'rb'")
    assert cb.fetchone()[0] == version
    # the version number comes back with another document: A must not use
    # anything B's rolled-back transaction cached
    assert deploy(cb, "rb", 5.0) == version + 1
    assert proba(ca, "rb") == sigmoid(5.0)
    assert proba(cb, "rb") == sigmoid(5.0)


def test_uncommitted_deploy_is_invisible_until_commit(sessions):
    a, b = sessions
    ca = a.cursor()
    deploy(b.cursor(), "late", 1.0)
    b.autocommit = False
    cb = b.cursor()
    deploy(cb, "late", 2.0)
    assert proba(ca, "late") == sigmoid(1.0)
    b.commit()
    b.autocommit = True
    assert proba(ca, "late") == sigmoid(2.0)


def test_repeatable_read_keeps_its_snapshot(sessions):
    a, b = sessions
    deploy(b.cursor(), "rr", 1.0)
    a.autocommit = False
    a.set_session(isolation_level="REPEATABLE READ")
    ca = a.cursor()
    assert proba(ca, "rr") == sigmoid(1.0)
    deploy(b.cursor(), "rr", 2.0)
    # the transaction's snapshot predates the deploy
    assert proba(ca, "rr") == sigmoid(1.0)
    a.commit()
    assert proba(ca, "rr") == sigmoid(2.0)
    a.commit()


def test_concurrent_deploys_get_gapless_versions(database):
    """Eight sessions deploy the same name at once, five times each."""
    errors = []

    def worker(k):
        conn = connect(database, application_name="deployer %d" % k)
        try:
            cur = conn.cursor()
            for i in range(5):
                deploy(cur, "race", float(k * 10 + i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = connect(database)
    cur = conn.cursor()
    cur.execute("SELECT array_agg(version ORDER BY version) FROM predict_model_versions"
                " WHERE name = 'race'")
    assert cur.fetchone()[0] == list(range(1, 41))
    cur.execute("SELECT active_version FROM predict_models WHERE name = 'race'")
    active = cur.fetchone()[0]
    assert active == 40
    # the active version is the last deploy to commit, and scoring uses it
    cur.execute("SELECT (model->'estimator'->>'intercept')::float8 FROM predict_model_versions"
                " WHERE name = 'race' AND version = 40")
    intercept = cur.fetchone()[0]
    assert proba(cur, "race") == sigmoid(intercept)
    conn.close()


def test_concurrent_first_deploys_of_new_names_make_one_default(database):
    """Sessions deploying different new names at once: exactly one default."""
    conn = connect(database)
    cur = conn.cursor()
    cur.execute("UPDATE predict_models SET is_default = false")
    conn.close()
    barrier = threading.Barrier(6)
    errors = []

    def worker(k):
        c = connect(database)
        try:
            barrier.wait()
            deploy(c.cursor(), "new%d" % k, 0.0)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = connect(database)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM predict_models WHERE is_default AND name LIKE 'new%%'")
    assert cur.fetchone()[0] == 1
    conn.close()


def test_many_versions_do_not_accumulate_in_a_backend(sessions):
    """A session scoring across 30 deploys keeps only the active version."""
    a, b = sessions
    ca, cb = a.cursor(), b.cursor()
    for i in range(30):
        deploy(cb, "churn", float(i))
        assert proba(ca, "churn") == sigmoid(float(i))
    ca.execute("SELECT ident FROM pg_backend_memory_contexts"
               " WHERE parent = 'predict model cache' AND ident LIKE 'churn %'")
    assert [r[0] for r in ca.fetchall()] == ["churn version 30"]
