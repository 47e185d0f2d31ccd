"""A simulated managed PostgreSQL (Heroku Postgres and the like): a throwaway
cluster where an ordinary role owns its database but cannot create the
predict extension, with the managed schema (src/managed/sql/managed.sql) installed."""

import os
import subprocess
import sys
import tempfile

import psycopg2
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
for path in (os.path.join(REPO, "tools"), os.path.join(REPO, "test"), os.path.join(REPO, "test", "parity")):
    if path not in sys.path:
        sys.path.insert(0, path)

from managed_sql import compiled_sql, managed_schema_sql  # noqa: E402,F401

PREDICT_SCORE = os.environ.get("PREDICT_SCORE", os.path.join(REPO, "bin", "predict-score"))


@pytest.fixture(scope="session")
def managed_db():
    """(dsn of the app role, superuser dsn): the app role owns database appdb."""
    tmp = tempfile.mkdtemp(prefix="predict-managed-")
    os.chmod(tmp, 0o755)   # the cluster belongs to postgres when we are root
    cluster = os.path.join(tmp, "pg")
    env = subprocess.run([os.path.join(REPO, "test", "pg-cluster"), "start", cluster],
                         capture_output=True, text=True, check=True).stdout
    settings = dict(part.split("=", 1) for line in env.splitlines()
                    for part in line.replace("export ", "").split() if "=" in part)
    admin = "host=127.0.0.1 port=%s user=%s dbname=postgres" % (settings["PGPORT"], settings["PGUSER"])
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE ROLE app LOGIN")
    cur.execute("CREATE DATABASE appdb OWNER app")
    conn.close()
    app = "host=127.0.0.1 port=%s user=app dbname=appdb" % settings["PGPORT"]
    conn = psycopg2.connect(app)
    conn.autocommit = True
    conn.cursor().execute(managed_schema_sql())
    conn.close()
    yield app, admin
    subprocess.run([os.path.join(REPO, "test", "pg-cluster"), "stop", cluster], check=False)
    if os.path.isdir(tmp):
        os.rmdir(tmp)
