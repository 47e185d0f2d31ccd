"""The SQLite extension through the gateway: bin/predict-gateway on a SQLite file
(its embedded default) registers the same functions on its own connections, so a
row it writes is scored exactly as predict-score scores it, a refused observation
gets predict-score's message, and a model deployed or activated with the sqlite3
shell (.load ./predict_sqlite) on the gateway's file is used by its next request.
The shell and the gateway share the schema: rows written by one are read by the
other, and the triggers hold for both."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "http"))

from harness import Gateway  # noqa: E402
from test_sqlite_extension import (BAD_OBSERVATIONS, PREDICT_SCORE, TITANIC_MODEL,  # noqa: E402
                                   cli_scores, shell, shell_error, titanic_observations,
                                   with_version_detail)


def cli_error(text):
    """predict-score's error for one observation given as JSON text."""
    proc = subprocess.run([PREDICT_SCORE, "--model", TITANIC_MODEL], input=text + "\n",
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc
    return json.loads(proc.stdout)["error"]


@pytest.fixture
def served(tmp_path):
    """(gateway, database path): a gateway with two workers on a new SQLite file."""
    db = tmp_path / "predictions.db"
    gw = Gateway("sqlite:///%s" % db, threads=2)
    yield gw, db
    rc = gw.stop()
    assert rc == 0, gw.stderr()[-3000:]


def test_parity_with_predict_score_through_the_gateway(served, tmp_path):
    gw, db = served
    observations = titanic_observations()
    want = cli_scores(TITANIC_MODEL, observations)
    c = gw.client()
    got = []
    for i, obs in enumerate(observations):
        r = c.predict(i, obs)
        assert r.status == 200, r
        got.append(r.json)
    assert [g["proba"] for g in got] == [w["proba"] for w in want]      # every bit
    assert [g["predicted_class"] for g in got] == [w["predicted_class"] for w in want]
    assert {(g["model"], g["model_version"]) for g in got} == {("titanic", 1)}
    # the stored doubles, read back by the shell, are the same
    out = shell(db, "SELECT printf('%!.17g', proba) FROM predictions ORDER BY observation_id;")
    assert [float(x) for x in out.stdout.split()] == [w["proba"] for w in want]


# the extension tests' bad objects, as JSON text (1e400: a number beyond double)
BAD_OBJECTS = ['{"Age": "abc"}', '{"Age": {}}', '{"Sex": ["male"]}', '{"Fare": "inf"}',
               '{"Fare": 1e400}', '{"Pclass": "1__0"}', '{"Cabin": [1]}', '{"SibSp": "1e999"}']


def test_the_bad_objects_are_the_extension_tests_ones():
    assert [json.loads(t) for t in BAD_OBJECTS[:6]] == \
        [o for o in BAD_OBSERVATIONS if isinstance(o, dict)]


@pytest.mark.parametrize("text", BAD_OBJECTS)
def test_bad_observation_has_the_cli_message_through_the_gateway(served, text):
    gw, db = served
    want = cli_error(text)
    c = gw.client()
    r = c.post("/predict", '{"id": 7, "observation": %s}' % text)
    assert r.status == 422 and r.json == {"error": want}, r
    assert shell_error(db, "INSERT INTO predictions (observation_id, observation, proba, "
                       "predicted_class, model, model_version) SELECT 7, o, predict_proba(o), "
                       "predict_class(o), predict_default_model(), predict_model_version() "
                       "FROM (SELECT '%s' AS o);" % text.replace("'", "''")) == with_version_detail(want)
    assert c.predict(7, {"Sex": "male"}, same_connection=True).status == 200
    assert shell(db, "SELECT count(*) FROM predictions;").stdout.strip() == "1"


def test_observations_that_are_not_objects_are_refused_before_scoring(served):
    gw, _ = served
    c = gw.client()
    for obs, kind in (("not an object", "a string"), ([1, 2], "an array")):
        r = c.post("/predict", {"id": 1, "observation": obs})
        assert r.status == 422 and r.json == {
            "error": "observation must be a JSON object, got %s" % kind}, r


def test_model_versions_deployed_with_the_shell_are_used_by_the_next_request(served, tmp_path):
    gw, db = served
    obs = {"Sex": "male", "Age": 30, "Pclass": 2}
    model = json.load(open(TITANIC_MODEL))
    model["estimator"]["intercept"] += 1.0
    shifted = tmp_path / "shifted.json"
    shifted.write_text(json.dumps(model))
    base = cli_scores(TITANIC_MODEL, [obs])[0]["proba"]
    moved = cli_scores(shifted, [obs])[0]["proba"]
    assert base != moved
    c = gw.client()

    def scored(i):
        r = c.predict(i, obs)
        assert r.status == 200, r
        return r.json["model"], r.json["model_version"], r.json["proba"]

    assert scored(1) == ("titanic", 1, base)
    assert shell(db, "SELECT predict_deploy('titanic', readfile('%s'));" % shifted).stdout.strip() \
        == "2"
    assert scored(2) == ("titanic", 2, moved)
    # a retry of an id scored by version 1 returns the row as stored, not a rescore
    assert scored(1) == ("titanic", 1, base)
    shell(db, "SELECT predict_activate('titanic', 1);")
    assert scored(3) == ("titanic", 1, base)
    shell(db, "SELECT predict_deploy('other', readfile('%s')); SELECT predict_set_default('other');"
          % shifted)
    assert scored(4) == ("other", 1, moved)
    # a deploy the shell rolls back is never used
    shell(db, "BEGIN; SELECT predict_deploy('other', readfile('%s')); ROLLBACK;" % TITANIC_MODEL)
    assert scored(5) == ("other", 1, moved)
    # no default model: 503, and /readyz says so
    shell(db, "UPDATE predict_models SET is_default = 0;")
    r = c.predict(6, obs)
    assert r.status == 503 and r.json == {"error": "no default model is deployed"}, r
    assert c.get("/readyz").status == 503
    shell(db, "SELECT predict_set_default('titanic');")
    assert scored(6) == ("titanic", 1, base)
    out = shell(db, "SELECT observation_id, model, model_version FROM predictions "
                "ORDER BY observation_id;").stdout.split()
    assert out == ["1|titanic|1", "2|titanic|2", "3|titanic|1", "4|other|1", "5|other|1",
                   "6|titanic|1"]


def test_the_shell_and_the_gateway_share_the_schema_and_its_rules(served):
    gw, db = served
    c = gw.client()
    assert c.predict(1, {"Sex": "female"}).status == 200
    # a row inserted with the shell, scored by the functions, is served by the gateway
    shell(db, "INSERT INTO predictions (observation_id, observation, proba, predicted_class, "
          "model, model_version) SELECT 2, o, predict_proba(o), predict_class(o), "
          "predict_default_model(), predict_model_version() FROM (SELECT '{\"Sex\": \"male\"}' AS o);")
    row = c.get("/predictions/2").json
    assert row["observation"] == {"Sex": "male"}
    assert row["proba"] == cli_scores(TITANIC_MODEL, [{"Sex": "male"}])[0]["proba"]
    # ... and its own retry rules apply to it
    assert c.predict(2, {"Sex": "male"}).json == {k: v for k, v in row.items()
                                                  if k != "observation"}
    assert c.predict(2, {"Sex": "female"}).status == 409
    # the shell cannot make up a score, nor change one
    assert shell_error(
        db, "INSERT INTO predictions (observation_id, observation, proba, predicted_class, model,"
        " model_version) VALUES (3, '{}', 0.5, 1, 'titanic', 1);").startswith(
        'new row of relation "predictions" does not carry the score of model "titanic" version 1\n')
    # (the shell appends the result code of a constraint failure: SQLITE_CONSTRAINT, 19)
    assert shell_error(db, "UPDATE predictions SET proba = 0.5 WHERE observation_id = 1;") \
        .removesuffix(" (19)") == ('column "proba" of relation "predictions" cannot be changed\n'
                                   'DETAIL:  Predictions are an audit log: only true_class can be updated.')
    # a row inserted with its observation only is scored by the extension's trigger
    shell(db, "INSERT INTO predictions (observation_id, observation) VALUES (4, '{\"Sex\": \"male\"}');")
    assert c.get("/predictions/4").json["proba"] == row["proba"]
    # true_class may change, and updated_at follows
    before = c.get("/predictions/1").json
    shell(db, "UPDATE predictions SET true_class = 1 WHERE observation_id = 1;")
    after = c.get("/predictions/1").json
    assert after["true_class"] == 1 and after["updated_at"] > before["updated_at"]
    assert shell(db, "PRAGMA journal_mode; PRAGMA integrity_check;").stdout.split() == \
        ["wal", "ok"]
