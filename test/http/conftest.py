"""Fixtures of the HTTP suite (see harness.py for the design).

backend   one per database kind in $PREDICT_TEST_BACKENDS (default: postgresql,sqlite,managed);
          every test that takes it runs once per backend.
gateway   a gateway with one worker thread on a fresh database, shared by a module:
          with one worker, "the next request on the same connection" is also the next
          request on the same worker and the same database connection.
client    a keep-alive client of that gateway.
gateways  a factory for gateways with their own settings, stopped (SIGTERM, exit 0
          checked) after the test.
"""

import os

import pytest

from harness import BACKENDS, Gateway, remove_workdirs


def _backend_names():
    return [b.strip() for b in os.environ.get("PREDICT_TEST_BACKENDS", "postgresql,sqlite,managed").split(",")
            if b.strip()]


@pytest.fixture(scope="session", autouse=True)
def _remove_gateway_logs(request):
    yield
    if request.session.testsfailed == 0:      # keep the logs of a failed run
        remove_workdirs()


@pytest.fixture(scope="session", params=_backend_names())
def backend(request):
    b = BACKENDS[request.param]()
    launcher = getattr(b, "launcher", None)
    if launcher:
        os.environ["PREDICT_TEST_LAUNCHER"] = launcher
    yield b
    os.environ.pop("PREDICT_TEST_LAUNCHER", None)
    b.close()


@pytest.fixture(scope="module")
def gateway(backend):
    gw = Gateway(backend.new_database(), threads=1)
    yield gw
    rc = gw.stop()
    assert rc == 0, "gateway exit status %s; stderr:\n%s" % (rc, gw.stderr()[-3000:])


@pytest.fixture
def client(gateway):
    c = gateway.client()
    yield c
    c.close()


@pytest.fixture
def gateways():
    started = []

    def start(database_url, **kw):
        gw = Gateway(database_url, **kw)
        started.append(gw)
        return gw

    yield start
    failures = []
    for gw in started:
        if gw.proc.poll() is None:
            rc = gw.stop()
            if rc != 0:
                failures.append("exit %s: %s" % (rc, gw.stderr()[-2000:]))
    assert not failures, failures
