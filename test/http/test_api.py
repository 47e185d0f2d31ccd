"""Every route and every status code of docs/http-api.md, against a one-worker gateway.

Each refused request is followed by a good one on the same keep-alive connection
(`then_ok`): with one worker, that is the same worker thread and the same database
connection, so a refusal that broke either would fail the next request.
"""

import decimal
import json
import os
import random
import re
import subprocess

import pytest

from harness import REPO, TITANIC_OBSERVATION, fresh_id, observation

ROW_FIELDS = ["id", "observation_id", "observation", "proba", "predicted_class", "true_class",
              "model", "model_version", "created_at", "updated_at"]
# /predict answers the row without the observation the client just sent
PREDICT_FIELDS = [f for f in ROW_FIELDS if f != "observation"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def then_ok(client, backend=None, url=None):
    """A valid /predict on the same connection succeeds (and its row exists)."""
    i = fresh_id()
    r = client.predict(i, same_connection=True)
    assert r.status == 200, r
    assert r.json["observation_id"] == i
    if backend is not None:
        assert i in backend.observation_ids(url)


def assert_error(r, status, message=None, contains=None):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r.headers
    body = r.json
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body["error"] == message
    if contains is not None:
        assert contains in body["error"], body["error"]
    return body["error"]


def assert_row(row, obs_id, obs=None):
    """A row as /predict answers it (obs None), or as the other routes do."""
    assert list(row) == (PREDICT_FIELDS if obs is None else ROW_FIELDS)
    assert isinstance(row["id"], int) and row["id"] > 0
    assert row["observation_id"] == obs_id
    if obs is not None:
        assert row["observation"] == obs
    assert isinstance(row["proba"], float) and 0.0 <= row["proba"] <= 1.0
    assert row["predicted_class"] is (row["proba"] >= 0.5)
    assert row["model"] == "titanic" and row["model_version"] == 1
    assert TIMESTAMP.match(row["created_at"]) and TIMESTAMP.match(row["updated_at"])


# ---------------------------------------------------------------- POST /predict

def test_predict_stores_and_returns_the_row(client, backend, gateway):
    i = fresh_id()
    r = client.predict(i, TITANIC_OBSERVATION)
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    assert_row(r.json, i)
    assert r.json["true_class"] is None
    assert r.json["created_at"] == r.json["updated_at"]
    stored = client.get("/predictions/%d" % i, same_connection=True).json
    assert_row(stored, i, TITANIC_OBSERVATION)
    # the tutorial's value for its first example (scikit-learn: 0.0918...)
    assert abs(r.json["proba"] - 0.09182825924632243) < 1e-12
    rows = backend.query(gateway.database_url,
                         "SELECT id, proba, predicted_class FROM predictions "
                         "WHERE observation_id = %s", (i,))
    assert rows == [(r.json["id"], r.json["proba"], r.json["predicted_class"])]


def test_predict_retry_with_same_observation_is_idempotent(client, backend, gateway):
    i = fresh_id()
    first = client.predict(i, {"Sex": "female", "Age": 30, "Pclass": 1})
    assert first.status == 200
    before = backend.count(gateway.database_url)
    # same observation, other key order and spacing, a duplicate key (last wins)
    body = '{"observation": {"Pclass": 1,  "Age": 99, "Sex": "female", "Age": 30}, "id": %d}' % i
    again = client.post("/predict", body, same_connection=True)
    assert again.status == 200, again
    assert again.json == first.json
    assert backend.count(gateway.database_url) == before


@pytest.mark.parametrize("first,again,equal", [
    # jsonb equality: numbers by value, strings after unescaping, nested key order and
    # duplicate keys (the last wins) do not matter; array order and exact digits do
    ('{"Age": 22, "Sex": "male"}', '{"Sex": "male", "Age": 22.0}', True),
    ('{"Age": 22}', '{"Age": 2.2e1}', True),
    ('{"Fare": 100}', '{"Fare": 1E+2}', True),
    ('{"Fare": 0.5}', '{"Fare": 5e-1}', True),
    ('{"Fare": 0}', '{"Fare": -0.0}', True),
    ('{"Sex": "male"}', '{"Sex": "\\u006dale"}', True),
    ('{"Sex": "ma\\"le"}', '{"Sex": "ma\\u0022le"}', True),
    ('{"x": "\\ud83d\\ude00"}', '{"x": "\U0001F600"}', True),
    ('{"x": {"b": 1, "a": [1, {"d": 2, "c": 3}]}}',
     '{"x": {"a": [1, {"c": 3, "d": 2}], "b": 1}}', True),
    ('{"x": {"a": 1}}', '{"x": {"a": 2, "a": 1}}', True),
    ('{"x": 12345678901234567890123}', '{"x": 12345678901234567890124}', False),
    ('{"x": 1.00000000000000000000001}', '{"x": 1}', False),
    ('{"x": [1, 2]}', '{"x": [2, 1]}', False),
    ('{"x": "a"}', '{"x": "A"}', False),
    ('{"x": null}', '{}', False),
    ('{"x": {"a": 1}}', '{"x": {"a": 1, "b": 1}}', False),
    ('{"x": true}', '{"x": 1}', False),
])
def test_predict_retry_compares_observations_as_json(client, backend, gateway, first, again,
                                                     equal):
    i = fresh_id()
    stored = client.post("/predict", '{"id": %d, "observation": %s}' % (i, first))
    assert stored.status == 200, stored
    r = client.post("/predict", '{"id": %d, "observation": %s}' % (i, again),
                    same_connection=True)
    if equal:
        assert r.status == 200 and r.json == stored.json, r
    else:
        assert_error(r, 409, 'Observation ID: "%d" already exists' % i)
    assert backend.query(gateway.database_url,
                         "SELECT count(*) FROM predictions WHERE observation_id = %s",
                         (i,)) == [(1,)]


def _json_key(value):
    """A value as jsonb compares it: numbers by value, objects by key (the last of
    duplicates, as json.loads keeps), arrays in order, types apart (1 is not true)."""
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _json_key(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_json_key(v) for v in value))
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, decimal.Decimal):
        return ("number", value.normalize() if value != 0 else decimal.Decimal(0))
    return ("string", value)


def _render(value, rng):
    """JSON text of value, written one of many equivalent ways: key order, spacing,
    a duplicate key before the real one, numbers and string escapes spelt differently."""
    sp = rng.choice(["", " ", "\n  "])
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        parts = []
        for k, v in items:
            if rng.random() < 0.2:          # an earlier duplicate, overridden
                parts.append("%s:%s%s" % (_render_string(k, rng), sp, rng.choice(['0', '"x"', 'null'])))
            parts.append("%s:%s%s" % (_render_string(k, rng), sp, _render(v, rng)))
        return "{" + sp + ("," + sp).join(parts) + sp + "}"
    if isinstance(value, list):
        return "[" + ("," + sp).join(_render(v, rng) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, decimal.Decimal):
        sign, digits, exp = value.as_tuple()
        text = "".join(map(str, digits)).lstrip("0") or "0"
        n = int(text) * (-1 if sign else 1)
        shift = rng.choice([0, 0, 1, 2, -1])
        # n x 10^exp written as mantissa x 10^(exp - shift) with shift extra zeros or digits
        if shift >= 0:
            mantissa = str(abs(n)) + "0" * shift
            e = exp - shift
        else:
            mantissa = str(abs(n))
            e = exp
        if e < 0 and rng.random() < 0.5 and len(mantissa) > -e:
            body = mantissa[:e] + "." + mantissa[e:]
            e_text = ""
        else:
            body = mantissa
            e_text = "" if e == 0 and rng.random() < 0.5 else rng.choice(["e", "E"]) + \
                rng.choice(["", "+"] if e >= 0 else [""]) + str(e)
        body = body.lstrip("0") or "0"
        if body.startswith("."):
            body = "0" + body
        return ("-" if sign else "") + body + e_text
    return _render_string(value, rng)


def _render_string(text, rng):
    out = []
    for ch in text:
        r = rng.random()
        if ch in '"\\' or r < 0.2:
            out.append("\\u%04x" % ord(ch) if ch not in '"\\' or r < 0.5 else "\\" + ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _random_value(rng, depth=0):
    kind = rng.choice(["object", "array", "number", "number", "string", "literal"]
                      if depth < 3 else ["number", "string", "literal"])
    if kind == "object":
        return {rng.choice(["k", "k2", "\u00e9", "a b"]): _random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 3))}
    if kind == "array":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "number":
        return decimal.Decimal(rng.choice(["0", "-0", "1", "22", "22.5", "-3", "1e2", "0.001",
                                           "12345678901234567890123", "1e-7", "7E+3"]))
    if kind == "string":
        return rng.choice(["", "a", "A", "male", 'qu"ote', "back\\slash", "\u00e9t\u00e9", "\U0001F600"])
    return rng.choice([True, False, None])


def test_predict_retry_equality_is_jsonb_equality_on_random_observations(client):
    """Differential: 150 random observations, each retried with an equivalent text or
    another value; 200 exactly when the values are equal as jsonb compares them."""
    rng = random.Random(20261126)
    seen = {"equal": 0, "different": 0}
    for _ in range(150):
        value = {"extra": _random_value(rng)}
        other = value if rng.random() < 0.6 else {"extra": _random_value(rng)}
        first_text, again_text = _render(value, rng), _render(other, rng)
        equal = _json_key(json.loads(first_text, parse_float=decimal.Decimal,
                                     parse_int=decimal.Decimal)) == \
            _json_key(json.loads(again_text, parse_float=decimal.Decimal,
                                 parse_int=decimal.Decimal))
        seen["equal" if equal else "different"] += 1
        i = fresh_id()
        first = client.post("/predict", '{"id": %d, "observation": %s}' % (i, first_text))
        assert first.status == 200, (first_text, first)
        again = client.post("/predict", '{"id": %d, "observation": %s}' % (i, again_text))
        assert again.status == (200 if equal else 409), (first_text, again_text, again)
    assert min(seen.values()) >= 30, seen


def test_predict_retry_of_a_deeply_nested_observation(client):
    """Equality holds at every level of a deep observation (key order swapped at each of
    900 levels, a duplicate key at the bottom) and a change at the bottom is seen."""
    def nested(order, leaf):
        text = leaf
        for _ in range(900):
            text = ('{"b": 0, "a": %s}' if order else '{"a": %s, "b": 0}') % text
        return '{"Sex": "male", "deep": %s}' % text

    i = fresh_id()
    first = client.post("/predict", '{"id": %d, "observation": %s}'
                        % (i, nested(True, '{"v": "x"}')))
    assert first.status == 200, first
    again = client.post("/predict", '{"id": %d, "observation": %s}'
                        % (i, nested(False, '{"v": 1, "v": "x"}')), same_connection=True)
    assert again.status == 200 and again.json == first.json, again
    other = client.post("/predict", '{"id": %d, "observation": %s}'
                        % (i, nested(False, '{"v": "y"}')), same_connection=True)
    assert_error(other, 409, 'Observation ID: "%d" already exists' % i)
    stored = client.get("/predictions/%d" % i, same_connection=True).json["observation"]["deep"]
    depth = 0
    while "a" in stored:
        assert stored["b"] == 0
        stored = stored["a"]
        depth += 1
    assert (depth, stored) == (900, {"v": "x"})


def test_predictions_are_an_audit_log(client, backend, gateway):
    """Through SQL as well as HTTP: only true_class changes (and then updated_at), and a
    row's score is the default model's, whoever inserts it."""
    i = fresh_id()
    row = client.predict(i).json
    url = gateway.database_url
    for column, value in (("proba", "proba / 2"), ("predicted_class", "NOT predicted_class"),
                          ("model", "'other'"), ("model_version", "model_version + 1"),
                          ("observation", "'{}'"), ("observation_id", "observation_id + 1"),
                          ("created_at", "'2020-01-01T00:00:00.000Z'")):
        with pytest.raises(Exception) as e:
            backend.execute(url, "UPDATE predictions SET %s = %s WHERE observation_id = %%s"
                            % (column, value), (i,))
        assert 'column "%s" of relation "predictions" cannot be changed' % column \
            in str(e.value), e.value
    backend.execute(url, "UPDATE predictions SET true_class = 1 WHERE observation_id = %s", (i,))
    stored = client.get("/predictions/%d" % i).json
    assert stored["true_class"] == 1 and stored["proba"] == row["proba"]
    assert stored["updated_at"] > row["updated_at"]
    # an INSERT that brings its own score is refused unless it is the score its
    # model version computes (the same rule and message on every backend)
    j = fresh_id()
    for model, version, message in (("made-up", 99, ('model "made-up" has no version 99',)),
                                    ("titanic", 1, ('does not carry the score of model "titanic" version 1',))):
        with pytest.raises(Exception) as e:
            backend.execute(url, "INSERT INTO predictions (observation_id, observation, proba, "
                                 "predicted_class, model, model_version) "
                                 "VALUES (%s, '{\"Sex\": \"female\"}', 0.123, false, %s, %s)",
                            (j, model, version))
        assert any(m in str(e.value) for m in message), e.value
    assert j not in backend.observation_ids(url)


def test_predict_same_id_other_observation_is_409(client, backend, gateway):
    i = fresh_id()
    assert client.predict(i, {"Sex": "male"}).status == 200
    r = client.predict(i, {"Sex": "female"}, same_connection=True)
    assert_error(r, 409, 'Observation ID: "%d" already exists' % i)
    stored = backend.query(gateway.database_url,
                           "SELECT observation->>'Sex' FROM predictions WHERE observation_id = %s",
                           (i,))
    assert stored == [("male",)]
    then_ok(client, backend, gateway.database_url)


@pytest.mark.parametrize("body", [
    "",
    "not json",
    "{",
    '{"id": 1, "observation": {}}}',
    '{"id": 1, "observation": {}} trailing',
    '{"id": 01, "observation": {}}',
    '{"id": 1, "observation": {"Age": 1.}}',
    '{"id": 1, "observation": {"Sex": "a\tb"}}',
    '{"id": 1, "observation": {"Sex": "male"}}\x00',
    b'{"id": 1, "observation": {"Sex": "\xff"}}',
    b'{"id": 1, "observation": {"Sex": "\xed\xa0\x80"}}',
    '{"id": 1, "observation": {"Sex": "\\ud800"}}',
    "{'id': 1}",
])
def test_predict_not_json_is_400(client, body):
    r = client.post("/predict", body)
    assert_error(r, 400)
    then_ok(client)


@pytest.mark.parametrize("body,contains", [
    ('[]', "must be a JSON object, got an array"),
    ('"x"', "must be a JSON object, got a string"),
    ('{"observation": {}}', "id is missing"),
    ('{"id": null, "observation": {}}', "id must be an integer, got null"),
    ('{"id": 1.5, "observation": {}}', "id must be an integer"),
    ('{"id": 1.0, "observation": {}}', "id must be an integer"),
    ('{"id": 1e3, "observation": {}}', "id must be an integer"),
    ('{"id": "1", "observation": {}}', "id must be an integer, got a string"),
    ('{"id": true, "observation": {}}', "id must be an integer, got a boolean"),
    ('{"id": 1e19, "observation": {}}', "id must be an integer"),
    ('{"id": 9223372036854775808, "observation": {}}', "id must be an integer"),
    ('{"id": -9223372036854775809, "observation": {}}', "id must be an integer"),
    ('{"id": 1}', "observation is missing"),
    ('{"id": 1, "observation": [1]}', "observation must be a JSON object, got an array"),
    ('{"id": 1, "observation": "Sex=male"}', "observation must be a JSON object, got a string"),
    ('{"id": 1, "observation": null}', "observation must be a JSON object, got null"),
    ('{"id": 1, "observation": {"Sex": "a\\u0000b"}}', "\\u0000"),
])
def test_predict_wrong_shape_is_422(client, body, contains):
    r = client.post("/predict", body)
    assert_error(r, 422, contains=contains)
    then_ok(client)


@pytest.mark.parametrize("obs,message", [
    ({"Age": "abc"}, 'column "Age": expected a number, got the string "abc"'),
    ({"Sex": {"a": 1}}, None),
    ({"Fare": [1]}, None),
])
def test_predict_observation_the_model_cannot_score_is_422(client, backend, gateway, obs,
                                                           message):
    i = fresh_id()
    r = client.predict(i, obs)
    text = assert_error(r, 422, message)
    col = list(obs)[0]
    assert '"%s"' % col in text, text         # names the column
    assert i not in backend.observation_ids(gateway.database_url)
    then_ok(client, backend, gateway.database_url)


def test_predict_keeps_every_digit(client):
    # ids at the ends of bigint, and a number beyond double precision in the
    # observation, are stored as sent (never through a double)
    for i in (9223372036854775807, -9223372036854775808, 9007199254740993):
        obs = {"Sex": "male", "note": 12345678901234567890123}
        r = client.predict(i, obs)
        assert r.status == 200, r
        assert r.json["observation_id"] == i
        stored = client.get("/predictions/%d" % i, same_connection=True).json
        assert stored["observation_id"] == i
        assert stored["observation"]["note"] == 12345678901234567890123


def test_predict_with_form_content_type_and_no_content_type(client):
    i = fresh_id()
    r = client.post("/predict", {"id": i, "observation": observation(i)},
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    r = client.post("/predict", {"id": fresh_id(), "observation": {}},
                    headers={"Content-Type": "text/plain"}, same_connection=True)
    assert r.status == 200, r


def test_internal_error_is_500_without_details(client, backend, gateway):
    i = fresh_id()
    backend.fail_inserts_of(gateway.database_url, i)
    r = client.predict(i)
    text = assert_error(r, 500)
    assert "SELECT" not in text and "secret" not in text and "boom" not in text
    assert "SELECT secret" in gateway.stderr()        # the details are logged
    then_ok(client, backend, gateway.database_url)


def test_no_default_model_is_503(client, backend, gateway):
    backend.set_no_default_model(gateway.database_url)
    try:
        r = client.predict(fresh_id())
        assert_error(r, 503, "no default model is deployed")
        assert r.header("Retry-After") == "1"
        r = client.get("/readyz", same_connection=True)
        assert_error(r, 503, "no default model is deployed")
        assert r.header("Retry-After") == "1"
    finally:
        backend.restore_default_model(gateway.database_url)
    assert client.get("/readyz").status == 200
    then_ok(client)


# ---------------------------------------------------------------- POST /update

@pytest.mark.parametrize("value,stored", [(1, 1), (0, 0), (True, 1), (False, 0)])
def test_update_sets_true_class(client, backend, gateway, value, stored):
    i = fresh_id()
    created = client.predict(i).json
    r = client.post("/update", {"id": i, "true_class": value}, same_connection=True)
    assert r.status == 200, r
    row = r.json
    assert_row(row, i, observation(i))
    assert row["true_class"] == stored
    for field in ("id", "observation_id", "proba", "predicted_class", "model",
                  "model_version", "created_at"):
        assert row[field] == created[field]
    assert row["updated_at"] >= created["updated_at"]
    assert backend.query(gateway.database_url,
                         "SELECT true_class FROM predictions WHERE observation_id = %s",
                         (i,)) == [(stored,)]


def test_update_unknown_id_is_404(client):
    i = fresh_id()
    r = client.post("/update", {"id": i, "true_class": 1})
    assert_error(r, 404, 'Observation ID: "%d" does not exist' % i)
    then_ok(client)


@pytest.mark.parametrize("body,status,contains", [
    ('{"id": %(i)d, "true_class": 2}', 422, "true_class must be 0, 1, true or false"),
    ('{"id": %(i)d, "true_class": -1}', 422, "true_class"),
    ('{"id": %(i)d, "true_class": 1.0}', 422, "true_class"),
    ('{"id": %(i)d, "true_class": "1"}', 422, "got a string"),
    ('{"id": %(i)d, "true_class": null}', 422, "got null"),
    ('{"id": %(i)d}', 422, "true_class is missing"),
    ('{"true_class": 1}', 422, "id is missing"),
    ('{"id": "%(i)d", "true_class": 1}', 422, "id must be an integer"),
    ('{"id": %(i)d, "true_class": 1', 400, "not valid JSON"),
    ('', 400, "empty"),
])
def test_update_bad_request(client, body, status, contains):
    i = fresh_id()
    assert client.predict(i).status == 200
    r = client.post("/update", body % {"i": i}, same_connection=True)
    assert_error(r, status, contains=contains)
    then_ok(client)


# ---------------------------------------------------------------- GET /predictions/<id>

def test_get_prediction(client):
    i = fresh_id()
    created = client.predict(i).json
    r = client.get("/predictions/%d" % i, same_connection=True)
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    assert_row(r.json, i, observation(i))
    assert {k: v for k, v in r.json.items() if k != "observation"} == created
    r = client.request("HEAD", "/predictions/%d" % i, same_connection=True)
    assert r.status == 200 and r.body == ""


@pytest.mark.parametrize("stored,shown", [
    ("2026-01-02 03:04:05.1+00", "2026-01-02T03:04:05.100000Z"),
    ("2026-01-02 03:04:05+00", "2026-01-02T03:04:05.000000Z"),
    ("2026-12-31 23:59:59.999999+00", "2026-12-31T23:59:59.999999Z"),
    ("2026-06-30 22:00:00.000001-02", "2026-07-01T00:00:00.000001Z"),
])
def test_timestamps_are_iso_8601_utc_with_microseconds(client, backend, gateway, stored, shown):
    i = fresh_id()
    backend.insert_at(gateway.database_url, i, stored)
    row = client.get("/predictions/%d" % i).json
    assert row["created_at"] == shown and row["updated_at"] == shown


def test_get_prediction_unknown_is_404_and_bad_id_is_422(client):
    i = fresh_id()
    assert_error(client.get("/predictions/%d" % i), 404,
                 'Observation ID: "%d" does not exist' % i)
    then_ok(client)
    assert_error(client.get("/predictions/abc", same_connection=True), 422,
                 contains="must be an integer")
    then_ok(client)
    assert_error(client.get("/predictions/99999999999999999999", same_connection=True), 422)
    then_ok(client)


# ---------------------------------------------------------------- GET /list-db-contents

def test_list_db_contents_pages_by_id(client, backend, gateway):
    for _ in range(5):
        assert client.predict(fresh_id()).status == 200
    everything = []
    after = None
    pages = 0
    while True:
        path = "/list-db-contents?limit=2" + ("" if after is None else "&after=%d" % after)
        r = client.get(path, same_connection=True)
        assert r.status == 200 and r.header("Content-Type") == "application/json"
        page = r.json
        assert isinstance(page, list) and len(page) <= 2
        pages += 1
        if len(page) == 2:
            assert r.header("Link") == '</list-db-contents?after=%d&limit=2>; rel="next"' \
                % page[-1]["id"]
        else:
            assert r.header("Link") is None
        everything += page
        if len(page) < 2:
            break
        after = page[-1]["id"]
    ids = [row["id"] for row in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len(everything) == backend.count(gateway.database_url)
    for row in everything:
        assert list(row) == ROW_FIELDS


def test_list_db_contents_default_limit(client, backend, gateway):
    r = client.get("/list-db-contents")
    assert r.status == 200
    assert len(r.json) == min(100, backend.count(gateway.database_url))


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=",
                                   "after=x", "after=1.5"])
def test_list_db_contents_bad_parameters_are_422(client, query):
    r = client.get("/list-db-contents?" + query)
    assert_error(r, 422)
    then_ok(client)


# ---------------------------------------------------------------- health, readiness, metrics

def test_healthz_and_readyz(client):
    r = client.get("/healthz")
    assert r.status == 200 and r.json == {"status": "ok"}
    r = client.get("/readyz", same_connection=True)
    assert r.status == 200 and r.json == {"status": "ready"}


def test_metrics(client):
    def scrape():
        r = client.get("/metrics")
        assert r.status == 200
        assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
        values = {}
        for line in r.body.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    before = scrape()
    i = fresh_id()
    assert client.predict(i).status == 200
    assert client.predict(i).status == 200                       # retry: not written
    assert client.post("/predict", "nope").status == 400
    after = scrape()

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    assert delta('predict_http_requests_total{route="/predict",status="200"}') == 2
    assert delta('predict_http_requests_total{route="/predict",status="400"}') == 1
    assert delta("predict_predictions_written_total") == 1
    assert delta('predict_http_request_duration_seconds_count{route="/predict"}') == 3
    assert after['predict_http_request_duration_seconds_bucket{route="/predict",le="+Inf"}'] \
        == after['predict_http_request_duration_seconds_count{route="/predict"}']
    assert after["predict_db_connections"] == 1                  # one worker, one connection
    assert after["predict_db_connections_in_use"] == 0
    assert after["predict_http_connections"] >= 1
    assert 'predict_db_errors_total{kind="connection"}' in after


# ---------------------------------------------------------------- 404, 405

@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/predict", "POST"),
    ("PUT", "/predict", "POST"),
    ("DELETE", "/update", "POST"),
    ("GET", "/update", "POST"),
    ("POST", "/predictions/1", "GET, HEAD"),
    ("POST", "/list-db-contents", "GET, HEAD"),
    ("DELETE", "/healthz", "GET, HEAD"),
    ("POST", "/readyz", "GET, HEAD"),
    ("PATCH", "/metrics", "GET, HEAD"),
    ("POST", "/", "GET, HEAD"),
    ("PUT", "/report.json", "GET, HEAD"),
])
def test_wrong_method_is_405_with_allow(client, method, path, allow):
    r = client.request(method, path, body='{"id": 1, "true_class": 1}')
    assert_error(r, 405)
    assert r.header("Allow") == allow
    then_ok(client)


@pytest.mark.parametrize("path", ["/nope", "/index.html", "/report", "/predict/", "/predictions", "/predictions/",
                                  "/predictions/1/2", "/PREDICT", "/list-db-contents/x"])
def test_unknown_path_is_404(client, path):
    assert_error(client.get(path), 404)
    assert_error(client.post(path, "{}", same_connection=True), 404)
    then_ok(client)


# ---------------------------------------------------------------- body limit

def test_body_over_the_limit_is_413(gateway, backend):
    client = gateway.client()
    big = {"id": fresh_id(), "observation": {"Sex": "male", "pad": "x" * 70000}}
    r = client.post("/predict", big)
    assert_error(r, 413, "request body is larger than 65536 bytes")
    assert r.header("Connection") == "close"     # the unread body is not drained
    client.close()
    client = gateway.client()
    then_ok_new = client.predict(fresh_id())
    assert then_ok_new.status == 200
    # a chunked body (no Content-Length) is counted as it arrives, then refused;
    # the connection is drained and stays usable
    def chunks():
        yield b'{"id": 1, "observation": {"pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}}'
    r = client.request("POST", "/predict", body=chunks(), same_connection=True)
    assert_error(r, 413)
    then_ok(client, backend, gateway.database_url)
    # exactly at the limit is accepted (parsed, here refused as having no id)
    template = '{"observation": {}, "pad": "%s"}'
    body = template % ("x" * (65536 - len(template % "")))
    assert len(body) == 65536
    assert_error(client.post("/predict", body, same_connection=True), 422, "id is missing: "
                 'send {"id": <integer>, ...}')
    assert_error(client.post("/predict", body + " "), 413)    # one byte more
    client.close()


# ---------------------------------------------------------------- logs

def test_access_log_one_logfmt_line_per_request(client, gateway):
    i = fresh_id()
    assert client.predict(i).status == 200
    assert client.post("/predict", '{"id": %d, "observation": 1}' % i).status == 422
    assert client.get("/predictions/%d" % i).status == 200
    assert client.get("/a%20path%20with%20spaces%22").status == 404
    log = gateway.access_log()
    mine = [l for l in log if l.get("observation_id") == str(i)]
    assert [(l["method"], l["path"], l["status"]) for l in mine] == [
        ("POST", "/predict", "200"), ("POST", "/predict", "422"),
        ("GET", "/predictions/%d" % i, "200")]
    for line in mine:
        assert set(line) >= {"time", "method", "path", "status", "duration_ms", "observation_id"}
        assert float(line["duration_ms"]) >= 0
    assert any(l.get("path") == '/a path with spaces"' and l["status"] == "404" for l in log)


# ---------------------------------------------------------------- the tutorial's curl examples

def quick_start_commands():
    """The curl lines of docs/http-api.md's quick start."""
    with open(os.path.join(REPO, "docs", "http-api.md")) as fh:
        doc = fh.read()
    section = doc.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("curl ")]


def test_tutorial_curl_examples_from_the_docs(backend, gateways):
    """The quick start's commands, run with the real curl (default form Content-Type)."""
    commands = quick_start_commands()
    assert len(commands) == 3 and "-H" not in " ".join(commands)
    gw = gateways(backend.new_database())
    outputs = []
    for command in commands:
        assert "http://localhost:5000/" in command
        command = command.replace("http://localhost:5000/", gw.base + "/")
        out = subprocess.run(["bash", "-c", command + " -s -w '\\n%{http_code}'"],
                             capture_output=True, text=True, timeout=30)
        body, status = out.stdout.rsplit("\n", 1)
        assert status == "200", (command, out.stdout, out.stderr)
        outputs.append(json.loads(body))
    predicted, updated, listing = outputs
    assert predicted["observation_id"] == 0 and predicted["true_class"] is None
    assert abs(predicted["proba"] - 0.09182825924632243) < 1e-12
    assert predicted["predicted_class"] is False
    assert updated["observation_id"] == 0 and updated["true_class"] == 1
    assert updated["id"] == predicted["id"]
    assert [r["observation_id"] for r in listing] == [0] and listing[0]["true_class"] == 1
    assert backend.count(gw.database_url) == 1
