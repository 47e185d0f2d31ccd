"""TLS to the database, as Heroku Postgres requires: a cluster with ssl = on
and a certificate from a CA the test makes; the gateway with libpq's own
PGSSLMODE=require and verify-full (PGSSLROOTCERT); a wrong CA or host name
fails start-up with one clear line."""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import chown_postgres
from processes import REPO, Cluster, http, run_gateway, stop_gateway


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=%s" % name,
            "-keyout", name + ".key", "-out", name + ".crt", cwd=directory)
    return os.path.join(directory, name + ".crt")


@pytest.fixture(scope="module")
def tls():
    d = tempfile.mkdtemp(prefix="predict-tls-")       # the cluster's owner must read it
    ca = make_ca(d, "test-ca")
    other_ca = make_ca(d, "other-ca")
    with open(os.path.join(d, "san.cnf"), "w") as fh:
        fh.write("subjectAltName = DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "test-ca.crt", "-CAkey", "test-ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=d)
    os.chmod(os.path.join(d, "server.key"), 0o600)
    os.chmod(d, 0o755)
    chown_postgres(d)
    for f in ("test-ca.crt", "other-ca.crt"):
        os.chmod(os.path.join(d, f), 0o644)
    cluster = Cluster("ssl = on", "ssl_cert_file = '%s/server.crt'" % d, "ssl_key_file = '%s/server.key'" % d)
    cluster.sql("postgres", "CREATE DATABASE tls")
    yield cluster, ca, other_ca
    cluster.stop()
    shutil.rmtree(d, ignore_errors=True)


def url(cluster, host):
    return "postgresql://%s@%s:%s/tls" % (cluster.superuser, host, cluster.port)


@pytest.mark.parametrize("sslmode", ["require", "verify-full"])
def test_the_gateway_speaks_tls_to_the_database(tls, sslmode):
    cluster, ca, _ = tls
    env = {"PGSSLMODE": sslmode, "PGSSLROOTCERT": ca}
    proc, port = run_gateway(url(cluster, "localhost"), env)
    try:
        status, body, _ = http(port, "POST", "/predict", {"id": len(sslmode), "observation": {"Age": 30}})
        assert status == 200, body
        rows = cluster.sql("tls", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid "
                                  "WHERE a.application_name = 'predict-gateway' AND s.ssl")
        assert rows[0][0] >= 1, "the gateway's connection is not encrypted"
    finally:
        stop_gateway(proc)


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name"])
def test_a_certificate_that_does_not_verify_stops_the_start_up_with_one_line(tls, case):
    cluster, ca, other_ca = tls
    host, root = ("localhost", other_ca) if case == "wrong CA" else ("127.0.0.1", ca)
    done = subprocess.run([os.path.join(REPO, "bin", "predict-gateway")],
                          env=dict(os.environ, DATABASE_URL=url(cluster, host), PORT="0",
                                   PGSSLMODE="verify-full", PGSSLROOTCERT=root),
                          capture_output=True, text=True, timeout=30)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "cannot connect to the database" in lines[0], lines
    if case == "wrong CA":
        assert "certificate verify failed" in lines[0], lines
    else:
        assert 'does not match host name "127.0.0.1"' in lines[0], lines
