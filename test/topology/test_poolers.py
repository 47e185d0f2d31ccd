"""PgBouncer in transaction and in session pooling, with more gateway workers
than the pool has server connections, in both modes; start-ups racing
through a pooler; several gateways sharing one database through it."""

import os
import threading

import pytest

from conftest import Load, PgBouncer, observation, record, rows_for
from processes import REPO, Cluster, gateway_command, http, run_gateway, stop_gateway

MODES = ("extension", "managed")
MODEL = os.path.join(REPO, "models", "titanic.json")


def new_database(cluster, name, mode):
    """A database owned by app (managed mode: the gateway runs as app)."""
    cluster.sql("postgres", "CREATE DATABASE %s OWNER app" % name)
    return "app" if mode == "managed" else "postgres"


def assert_rows_equal_200s(cluster, db, load):
    ok = load.ok_ids()
    got = rows_for(cluster, db, load.ids())
    assert set(got) == ok, "rows %d, 200s %d" % (len(got), len(ok))
    assert all(got[i][1] == i % 2 for i in ok), "an outcome answered 200 is not stored"


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
@pytest.mark.parametrize("mode", MODES)
def test_behind_pgbouncer_with_more_workers_than_server_connections(cluster, mode, pool_mode):
    db = "pgb_%s_%s" % (mode, pool_mode)
    user = new_database(cluster, db, mode)
    bouncer = PgBouncer(cluster, pool_mode, pool_size=4)
    try:
        proc, port = run_gateway(bouncer.url(db, user), {"PREDICT_MODE": mode, "PREDICT_THREADS": "16"})
        try:
            load = Load([port], clients=16, per_client=20).run()
        finally:
            stop_gateway(proc)
        # deploying through the pooler (docs/scaling.md says both ways work)
        done = gateway_command(bouncer.url(db, user), "deploy", MODEL, env={"PREDICT_MODE": mode})
        assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr
    finally:
        bouncer.stop()
    assert cluster.sql(db, "SELECT version FROM predict_model_versions ORDER BY 1") == [(1,), (2,)]
    assert load.statuses() == {("predict", 200): 320, ("update", 200): 320}, load.statuses()
    assert_rows_equal_200s(cluster, db, load)
    # the same answers as a gateway connected directly
    pooled = {body["observation_id"]: body["proba"] for _, route, status, _, body in load.answers
              if route == "predict" and status == 200}
    proc, port = run_gateway(cluster.url(db, user), {"PREDICT_MODE": mode, "PREDICT_THREADS": "16"})
    try:
        for oid in sorted(pooled)[:20]:
            status, body, _ = http(port, "POST", "/predict", {"id": oid + 10 ** 13, "observation": observation(oid)})
            assert status == 200 and body["proba"] == pooled[oid], (oid, body)
    finally:
        stop_gateway(proc)
    record("pgbouncer-%s-%s" % (mode, pool_mode), {"requests": sum(load.statuses().values()),
                                                     "statuses": {"%s %s" % k: v for k, v in load.statuses().items()}})


def start_together(urls, env):
    """Start a gateway per url at the same instant; (procs and ports, start logs)."""
    results = [None] * len(urls)
    barrier = threading.Barrier(len(urls))

    def one(k):
        barrier.wait()
        try:
            results[k] = run_gateway(urls[k], env)
        except AssertionError as e:
            results[k] = e
    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def no_extension_cluster():
    """A cluster that answers CREATE EXTENSION predict as a server without it (Heroku)."""
    from managed_sql import NO_EXTENSION_SQL
    c = Cluster("max_connections = 300")
    c.sql("template1", NO_EXTENSION_SQL)
    c.sql("postgres", "CREATE ROLE app LOGIN")
    return c


@pytest.mark.parametrize("route", ["direct", "pgbouncer"])
@pytest.mark.parametrize("expected", MODES)
def test_gateways_started_at_the_same_instant_end_with_one_mode_schema_and_version(cluster, expected, route):
    target = cluster if expected == "extension" else no_extension_cluster()
    try:
        db = "race_%s_%s" % (expected, route)
        target.sql("postgres", "CREATE DATABASE %s OWNER app" % db)
        bouncer = PgBouncer(target, "transaction", pool_size=2) if route == "pgbouncer" else None
        url = bouncer.url(db, "app") if bouncer else target.url(db, "app")
        try:
            started = start_together([url] * 3, {"PREDICT_MODE": "auto"})
            failures = [r for r in started if isinstance(r, AssertionError)]
            assert not failures, failures
            modes = {next(line for line in proc.start_lines if "mode:" in line).split("mode: ")[1].split(" ")[0]
                     for proc, _ in started}
            assert modes == {expected}, modes
            for proc, port in started:
                assert Load([port], clients=1, per_client=2, update=False).run().statuses() == {("predict", 200): 2}
                stop_gateway(proc)
        finally:
            if bouncer:
                bouncer.stop()
        has_extension = target.sql(db, "SELECT count(*) FROM pg_extension WHERE extname = 'predict'")[0][0]
        has_managed = target.sql(db, "SELECT to_regprocedure('predict_internal.schema_version()') IS NOT NULL "
                                     "AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'predict')")[0][0]
        assert (has_extension, has_managed) == ((1, False) if expected == "extension" else (0, True))
        assert target.sql(db, "SELECT name, version FROM predict_model_versions") == [("titanic", 1)]
    finally:
        if target is not cluster:
            target.stop()


def test_several_gateways_share_one_database_through_a_pooler(cluster):
    db = "many_gateways"
    cluster.sql("postgres", "CREATE DATABASE %s OWNER app" % db)
    bouncer = PgBouncer(cluster, "transaction", pool_size=6)
    gateways = []
    try:
        for _ in range(3):
            gateways.append(run_gateway(bouncer.url(db), {"PREDICT_THREADS": "8"}))
        load = Load([port for _, port in gateways], clients=15, per_client=40).run()
    finally:
        for proc, _ in gateways:
            stop_gateway(proc)
        bouncer.stop()
    assert load.statuses() == {("predict", 200): 600, ("update", 200): 600}, load.statuses()
    assert_rows_equal_200s(cluster, db, load)
    ids = [r[0] for r in cluster.sql(db, "SELECT observation_id FROM predictions")]
    assert len(ids) == len(set(ids)) == 600
    assert cluster.sql(db, "SELECT count(DISTINCT id) FROM predictions") == [(600,)]
    record("many-gateways", {"gateways": 3, "requests": 1200, "rows": 600})
