"""Explanations over HTTP (issue 20): POST /predict with "explain": true stores the
row's explanation (predictions.explanation) and answers it; a version deployed with
explain (predict-gateway deploy --explain, or PREDICT_EXPLAIN=on for PREDICT_MODEL)
explains every row. Without either, the answer is what it always was.

An answer's explanation must be the stored one, and the one predict_explain()
computes for the row's observation, in extension and managed mode and on SQLite; in
a batch each request keeps its own flag."""

import json
import os
import subprocess
import threading
import time

import pytest

from harness import GATEWAY, REPO, fresh_id, metric, observation

TITANIC = os.path.join(REPO, "models", "titanic.json")
PREDICT_FIELDS = ["id", "observation_id", "proba", "predicted_class", "true_class", "model",
                  "model_version", "created_at", "updated_at"]
ROW_FIELDS = PREDICT_FIELDS[:2] + ["observation"] + PREDICT_FIELDS[2:]


def as_text(backend, expr):
    """expr as text in the backend's SQL (SQLite's JSON is text already)."""
    return expr if backend.name == "sqlite" else "(%s)::text" % expr


def explains(backend, url):
    """(version, explain) of the model versions, explain as a bool on both backends."""
    return [(v, bool(e)) for v, e in
            backend.query(url, "SELECT version, explain FROM predict_model_versions ORDER BY name, version")]


def stored(backend, url, obs_id):
    """The row's stored explanation, None when null."""
    rows = backend.query(url, "SELECT %s FROM predictions WHERE observation_id = %%s"
                         % as_text(backend, "explanation"), (obs_id,))
    assert len(rows) == 1, rows
    return None if rows[0][0] is None else json.loads(rows[0][0])


def computed(backend, url, obs_id):
    """predict_explain() of the row's observation, by the row's model (whose active
    version scored it, in these tests)."""
    rows = backend.query(url, "SELECT %s FROM predictions WHERE observation_id = %%s"
                         % as_text(backend, "predict_explain(observation, model)"), (obs_id,))
    return json.loads(rows[0][0])


def post(client, obs_id, explain=None, obs=None):
    body = {"id": obs_id, "observation": obs or observation(obs_id)}
    if explain is not None:
        body["explain"] = explain
    return client.post("/predict", body)


def assert_explained(backend, url, r):
    """r answers a row with its explanation: the stored one, predict_explain()'s."""
    assert r.status == 200, r
    row = r.json
    assert list(row) == PREDICT_FIELDS + ["explanation"], row
    assert set(row["explanation"]) == {"space", "base", "contributions"}, row
    i = row["observation_id"]
    assert row["explanation"] == stored(backend, url, i) == computed(backend, url, i)
    return row


def assert_unexplained(backend, url, r):
    """r answers a row as before issue 20: no explanation, none stored."""
    assert r.status == 200, r
    assert list(r.json) == PREDICT_FIELDS and '"explanation"' not in r.body, r
    assert stored(backend, url, r.json["observation_id"]) is None
    return r.json


def unexplainable_model(tmp_path):
    """Titanic without the reference means its linear explanations need."""
    doc = json.load(open(TITANIC))
    del doc["reference"]["feature_means"]
    path = tmp_path / "titanic-no-means.json"
    path.write_text(json.dumps(doc))
    return str(path)


def run(backend, url, *args, env=None):
    full = backend._command_env(url)
    full.update(env or {})
    out = subprocess.run([GATEWAY, *args], env=full, capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout.strip(), out.stderr.strip()


def test_explain_true_answers_and_stores_the_rows_explanation(backend, gateway, client):
    url = gateway.database_url
    row = assert_explained(backend, url, post(client, fresh_id(), True))
    assert row["model"] == "titanic" and row["created_at"] == row["updated_at"]


def test_without_explain_the_answer_is_unchanged(backend, gateway, client):
    """explain false or absent: the same fields in the same order, nothing stored."""
    url = gateway.database_url
    for flag in (None, False):
        assert_unexplained(backend, url, post(client, fresh_id(), flag))


def explanation_text(r):
    """The bytes of r's explanation, as the gateway wrote them (the object's last key)."""
    key = ', "explanation": '
    assert r.body.count(key) == 1 and r.body.endswith("}"), r
    return r.body[r.body.index(key) + len(key):-1]


def test_the_rows_routes_answer_the_explanation_as_predict_does(backend, gateway, client):
    """GET /predictions/<id>, /list-db-contents and /update's answer: a row stored with
    an explanation comes back with it, the same bytes as /predict's, last; a row stored
    without comes back without the key, as before."""
    url = gateway.database_url
    explained, plain = fresh_id(), fresh_id()
    r = post(client, explained, True)
    first = assert_explained(backend, url, r)
    text = explanation_text(r)
    assert_unexplained(backend, url, post(client, plain))

    def check(row_r, obs_id, explanation, **changed):
        assert row_r.status == 200, row_r
        row = row_r.json if isinstance(row_r.json, dict) else \
            [x for x in row_r.json if x["observation_id"] == obs_id][0]
        if explanation:
            assert list(row) == ROW_FIELDS + ["explanation"], row
            assert row["explanation"] == first["explanation"] == stored(backend, url, obs_id)
            if isinstance(row_r.json, dict):
                assert explanation_text(row_r) == text
        else:
            assert list(row) == ROW_FIELDS, row
            if isinstance(row_r.json, dict):
                assert '"explanation"' not in row_r.body, row_r
        assert row["observation"] == observation(obs_id)
        for k, v in changed.items():
            assert row[k] == v, row

    check(client.get("/predictions/%d" % explained), explained, True, true_class=None)
    check(client.get("/predictions/%d" % plain), plain, False, true_class=None)
    page = client.get("/list-db-contents?after=%d&limit=1000" % (first["id"] - 1))
    assert '"explanation"' in page.body
    check(page, explained, True)
    check(page, plain, False)
    for row in page.json:
        assert list(row) == ROW_FIELDS + (["explanation"] if stored(backend, url, row["observation_id"])
                                          else []), row
    check(client.post("/update", {"id": explained, "true_class": 1}), explained, True, true_class=1)
    check(client.post("/update", {"id": plain, "true_class": 0}), plain, False, true_class=0)
    check(client.get("/predictions/%d" % explained), explained, True, true_class=1)
    assert stored(backend, url, plain) is None


def test_a_version_that_explains_every_row_answers_it_on_every_route(backend, gateways):
    """deploy --explain: its rows come back explained from get, list and update too."""
    url = backend.new_database()
    gw = gateways(url, threads=1)
    c = gw.client()
    assert run(backend, url, "deploy", "--explain", TITANIC)[:2] == (0, "2")
    i = fresh_id()
    row = assert_explained(backend, url, post(c, i))
    for r in (c.get("/predictions/%d" % i), c.post("/update", {"id": i, "true_class": 0})):
        assert r.status == 200 and r.json["explanation"] == row["explanation"], r
        assert list(r.json) == ROW_FIELDS + ["explanation"], r
    rows = c.get("/list-db-contents").json
    assert [x["explanation"] for x in rows if x["observation_id"] == i] == [row["explanation"]]


def test_a_log_without_the_column_answers_the_rows_as_before(backend, gateways):
    """Extension 1.4, which the gateway's role cannot update: get, list and update
    answer as before 1.5 (no key), and explain is refused."""
    if backend.name != "postgresql":
        pytest.skip("an extension this role cannot update: the extension backend's case")
    url = backend.new_database()
    backend.execute(url, "CREATE EXTENSION predict VERSION '1.4'")
    backend.execute(url, "SELECT predict_deploy('titanic', %s::jsonb)", (open(TITANIC).read(),))
    backend.execute(url, "DO $$ BEGIN CREATE ROLE predict_old_log LOGIN; "
                         "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    backend.execute(url, "GRANT ALL ON ALL TABLES IN SCHEMA public TO predict_old_log; "
                         "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO predict_old_log")
    gw = gateways(url.replace("//%s@" % backend.user, "//predict_old_log@"), threads=1)
    c = gw.client()
    i = fresh_id()
    assert list(post(c, i).json) == PREDICT_FIELDS
    assert post(c, fresh_id(), True).status == 422
    r = c.get("/predictions/%d" % i)
    assert r.status == 200 and list(r.json) == ROW_FIELDS, r
    r = c.post("/update", {"id": i, "true_class": 1})
    assert r.status == 200 and list(r.json) == ROW_FIELDS and r.json["true_class"] == 1, r
    r = c.get("/list-db-contents")
    assert r.status == 200 and [list(x) for x in r.json] == [ROW_FIELDS], r
    assert backend.query(url, "SELECT extversion FROM pg_extension WHERE extname = 'predict'") \
        == [("1.4",)]


def test_explain_must_be_a_boolean(backend, gateway, client):
    for value in ("true", 1, 0, None, {}, []):
        i = fresh_id()
        r = post(client, i, value) if value is not None else \
            client.post("/predict", '{"id": %d, "observation": %s, "explain": null}'
                        % (i, json.dumps(observation(i))))
        assert r.status == 422, r
        assert r.json == {"error": "explain must be true or false, got %s" % {
            str: "a string", int: "a number", type(None): "null", dict: "an object",
            list: "an array"}[type(value)]}, r
        assert i not in backend.observation_ids(gateway.database_url)
    assert post(client, fresh_id(), False).status == 200


def test_a_retry_answers_the_row_as_stored(backend, gateway, client):
    """A retry is the same prediction: the stored row, with its explanation when it was
    stored with one, and without when it was not, whatever the retry's flag."""
    url = gateway.database_url
    explained, plain = fresh_id(), fresh_id()
    first = assert_explained(backend, url, post(client, explained, True))
    for flag in (None, False, True):
        again = post(client, explained, flag)
        assert again.status == 200 and again.json == first, again
    first = assert_unexplained(backend, url, post(client, plain))
    again = post(client, plain, True)
    assert again.status == 200 and again.json == first, again
    assert stored(backend, url, plain) is None
    r = post(client, explained, True, obs=observation(explained + 1))
    assert r.status == 409, r


def test_an_unexplainable_model_refuses_explain_and_stores_nothing(backend, gateways, tmp_path):
    url = backend.new_database()
    gw = gateways(url, threads=1)
    c = gw.client()
    assert run(backend, url, "deploy", unexplainable_model(tmp_path))[:2] == (0, "2")
    i = fresh_id()
    r = post(c, i, True)
    assert r.status == 422, r
    assert r.json["error"].startswith("cannot explain this model: "), r
    assert "feature_means" in r.json["error"] or "reference" in r.json["error"], r
    assert i not in backend.observation_ids(url)
    row = assert_unexplained(backend, url, post(c, i))
    assert row["model_version"] == 2


def test_deploy_explain_explains_every_row(backend, gateways):
    """deploy --explain: the version explains each row it scores, flag or not; the
    version before it does not."""
    url = backend.new_database()
    gw = gateways(url, threads=1)
    c = gw.client()
    assert_unexplained(backend, url, post(c, fresh_id()))
    assert run(backend, url, "deploy", "--explain", TITANIC)[:2] == (0, "2")
    assert explains(backend, url) == [(1, False), (2, True)]
    for flag in (None, False, True):
        row = assert_explained(backend, url, post(c, fresh_id(), flag))
        assert row["model_version"] == 2
    assert run(backend, url, "deploy", "--name", "other", "--explain", TITANIC)[:2] == (0, "1")
    assert run(backend, url, "deploy", "--explain", "--name", "third", TITANIC)[:2] == (0, "1")


def test_deploy_explain_refuses_an_unexplainable_model_before_the_database(backend, tmp_path):
    """The core's refusal, even with no database to reach."""
    path = unexplainable_model(tmp_path)
    nowhere = "postgresql://predict@127.0.0.1:1/none"
    rc, out, err = run(backend, nowhere, "deploy", "--explain", path)
    assert rc == 1 and out == "", (rc, out, err)
    assert err.startswith("predict-gateway deploy: cannot deploy %s with explain: cannot explain "
                          "this model: " % path), err
    url = backend.new_database()
    rc, out, err = run(backend, url, "deploy", "--explain", path)
    assert rc == 1 and "cannot explain this model" in err, err


def test_predict_explain_on_deploys_the_first_model_with_explain(backend, gateways):
    url = backend.new_database()
    gw = gateways(url, threads=1, env={"PREDICT_EXPLAIN": "on"})
    c = gw.client()
    row = assert_explained(backend, url, post(c, fresh_id()))
    assert row["model_version"] == 1
    assert explains(backend, url) == [(1, True)]


def test_predict_explain_takes_on_or_off(backend):
    out = subprocess.run([GATEWAY], env={"PREDICT_EXPLAIN": "1", "PATH": os.environ["PATH"]},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and 'PREDICT_EXPLAIN must be on or off, got "1"' in out.stderr, out


def batched(backend, gw, ids, flags):
    """POST every request at once while inserts are locked out, so that they queue
    and go together; the answers, and (batches, requests carried) meanwhile."""
    answers = [None] * len(ids)

    def send(k):
        c = gw.client()
        try:
            answers[k] = post(c, ids[k], flags[k])
        finally:
            c.close()
    c = gw.client()
    before = (metric(c, "predict_batches_total"), metric(c, "predict_batched_requests_total"))
    threads = [threading.Thread(target=send, args=(k,)) for k in range(len(ids))]
    with backend.write_locked(gw.database_url):
        for t in threads:
            t.start()
        time.sleep(0.5)
    for t in threads:
        t.join()
    batches = metric(c, "predict_batches_total") - before[0]
    carried = metric(c, "predict_batched_requests_total") - before[1]
    c.close()
    return answers, batches, carried


def batching_gateway(backend, gateways):
    if not backend.supports("batching"):
        pytest.skip("no batching")
    url = backend.new_database()
    return url, gateways(url, threads=40, env={"PREDICT_DB_TIMEOUT_MS": "4000"})


def test_a_batch_keeps_each_requests_explain(backend, gateways):
    """Requests with and without explain stored together in one statement: each answer
    has its own explanation or none, and each row is stored so."""
    url, gw = batching_gateway(backend, gateways)
    ids = [fresh_id() for _ in range(30)]
    flags = [(None, False, True)[k % 3] for k in range(len(ids))]
    answers, batches, carried = batched(backend, gw, ids, flags)
    assert batches >= 1 and carried > batches, (batches, carried)
    for k, r in enumerate(answers):
        if flags[k]:
            assert_explained(backend, url, r)
        else:
            assert_unexplained(backend, url, r)


def test_a_refused_explain_in_a_batch_refuses_only_its_own_request(backend, gateways, tmp_path):
    """An unexplainable model: the batch's statement fails for the requests asking
    explain, and each request then runs alone (group.h), so the others are stored."""
    url, gw = batching_gateway(backend, gateways)
    assert run(backend, url, "deploy", unexplainable_model(tmp_path))[:2] == (0, "2")
    ids = [fresh_id() for _ in range(20)]
    flags = [k % 4 == 0 for k in range(len(ids))]
    answers, _, _ = batched(backend, gw, ids, flags)
    stored_ids = set(backend.observation_ids(url))
    for k, r in enumerate(answers):
        if flags[k]:
            assert r.status == 422 and r.json["error"].startswith("cannot explain this model: "), r
            assert ids[k] not in stored_ids
        else:
            assert_unexplained(backend, url, r)
