"""Both PostgreSQL modes through the gateway (issue 6): the same Titanic rows
posted to a gateway in extension mode and to one in managed mode get the same
probabilities, bit for bit, and the same answers to refused observations."""

import http.client
import json
import math
import os
import signal
import subprocess

import psycopg2

from conftest import REPO
from titanic_data import features_and_target

GATEWAY = os.environ.get("PREDICT_GATEWAY", os.path.join(REPO, "bin", "predict-gateway"))


def start(url, mode):
    env = dict(os.environ, DATABASE_URL=url, PORT="0", HOST="127.0.0.1", PREDICT_MODE=mode,
               PREDICT_THREADS="2")
    proc = subprocess.Popen([GATEWAY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "listening on http://" in line:
            return proc, int(line.split("listening on http://")[1].split("/")[0].split(":")[1])
    raise AssertionError("gateway in %s mode did not start" % mode)


def post_all(port, bodies):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for body in bodies:
        conn.request("POST", "/predict", body=json.dumps(body))
        r = conn.getresponse()
        out.append((r.status, json.loads(r.read())))
    conn.close()
    return out


def test_extension_and_managed_modes_answer_the_same(managed_db):
    app_dsn, admin_dsn = managed_db
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    admin.cursor().execute("CREATE DATABASE modes_extension")
    admin.cursor().execute("CREATE ROLE modes_app LOGIN")
    admin.cursor().execute("CREATE DATABASE modes_managed OWNER modes_app")
    admin.close()
    port = admin_dsn.split("port=")[1].split()[0]
    superuser = admin_dsn.split("user=")[1].split()[0]
    ext, ext_port = start("postgresql://%s@127.0.0.1:%s/modes_extension" % (superuser, port), "extension")
    man, man_port = start("postgres://modes_app@127.0.0.1:%s/modes_managed" % port, "managed")
    try:
        X, _ = features_and_target()
        rows = [{k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))}
                for r in X.to_dict("records")]
        bad = [{"Age": "abc"}, {"Sex": []}, {"Fare": "inf"}, {"Fare": 1e400}, {"Pclass": {}}]
        bodies = [{"id": i, "observation": o} for i, o in enumerate(rows + bad)]
        a = post_all(ext_port, bodies)
        b = post_all(man_port, bodies)
        for body, (sa, ra), (sb, rb) in zip(bodies, a, b):
            assert sa == sb, (body, ra, rb)
            if sa == 200:
                assert ra["proba"] == rb["proba"] and ra["predicted_class"] == rb["predicted_class"], (body, ra, rb)
                assert ra["model"] == rb["model"] and ra["model_version"] == rb["model_version"]
            else:
                assert ra == rb, (body, ra, rb)
        assert sum(1 for s, _ in a if s == 200) == len(rows)
    finally:
        for proc in (ext, man):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
