"""Real processes for the tests that need them: throwaway PostgreSQL clusters
(test/pg-cluster), gateways, and HTTP requests to them."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(REPO, "predict.control")) as _control:
    EXTENSION_VERSION = re.search(r"^default_version = '([^']+)'", _control.read(), re.M).group(1)
PG_CLUSTER = os.path.join(REPO, "test", "pg-cluster")
GATEWAY = os.environ.get("PREDICT_GATEWAY", os.path.join(REPO, "bin", "predict-gateway"))


def _pg_bindir():
    """The server test/pg-cluster runs: PG_BINDIR, else the tree's temporary
    install (make temp-install), else the system's."""
    system = "/usr/lib/postgresql/15/bin"
    try:
        system = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    temp = os.path.join(REPO, "build", "tmp_install") + system
    if os.environ.get("PG_BINDIR"):
        return os.environ["PG_BINDIR"]
    return temp if os.path.exists(os.path.join(temp, "postgres")) else system


PG_BIN = _pg_bindir()


class Cluster:
    """A throwaway cluster (as root, it runs as the postgres user)."""

    def __init__(self, *settings):
        self.tmp = tempfile.mkdtemp(prefix="predict-cluster-")
        os.chmod(self.tmp, 0o755)
        self.dir = os.path.join(self.tmp, "pg")
        out = subprocess.run([PG_CLUSTER, "start", self.dir, *settings],
                             capture_output=True, text=True, check=True).stdout
        env = dict(p.split("=", 1) for line in out.splitlines()
                   for p in line.replace("export ", "").split() if "=" in p)
        self.port = env["PGPORT"]
        self.superuser = env["PGUSER"]

    def url(self, db, user=None):
        return "postgresql://%s@127.0.0.1:%s/%s" % (user or self.superuser, self.port, db)

    def connect(self, db="postgres", user=None):
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=user or self.superuser, dbname=db)
        conn.autocommit = True
        return conn

    def sql(self, db, statement, params=(), user=None):
        """Run one statement; its rows (or None)."""
        conn = self.connect(db, user)
        try:
            cur = conn.cursor()
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def env(self, user=None):
        """The environment for libpq's command-line tools."""
        return dict(os.environ, PGHOST="127.0.0.1", PGPORT=self.port, PGUSER=user or self.superuser)

    def tool(self, args, user=None, check=True, **kwargs):
        """Run pg_dump, pg_restore, psql, createdb... against this cluster."""
        cmd = [args[0] if "/" in args[0] else os.path.join(PG_BIN, args[0]), *args[1:]]
        return subprocess.run(cmd, env=self.env(user), capture_output=True, text=True, check=check, **kwargs)

    def stop(self):
        subprocess.run([PG_CLUSTER, "stop", self.dir], capture_output=True)
        try:
            os.rmdir(self.tmp)
        except OSError:
            pass


def run_gateway(url, env=None, args=(), timeout=30):
    """Start a gateway on a free port; (process, port). It must start."""
    full = dict(os.environ, DATABASE_URL=url, PORT="0", HOST="127.0.0.1", PREDICT_THREADS="2")
    full.update(env or {})
    proc = subprocess.Popen([GATEWAY, *args], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "listening on http://" in line:
            port = int(line.split("listening on http://")[1].split("/")[0].split(":")[1])
            proc.start_lines = lines
            return proc, port
    proc.kill()
    raise AssertionError("gateway did not start:\n" + "".join(lines) + (proc.stderr.read() or ""))


def stop_gateway(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def gateway_command(url, *args, env=None):
    """bin/predict-gateway deploy|activate|set-default ...: the completed process."""
    full = dict(os.environ, DATABASE_URL=url)
    full.update(env or {})
    return subprocess.run([GATEWAY, *args], env=full, capture_output=True, text=True)


def http(port, method, path, body=None, timeout=10):
    """(status, parsed JSON body or raw bytes, headers)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw, headers = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, headers = e.code, e.read(), e.headers
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, raw, headers
