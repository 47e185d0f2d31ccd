"""Fixtures of the conformance suite: one throwaway cluster (test/processes.py's
Cluster, from the tree's temporary install) for the extension and managed
mode, and a directory of SQLite files; each (case, host) gets a fresh
database."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
for path in (HERE, TEST):
    if path not in sys.path:
        sys.path.insert(0, path)

from hosts import PostgresDatabases, SqliteFiles  # noqa: E402
from processes import Cluster  # noqa: E402


@pytest.fixture(scope="session")
def postgres():
    # a throwaway cluster need not survive a crash: no fsync, no full pages
    cluster = Cluster("fsync = off", "full_page_writes = off", "synchronous_commit = off")
    try:
        yield PostgresDatabases(cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def sqlite_files(tmp_path_factory):
    return SqliteFiles(str(tmp_path_factory.mktemp("sqlite")))


@pytest.fixture
def host(request):
    """A fresh database of the host named by the test's parameter."""
    name = request.param
    databases = request.getfixturevalue("sqlite_files" if name == "sqlite" else "postgres")
    h = databases.open() if name == "sqlite" else databases.open(name)
    yield h
    databases.close(h)
