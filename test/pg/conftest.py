"""Fixtures of the PostgreSQL tests: a fresh database with the extension.

The suite script (test/suites/40-pg) starts a throwaway cluster and exports
PGHOST, PGPORT and PGUSER; each test module gets its own database, created
here and dropped afterwards, with `CREATE EXTENSION predict`.
"""

import os
import sys
import uuid

import psycopg2
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
for path in (os.path.join(REPO, "tools"), os.path.join(REPO, "models"), TEST):
    if path not in sys.path:
        sys.path.insert(0, path)

PREDICT_SCORE = os.path.join(REPO, "bin", "predict-score")
TITANIC_MODEL = os.path.join(REPO, "models", "titanic.json")
TINY_MODEL = os.path.join(HERE, "models", "tiny.json")


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def connect(dbname, autocommit=True, application_name="predict-tests"):
    """A connection to dbname on the cluster of PGHOST/PGPORT/PGUSER."""
    conn = psycopg2.connect(dbname=dbname, application_name=application_name)
    conn.autocommit = autocommit
    return conn


@pytest.fixture(scope="module")
def database():
    """The name of a new database with the extension; dropped after the module."""
    if not os.environ.get("PGPORT"):
        pytest.fail("PGHOST/PGPORT are not set: run test/suites/40-pg, which starts a cluster",
                    pytrace=False)
    name = "predict_test_%s" % uuid.uuid4().hex[:12]
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE %s" % name)
    admin.close()
    conn = connect(name)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION predict")
    conn.close()
    yield name
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE %s WITH (FORCE)" % name)
    admin.close()
