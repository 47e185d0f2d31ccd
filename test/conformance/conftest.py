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
    cluster = Cluster()
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
    if name == "sqlite":
        h = request.getfixturevalue("sqlite_files").open()
    else:
        h = request.getfixturevalue("postgres").open(name)
    yield h
    h.close()
