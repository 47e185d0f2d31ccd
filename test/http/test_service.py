"""The gateway as a service: start-up, configuration, authentication, concurrency, a
database that restarts or freezes, slow and flooding clients, graceful shutdown.

Each test starts its own gateway(s) on a fresh database.
"""

import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from harness import (GATEWAY, REPO, Gateway, curl_json, fresh_id, interrupt, metric,
                     observation, raw_http, wait_for_output)
from harness import load as _load

SANITIZED = "asan" in GATEWAY or "tsan" in GATEWAY   # RSS is not comparable


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- start-up and configuration

MODEL_COMMANDS = {"deploy": "deploy [--name NAME] [--explain] MODEL.json", "activate": "activate NAME VERSION",
                  "set-default": "set-default NAME"}


def test_help_lists_every_setting():
    """--help lists every setting, route and model command of the HTTP reference."""
    out = subprocess.run([GATEWAY, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    reference = open(os.path.join(REPO, "docs", "http-api.md")).read()
    settings = re.findall(r"^\| `([A-Z_]+)` \| `(--[a-z-]+)` \|", reference, re.M)
    assert len(settings) >= 15 and ("PREDICT_API_TOKEN", "--api-token") in settings, settings
    for variable, flag in settings:
        assert re.search(r"^  %s .*\n(?: {10,}.*\n)*? +env %s$" % (flag, variable), out.stdout, re.M), \
            (flag, variable)
    # a route: on a line of its method, alone or in a list ("GET  /healthz, /readyz")
    routes = re.findall(r"^#+ `(GET|POST) (/[^` ?]*)`", reference, re.M)
    assert {"/predict", "/update", "/", "/report.json", "/metrics"} <= {r for _, r in routes}, routes
    for method, route in routes:
        assert re.search(r"^  %s +(?:\S+, )*%s[ ,]" % (method, re.escape(route)), out.stdout, re.M), route
    for synopsis in MODEL_COMMANDS.values():
        assert "predict-gateway " + synopsis in out.stdout, synopsis


def test_deploy_creates_a_new_sqlite_database_and_activate_does_not(tmp_path):
    """A deploy may be a database's first write, as the gateway's start is: the file is
    created in WAL mode with the schema and the model as the default. activate and
    set-default on a file that does not exist say so and create nothing."""
    env = {"DATABASE_URL": "sqlite:///%s/new.db" % tmp_path, "PATH": os.environ["PATH"]}
    model = os.path.join(REPO, "models", "titanic.json")
    out = subprocess.run([GATEWAY, "deploy", model], capture_output=True, text=True, timeout=30,
                         env=env)
    assert out.returncode == 0 and out.stdout == "1\n", out
    db = sqlite3.connect(str(tmp_path / "new.db"))
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT name, active_version, is_default FROM predict_models").fetchall() == \
        [("titanic", 1, 1)]
    db.close()
    env["DATABASE_URL"] = "sqlite:///%s/other.db" % tmp_path
    for args in (["activate", "titanic", "1"], ["set-default", "titanic"]):
        out = subprocess.run([GATEWAY, *args], capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 1 and "or deploy a model into it first" in out.stderr, out
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("command", ["deploy", "activate", "set-default"])
def test_model_commands_print_their_usage_and_refuse_unknown_options(command, tmp_path):
    env = {"DATABASE_URL": "sqlite:///%s/never.db" % tmp_path, "PATH": os.environ["PATH"]}
    for flag in ("--help", "-h"):
        out = subprocess.run([GATEWAY, command, flag], capture_output=True, text=True,
                             timeout=10, env=env)
        assert out.returncode == 0 and out.stderr == "", out
        # its own usage, not the other commands'
        assert out.stdout.startswith("usage:\n  predict-gateway %s " % MODEL_COMMANDS[command]), out
        assert re.findall(r"predict-gateway ([a-z][a-z-]*) ", out.stdout) == [command], out.stdout
    # wrong arguments: the same usage, on stderr
    out = subprocess.run([GATEWAY, command], capture_output=True, text=True, timeout=10, env=env)
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.startswith("usage:\n  predict-gateway %s " % MODEL_COMMANDS[command]), out
    out = subprocess.run([GATEWAY, command, "--bogus", "x"], capture_output=True, text=True,
                         timeout=10, env=env)
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr == "predict-gateway %s: unknown option --bogus (predict-gateway %s --help " \
        "lists the usage)\n" % (command, command), out.stderr
    assert not (tmp_path / "never.db").exists()            # nothing opened
    if command == "activate":                                 # a version, refused as one
        out = subprocess.run([GATEWAY, command, "titanic", "-1"], capture_output=True, text=True,
                             timeout=10, env=env)
        assert out.returncode == 1 and "unknown option" not in out.stderr, out


SQLITE_FORMS = "use sqlite:///relative/path.db (relative to the working directory) or " \
    "sqlite:////absolute/path.db"


@pytest.mark.parametrize("env,args,expect", [
    ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "PORT": "abc"}, [], "PORT must be"),
    ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, ["--threads", "0"], "--threads must be"),
    ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, ["--bogus"], "unknown argument"),
    ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, ["--request-timeout", "0"],
     "--request-timeout must be an integer from 1 to 86400"),
    ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "PREDICT_REQUEST_TIMEOUT": "10s"}, [],
     "PREDICT_REQUEST_TIMEOUT must be"),
    ({"DATABASE_URL": "mysql://x"}, [], "DATABASE_URL must be"),
    ({"DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "HOST": "localhost"}, [], "HOST must be"),
    # peewee's db_url forms only (sqlite:///rel.db, sqlite:////abs.db), each other one
    # refused before anything is opened or created
    ({"DATABASE_URL": "sqlite://predictions.db"}, [], SQLITE_FORMS),
    ({"DATABASE_URL": "sqlite:predictions.db"}, [], SQLITE_FORMS),
    ({"DATABASE_URL": "sqlite:"}, [], SQLITE_FORMS),
    ({"DATABASE_URL": "sqlite:///"}, [], SQLITE_FORMS),
    ({}, ["--database-url", "sqlite:////tmp/"], "names a directory"),
    ({"DATABASE_URL": "sqlite:///:memory:"}, [], "in-memory database"),
    ({"DATABASE_URL": "sqlite:///x.db?timeout=5"}, [], "take no parameters"),
    ({"DATABASE_URL": "sqlite:///x%2.db"}, [], "bad percent-escape"),
    ({"DATABASE_URL": "sqlite:///x%00.db"}, [], "bad percent-escape"),
])
def test_configuration_errors_exit_2_with_one_line(env, args, expect, tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "HOST")
             and not k.startswith("PREDICT_")}
    clean.update(env)
    out = subprocess.run([GATEWAY, *args], env=clean, capture_output=True, text=True, timeout=10,
                         cwd=tmp_path)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], out.stderr
    assert os.listdir(tmp_path) == []             # nothing created


def test_without_database_url_the_gateway_uses_sqlite_predictions_db_here(gateways, tmp_path):
    """As the tutorial's app: DATABASE_URL unset is sqlite:///predictions.db, relative to
    the working directory; sqlite:///<relative> and percent-escapes are read as peewee does."""
    gw = gateways(None, cwd=tmp_path)
    assert "backend sqlite" in gw.stderr()
    i = fresh_id()
    assert gw.client().predict(i).status == 200
    conn = sqlite3.connect(str(tmp_path / "predictions.db"))
    assert conn.execute("SELECT observation_id FROM predictions").fetchall() == [(i,)]
    conn.close()
    gw2 = gateways("sqlite:///sub%20dir/my.db", cwd=tmp_path, wait=False)
    assert gw2.proc.wait(15) == 1                 # the directory does not exist
    (tmp_path / "sub dir").mkdir()
    gw2 = gateways("sqlite:///sub%20dir/my.db", cwd=tmp_path)
    assert gw2.client().predict(i).status == 200
    assert (tmp_path / "sub dir" / "my.db").exists()


ONLY_BIN = pytest.mark.skipif(
    os.path.realpath(GATEWAY) != os.path.join(os.path.realpath(REPO), "bin", "predict-gateway"),
    reason="make run starts bin/predict-gateway")


@ONLY_BIN
def test_make_run_serves_the_curl_lines_it_prints(tmp_path):
    """The README's first command: make run builds (nothing to do here), starts the gateway
    on SQLite with the Titanic model and, once it is ready, prints the tutorial's curl
    lines, which work as printed; Ctrl-C (SIGINT to the terminal's process group) stops it.
    (DATABASE_URL and PORT are set so as not to use the repository's predictions.db and
    port 5000; without them it is sqlite:///predictions.db, as the test above shows.)"""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "HOST")
           and not k.startswith("PREDICT_") and not k.startswith("MAKE")}
    env.update({"DATABASE_URL": "sqlite:///%s/predictions.db" % tmp_path, "PORT": str(port)})
    out_path = tmp_path / "make-run.out"
    proc = subprocess.Popen(["make", "-s", "run"], cwd=REPO, env=env, start_new_session=True,
                            stdout=open(out_path, "wb"), stderr=subprocess.STDOUT)
    try:
        text = wait_for_output(out_path, "list-db-contents", proc, 300)
        assert "http://localhost:%d/" % port in text
        commands = [line.strip() for line in text.splitlines() if line.startswith("  curl ")]
        assert len(commands) == 3, text
        predicted, updated, listing = [curl_json(c) for c in commands]
        assert predicted["observation_id"] == 0 and predicted["model"] == "titanic"
        assert abs(predicted["proba"] - 0.09182825924632243) < 1e-12
        assert updated["true_class"] == 1 and updated["id"] == predicted["id"]
        assert [r["observation_id"] for r in listing] == [0]
    finally:
        interrupt(proc, 15)
    text = out_path.read_text()
    assert "received SIGINT" in text and 'msg="stopped"' in text, text[-2000:]
    assert (tmp_path / "predictions.db").exists()
    # a development command: loopback only, as the tutorial's Flask server; and nothing on
    # the terminal but what the README shows (no probe errors while it starts)
    assert "listening on http://127.0.0.1:%d/" % port in text, text
    assert "refused" not in text and "/dev/tcp" not in text, text


@ONLY_BIN
def test_make_run_postgresql_serves_a_throwaway_cluster_and_removes_it(tmp_path):
    """The README's "try it on PostgreSQL" command: a local cluster with the extension, the
    gateway on it, a psql line that connects; Ctrl-C stops the gateway, then the cluster,
    which is removed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "HOST")
           and not k.startswith(("PREDICT_", "MAKE", "PG"))}
    env["PORT"] = str(port)
    out_path = tmp_path / "make-run-postgresql.out"
    proc = subprocess.Popen(["make", "-s", "run-postgresql"], cwd=REPO, env=env,
                            start_new_session=True, stdout=open(out_path, "wb"),
                            stderr=subprocess.STDOUT)
    try:
        text = wait_for_output(out_path, "psql ", proc, 300)
        (psql_url,) = re.findall(r'psql "(postgresql://[^"]+)"', text)
        data_dir = re.search(r"data in (\S+),", text).group(1)
        assert os.path.isdir(data_dir)
        commands = [line.strip() for line in text.splitlines() if line.startswith("  curl ")]
        assert abs(curl_json(commands[0])["proba"] - 0.09182825924632243) < 1e-12
        # the psql line it prints reaches the extension and the logged row
        q = subprocess.run(["psql", psql_url, "-AtXc",
                            "SELECT extname, observation_id FROM pg_extension, predictions "
                            "WHERE extname = 'predict'"],
                           capture_output=True, text=True, timeout=30)
        assert q.stdout.strip() == "predict|0", (q.stdout, q.stderr)
    finally:
        interrupt(proc)
    deadline = time.monotonic() + 30
    while "the cluster is stopped and removed" not in out_path.read_text() and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    text = out_path.read_text()
    assert 'msg="stopped"' in text and "the cluster is stopped and removed" in text, text[-2000:]
    assert not os.path.exists(data_dir)
    assert "refused" not in text, text


@pytest.mark.parametrize("make,expect", [
    (lambda d: "sqlite:///%s/no/such/dir/p.db" % d, "cannot open the SQLite database"),
    (lambda d: (open(os.path.join(d, "text.db"), "w").write("not a database" * 100),
                "sqlite:///%s/text.db" % d)[1], "is it a SQLite database?"),
])
def test_sqlite_file_that_cannot_be_used_exits_nonzero_with_one_clear_line(tmp_path, make,
                                                                           expect):
    gw = Gateway(make(str(tmp_path)), wait=False)
    assert gw.proc.wait(15) == 1
    lines = gw.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert expect in lines[0] and "DATABASE_URL" in lines[0], lines[0]


def test_unreachable_database_exits_nonzero_with_one_clear_line():
    gw = Gateway("postgresql://postgres@127.0.0.1:%d/postgres" % free_port(), wait=False)
    assert gw.proc.wait(15) == 1
    lines = gw.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert "cannot connect to the database" in lines[0] and "DATABASE_URL" in lines[0]


def test_extension_that_cannot_be_created_exits_nonzero(backend):
    if not backend.supports("roles"):
        pytest.skip("no database roles on " + backend.name)
    url = backend.new_database()
    backend.execute(url, "DO $$ BEGIN CREATE ROLE predict_weak LOGIN; "
                         "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    weak = url.replace("//%s@" % backend.user, "//predict_weak@")
    gw = Gateway(weak, wait=False)
    assert gw.proc.wait(15) == 1
    lines = gw.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert "cannot create the predict extension" in lines[0] and "make install" in lines[0]


def test_port_in_use_exits_nonzero_with_one_line(backend):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        gw = Gateway(backend.new_database(), env={"PORT": str(busy.getsockname()[1])},
                     wait=False)
        assert gw.proc.wait(15) == 1
    finally:
        busy.close()
    lines = gw.stderr().strip().splitlines()
    # (the model deployed on this fresh database is logged before)
    assert all("level=info" in line for line in lines[:-1]), lines
    assert "cannot listen on 127.0.0.1:" in lines[-1] and "PORT" in lines[-1]


def test_missing_model_file_exits_nonzero(backend):
    gw = Gateway(backend.new_database(), env={"PREDICT_MODEL": "/nonexistent/model.json"},
                 wait=False)
    assert gw.proc.wait(15) == 1
    lines = gw.stderr().strip().splitlines()
    assert len(lines) == 1 and "PREDICT_MODEL" in lines[0] and "/nonexistent/model.json" in lines[0]


def test_model_commands_deploy_activate_and_set_default(backend, gateways):
    """predict-gateway deploy|activate|set-default, on every backend: versions, names,
    the running gateway's next request, and one clear line for each mistake."""
    url = backend.new_database()
    gw = gateways(url)
    c = gw.client()
    env = backend._command_env(url)
    model = os.path.join(REPO, "models", "titanic.json")

    def run(*args):
        out = subprocess.run([GATEWAY, *args], env=env, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout.strip(), out.stderr.strip().splitlines()

    assert run("deploy", model)[:2] == (0, "2")
    assert c.predict(fresh_id()).json["model_version"] == 2
    assert run("deploy", "--name", "other", model)[:2] == (0, "1")
    assert run("activate", "titanic", "1")[0] == 0
    assert c.predict(fresh_id()).json["model_version"] == 1
    assert run("set-default", "other")[0] == 0
    assert c.predict(fresh_id()).json["model"] == "other"
    assert backend.model_versions(url) == [("other", 1), ("titanic", 1), ("titanic", 2)]
    rc, _, err = run("activate", "titanic", "7")
    assert rc == 1 and len(err) == 1 and "no version 7" in err[0], err
    rc, _, err = run("set-default", "nope")
    assert rc == 1 and len(err) == 1 and "nope" in err[0], err
    rc, _, err = run("deploy", "/nonexistent/model.json")
    assert rc == 1 and "/nonexistent/model.json" in err[-1], err
    assert run("deploy")[0] == 2                         # usage
    assert backend.model_versions(url) == [("other", 1), ("titanic", 1), ("titanic", 2)]


def test_predict_model_on_a_database_with_a_default_says_it_was_not_deployed(backend, gateways,
                                                                              tmp_path):
    """PREDICT_MODEL is the first model of an empty database: on one that has a default
    model the gateway serves that one, and says so, and how to serve the file instead."""
    url = backend.new_database()
    gateways(url).stop()                                  # titanic, version 1
    doc = json.load(open(os.path.join(REPO, "models", "titanic.json")))
    doc["name"] = "rf"
    other = tmp_path / "rf.json"
    other.write_text(json.dumps(doc))
    gw = gateways(url, env={"PREDICT_MODEL": str(other)})
    err = gw.stderr()
    assert 'serving the default model \\"titanic\\" (version 1)' in err, err
    assert "PREDICT_MODEL %s was not deployed" % other in err, err
    assert "predict-gateway deploy %s" % other in err and "set-default" in err, err
    assert gw.client().predict(fresh_id()).json["model"] == "titanic"
    assert backend.model_versions(url) == [("titanic", 1)]
    # without PREDICT_MODEL (the bundled default) only the model served is said
    plain = gateways(url)
    assert "serving the default model" in plain.stderr()
    assert "was not deployed" not in plain.stderr()


def test_libpq_connection_string_and_default_model_from_another_directory(backend, gateways):
    if not backend.supports("libpq-conninfo"):
        pytest.skip("libpq only")
    url = backend.new_database()
    dbname = url.rsplit("/", 1)[1]
    conninfo = "host=%s port=%s user=%s dbname=%s" % (backend.host, backend.port, backend.user,
                                                      dbname)
    # started in / : models/titanic.json is found next to the binary's repository
    gw = gateways(conninfo, cwd="/")
    c = gw.client()
    assert c.predict(fresh_id()).status == 200
    assert backend.model_versions(url) == [("titanic", 1)]


def test_three_gateways_started_together_on_an_empty_database(backend, gateways):
    url = backend.new_database()
    assert not backend.has_schema(url)
    started = [gateways(url, wait=False) for _ in range(3)]
    for gw in started:
        gw.wait_listening()
    for gw in started:
        c = gw.client()
        assert c.get("/readyz").status == 200
        assert c.predict(fresh_id()).status == 200
    assert backend.has_schema(url)
    assert backend.model_versions(url) == [("titanic", 1)]
    assert backend.count(url) == 3


# ---------------------------------------------------------------- authentication

def test_bearer_token(backend, gateways):
    gw = gateways(backend.new_database(), env={"PREDICT_API_TOKEN": "s3cret-token"}, threads=1)
    c = gw.client()
    i = fresh_id()
    for token in (None, "wrong", "s3cret-toke", "s3cret-token-", "S3CRET-TOKEN", ""):
        c.token = token
        r = c.predict(i)
        assert r.status == 401, (token, r)
        assert r.header("WWW-Authenticate") == "Bearer"
        assert r.header("Content-Type") == "application/json" and "error" in r.json
        c.token = "s3cret-token"
        assert c.predict(fresh_id(), same_connection=True).status == 200
    r = c.post("/predict", {"id": i, "observation": {}},
               headers={"Authorization": "Basic czNjcmV0LXRva2Vu"})
    assert r.status == 401
    assert i not in backend.observation_ids(gw.database_url)
    c.token = None
    for path in ("/healthz", "/readyz"):
        assert c.get(path).status == 200
    for method, path in (("GET", "/metrics"), ("GET", "/list-db-contents"),
                         ("GET", "/predictions/1"), ("POST", "/update")):
        assert c.request(method, path, body="{}").status == 401
    c.token = "s3cret-token"
    assert c.get("/metrics").status == 200
    assert c.get("/list-db-contents").status == 200
    r = c.post("/update", {"id": i, "true_class": 1},
               headers={"Authorization": "bearer  s3cret-token"})
    assert r.status == 404      # authenticated (scheme is case-insensitive), id unknown


# ---------------------------------------------------------------- concurrency

def test_16_parallel_clients_2000_unique_ids(backend, gateways):
    url = backend.new_database()
    gw = gateways(url)
    ids = [fresh_id() for _ in range(2000)]
    statuses = {}
    errors = []

    def work(k):
        c = gw.client()
        try:
            for i in ids[k::16]:
                r = c.predict(i)
                statuses[i] = r.status
                if r.status != 200 or r.json["observation_id"] != i:
                    errors.append(r)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert len(statuses) == 2000 and set(statuses.values()) == {200}
    assert backend.count(url) == 2000
    assert backend.observation_ids(url) == set(ids)
    if not SANITIZED:
        assert gw.rss_kib() < 30 * 1024


def test_concurrent_retries_of_one_id_write_one_row(backend, gateways):
    url = backend.new_database()
    gw = gateways(url)
    results = []
    for _ in range(10):
        i = fresh_id()
        obs = observation(i)
        barrier = threading.Barrier(8)

        def send():
            c = gw.client()
            barrier.wait()
            results.append((i, c.predict(i, obs)))
            c.close()

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    by_id = {}
    for i, r in results:
        assert r.status == 200, r
        by_id.setdefault(i, set()).add(r.json["id"])
    assert all(len(rows) == 1 for rows in by_id.values()), by_id
    assert backend.count(url) == 10


def test_two_gateways_on_one_database_share_the_writes(backend, gateways):
    """Two processes writing at once (with SQLite: two writers of one file, which only
    the busy handler orders): every request 200, every row there once."""
    url = backend.new_database()
    pair = [gateways(url, threads=4), gateways(url, threads=4)]
    ids = [fresh_id() for _ in range(800)]
    statuses = {}
    errors = []

    def work(k):
        c = pair[k % 2].client()
        try:
            for i in ids[k::8]:
                r = c.predict(i)
                statuses[i] = r.status
                if r.status != 200:
                    errors.append(r)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert len(statuses) == 800 and set(statuses.values()) == {200}
    assert backend.count(url) == 800 and backend.observation_ids(url) == set(ids)


# ---------------------------------------------------------------- the database goes away

def test_kill_9_in_the_middle_of_requests_loses_no_answered_row(backend, gateways):
    """The gateway dies (SIGKILL) under load: the database is consistent, holds every row
    that was answered 200, and a new gateway serves it at once."""
    url = backend.new_database()
    gw = gateways(url, threads=4)
    stop = threading.Event()
    record = []
    threads = [threading.Thread(target=_load, args=(gw, stop, record, 5)) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    gw.proc.kill()
    gw.proc.wait()
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    ok = {i for i, s, _, _ in record if s == 200}
    assert len(ok) >= 50, "too few requests before the kill: %d" % len(ok)
    assert {s for _, s, _, _ in record} - {200} <= {
        "ConnectionRefusedError", "RemoteDisconnected", "ConnectionResetError",
        "BrokenPipeError"}
    assert backend.integrity_errors(url) == []
    stored = backend.observation_ids(url)
    assert ok <= stored, "answered 200 but not stored: %s" % sorted(ok - stored)[:10]
    # at most the requests in flight at the kill were stored without their answer
    assert len(stored - ok) <= 8
    again = gateways(url)
    c = again.client()
    assert c.get("/readyz").status == 200
    assert c.predict(fresh_id()).status == 200
    if ok:
        assert c.get("/predictions/%d" % min(ok)).status == 200


def test_write_lock_held_elsewhere_gets_503_within_5_seconds_and_recovers(backend, gateways):
    """Another client holds the lock that inserts need (SQLite: a write transaction of
    another process; PostgreSQL: LOCK TABLE): inserts wait at most the deadline, then
    503 with Retry-After, and succeed once the lock is gone."""
    url = backend.new_database()
    gw = gateways(url, threads=2)
    c = gw.client(timeout=20)
    assert c.predict(fresh_id()).status == 200
    with backend.write_locked(url):
        t0 = time.monotonic()
        r = c.predict(fresh_id())
        elapsed = time.monotonic() - t0
        assert r.status == 503, r
        assert r.header("Retry-After") == "1"
        assert 1.0 < elapsed < 5.0, elapsed       # waited for the lock, up to the deadline
    deadline = time.monotonic() + 10
    while True:
        i = fresh_id()
        r = c.predict(i)
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200, r
    assert i in backend.observation_ids(url)


def test_postgresql_restart_in_the_middle_of_requests(backend, gateways):
    if not backend.supports("restart"):
        pytest.skip("no server to restart on " + backend.name)
    url = backend.new_database()
    gw = gateways(url, threads=4)
    stop = threading.Event()
    record = []
    threads = [threading.Thread(target=_load, args=(gw, stop, record)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    backend.restart()
    time.sleep(2.5)
    n_after = len(record)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()

    statuses = [s for _, s, _, _ in record]
    assert set(statuses) <= {200, 503}, set(statuses)     # answered, never an HTTP failure
    assert statuses.count(503) > 0, "no 503 while PostgreSQL was down"
    assert all(ra == "1" for _, s, ra, _ in record if s == 503)
    assert max(d for _, _, _, d in record) < 5.0
    # recovered: everything sent well after the restart succeeded
    assert record[n_after:] and all(s == 200 for _, s, _, _ in record[n_after:])
    # no 200 without its row
    ok = {i for i, s, _, _ in record if s == 200}
    assert ok <= backend.observation_ids(url)


def test_frozen_database_gets_503_within_5_seconds_and_recovers(backend, gateways):
    if not backend.supports("pause"):
        pytest.skip("no server to freeze on " + backend.name)
    url = backend.new_database()
    gw = gateways(url, threads=2)
    c1 = gw.client()
    assert c1.predict(fresh_id()).status == 200        # a connection exists
    backend.pause()
    try:
        times = []
        results = []

        def one():
            c = gw.client(timeout=20)
            t0 = time.monotonic()
            r = c.predict(fresh_id())
            times.append(time.monotonic() - t0)
            results.append(r)
            c.close()

        # an open database connection waits for an answer, a new one for the handshake
        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status for r in results] == [503] * 6, results
        assert all(r.header("Retry-After") == "1" for r in results)
        assert max(times) < 5.0, times
        c2 = gw.client(timeout=20)
        t0 = time.monotonic()
        r = c2.get("/readyz")
        assert r.status == 503 and time.monotonic() - t0 < 5.0, r
        assert c2.get("/healthz").status == 200
    finally:
        backend.resume()
    deadline = time.monotonic() + 10
    while True:
        r = c1.predict(fresh_id())
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200, r
    metrics = c1.get("/metrics").body
    assert 'predict_db_errors_total{kind="timeout"} 0' not in metrics


# ---------------------------------------------------------------- slow, idle and many clients

def test_idle_and_stalled_connections_are_closed(backend, gateways):
    gw = gateways(backend.new_database(), args=["--idle-timeout", "1"])
    t0 = time.monotonic()
    idle = raw_http(gw.port, b"", read_timeout=5)
    stalled = raw_http(gw.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
                       read_timeout=5)
    assert time.monotonic() - t0 < 6          # both closed by the gateway, not by our timeout
    assert idle == b"" and b"200 OK" not in stalled
    assert gw.client().predict(fresh_id()).status == 200


def _closed_after(sock, data=b"", interval=1.0, limit=15):
    """Trickle data one byte every interval seconds (or send nothing) until the gateway
    closes sock; the seconds that took (None: still open after limit)."""
    t0 = time.monotonic()
    sock.settimeout(interval)
    i = 0
    while time.monotonic() - t0 < limit:
        if i < len(data):
            try:
                sock.sendall(data[i:i + 1])
            except OSError:
                return time.monotonic() - t0
            i += 1
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - t0
    return None


def test_request_timeout_cuts_trickled_requests_not_idle_keep_alive(backend, gateways):
    """PREDICT_REQUEST_TIMEOUT: a kept-alive connection idle for longer than it is still
    served (only PREDICT_IDLE_TIMEOUT governs it); the next request trickled on it is cut
    that long after its first byte; a new connection that sends nothing is cut that long
    after it opened."""
    gw = gateways(backend.new_database(), args=["--request-timeout", "2", "--idle-timeout", "8"],
                  threads=2)
    c = gw.client()
    assert c.get("/healthz").status == 200
    time.sleep(3.5)                               # idle, longer than the request timeout
    assert c.predict(fresh_id(), same_connection=True).status == 200
    silent = socket.create_connection(("127.0.0.1", gw.port))
    results = {}
    waiter = threading.Thread(target=lambda: results.update(silent=_closed_after(silent)))
    waiter.start()
    after = _closed_after(c.conn.sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 60)
    waiter.join()
    silent.close()
    c.close()
    assert after is not None and 1.5 <= after <= 4, after
    assert results["silent"] is not None and 1.5 <= results["silent"] <= 4, results
    metrics = gw.client().get("/metrics").body
    assert 'predict_http_requests_timed_out_total{phase="headers"} 2' in metrics, metrics[-600:]
    assert "request timeout: closed" in gw.stderr()
    assert gw.client().predict(fresh_id()).status == 200


def test_request_timeout_spares_a_request_its_busy_worker_has_not_read(backend, gateways):
    """A request sent whole, on time, to a worker busy with a slow statement waits unread
    past the request timeout: it is answered, not cut (the client is not the slow one)."""
    url = backend.new_database()
    gw = gateways(url, threads=1, args=["--request-timeout", "1", "--db-timeout-ms", "4000"])
    waiting = gw.client(timeout=15)
    assert waiting.get("/healthz").status == 200  # its worker has taken the connection
    busy, answered = [], []
    t = threading.Thread(target=lambda: busy.append(gw.client(timeout=15).predict(fresh_id())))
    w = threading.Thread(target=lambda: answered.append(
        (waiting.predict(fresh_id(), same_connection=True), time.monotonic())))
    # the lock, held here, is the slow statement: the one worker waits for it in the
    # busy request's insert for as long as the test says, however busy the machine is
    with backend.write_locked(url):
        t.start()
        time.sleep(0.3)                           # the one worker is in the insert
        w.start()
        time.sleep(2.0)     # past the request's deadline and a sweep after it (1 s + 0.25 s)
        assert not answered, answered             # its worker is still busy
        released = time.monotonic()
    t.join()
    w.join()
    assert busy[0].status == 200, busy
    r, at = answered[0]
    assert r.status == 200 and at >= released, (r, at - released)
    metrics = gw.client().get("/metrics").body
    assert 'predict_http_requests_timed_out_total{phase="headers"} 0' in metrics
    assert 'predict_http_requests_timed_out_total{phase="body"} 0' in metrics
    waiting.close()


def test_connection_flood_is_refused_not_fatal(backend, gateways):
    gw = gateways(backend.new_database(), args=["--max-connections", "16"], threads=2)
    held = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            held.append(s)
        time.sleep(0.3)
        closed = 0
        for s in held:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 200 - 16, closed     # beyond the limit: closed at once
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    assert gw.proc.poll() is None
    assert gw.client().predict(fresh_id()).status == 200


def test_per_ip_connection_limit(backend, gateways):
    gw = gateways(backend.new_database(), args=["--max-connections-per-ip", "2"], threads=1)
    a, b = gw.client(), gw.client()
    assert a.get("/healthz").status == 200 and b.get("/healthz").status == 200
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        gw.client().get("/healthz")          # the third from 127.0.0.1 is closed at once
    a.close()
    time.sleep(0.2)
    assert gw.client().get("/healthz").status == 200
    b.close()


def test_endless_chunked_body_is_cut(backend, gateways):
    gw = gateways(backend.new_database(), args=["--max-body", "1024"], threads=1)
    c = gw.client()

    def endless():
        for _ in range(200):
            yield b"x" * 1024

    with pytest.raises((ConnectionError, http.client.HTTPException)):
        c.request("POST", "/predict", body=endless())     # past 16 x the cap: cut
    r = gw.client().predict(fresh_id())
    assert r.status == 200
    c = gw.client()
    r = c.request("POST", "/predict", body=iter([b"x" * 1024] * 4))  # over the cap: 413
    assert r.status == 413
    assert c.predict(fresh_id(), same_connection=True).status == 200


def test_oversized_headers_are_refused(gateway):
    reply = raw_http(gateway.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000
                     + b"\r\n\r\n")
    assert reply == b"" or reply.split(b" ", 2)[1] in (b"413", b"431"), reply[:100]
    assert gateway.client().get("/healthz").status == 200


# ---------------------------------------------------------------- graceful shutdown

def test_sigterm_during_load_finishes_requests_in_flight(backend, gateways):
    url = backend.new_database()
    # 8 workers for the 7 connections below: each request is read by a worker of its
    # own, so all 7 are in flight (waiting for the lock held here) when SIGTERM comes
    gw = gateways(url, threads=8, args=["--db-timeout-ms", "4000"])
    stop = threading.Event()
    record = []
    threads = [threading.Thread(target=_load, args=(gw, stop, record, 15)) for _ in range(6)]
    for t in threads:
        t.start()
    slow = []

    def slow_request():
        c = gw.client(timeout=15)
        slow.append(c.predict(slow_id))

    slow_id = fresh_id()
    st = threading.Thread(target=slow_request)
    time.sleep(0.5)                            # under load
    probe = gw.client()

    def in_flight():                           # but the probe's own request
        return metric(probe, "predict_http_requests_in_flight") - 1

    with backend.write_locked(url):
        st.start()
        deadline = time.monotonic() + 5
        while in_flight() < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert in_flight() == 7                # 6 load requests and the slow one
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert gw.proc.poll() is None, gw.stderr()   # waiting for the requests in flight
    rc = gw.proc.wait(15)
    elapsed = time.monotonic() - t0
    stop.set()
    for t in threads + [st]:
        t.join()

    assert rc == 0, gw.stderr()
    assert elapsed < 11
    assert slow and slow[0].status == 200, slow   # in flight at SIGTERM: completed
    assert "stopped" in gw.stderr()
    statuses = {s for _, s, _, _ in record}
    assert 200 in statuses
    # after SIGTERM a client may be refused or see its connection closed, never an error
    # status; and every committed row was answered 200 (nothing lost in flight)
    assert statuses <= {200, "ConnectionRefusedError", "RemoteDisconnected",
                        "ConnectionResetError", "BrokenPipeError"}, statuses
    ok = {i for i, s, _, _ in record if s == 200} | {slow_id}
    assert backend.observation_ids(url) == ok


def test_sigint_when_idle_exits_0_at_once(backend, gateways):
    gw = gateways(backend.new_database())
    c = gw.client()
    assert c.predict(fresh_id()).status == 200        # an idle keep-alive connection stays open
    t0 = time.monotonic()
    assert gw.stop(signal.SIGINT) == 0
    assert time.monotonic() - t0 < 2
    assert "received SIGINT" in gw.stderr() and "stopped" in gw.stderr()
