"""A streaming replica (pg_basebackup -R, a hot standby): the read-only routes
go there (PREDICT_READ_DATABASE_URL) and to the primary while it is down; a
gateway connected to a standby tells it apart (/readyz, writes, /metrics)."""

import subprocess
import time

import pytest

from conftest import Load, Standby, rows_for, wait_replayed
from processes import REPO, http, run_gateway, stop_gateway

READ_ONLY = "the database is read-only (a standby)"


@pytest.fixture(scope="module")
def pair(cluster):
    cluster.sql("postgres", "CREATE DATABASE replicated")
    proc, _ = run_gateway(cluster.url("replicated"))       # the schema and titanic, on the primary
    stop_gateway(proc)
    standby = Standby(cluster)
    wait_replayed(cluster, standby, "replicated")
    yield cluster, standby
    standby.remove()


def gateway_connections(target, db):
    return target.sql(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'predict-gateway'")[0][0]


def test_reads_go_to_the_replica_and_to_the_primary_while_it_is_down(pair):
    primary, standby = pair
    proc, port = run_gateway(primary.url("replicated"),
                             {"PREDICT_READ_DATABASE_URL": standby.url("replicated"), "PREDICT_THREADS": "4"})
    try:
        load = Load([port], clients=4, per_client=10).run()
        assert load.statuses() == {("predict", 200): 40, ("update", 200): 40}
        wait_replayed(primary, standby, "replicated")
        some = sorted(load.ok_ids())[0]
        # analysis on the replica: scoring and the reports run on a hot standby
        obs = '{"Age": 30, "Sex": "male", "Pclass": 3}'
        score = "SELECT predict_proba(%s::jsonb), predict_class(%s::jsonb)"
        assert standby.sql("replicated", score, (obs, obs)) == primary.sql("replicated", score, (obs, obs))
        assert standby.sql("replicated", "SELECT predict_report()::text") == \
            primary.sql("replicated", "SELECT predict_report()::text")
        for path in ("/list-db-contents", "/predictions/%d" % some, "/report.json", "/"):
            assert http(port, "GET", path)[0] == 200, path
        assert gateway_connections(standby, "replicated") > 0, "no read reached the replica"

        # a lagging replica: the list is the replica's, a row just written is found on the primary
        standby.sql("replicated", "SELECT pg_wal_replay_pause()")
        try:
            status, fresh, _ = http(port, "POST", "/predict", {"id": 42424242, "observation": {"Age": 9}})
            assert status == 200
            status, listed, _ = http(port, "GET", "/list-db-contents?after=%d" % (fresh["id"] - 1))
            assert status == 200 and [r["id"] for r in listed] == [], listed
            status, row, _ = http(port, "GET", "/predictions/42424242")
            assert status == 200 and row["proba"] == fresh["proba"], row
        finally:
            standby.sql("replicated", "SELECT pg_wal_replay_resume()")

        # the replica down: the primary answers
        standby.stop("immediate")
        try:
            for path in ("/list-db-contents", "/predictions/42424242", "/report.json", "/"):
                status, body, _ = http(port, "GET", path)
                assert status == 200, (path, body)
        finally:
            standby.start()
    finally:
        stop_gateway(proc)


def test_a_gateway_on_a_standby_is_not_ready_and_refuses_writes_for_good(pair):
    primary, standby = pair
    wait_replayed(primary, standby, "replicated")
    proc, port = run_gateway(standby.url("replicated"))
    try:
        assert any("read-only (a hot standby)" in line for line in proc.start_lines), proc.start_lines
        status, body, headers = http(port, "GET", "/readyz")
        assert status == 503 and body["error"].startswith(READ_ONLY), body
        assert headers.get("Retry-After") is None
        status, body, headers = http(port, "POST", "/predict", {"id": 77777777, "observation": {"Age": 3}})
        assert status == 503 and body["error"].startswith(READ_ONLY) and headers.get("Retry-After") is None, body
        some = primary.sql("replicated", "SELECT observation_id FROM predictions LIMIT 1")[0][0]
        assert http(port, "GET", "/predictions/%d" % some)[0] == 200
        metrics = http(port, "GET", "/metrics")[1].decode()
        count = [line for line in metrics.splitlines() if line.startswith('predict_db_errors_total{kind="read_only"}')]
        assert count and float(count[0].split()[-1]) >= 2, count
    finally:
        stop_gateway(proc)


def test_a_gateway_on_a_standby_of_an_empty_database_says_to_use_the_primary(pair):
    primary, standby = pair
    primary.sql("postgres", "CREATE DATABASE empty_on_standby")
    wait_replayed(primary, standby, "postgres")
    time.sleep(0.2)
    done = subprocess.run([REPO + "/bin/predict-gateway"],
                          env={"DATABASE_URL": standby.url("empty_on_standby"), "PORT": "0", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "read-only (a hot standby)" in lines[0] and "primary" in lines[0], lines
