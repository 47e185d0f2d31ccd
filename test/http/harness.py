"""Test harness for the HTTP suite: a real gateway process, a real database, real HTTP.

Backends.  Every test talks to the database through a Backend object, never with
backend-specific code of its own: PostgresBackend (a throwaway cluster) and
SqliteBackend (files in a temporary directory) are the values of the `backend`
fixture's params, and every test runs on both, with no test copied.  A Backend creates
fresh databases (one per gateway) and reads and tampers with them; what a backend
cannot do (restart or freeze a server: SQLite has none) it reports through
`supports()`, and the test is skipped there.  Queries are written with %s
placeholders and in SQL both databases accept.

Gateways.  Gateway starts bin/predict-gateway (or $PREDICT_GATEWAY, e.g. the ASan
build) on 127.0.0.1 with PORT=0 and reads the port it bound from its start-up line
on stderr; stdout (the access log) and stderr go to files the tests can read.

Clients.  Client keeps one keep-alive HTTP connection and can assert that a request
went over the same connection as the previous one (same socket: same gateway worker,
same database connection).
"""

import contextlib
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import sys
import subprocess
import tempfile
import threading
import time
import urllib.parse

REPO = os.environ.get("PREDICT_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GATEWAY = os.environ.get("PREDICT_GATEWAY") or os.path.join(REPO, "bin", "predict-gateway")
PG_CLUSTER = os.path.join(REPO, "test", "pg-cluster")
SQLITE_EXTENSION = os.path.join(REPO, "predict_sqlite")

TITANIC_OBSERVATION = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0,
                       "Fare": 7.25, "Cabin": None, "Embarked": "S"}

_ids = iter(range(10_000_000, 2**62))
_ids_lock = threading.Lock()


def fresh_id():
    """An observation id no other test of this run uses."""
    with _ids_lock:
        return next(_ids)


def observation(i=0):
    """A valid Titanic observation that varies with i."""
    obs = dict(TITANIC_OBSERVATION)
    obs["Age"] = 1 + i % 80
    obs["Fare"] = round(5 + (i % 500) * 0.5, 2)
    obs["Sex"] = "female" if i % 2 else "male"
    return obs


# ---------------------------------------------------------------- backends

class Backend:
    """What the tests may ask of a database behind the gateway."""

    name = "abstract"

    def supports(self, feature):
        """restart, pause, roles, batching: features only some backends have."""
        return False

    def new_database(self):
        """DATABASE_URL of a fresh, empty database."""
        raise NotImplementedError

    def query(self, url, sql, params=()):
        """Rows of a query on the database at url."""
        raise NotImplementedError

    def execute(self, url, sql, params=()):
        raise NotImplementedError

    def has_schema(self, url):
        """Whether the predictions schema exists in the database at url."""
        raise NotImplementedError

    def count(self, url):
        return self.query(url, "SELECT count(*) FROM predictions")[0][0]

    def observation_ids(self, url):
        return {r[0] for r in self.query(url, "SELECT observation_id FROM predictions")}

    def model_versions(self, url):
        return self.query(url, "SELECT name, version FROM predict_model_versions ORDER BY 1, 2")

    def set_no_default_model(self, url):
        self.execute(url, "UPDATE predict_models SET is_default = false")

    def restore_default_model(self, url, name="titanic"):
        self.execute(url, "UPDATE predict_models SET is_default = true WHERE name = %s", (name,))

    def fail_inserts_of(self, url, observation_id):
        """Make an insert of observation_id fail with an internal (non-data) error."""
        raise NotImplementedError

    def insert_at(self, url, observation_id, created_at):
        """Store a row (observation {}) directly, with the given creation time (UTC text)."""
        self.execute(url, "INSERT INTO predictions (observation_id, observation, created_at, "
                          "updated_at) VALUES (%s, '{}', %s, %s)",
                     (observation_id, created_at, created_at))

    def insert_scored(self, url, rows):
        """Store rows (observation_id, observation dict, true_class or None, created_at as
        "2026-11-01 10:00:00+00") directly, scored by the default model, in one transaction:
        predictions of the past, which the API cannot write."""
        import psycopg2.extras
        conn = self._connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                psycopg2.extras.execute_values(
                    cur, "INSERT INTO predictions (observation_id, observation, true_class, created_at, "
                         "updated_at) VALUES %s",
                    [(i, json.dumps(o), y, t, t) for i, o, y, t in rows], page_size=1000)
                cur.execute("COMMIT")
        finally:
            conn.close()

    def integrity_errors(self, url):
        """What the database's own consistency check finds wrong (empty: nothing)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def write_locked(self, url):
        """Hold, from another connection, a lock that stops the gateway's inserts."""
        raise NotImplementedError
        yield

    # fault injection (test_faults.py)

    def storage_owner(self):
        """(uid, gid) that must own a directory the database is to write in."""
        return os.getuid(), os.getgid()

    @contextlib.contextmanager
    def database_on(self, directory):
        """DATABASE_URL of a fresh database whose tables are stored in directory (a
        mount point of the caller's, owned by storage_owner()); dropped afterwards."""
        raise NotImplementedError
        yield

    @contextlib.contextmanager
    def read_only(self, url):
        """Make the database at url read-only, then writable again."""
        raise NotImplementedError
        yield

    # models are deployed as a user would, with the gateway's commands (on SQLite too,
    # where they wait for the write lock: BEGIN IMMEDIATE)
    def _command_env(self, url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICT_")}
        env["DATABASE_URL"] = url
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        return env

    def deploy_model(self, url, path):
        """Deploy the model document at path as the next version of its name; the
        version."""
        out = subprocess.run([GATEWAY, "deploy", path], env=self._command_env(url),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        return int(out.stdout)

    def activate_model(self, url, name, version):
        out = subprocess.run([GATEWAY, "activate", name, str(version)],
                             env=self._command_env(url), capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out


class PostgresBackend(Backend):
    """A throwaway cluster (test/pg-cluster) shared by the run; one database per gateway."""

    name = "postgresql"

    def __init__(self):
        import psycopg2  # noqa: F401  (checked early: the suite needs it)
        self.dir = tempfile.mkdtemp(prefix="predict-http-pg-")
        out = subprocess.run([PG_CLUSTER, "start", self.dir, "synchronous_commit = on"],
                             check=True, capture_output=True, text=True).stdout
        env = dict(re.findall(r"(\w+)=(\S+)", out))
        self.host, self.port, self.user = env["PGHOST"], env["PGPORT"], env["PGUSER"]
        self.url = env["DATABASE_URL"]
        self._n = 0

    def close(self):
        subprocess.run([PG_CLUSTER, "stop", self.dir], capture_output=True)

    def supports(self, feature):
        # read-only-live: a session open before the database turned read-only sees it
        # batching: the gateway stores waiting /predict requests together (PREDICT_BATCH)
        return feature in ("restart", "pause", "roles", "libpq-conninfo", "read-only-live",
                           "batching")

    def _connect(self, url):
        import psycopg2
        conn = psycopg2.connect(url)
        conn.autocommit = True
        return conn

    def new_database(self):
        self._n += 1
        name = "gw_%d_%d" % (os.getpid(), self._n)
        self.execute(self.url, "CREATE DATABASE " + name)
        return "postgresql://%s@%s:%s/%s" % (self.user, self.host, self.port, name)

    def query(self, url, sql, params=()):
        conn = self._connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def execute(self, url, sql, params=()):
        conn = self._connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
        finally:
            conn.close()

    def has_schema(self, url):
        return self.query(url, "SELECT count(*) FROM pg_extension WHERE extname = 'predict'") \
            == [(1,)]

    def fail_inserts_of(self, url, observation_id):
        # A trigger of the test's own (not the extension's) raising a plain
        # exception (SQLSTATE P0001) whose text looks like SQL: the gateway
        # must answer 500 without showing it.
        self.execute(url, """
            CREATE OR REPLACE FUNCTION test_fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.observation_id = %d THEN
                RAISE EXCEPTION 'SELECT secret FROM internals WHERE boom';
              END IF;
              RETURN NEW;
            END $$;
            DROP TRIGGER IF EXISTS test_fail_insert ON predictions;
            CREATE TRIGGER test_fail_insert BEFORE INSERT ON predictions
              FOR EACH ROW EXECUTE FUNCTION test_fail_insert();
        """ % int(observation_id))

    def integrity_errors(self, url):
        # amcheck (contrib) on every index of the predictions table
        self.execute(url, "CREATE EXTENSION IF NOT EXISTS amcheck")
        try:
            self.query(url, "SELECT bt_index_check(i.indexrelid, true) FROM pg_index i "
                            "WHERE i.indrelid = 'predictions'::regclass")
        except Exception as e:  # noqa: BLE001 - the finding is the message
            return [str(e)]
        return []

    @contextlib.contextmanager
    def write_locked(self, url):
        import psycopg2
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                # blocks INSERT and UPDATE (ROW EXCLUSIVE), not SELECT
                cur.execute("LOCK TABLE predictions IN EXCLUSIVE MODE")
            yield
        finally:
            conn.rollback()
            conn.close()

    def restart(self):
        subprocess.run([PG_CLUSTER, "restart", self.dir, "fast"], check=True,
                       capture_output=True)

    def server_pids(self):
        """The postmaster and every backend process of the cluster."""
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as fh:
            postmaster = int(fh.readline())
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)],
                             capture_output=True, text=True).stdout
        return [postmaster] + [int(p) for p in out.split()]

    def pause(self):
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        self._paused = self.server_pids()
        for pid in self._paused:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass            # a backend that exited since it was listed

    def resume(self):
        for pid in getattr(self, "_paused", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._paused = []

    def crash(self):
        """kill -9 the postmaster, then every process of the server that is left (the
        server's machine or container dies), and wait until they are gone."""
        pids = self.server_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while True:
            states = [self._state(pid) for pid in pids]
            if all(st in (None, "Z") for st in states):
                break
            assert time.monotonic() < deadline, "the server's processes did not die"
            time.sleep(0.01)
        if "Z" in states:
            # dead, not yet reaped by an init that reaps orphans late (2 s here): the
            # server would not start while a process has the PID of its lock files,
            # which are stale, as after a reboot
            with open(os.path.join(self.dir, "port")) as fh:
                port = fh.read().strip()
            for lock in (os.path.join(self.dir, "data", "postmaster.pid"),
                         os.path.join(self.dir, "sock", ".s.PGSQL.%s.lock" % port)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock)

    @staticmethod
    def _state(pid):
        """A process's state letter (Z: a zombie), None once it is gone."""
        try:
            with open("/proc/%d/stat" % pid) as fh:
                return fh.read().rsplit(") ", 1)[1][:1]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return None

    def start(self):
        """Start the stopped (or crashed: crash recovery) server on its port; returns
        once it accepts connections."""
        with open(os.path.join(self.dir, "port")) as fh:
            port = fh.read().strip()
        subprocess.run([PG_CLUSTER, "ctl", self.dir, "start", "-w", "-t", "60",
                        "-l", os.path.join(self.dir, "server.log"), "-o", "-p " + port],
                       check=True, capture_output=True)

    def server_log(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as fh:
            return fh.read()

    def storage_owner(self):
        st = os.stat(os.path.join(self.dir, "data"))
        return st.st_uid, st.st_gid

    @contextlib.contextmanager
    def database_on(self, directory):
        # a tablespace in directory, the database's default_tablespace: the tables
        # and indexes the gateway creates (extension or managed mode) go there, the
        # catalogs and the WAL stay in the cluster's data directory
        self._n += 1
        tablespace = "faults_%d_%d" % (os.getpid(), self._n)
        self.execute(self.url, "CREATE TABLESPACE %s LOCATION %%s" % tablespace, (directory,))
        try:
            self.execute(self.url, "GRANT CREATE ON TABLESPACE %s TO PUBLIC" % tablespace)
            url = self.new_database()
            name = urllib.parse.urlsplit(url).path.lstrip("/")
            try:
                self.execute(self.url, "ALTER DATABASE %s SET default_tablespace = %s"
                             % (name, tablespace))
                yield url
            finally:
                self.execute(self.url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        finally:
            self.execute(self.url, "DROP TABLESPACE IF EXISTS %s" % tablespace)

    def _reload_read_only(self, value):
        conn = self._connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute("SET default_transaction_read_only = off")
                cur.execute("ALTER SYSTEM SET default_transaction_read_only = " + value)
                cur.execute("SELECT pg_reload_conf()")
        finally:
            conn.close()
        # the postmaster has read the file once a new session sees it; then it
        # signals the others, which read it before their next statement
        deadline = time.monotonic() + 10
        while self.query(self.url, "SHOW default_transaction_read_only")[0][0] != value:
            assert time.monotonic() < deadline, "the server did not reload its settings"
            time.sleep(0.01)
        time.sleep(0.05)

    @contextlib.contextmanager
    def read_only(self, url):
        """The whole server read-only (ALTER SYSTEM SET default_transaction_read_only,
        reloaded): open sessions too refuse to write from their next statement, with
        SQLSTATE 25006, as a hot standby does."""
        self._reload_read_only("on")
        try:
            yield
        finally:
            self._reload_read_only("off")


def _iso_utc(text):
    """A PostgreSQL timestamptz literal ("2026-06-30 22:00:00.000001-02") as the ISO 8601
    UTC text the SQLite schema stores, with the fraction's trailing zeros dropped
    ("2026-07-01T00:00:00.000001Z"; "...:05+00" gives "...:05Z")."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([+-]\d\d)", text)
    assert m, text
    when = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
    when += datetime.timedelta(microseconds=int((m.group(2) or "0").ljust(6, "0")))
    when -= datetime.timedelta(hours=int(m.group(3)))
    fraction = ("%06d" % when.microsecond).rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + ("." + fraction if fraction else "") + "Z"


class SqliteBackend(Backend):
    """Database files in a temporary directory, one per gateway (sqlite:////abs/path.db).

    The test's connections load the extension (predict_sqlite.so), as a user's sqlite3
    shell would, so that they can insert rows (the schema's trigger checks their scores).
    """

    name = "sqlite"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="predict-http-sqlite-")
        self._n = 0

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def supports(self, feature):
        return False

    def new_database(self):
        self._n += 1
        return "sqlite:///" + os.path.join(self.dir, "gw_%d.db" % self._n)

    @staticmethod
    def path(url):
        assert url.startswith("sqlite:///"), url
        return url[len("sqlite:///"):]

    def _connect(self, url):
        conn = sqlite3.connect(self.path(url), timeout=15, isolation_level=None)
        conn.enable_load_extension(True)
        conn.load_extension(SQLITE_EXTENSION)
        return conn

    def query(self, url, sql, params=()):
        conn = self._connect(url)
        try:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()
        finally:
            conn.close()

    def execute(self, url, sql, params=()):
        conn = self._connect(url)
        try:
            if params:
                conn.execute(sql.replace("%s", "?"), params)
            else:
                conn.executescript(sql)
        finally:
            conn.close()

    def has_schema(self, url):
        if not os.path.exists(self.path(url)):
            return False
        return self.query(url, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                               "AND name IN ('predictions', 'predict_models', "
                               "'predict_model_versions')") == [(3,)]

    def insert_at(self, url, observation_id, created_at):
        stored = _iso_utc(created_at)
        self.execute(url, "INSERT INTO predictions (observation_id, observation, proba, "
                          "predicted_class, model, model_version, created_at, updated_at) "
                          "VALUES (%s, '{}', predict_proba('{}'), predict_class('{}'), "
                          "predict_default_model(), predict_model_version(), %s, %s)",
                     (observation_id, stored, stored))

    def insert_scored(self, url, rows):
        conn = self._connect(url)
        try:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO predictions (observation_id, observation, proba, predicted_class, "
                "true_class, model, model_version, created_at, updated_at) VALUES (?1, ?2, "
                "predict_proba(?2), predict_class(?2), ?3, predict_default_model(), "
                "predict_model_version(), ?4, ?4)",
                [(i, json.dumps(o), y, _iso_utc(t)) for i, o, y, t in rows])
            conn.execute("COMMIT")
        finally:
            conn.close()

    def fail_inserts_of(self, url, observation_id):
        # RAISE gives SQLITE_CONSTRAINT_TRIGGER with a text that looks like SQL: the
        # gateway must answer 500 without showing it.
        self.execute(url, """
            CREATE TRIGGER test_fail_insert BEFORE INSERT ON predictions
            WHEN NEW.observation_id = %d
            BEGIN SELECT RAISE(ABORT, 'SELECT secret FROM internals WHERE boom'); END;
        """ % int(observation_id))

    def integrity_errors(self, url):
        rows = self.query(url, "PRAGMA integrity_check")
        return [] if rows == [("ok",)] else [r[0] for r in rows]

    @contextlib.contextmanager
    def write_locked(self, url):
        conn = self._connect(url)
        conn.execute("BEGIN IMMEDIATE")      # the write lock: readers go on
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    @contextlib.contextmanager
    def database_on(self, directory):
        yield "sqlite:///" + os.path.join(directory, "faults.db")

    @contextlib.contextmanager
    def read_only(self, url):
        """The database's directory (the file, its WAL and WAL index) read-only: a
        read-only bind mount of the directory over itself.  Only connections opened
        from then on see it (the kernel does not remount read-only a file system
        with files open for writing; connections open before keep writing)."""
        directory = os.path.dirname(self.path(url))
        subprocess.run(["mount", "--bind", directory, directory], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", directory], check=True)
            yield
        finally:
            subprocess.run(["umount", "-l", directory], check=True)


class ManagedPostgresBackend(PostgresBackend):
    """PostgreSQL as a managed service (Heroku Postgres) presents it: the
    gateway's role owns its database but cannot create the predict extension
    (managed mode), the URL is a postgres:// one as Heroku sets it, and the
    gateway is started with the Procfile's web command (test/http/procfile-web).
    The tests' own tampering connects as the cluster's superuser."""

    name = "managed"
    launcher = os.path.join(REPO, "test", "http", "procfile-web")

    def supports(self, feature):
        # "roles" is the test of a weak role on a database it does not own
        return feature in ("restart", "pause", "libpq-conninfo", "read-only-live", "batching")

    def __init__(self):
        super().__init__()
        # the service has no predict extension (databases made from template1)
        sys.path.insert(0, os.path.join(REPO, "test"))
        from managed_sql import NO_EXTENSION_SQL
        self.execute("postgresql://%s@%s:%s/template1" % (self.user, self.host, self.port), NO_EXTENSION_SQL)

    def _connect(self, url):
        parts = urllib.parse.urlsplit(url)
        return super()._connect("postgresql://%s@%s:%s%s" % (self.user, self.host, self.port, parts.path))

    def new_database(self):
        self._n += 1
        name = "mg_%d_%d" % (os.getpid(), self._n)
        self.execute(self.url, "CREATE ROLE %s LOGIN" % name)
        self.execute(self.url, "CREATE DATABASE %s OWNER %s" % (name, name))
        return "postgres://%s@%s:%s/%s" % (name, self.host, self.port, name)

    def has_schema(self, url):
        return self.query(url, "SELECT to_regprocedure('predict_internal.schema_version()') IS NOT NULL") \
            == [(True,)]


BACKENDS = {"postgresql": PostgresBackend, "sqlite": SqliteBackend,
            "managed": ManagedPostgresBackend}


# ---------------------------------------------------------------- gateway process

_workdirs = []


def remove_workdirs():
    """Remove the gateways' log directories (at the end of the session)."""
    import shutil
    while _workdirs:
        shutil.rmtree(_workdirs.pop(), ignore_errors=True)


class Gateway:
    """A running predict-gateway process."""

    def __init__(self, database_url, args=(), env=None, threads=None, wait=True, cwd=None):
        self.workdir = tempfile.mkdtemp(prefix="predict-gw-")
        _workdirs.append(self.workdir)
        self.stdout_path = os.path.join(self.workdir, "stdout")
        self.stderr_path = os.path.join(self.workdir, "stderr")
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PREDICT_") or k in ("PREDICT_ROOT",)}
        full_env.update({"PORT": "0", "HOST": "127.0.0.1"})
        full_env.pop("DATABASE_URL", None)
        if database_url is not None:          # None: the gateway's default
            full_env["DATABASE_URL"] = database_url
        if threads is not None:
            full_env["PREDICT_THREADS"] = str(threads)
        full_env.update(env or {})
        # ASan: report leaks and errors to stderr, fail the process
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        self.database_url = database_url
        # a backend may start the gateway another way (managed: the Procfile)
        launcher = os.environ.get("PREDICT_TEST_LAUNCHER")
        if launcher:
            full_env["PREDICT_GATEWAY_BINARY"] = GATEWAY
        self.proc = subprocess.Popen([launcher or GATEWAY, *args], env=full_env, cwd=cwd or REPO,
                                     stdout=open(self.stdout_path, "wb"),
                                     stderr=open(self.stderr_path, "wb"))
        self.port = None
        if wait:
            self.wait_listening()

    def wait_listening(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r'listening on http://[0-9.]+:(\d+)/', self.stderr())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("gateway exited with %s: %s" % (self.proc.returncode,
                                                                     self.stderr()))
            time.sleep(0.02)
        raise AssertionError("gateway did not start: " + self.stderr())

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def stderr(self):
        with open(self.stderr_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.stdout_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")

    def access_log(self):
        """The access log as a list of dicts (logfmt parsed)."""
        lines = []
        for line in self.stdout().splitlines():
            fields = {}
            for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line):
                v = m.group(2)
                fields[m.group(1)] = json.loads(v) if v.startswith('"') else v
            lines.append(fields)
        return lines

    def client(self, **kw):
        return Client(self.port, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("gateway did not stop within %s s" % timeout)
        return self.proc.returncode

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None


# ---------------------------------------------------------------- HTTP client

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Client:
    """One keep-alive connection to the gateway."""

    def __init__(self, port, token=None, timeout=10):
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.last_sock = None

    def request(self, method, path, body=None, headers=None, same_connection=False):
        """Send a request; with same_connection, assert it reused the previous socket."""
        hdrs = {}
        if self.token is not None:
            hdrs["Authorization"] = "Bearer " + self.token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs.update(headers or {})
        sock_before = self.conn.sock
        self.conn.request(method, path, body=body, headers=hdrs)
        if same_connection:
            assert sock_before is not None and self.conn.sock is sock_before, \
                "the request did not reuse the previous connection"
        r = self.conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.getheaders(), data.decode("utf-8", "replace"))
        self.last_sock = self.conn.sock
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def predict(self, obs_id, obs=None, **kw):
        return self.post("/predict", {"id": obs_id, "observation": obs or observation(obs_id)},
                         **kw)

    def close(self):
        self.conn.close()


def wait_for_output(out_path, text, proc, seconds):
    """The output file of a command started in the background, once it holds text."""
    deadline = time.monotonic() + seconds
    while text not in out_path.read_text():
        assert proc.poll() is None, out_path.read_text()[-3000:]
        assert time.monotonic() < deadline, out_path.read_text()[-3000:]
        time.sleep(0.1)
    return out_path.read_text()


def interrupt(proc, seconds=30):
    """Ctrl-C in a terminal: SIGINT to the process group (start_new_session=True)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(seconds)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def curl_json(command):
    """Run a curl command line as printed for a user; its JSON answer (status 200)."""
    r = subprocess.run(["bash", "-c", command + " -s -w '\\n%{http_code}'"], capture_output=True,
                       text=True, timeout=30)
    body, status = r.stdout.rsplit("\n", 1)
    assert status == "200", (command, r.stdout, r.stderr)
    return json.loads(body)


def metric(client, name):
    """The sum of a metric's samples on /metrics."""
    body = client.get("/metrics").body
    return sum(float(m.group(1)) for m in re.finditer(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name),
                                                      body, re.M))


def load(gw, stop, record, timeout=10, detail=False):
    """Send unique /predict requests on one connection until stop is set; append
    (id, status, retry_after, seconds) to record, status being the exception's class
    name when the connection failed (a new one is opened then); with detail, also
    (ended, response) as above."""
    c = gw.client(timeout=timeout)
    while not stop.is_set():
        i = fresh_id()
        t0 = time.monotonic()
        try:
            r = c.predict(i)
            entry = (i, r.status, r.header("Retry-After"), time.monotonic() - t0)
        except (OSError, http.client.HTTPException) as e:
            r = None
            entry = (i, type(e).__name__, None, time.monotonic() - t0)
            c.close()
            c = gw.client(timeout=timeout)
        record.append(entry + (t0 + entry[3], r) if detail else entry)
    c.close()


def raw_http(port, data, read_timeout=5.0):
    """Send raw bytes on a new socket and return everything read until close or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def quote(s):
    return urllib.parse.quote(s, safe="")
