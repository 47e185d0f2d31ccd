"""Fixtures of the cross-adapter tree tests: paths, a PostgreSQL database.

The suite script (test/suites/22-trees) builds and installs the extension,
starts a throwaway cluster with test/pg-cluster and exports PGHOST, PGPORT
and PGUSER; the database fixture creates a database with the extension and
drops it afterwards.
"""

import os
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
for path in (os.path.join(REPO, "tools"), TEST, os.path.join(TEST, "parity")):
    if path not in sys.path:
        sys.path.insert(0, path)

PREDICT_SCORE = os.environ.get("PREDICT_SCORE") or os.path.join(REPO, "bin", "predict-score")
SQLITE_EXTENSION = os.path.join(REPO, "predict_sqlite")
EXPORTER = os.path.join(REPO, "tools", "predict-export")


def pg_connect(dbname):
    import psycopg2
    conn = psycopg2.connect(dbname=dbname, application_name="predict-tree-tests")
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def database():
    """A new database with the predict extension on the suite's cluster."""
    if not os.environ.get("PGPORT"):
        pytest.fail("PGHOST/PGPORT are not set: run test/suites/22-trees, which starts a "
                    "cluster", pytrace=False)
    name = "predict_trees_%s" % uuid.uuid4().hex[:12]
    admin = pg_connect("postgres")
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s" % name)
    admin.close()
    conn = pg_connect(name)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION predict")
    conn.close()
    yield name
    admin = pg_connect("postgres")
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE %s WITH (FORCE)" % name)
    admin.close()
