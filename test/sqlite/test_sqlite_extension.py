"""The SQLite loadable extension (predict_sqlite.so), through the sqlite3
command-line shell and Python's sqlite3 module: parity with bin/predict-score
to the last bit, every error with its message, model versioning across
connections and transactions."""

import json
import math
import os
import sqlite3
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test"))

from titanic_data import features_and_target  # noqa: E402

EXTENSION = os.path.join(REPO, "predict_sqlite")
PREDICT_SCORE = os.environ.get("PREDICT_SCORE", os.path.join(REPO, "bin", "predict-score"))
TITANIC_MODEL = os.path.join(REPO, "models", "titanic.json")


def shell(db, sql, check=True):
    """Run sql through the sqlite3 shell with the extension loaded."""
    proc = subprocess.run(["sqlite3", "-batch", "-bail", str(db)], input=".load %s\n%s\n" % (EXTENSION, sql),
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError("sqlite3 failed: %s" % proc.stderr)
    return proc


def shell_error(db, sql):
    """The error message of sql, DETAIL and HINT lines included (the shell prints
    "Error: near line N: <message>" or "Runtime error near line N: <message>")."""
    proc = shell(db, sql, check=False)
    assert proc.returncode != 0, "expected an error from: %s" % sql
    lines = proc.stderr.strip().splitlines()
    start = max(i for i, line in enumerate(lines) if "rror" in line.split(": ", 1)[0])
    first = lines[start]
    first = first.split(": ", 1)[1] if "line" in first.split(": ", 1)[0] else first
    return "\n".join([first] + lines[start + 1:])


def connect(path):
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(EXTENSION)
    return conn


def cli_scores(model_path, observations):
    """predict-score's answers (dicts) for the observations."""
    proc = subprocess.run([PREDICT_SCORE, "--model", str(model_path)],
                          input="".join(json.dumps(o) + "\n" for o in observations),
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def titanic_observations():
    X, _ = features_and_target()
    rows = []
    for rec in X.to_dict("records"):
        rows.append({k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))})
    return rows


@pytest.fixture
def db(tmp_path):
    return tmp_path / "predictions.db"


@pytest.fixture
def deployed(db):
    shell(db, "SELECT predict_deploy('titanic', readfile('%s'));" % TITANIC_MODEL)
    return db


def test_parity_with_predict_score_through_the_shell(deployed, tmp_path):
    observations = titanic_observations()
    (tmp_path / "obs.json").write_text(json.dumps(observations))
    out = shell(deployed, "CREATE TABLE t (i INTEGER PRIMARY KEY, obs TEXT);\n"
                "INSERT INTO t (obs) SELECT value FROM json_each(readfile('%s')) ORDER BY key;\n"
                "SELECT printf('%%!.17g', predict_proba(obs)) || ' ' || predict_class(obs) FROM t ORDER BY i;"
                % (tmp_path / "obs.json")).stdout.split("\n")
    got = [line.split() for line in out if line]
    want = cli_scores(TITANIC_MODEL, observations)
    assert len(got) == len(want) == len(observations)
    for (proba, cls), w in zip(got, want):
        assert float(proba) == w["proba"]          # 17 significant digits round-trip exactly
        assert int(cls) == int(w["predicted_class"])


def test_parity_bitwise_through_python(deployed):
    observations = titanic_observations()
    conn = connect(deployed)
    got = [conn.execute("SELECT predict_proba(?)", (json.dumps(o),)).fetchone()[0] for o in observations]
    want = [w["proba"] for w in cli_scores(TITANIC_MODEL, observations)]
    assert got == want


BAD_OBSERVATIONS = [
    {"Age": "abc"},
    {"Age": {}},
    {"Sex": ["male"]},
    {"Fare": "inf"},
    {"Fare": 1e400},
    {"Pclass": "1__0"},
    "not an object",
    [1, 2],
]


def with_version_detail(message, model="titanic", version=1):
    """The core's message as the extensions raise it: an error scoring the
    observation's columns names the version that scored it (DETAIL), one
    about the observation as a whole ("observation: ...") does not."""
    if message.startswith("observation: "):
        return message
    return '%s\nDETAIL:  The observation was scored with model "%s" version %d.' % (message, model, version)


@pytest.mark.parametrize("obs", BAD_OBSERVATIONS, ids=[json.dumps(o) for o in BAD_OBSERVATIONS])
def test_bad_observation_has_the_cli_message(deployed, obs):
    want = with_version_detail(cli_scores(TITANIC_MODEL, [obs])[0]["error"])
    text = json.dumps(obs).replace("'", "''")
    assert shell_error(deployed, "SELECT predict_proba('%s');" % text) == want
    conn = connect(deployed)
    with pytest.raises(sqlite3.OperationalError) as e:
        conn.execute("SELECT predict_proba(?)", (json.dumps(obs),))
    assert str(e.value) == want


def test_observation_text_errors(deployed):
    assert shell_error(deployed, "SELECT predict_proba('{\"Age\": 1');").startswith(
        "observation: not valid JSON near byte")
    assert shell_error(deployed, "SELECT predict_proba('{\"Sex\": \"a\\u0000\"}');") == \
        "observation: \\u0000 is not allowed in strings at byte 10"
    conn = connect(deployed)
    with pytest.raises(sqlite3.DataError) as e:       # SQLITE_TOOBIG
        conn.execute("SELECT predict_proba(?)", ("{" + " " * (1 << 20) + "}",))
    assert "exceeds the limit of 1048576" in str(e.value)


def test_null_in_null_out(deployed):
    assert shell(deployed, "SELECT quote(predict_proba(NULL)), quote(predict_class(NULL, 'titanic'))," 
                 " quote(predict_proba('{}', NULL));").stdout.strip() == "NULL|NULL|NULL"


NO_DEFAULT = ("no default model is deployed\nHINT:  Deploy one first, for example: SELECT predict_deploy("
              "'titanic', readfile('/path/to/titanic.json')); the first model deployed becomes the default.")


def no_model(name):
    """PostgreSQL's no_model_error, with SQLite's command in the hint."""
    return ('model "%s" does not exist\nHINT:  Deploy it first, for example: SELECT predict_deploy(%s, '
            "readfile('/path/to/model.json'));" % (name, "'" + name.replace("'", "''") + "'"))


def test_no_model_deployed(db):
    assert shell_error(db, "SELECT predict_proba('{}');") == NO_DEFAULT
    assert shell_error(db, "SELECT predict_class('{}', 'titanic');") == no_model("titanic")
    assert shell_error(db, "SELECT predict_activate('titanic', 1);") == no_model("titanic")
    assert shell_error(db, "SELECT predict_set_default('titanic');") == no_model("titanic")
    assert shell_error(db, "SELECT predict_proba('{}', 'it''s');") == no_model("it's")


def test_deploy_refuses_bad_models_and_writes_nothing(deployed):
    model = json.load(open(TITANIC_MODEL))
    model["estimator"]["coef"][3] = "x"
    text = json.dumps(model).replace("'", "''")
    assert shell_error(deployed, "SELECT predict_deploy('titanic', '%s');" % text) == \
        "estimator.coef[3]: expected a finite number, got a string"
    assert shell_error(deployed, "SELECT predict_deploy('titanic', '{\"format\": 1}');") == \
        'format: expected the string "predict-model/1", got a number'
    assert shell_error(deployed, "SELECT predict_deploy('titanic', '');") == "(document): empty"
    assert shell_error(deployed, "SELECT predict_deploy(1, '{}');") == \
        "predict_deploy(name, model_json): the model name must be text"
    assert shell_error(deployed, "SELECT predict_deploy(NULL, '{}');") == "model name must not be null"
    assert shell_error(deployed, "SELECT predict_deploy('titanic', NULL);") == "model document must not be null"
    assert shell(deployed, "SELECT count(*) FROM predict_model_versions;").stdout.strip() == "1"


def test_versions_activate_and_default(deployed):
    out = shell(deployed, "SELECT predict_deploy('titanic', readfile('%s'));"
                "SELECT predict_model_version(), predict_default_model();"
                "SELECT predict_activate('titanic', 1);"
                "SELECT predict_model_version('titanic');"
                "SELECT predict_deploy('other', readfile('%s'));"
                "SELECT predict_default_model();"
                "SELECT predict_set_default('other');"
                "SELECT predict_default_model(), predict_model_version();"
                "SELECT name, active_version, is_default FROM predict_models ORDER BY name;"
                % (TITANIC_MODEL, TITANIC_MODEL)).stdout.split()
    # activate and set_default return nothing (void in PostgreSQL): an empty line each
    assert out == ["2", "2|titanic", "1", "1", "titanic", "other|1",
                   "other|1|1", "titanic|1|0"]
    assert shell_error(deployed, "SELECT predict_activate('titanic', 9);") == 'model "titanic" has no version 9'
    assert shell_error(deployed, "SELECT predict_set_default('nope');") == no_model("nope")
    assert shell_error(deployed, "SELECT predict_activate('titanic', '1');") == \
        "predict_activate(name, version): the version must be an integer"
    assert shell_error(deployed, "SELECT predict_activate(NULL, 1);") == "model name must not be null"
    assert shell_error(deployed, "SELECT predict_activate('titanic', NULL);") == "model version must not be null"


@pytest.mark.parametrize("name", ["bad name", "", "x" * 64, "\u00e9t\u00e9", "a/b", "a;b"])
def test_deploy_refuses_names_as_postgresql_does(deployed, name):
    assert shell_error(deployed, "SELECT predict_deploy('%s', readfile('%s'));" % (name, TITANIC_MODEL)) == \
        ('invalid model name "%s"\nDETAIL:  A model name is 1 to 63 characters among letters, digits, '
         '"_", "." and "-".' % name)
    assert shell(deployed, "SELECT count(*) FROM predict_model_versions;").stdout.strip() == "1"


def test_names_postgresql_accepts(deployed):
    for name in ["a", "x" * 63, "churn-v2.1_b"]:
        assert shell(deployed, "SELECT predict_deploy('%s', readfile('%s'));" % (name, TITANIC_MODEL)
                     ).stdout.strip() == "1"


def test_activate_returns_null_like_postgresqls_void(deployed):
    conn = connect(deployed)
    assert conn.execute("SELECT predict_activate('titanic', 1)").fetchone() == (None,)
    assert conn.execute("SELECT predict_set_default('titanic')").fetchone() == (None,)
    assert conn.execute("SELECT typeof(predict_deploy('titanic', ?))", (open(TITANIC_MODEL).read(),)
                        ).fetchone() == ("integer",)


def test_a_deploy_in_one_connection_is_seen_by_the_next_statement_of_another(deployed):
    model = open(TITANIC_MODEL).read()
    a, b = connect(deployed), connect(deployed)
    a.execute("CREATE TABLE t (obs TEXT)")
    a.execute("INSERT INTO t VALUES ('{}')")
    version = lambda c: (c.execute("SELECT predict_model_version()").fetchone()[0],
                         c.execute("SELECT predict_model_version() FROM t").fetchone()[0])
    assert version(a) == version(b) == (1, 1)
    assert b.execute("SELECT predict_deploy('titanic', ?)", (model,)).fetchone()[0] == 2
    assert version(a) == version(b) == (2, 2)
    a.execute("SELECT predict_activate('titanic', 1)")
    assert version(a) == version(b) == (1, 1)
    # a deploy inside a transaction that rolls back changes nothing for anyone
    b.execute("BEGIN")
    assert b.execute("SELECT predict_deploy('titanic', ?)", (model,)).fetchone()[0] == 3
    assert version(b) == (3, 3)
    assert version(a) == (1, 1)
    b.execute("ROLLBACK")
    assert version(a) == version(b) == (1, 1)
    assert a.execute("SELECT max(version) FROM predict_model_versions").fetchone()[0] == 2


def test_each_version_scores_with_its_own_model(deployed):
    model = json.load(open(TITANIC_MODEL))
    model["estimator"]["intercept"] += 1.0
    shifted = json.dumps(model)
    conn = connect(deployed)
    obs = json.dumps({"Sex": "male", "Age": 30, "Pclass": 2})
    p1 = conn.execute("SELECT predict_proba(?)", (obs,)).fetchone()[0]
    conn.execute("SELECT predict_deploy('titanic', ?)", (shifted,))
    p2 = conn.execute("SELECT predict_proba(?)", (obs,)).fetchone()[0]
    conn.execute("SELECT predict_activate('titanic', 1)")
    p3 = conn.execute("SELECT predict_proba(?)", (obs,)).fetchone()[0]
    d1 = math.log(p1 / (1 - p1))
    d2 = math.log(p2 / (1 - p2))
    assert abs((d2 - d1) - 1.0) < 1e-9
    assert p3 == p1


def test_deploy_is_refused_inside_triggers(deployed):
    proc = shell(deployed, "CREATE TABLE log (m TEXT);"
                 "CREATE TRIGGER t AFTER INSERT ON log BEGIN SELECT predict_deploy('x', new.m); END;"
                 "INSERT INTO log VALUES ('{}');", check=False)
    assert proc.returncode != 0 and "unsafe use of predict_deploy()" in proc.stderr


def test_the_loadable_build_calls_sqlite_through_the_api_table():
    """predict_sqlite.so must not link against a libsqlite3 of its own: every call goes
    through the table SQLite passes to the entry point (a host with SQLite built in, such
    as a statically linked shell, has no sqlite3_* symbols to resolve), while the gateway's
    build of the same file (SQLITE_CORE) calls SQLite directly."""
    so = EXTENSION + ".so"
    undefined = subprocess.run(["nm", "-D", "--undefined-only", so], capture_output=True,
                               text=True, check=True).stdout.split()
    assert not [s for s in undefined if s.startswith("sqlite3_")], undefined
    linked = subprocess.run(["nm", "--undefined-only", os.path.join(REPO, "build", "sqlite", "extension.o")],
                            capture_output=True, text=True, check=True).stdout.split()
    assert "sqlite3_create_function_v2" in linked


def test_two_models_in_one_statement_each_see_a_new_version(deployed, tmp_path):
    """Each model's active version is checked once per statement, not only the first
    model's: a new version of the second model is used by the next statement."""
    model = json.load(open(TITANIC_MODEL))
    model["estimator"]["intercept"] += 1.0
    shifted = json.dumps(model)
    plain = open(TITANIC_MODEL).read()
    a, b = connect(deployed), connect(deployed)
    a.execute("SELECT predict_deploy('other', ?)", (plain,))
    a.execute("CREATE TABLE t (obs TEXT)")
    a.execute("INSERT INTO t VALUES ('{\"Sex\": \"male\", \"Age\": 30}')")
    both = "SELECT predict_proba(obs), predict_proba(obs, 'other'), predict_model_version('other') FROM t"
    p1, q1, v1 = a.execute(both).fetchone()
    assert p1 == q1 and v1 == 1
    b.execute("SELECT predict_deploy('other', ?)", (shifted,))
    p2, q2, v2 = a.execute(both).fetchone()
    assert p2 == p1 and v2 == 2 and q2 != q1


def test_a_version_number_reused_after_a_rollback_is_not_taken_for_the_old_one(deployed):
    """A deploy rolled back frees its version number; the next deploy takes it with another
    document. A connection that scored with the rolled-back document must not keep it."""
    model = json.load(open(TITANIC_MODEL))
    model["estimator"]["intercept"] += 1.0
    shifted = json.dumps(model)
    plain = open(TITANIC_MODEL).read()
    a, b = connect(deployed), connect(deployed)
    obs = json.dumps({"Sex": "male", "Age": 30})
    base = a.execute("SELECT predict_proba(?)", (obs,)).fetchone()[0]
    a.execute("BEGIN")
    assert a.execute("SELECT predict_deploy('titanic', ?)", (shifted,)).fetchone()[0] == 2
    moved = a.execute("SELECT predict_proba(?)", (obs,)).fetchone()[0]
    a.execute("ROLLBACK")
    assert moved != base
    assert b.execute("SELECT predict_deploy('titanic', ?)", (plain,)).fetchone()[0] == 2
    assert a.execute("SELECT predict_model_version(), predict_proba(?)", (obs,)).fetchone() == \
        (2, base)


# ---------- explanations ----------

def explained_titanic(tmp_path, means=lambda coef: 0.0):
    """The Titanic model with feature means (by default 0: each contribution
    is coef * x), as a file."""
    doc = json.load(open(TITANIC_MODEL))
    doc["reference"]["feature_means"] = [means(c) for c in doc["estimator"]["coef"]]
    path = tmp_path / "explained.json"
    path.write_text(json.dumps(doc))
    return path


def test_explanations_are_the_cli_text_byte_for_byte(db, tmp_path):
    """predict_explain returns the core's text, the same bytes as
    predict-score --explain writes after "explanation": (every host's
    explanation is predict_explanation_json's)."""
    model = explained_titanic(tmp_path)
    conn = connect(db)
    conn.execute("SELECT predict_deploy('titanic', ?)", (model.read_text(),))
    observations = titanic_observations()[:200]
    lines = subprocess.run([PREDICT_SCORE, "--explain", "--model", str(model)],
                           input="".join(json.dumps(o) + "\n" for o in observations),
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(lines) == len(observations)
    for obs, line in zip(observations, lines):
        got = conn.execute("SELECT predict_explain(?)", (json.dumps(obs),)).fetchone()[0]
        assert line.endswith(', "explanation": ' + got + "}"), (line, got)


def test_reasons_keep_long_escaped_strings(db, tmp_path):
    """A string with escapes is decoded by the core into memory of the call's
    own (on its stack when short, an allocation when not): the reasons are
    written before it is released, whatever its length."""
    conn = connect(db)
    # means of the sign of each coefficient: an unknown category lowers the score
    doc = explained_titanic(tmp_path, lambda coef: 1.0 if coef > 0 else -1.0).read_text()
    conn.execute("SELECT predict_deploy('titanic', ?)", (doc,))
    for sex in ("\u00e9t\u00e9", "\u00e9" * 300 + "\n\"x\"" * 50):
        obs = {"Pclass": 3, "Sex": sex, "Age": 22, "Embarked": sex}
        text = json.dumps(obs)                      # non-ASCII as \u00e9 escapes
        assert "\\u00e9" in text
        reasons = json.loads(conn.execute("SELECT predict_reasons(?, 8)", (text,)).fetchone()[0])
        values = {r["column"]: r["value"] for r in reasons}
        assert values.get("Sex") == sex and values.get("Embarked") == sex, reasons


def test_explaining_errors(db, tmp_path):
    conn = connect(db)
    # the bundled model without its feature means: a linear model it cannot explain
    doc = json.load(open(TITANIC_MODEL))
    del doc["reference"]["feature_means"]
    conn.execute("SELECT predict_deploy('titanic', ?)", (json.dumps(doc),))
    with pytest.raises(sqlite3.Error) as e:
        conn.execute("SELECT predict_explain('{}')").fetchone()
    assert str(e.value).startswith("cannot explain this model: logistic_regression explanations need")
    assert str(e.value).endswith('\nHINT:  The models that can be explained are listed in '
                                 'docs/model-format.md, "Explanations".')
    for k in (-1, 101):
        with pytest.raises(sqlite3.Error) as e:
            conn.execute("SELECT predict_reasons('{}', ?)", (k,)).fetchone()
        assert str(e.value) == "k must be between 0 and 100, got %d" % k
    with pytest.raises(sqlite3.Error) as e:
        conn.execute("SELECT predict_reasons('{}', 2.5)").fetchone()
    assert str(e.value) == "k must be an integer"
