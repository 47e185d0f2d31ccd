"""Topologies past one database connection (issue 15): PgBouncer, replicas,
failover, many gateways, TLS. Real processes: clusters (test/pg-cluster),
pg_basebackup standbys, PgBouncer (Debian's), gateways, HTTP."""

import collections
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

TEST = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TEST not in sys.path:
    sys.path.insert(0, TEST)

from processes import PG_BIN, REPO, Cluster, http  # noqa: E402

OUTPUT = os.path.join(REPO, "test", "output")
PGBOUNCER = "/usr/sbin/pgbouncer"


def as_postgres(cmd, **kwargs):
    """Run cmd as the clusters' owner (postgres when we are root)."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, **kwargs)


def chown_postgres(path):
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:", path], check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgBouncer:
    """PgBouncer in front of a cluster: pool_mode and default_pool_size."""

    def __init__(self, cluster, pool_mode, pool_size=4):
        self.dir = tempfile.mkdtemp(prefix="predict-pgbouncer-")
        self.port = free_port()
        ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(ini, "w") as fh:
            fh.write("[databases]\n* = host=127.0.0.1 port=%s\n[pgbouncer]\n"
                     "listen_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
                     "auth_type = trust\nauth_file = %s/users.txt\npool_mode = %s\n"
                     "default_pool_size = %d\nmax_client_conn = 500\n"
                     "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n"
                     % (cluster.port, self.port, self.dir, pool_mode, pool_size, self.dir, self.dir))
        with open(os.path.join(self.dir, "users.txt"), "w") as fh:
            for user in sorted({"postgres", "app", cluster.superuser}):
                fh.write('"%s" ""\n' % user)
        chown_postgres(self.dir)
        as_postgres([PGBOUNCER, "-d", ini], check=True, capture_output=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                time.sleep(0.05)

    def url(self, db, user="postgres"):
        return "postgresql://%s@127.0.0.1:%d/%s" % (user, self.port, db)

    def stop(self):
        try:
            os.kill(int(open(os.path.join(self.dir, "pgbouncer.pid")).read()), 15)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
        subprocess.run(["rm", "-rf", self.dir])


class Standby:
    """A hot standby of a cluster made with pg_basebackup -R, on its own port."""

    def __init__(self, primary, *settings):
        self.tmp = tempfile.mkdtemp(prefix="predict-standby-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.port = str(free_port())
        self.superuser = primary.superuser
        chown_postgres(self.tmp)
        as_postgres([os.path.join(PG_BIN, "pg_basebackup"), "-D", self.data, "-R", "-X", "stream",
                     "-h", "127.0.0.1", "-p", primary.port, "-U", primary.superuser, "-c", "fast"],
                    check=True, capture_output=True)
        if settings:
            as_postgres(["sh", "-c", "cat >> %s/postgresql.auto.conf" % self.data],
                        input="\n".join(settings) + "\n", text=True, check=True)
        self.start()

    def start(self):
        as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.tmp, "server.log"),
                     "-w", "-t", "60", "-o", "-p %s" % self.port, "start"], check=True, capture_output=True)

    def stop(self, mode="fast"):
        as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"],
                    capture_output=True)

    def promote(self):
        as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "promote"], check=True,
                    capture_output=True)

    def url(self, db, user=None):
        return "postgresql://%s@127.0.0.1:%s/%s" % (user or self.superuser, self.port, db)

    def sql(self, db, statement, params=()):
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.superuser, dbname=db)
        conn.autocommit = True
        try:
            cur = conn.cursor()
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def remove(self):
        self.stop("immediate")
        subprocess.run(["rm", "-rf", self.tmp])


def wait_replayed(primary, standby, db):
    """Until the standby has replayed everything the primary has written."""
    lsn = primary.sql(db, "SELECT pg_current_wal_lsn()::text")[0][0]
    deadline = time.time() + 30
    while time.time() < deadline:
        if standby.sql(db, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("the standby did not replay up to %s" % lsn)


def observation(i):
    rng = random.Random(i)
    return {"Pclass": rng.choice([1, 2, 3]), "Sex": rng.choice(["male", "female"]), "Age": rng.randint(1, 80),
            "Fare": round(rng.uniform(5, 100), 2), "Embarked": rng.choice(["S", "C", "Q"])}


class Load:
    """Client threads posting unique ids to gateways (ports, round robin):
    POST /predict then POST /update for each. Records every answer."""

    def __init__(self, ports, clients=16, per_client=20, base=None, update=True):
        self.ports = ports
        self.clients = clients
        self.per_client = per_client
        self.base = base if base is not None else random.randint(10 ** 9, 10 ** 12)
        self.update = update
        self.answers = []           # (id, route, status, time, body)
        self.lock = threading.Lock()

    def ids(self):
        return [self.base + k * 100000 + i for k in range(self.clients) for i in range(self.per_client)]

    def _client(self, k):
        port = self.ports[k % len(self.ports)]
        for i in range(self.per_client):
            oid = self.base + k * 100000 + i
            status, body, _ = http(port, "POST", "/predict", {"id": oid, "observation": observation(oid)})
            with self.lock:
                self.answers.append((oid, "predict", status, time.monotonic(), body))
            if self.update and status == 200:
                status, body, _ = http(port, "POST", "/update", {"id": oid, "true_class": oid % 2})
                with self.lock:
                    self.answers.append((oid, "update", status, time.monotonic(), body))

    def run(self):
        threads = [threading.Thread(target=self._client, args=(k,)) for k in range(self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self

    def statuses(self):
        return collections.Counter((route, status) for _, route, status, _, _ in self.answers)

    def ok_ids(self):
        return {oid for oid, route, status, _, _ in self.answers if route == "predict" and status == 200}


def rows_for(target, db, ids):
    """observation_id -> (proba, true_class) of the rows with those ids."""
    rows = target.sql(db, "SELECT observation_id, proba, true_class FROM predictions "
                          "WHERE observation_id = ANY(%s)", (sorted(ids),))
    return {r[0]: (r[1], r[2]) for r in rows}


def record(name, figures):
    os.makedirs(OUTPUT, exist_ok=True)
    with open(os.path.join(OUTPUT, "topology-%s.json" % name), "w") as fh:
        json.dump(figures, fh, indent=2, sort_keys=True)
    print("%s: %s" % (name, json.dumps(figures, sort_keys=True)))


@pytest.fixture(scope="module")
def cluster():
    c = Cluster("max_connections = 300")
    c.sql("postgres", "CREATE ROLE app LOGIN")
    yield c
    c.stop()
