"""The conformance cases: what every host of the registry and the predictions
log must do, one table for all of them (test_conformance.py runs each case
on each host: the extension, managed mode, SQLite).

A case is a name, a kind (what it is about) and a sequence of steps. A step
is an operation of the SQL interface with its arguments, as host-neutral
values (an observation is a Python dict, None is SQL NULL), and either the
value it returns or the error it raises. The expected values are
PostgreSQL's (the extension's): its messages, SQLSTATEs, hints and details.
How a host spells a step (casts, placeholders, which function deploys) is
its adapter's business (hosts.py), never a case's.

Operations (hosts.py):
  deploy(name, doc)             predict_deploy: returns the new version
  activate(name, version)       predict_activate
  set_default(name)             predict_set_default
  proba(obs[, model])           predict_proba
  klass(obs[, model])           predict_class
  insert(oid, obs, **columns)   INSERT INTO predictions (observation_id, observation, columns...)
  insert_scored(oid, obs)       an INSERT that carries the default model's score of obs,
                                name and active version (as the gateway writes rows)
  update(oid, column, value)    UPDATE predictions SET column = value WHERE observation_id = oid
  row(oid)                      the row's proba, predicted_class, model, model_version,
                                true_class (None: no such row)
  models()                      predict_models: [name, active_version, is_default] by name
  versions()                    predict_model_versions: [name, version] by name, version
  delete(oid)                   DELETE FROM predictions WHERE observation_id = oid
  delete_version(name, version) DELETE FROM predict_model_versions WHERE name, version
  delete_model(name)            DELETE FROM predict_models WHERE name
  set_active_version(name, v)   UPDATE predict_models SET active_version = v WHERE name
  insert_version(name, v, doc)  INSERT INTO predict_model_versions (name, version, model)
  report(model[, since, until]) predict_report(model, since, until): the document (compared
                                as a subset); since and until are UTC timestamps as text
  explain(obs[, model])         predict_explain: the explanation, its numbers as floats
  reasons(obs, k[, model])      predict_reasons: the reasons' array, its numbers as floats

The predictions log's explanations (a version deployed with explain):
  deploy(name, doc, explain)    predict_deploy with explain (PostgreSQL's explain => ...,
                                SQLite's 1 or 0; None is SQL NULL)
  insert(..., explanation=v)    v as JSON: True asks for the row's explanation, a dict is one
  insert_scored(oid, obs, e)    insert_scored with the explanation e (as JSON), as a restore
  update(oid, "explanation", v) v as JSON
  explanation(oid)              the row's explanation, its numbers as floats (None: NULL,
                                or no such row)

A host may lack an operation (hosts.py's LACKS: managed mode has no
explanations); the cases that use it do not apply to that host.

A step's returns may be a Check: a predicate on the value, for what cannot
be written as a constant (an explanation's sum, within 1e-12).
"""

import copy
import json
import math
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with open(os.path.join(REPO, "models", "titanic.json"), encoding="utf-8") as fh:
    TITANIC = json.load(fh)
# the bundled model carries its reference's feature means (issue 20): the
# cases' TITANIC is the one without, which cannot be explained
# (TITANIC_EXPLAINED below gives it means of its own)
del TITANIC["reference"]["feature_means"]
# another version: the intercept 3 lower (other probabilities)
TITANIC_V2 = copy.deepcopy(TITANIC)
TITANIC_V2["estimator"]["intercept"] -= 3.0
# another model: the same scores, a threshold of 0.99 (other classes)
STRICT = copy.deepcopy(TITANIC)
STRICT["threshold"] = 0.99


def _tie(intercept):
    """A model whose decision is intercept whatever the row: proba 0.5 exactly for a
    tiny intercept, where "threshold": null (scikit-learn's predict(): decision > 0)
    and proba >= 0.5 disagree when it is negative."""
    doc = copy.deepcopy(TITANIC)
    doc["estimator"]["coef"] = [0.0] * len(doc["estimator"]["coef"])
    doc["estimator"]["intercept"] = intercept
    doc["threshold"] = None
    return doc


TIE_DOWN = _tie(-1e-20)
TIE_UP = _tie(1e-20)

WOMAN = {"Pclass": 1, "Sex": "female", "Age": 29, "SibSp": 0, "Parch": 0, "Fare": 211.34,
         "Cabin": "B5", "Embarked": "S"}
MAN = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25,
       "Cabin": None, "Embarked": "S"}
# their probabilities (bit for bit: bin/predict-score gives the same)
WOMAN_V1 = 0.96379032121644648
MAN_V1 = 0.09182825924632243
WOMAN_V2 = 0.56992552647112027

# ---------- explanations (docs/model-format.md, "Explanations") ----------

# The Titanic model with its reference's feature means: explainable, the same
# scores. The means here are 0, so that each contribution is coef * x.
TITANIC_EXPLAINED = copy.deepcopy(TITANIC)
TITANIC_EXPLAINED["reference"]["feature_means"] = [0.0] * len(TITANIC["estimator"]["coef"])
# And without them, as a model exported before explanations: not explainable.
TITANIC_NO_MEANS = copy.deepcopy(TITANIC)
TITANIC_NO_MEANS["reference"].pop("feature_means", None)

PROVENANCE = {"sklearn_version": "1.2.1", "exported_at": "2026-12-06T00:00:00Z", "training_rows": None,
              "source": "written by hand for the conformance cases"}

# A logistic regression whose explanations are exact in binary: x, and c
# one-hot encoded (unknown categories ignored); base = 0.25 + 1.5 * 1
# + 2 * 0.5 - 2 * 0.25 = 2.25, x contributes 1.5 (x - 1), c 2 ([c = a] - 0.5)
# - 2 ([c = b] - 0.25).
LINEAR = {
    "format": "predict-model/1", "name": "linear",
    "columns": [{"name": "x", "type": "number", "dtype": "float64"},
                {"name": "c", "type": "string", "dtype": "object"}],
    "preprocessing": [
        {"column": "x", "steps": [], "features": ["x"]},
        {"column": "c", "steps": [{"type": "impute", "value": "missing"},
                                  {"type": "one_hot", "categories": ["a", "b", "missing"], "drop": None,
                                   "handle_unknown": "ignore"}],
         "features": ["c_a", "c_b", "c_missing"]}],
    "estimator": {"type": "logistic_regression", "coef": [1.5, 2, -2, 0], "intercept": 0.25, "link": "logistic"},
    "reference": {"rows": 4, "proba": {"edges": [0.5], "fractions": [0.5, 0.5]}, "columns": [],
                  "feature_means": [1, 0.5, 0.25, 0.25]},
    "positive_class": 1, "threshold": 0.5, "provenance": PROVENANCE}
LINEAR_NO_MEANS = copy.deepcopy(LINEAR)
del LINEAR_NO_MEANS["reference"]["feature_means"]

# A decision tree with its covers: a <= 0.5 goes to a split on b (b <= 0.5:
# 0.2, cover 2; else 0.6, cover 4), a > 0.5 to 0.9 (cover 4). The base is
# the covers' mean, 0.64; for a = 0, b = 1 (proba 0.6) TreeSHAP gives a
# (v(a) - v() + v(ab) - v(b)) / 2 = (0.28 / 0.6 - 0.64 + 0.6 - 0.72) / 2 and
# b (0.72 - 0.64 + 0.6 - 0.28 / 0.6) / 2.
TREE = {
    "format": "predict-model/1", "name": "tree",
    "columns": [{"name": "a", "type": "number", "dtype": "float64"},
                {"name": "b", "type": "number", "dtype": "float64"}],
    "preprocessing": [{"column": "a", "steps": [], "features": ["a"]},
                      {"column": "b", "steps": [], "features": ["b"]}],
    "estimator": {"type": "decision_tree",
                  "tree": {"feature": [0, 1], "threshold": [0.5, 0.5], "left": [1, -1], "right": [-3, -2],
                           "value": [0.2, 0.6, 0.9], "cover": [10, 6, 2, 4, 4]}},
    "positive_class": 1, "threshold": 0.5, "provenance": PROVENANCE}
TREE_A = (0.28 / 0.6 - 0.64 + 0.6 - 0.72) / 2
TREE_B = (0.72 - 0.64 + 0.6 - 0.28 / 0.6) / 2

# A binary GaussianNB over x: it has no exact per-column explanation.
_VAR = [0.5, 2.0]
GAUSSIAN_NB = {
    "format": "predict-model/1", "name": "nb",
    "columns": [{"name": "x", "type": "number", "dtype": "float64"}],
    "preprocessing": [{"column": "x", "steps": [], "features": ["x"]}],
    "estimator": {"type": "gaussian_nb", "log_prior": [math.log(0.5), math.log(0.5)],
                  "log_norm": [-0.5 * math.log(2.0 * math.pi * v) for v in _VAR],
                  "theta": [[0.0], [1.0]], "var": [[v] for v in _VAR]},
    "positive_class": 1, "threshold": 0.5, "provenance": PROVENANCE}

CANNOT = "cannot explain this model: "
EXPLAIN_HINT = 'The models that can be explained are listed in docs/model-format.md, "Explanations".'


class Check:
    """An expected value that is a predicate rather than a constant: the step
    passes when test(value) is true. what says what it checks."""

    def __init__(self, what, test):
        self.what, self.test = what, test

    def __call__(self, value):
        return self.test(value)

    def __repr__(self):
        return "Check(%s)" % self.what


def _logit(p):
    return math.log(p / (1 - p))


def adds_up(space, total, columns):
    """An explanation in space over exactly these columns whose base plus
    contributions is total within 1e-12."""
    def test(e):
        return (isinstance(e, dict) and set(e) == {"space", "base", "contributions"} and e["space"] == space
                and set(e["contributions"]) == set(columns)
                and abs(e["base"] + math.fsum(e["contributions"].values()) - total) <= 1e-12)
    return Check("%s, base + contributions = %r" % (space, total), test)


def close(want):
    """want (nested dicts and lists), numbers within 1e-15 (hand-computed
    values that are not exact in binary)."""
    def near(w, g):
        if isinstance(w, dict):
            return isinstance(g, dict) and set(w) == set(g) and all(near(w[k], g[k]) for k in w)
        if isinstance(w, float):
            return isinstance(g, float) and abs(w - g) <= 1e-15
        return w == g
    return Check("close to %r" % (want,), lambda got: near(want, got))


def notice_reasons(obs, k):
    """At most k reasons, each a column of obs with its value (numbers as
    floats, an absent key as None) and a negative contribution, the most
    negative first, no column twice."""
    def test(reasons):
        contributions = [r["contribution"] for r in reasons]
        return (isinstance(reasons, list) and 0 < len(reasons) <= k
                and all(set(r) == {"column", "value", "contribution"} for r in reasons)
                and len({r["column"] for r in reasons}) == len(reasons)
                and all(c < 0 for c in contributions) and contributions == sorted(contributions)
                and all(r["value"] == (float(obs[r["column"]]) if isinstance(obs.get(r["column"]), (int, float))
                                       else obs.get(r["column"])) for r in reasons))
    return Check("at most %d reasons of %r" % (k, obs), test)


NAME_RULE = 'A model name is 1 to 63 characters among letters, digits, "_", "." and "-".'
AUDIT_LOG = "Predictions are an audit log: only true_class can be updated."


class DeployHint:
    """The hint of a missing model: how to deploy it on the host at hand
    (each host's deploy_hint renders it: predict_deploy in SQL where there is
    one, the gateway's deploy command in managed mode, which has none).
    name None: no default model."""

    def __init__(self, name=None):
        self.name = name

    def __repr__(self):
        return "DeployHint(%r)" % self.name


def hint_deploy(name):
    return DeployHint(name)


HINT_NO_DEFAULT = DeployHint()


class ExplainHint:
    """The hint of a null explain: how to deploy with explain on the host at
    hand (PostgreSQL's explain => true, SQLite's 1; each host's explain_hint)."""

    def __repr__(self):
        return "ExplainHint()"


# a hint or detail that is not compared (PostgreSQL's own, showing the row)
ANY = "(any)"


class Error:
    """An expected error: the message, and PostgreSQL's SQLSTATE, hint and
    detail (None: the error has none; ANY: not compared)."""

    def __init__(self, message, sqlstate, hint=None, detail=None):
        self.message, self.sqlstate, self.hint, self.detail = message, sqlstate, hint, detail

    def __repr__(self):
        return "Error(%r, %r, hint=%r, detail=%r)" % (self.message, self.sqlstate, self.hint, self.detail)


class Step:
    def __init__(self, op, *args, returns=None, error=None, **kwargs):
        self.op, self.args, self.kwargs, self.returns, self.error = op, args, kwargs, returns, error

    def __repr__(self):
        shown = [repr(a) if not isinstance(a, dict) or len(repr(a)) < 60 else "{...}" for a in self.args]
        shown += ["%s=%r" % kv for kv in self.kwargs.items()]
        return "%s(%s)" % (self.op, ", ".join(shown))


class Case:
    def __init__(self, name, kind, *steps):
        self.name, self.kind, self.steps = name, kind, steps


def deployed(*names):
    """Steps deploying TITANIC as each name in turn (versions 1)."""
    return [Step("deploy", n, TITANIC, returns=1) for n in names]


def not_exist(name):
    return Error('model "%s" does not exist' % name, "42704", hint=hint_deploy(name))


def invalid_name(name):
    return Error('invalid model name "%s"' % name, "22023", detail=NAME_RULE)


def cannot_change(column):
    return Error('column "%s" of relation "predictions" cannot be changed' % column, "42501",
                 detail=AUDIT_LOG)


NO_DEFAULT = Error("no default model is deployed", "55000", hint=HINT_NO_DEFAULT)
CANNOT_NO_MEANS = Error(CANNOT + "logistic_regression explanations need the mean of each feature over the "
                        "reference data (reference.feature_means); export the model with --reference DATA.csv",
                        "0A000", hint=EXPLAIN_HINT)
CANNOT_NB = Error(CANNOT + "a gaussian_nb estimator has no exact per-column explanation (logistic regression "
                  "and the tree models have)", "0A000", hint=EXPLAIN_HINT)


# ---------- explanations in the log ----------

# LINEAR's explanations of two observations (exact in binary)
X3B = {"x": 3, "c": "b"}
X3B_EXPLAINED = {"space": "log-odds", "base": 2.25, "contributions": {"x": 3.0, "c": -2.5}}
X0Z = {"x": 0, "c": "z"}
X0Z_EXPLAINED = {"space": "log-odds", "base": 2.25, "contributions": {"x": -1.5, "c": -0.5}}
# X3B's explanation as a restore may carry it: other key order, 3.0 for 3
# (Python's json writes 3.0 as 3.0, the hosts 3: equal as JSON values)
X3B_RESTORED = {"contributions": {"c": -2.5, "x": 3.0}, "base": 2.25, "space": "log-odds"}
EXPLANATION_SUPPLIED = Error('explanation of a new row of relation "predictions" must be true, false or null',
                             "22023",
                             detail="The log computes a new row's explanation: true asks for it, false or null "
                                    "leaves it to the version's setting.",
                             hint="Deploy the model with explain set to have every row explained.")


def not_explained(name, version):
    return Error('new row of relation "predictions" does not carry the explanation of model "%s" version %d'
                 % (name, version), "23514",
                 detail="The row's explanation differs from the one the version computes for its observation.",
                 hint="A row inserted with a model_version (as a restore does) keeps only the explanation that "
                      "version computes; set explanation to true or null to have it computed.")


def k_out_of_range(k):
    return Error("k must be between 0 and 100, got %d" % k, "22023")


ROW_V1_WOMAN = {"proba": WOMAN_V1, "predicted_class": True, "model": "titanic", "model_version": 1,
                "true_class": None}

CASES = [
    # ---------- deploy ----------
    Case("deploy_first_is_default", "deploy",
         Step("deploy", "titanic", TITANIC, returns=1),
         Step("models", returns=[["titanic", 1, True]]),
         Step("versions", returns=[["titanic", 1]])),
    Case("deploy_next_version_is_active", "deploy",
         Step("deploy", "titanic", TITANIC, returns=1),
         Step("deploy", "titanic", TITANIC_V2, returns=2),
         Step("models", returns=[["titanic", 2, True]]),
         Step("proba", WOMAN, returns=WOMAN_V2)),
    Case("deploy_second_model_not_default", "deploy",
         *deployed("titanic"),
         Step("deploy", "strict", STRICT, returns=1),
         Step("models", returns=[["strict", 1, False], ["titanic", 1, True]])),
    Case("deploy_null_name", "null argument",
         Step("deploy", None, TITANIC, error=Error("model name must not be null", "22004")),
         Step("versions", returns=[])),
    Case("deploy_invalid_document", "deploy",
         Step("deploy", "titanic", {"format": "predict-model"},
              error=Error('format: unsupported format "predict-model" (this version reads "predict-model/1")',
                          "22023")),
         Step("versions", returns=[])),
    Case("deploy_max_version", "deploy",
         Step("insert_version", "titanic", 2147483647, TITANIC, returns=None),
         Step("deploy", "titanic", TITANIC,
              error=Error('model "titanic" has reached the maximum version number', "54000")),
         Step("versions", returns=[["titanic", 2147483647]])),
    Case("deploy_null_document", "null argument",
         Step("deploy", "titanic", None, error=Error("model document must not be null", "22004")),
         Step("versions", returns=[])),

    # ---------- bad names ----------
    Case("bad_name_space", "bad name",
         Step("deploy", "bad name", TITANIC, error=invalid_name("bad name")),
         Step("versions", returns=[])),
    Case("bad_name_empty", "bad name",
         Step("deploy", "", TITANIC, error=invalid_name("")),
         Step("versions", returns=[])),
    Case("bad_name_too_long", "bad name",
         Step("deploy", "m" * 64, TITANIC, error=invalid_name("m" * 64)),
         Step("deploy", "m" * 63, TITANIC, returns=1)),
    Case("bad_name_not_ascii", "bad name",
         Step("deploy", "mod\u00e8le", TITANIC, error=invalid_name("mod\u00e8le")),
         Step("versions", returns=[])),
    Case("good_name_punctuation", "bad name",
         Step("deploy", "A-b_c.9", TITANIC, returns=1),
         Step("proba", WOMAN, "A-b_c.9", returns=WOMAN_V1)),

    # ---------- activate ----------
    Case("activate_older_version", "activate",
         Step("deploy", "titanic", TITANIC, returns=1),
         Step("deploy", "titanic", TITANIC_V2, returns=2),
         Step("activate", "titanic", 1, returns=None),
         Step("models", returns=[["titanic", 1, True]]),
         Step("proba", WOMAN, returns=WOMAN_V1),
         Step("proba", WOMAN, "titanic", returns=WOMAN_V1)),
    Case("activate_unknown_model", "unknown model",
         *deployed("titanic"),
         Step("activate", "nope", 1, error=not_exist("nope"))),
    Case("activate_unknown_version", "activate",
         *deployed("titanic"),
         Step("activate", "titanic", 9, error=Error('model "titanic" has no version 9', "42704")),
         Step("models", returns=[["titanic", 1, True]])),
    Case("activate_null_name", "null argument",
         *deployed("titanic"),
         Step("activate", None, 1, error=Error("model name must not be null", "22004"))),
    Case("activate_null_version", "null argument",
         *deployed("titanic"),
         Step("activate", "titanic", None, error=Error("model version must not be null", "22004"))),

    # a version stored by hand (as a restore stores it), then activated
    Case("activate_version_stored_by_hand", "activate",
         *deployed("titanic"),
         Step("insert_version", "titanic", 2, TITANIC_V2, returns=None),
         Step("activate", "titanic", 2, returns=None),
         Step("models", returns=[["titanic", 2, True]]),
         Step("proba", WOMAN, returns=WOMAN_V2)),
    Case("activate_invalid_version_stored_by_hand", "activate",
         *deployed("titanic"),
         Step("insert_version", "titanic", 2, {"format": "predict-model/1"}, returns=None),
         Step("activate", "titanic", 2, error=Error('(document): missing field "name"', "22023")),
         Step("models", returns=[["titanic", 1, True]])),
    Case("activate_directly_unknown_version", "activate",
         *deployed("titanic"),
         Step("set_active_version", "titanic", 9,
              error=Error('model "titanic" has no version 9', "23503",
                          detail="The active version of a model must be one of its versions in "
                                 "predict_model_versions.")),
         Step("models", returns=[["titanic", 1, True]])),

    # ---------- set default ----------
    Case("set_default_moves_the_default", "set default",
         *deployed("titanic"),
         Step("deploy", "strict", STRICT, returns=1),
         Step("set_default", "strict", returns=None),
         Step("models", returns=[["strict", 1, True], ["titanic", 1, False]]),
         Step("klass", WOMAN, returns=False),
         Step("klass", WOMAN, "titanic", returns=True)),
    Case("set_default_unknown_model", "unknown model",
         *deployed("titanic"),
         Step("set_default", "nope", error=not_exist("nope")),
         Step("models", returns=[["titanic", 1, True]])),
    Case("set_default_null", "null argument",
         *deployed("titanic"),
         Step("set_default", None, error=Error("model name must not be null", "22004"))),

    # ---------- scoring ----------
    Case("score_default_model", "scoring",
         *deployed("titanic"),
         Step("proba", WOMAN, returns=WOMAN_V1),
         Step("proba", MAN, returns=MAN_V1),
         Step("klass", WOMAN, returns=True),
         Step("klass", MAN, returns=False)),
    Case("score_named_model", "scoring",
         *deployed("titanic"),
         Step("deploy", "strict", STRICT, returns=1),
         Step("proba", WOMAN, "strict", returns=WOMAN_V1),
         Step("klass", WOMAN, "strict", returns=False),
         Step("klass", WOMAN, returns=True)),
    Case("score_ties_follow_predict", "scoring",
         Step("deploy", "tie_down", TIE_DOWN, returns=1),
         Step("deploy", "tie_up", TIE_UP, returns=1),
         Step("proba", WOMAN, "tie_down", returns=0.5),
         Step("klass", WOMAN, "tie_down", returns=False),
         Step("proba", WOMAN, "tie_up", returns=0.5),
         Step("klass", WOMAN, "tie_up", returns=True),
         Step("insert", 1, WOMAN, returns=None),
         Step("row", 1, returns=dict(ROW_V1_WOMAN, proba=0.5, predicted_class=False,
                                     model="tie_down"))),
    Case("score_without_default", "unknown model",
         Step("proba", WOMAN, error=NO_DEFAULT),
         Step("klass", WOMAN, error=NO_DEFAULT)),
    Case("score_unknown_model", "unknown model",
         *deployed("titanic"),
         Step("proba", WOMAN, "nope", error=not_exist("nope")),
         Step("klass", WOMAN, "nope", error=not_exist("nope"))),
    Case("score_bad_name", "unknown model",
         *deployed("titanic"),
         Step("proba", WOMAN, "bad name", error=not_exist("bad name"))),
    Case("score_invalid_value", "scoring",
         *deployed("titanic"),
         Step("proba", dict(WOMAN, Age="old"),
              error=Error('column "Age": expected a number, got the string "old"', "22023",
                          detail='The observation was scored with model "titanic" version 1.'))),
    Case("score_null_arguments", "null argument",
         *deployed("titanic"),
         Step("proba", None, returns=None),
         Step("proba", WOMAN, None, returns=None),
         Step("klass", None, returns=None),
         Step("klass", WOMAN, None, returns=None)),
    Case("score_not_an_object", "scoring",
         *deployed("titanic"),
         Step("proba", [1, 2], error=Error("observation: expected a JSON object, got an array", "22023"))),

    # ---------- predictions: inserts ----------
    Case("insert_scored_by_default_model", "insert",
         *deployed("titanic"),
         Step("insert", 1, WOMAN, returns=None),
         Step("row", 1, returns=ROW_V1_WOMAN)),
    Case("insert_uses_the_new_default", "insert",
         *deployed("titanic"),
         Step("deploy", "strict", STRICT, returns=1),
         Step("set_default", "strict", returns=None),
         Step("insert", 1, WOMAN, returns=None),
         Step("row", 1, returns=dict(ROW_V1_WOMAN, model="strict", predicted_class=False))),
    Case("insert_without_default", "insert",
         Step("insert", 1, WOMAN, error=NO_DEFAULT),
         Step("row", 1, returns=None)),
    Case("insert_with_score", "insert",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN, returns=None),
         Step("row", 1, returns=ROW_V1_WOMAN)),
    Case("insert_null_observation", "null argument",
         *deployed("titanic"),
         Step("insert", 1, None,
              error=Error('null value in column "observation" of relation "predictions" violates not-null constraint',
                          "23502", detail=ANY)),
         Step("row", 1, returns=None)),
    Case("insert_version_without_model", "insert",
         *deployed("titanic"),
         Step("insert", 1, WOMAN, model_version=1,
              error=Error('a row of relation "predictions" with a model_version must name its model', "23502"))),
    Case("insert_unknown_version", "insert",
         *deployed("titanic"),
         Step("insert", 1, WOMAN, model="titanic", model_version=9, proba=WOMAN_V1, predicted_class=True,
              error=Error('model "titanic" has no version 9', "42704")),
         Step("row", 1, returns=None)),
    Case("insert_unknown_model_version", "insert",
         *deployed("titanic"),
         Step("insert", 1, WOMAN, model="nope", model_version=1, proba=WOMAN_V1, predicted_class=True,
              error=Error('model "nope" has no version 1', "42704")),
         Step("row", 1, returns=None)),
    Case("insert_wrong_score", "insert",
         *deployed("titanic"),
         Step("insert", 1, WOMAN, model="titanic", model_version=1, proba=0.5, predicted_class=True,
              error=Error('new row of relation "predictions" does not carry the score of model "titanic" version 1',
                          "23514",
                          detail="The row has proba 0.5 and predicted_class true; the version computes "
                                 "0.9637903212164465 and true for its observation.",
                          hint="A row inserted with a model_version (as a restore does) keeps only the score "
                               "that version computes; leave model_version out to have the row scored by the "
                               "default model.")),
         Step("row", 1, returns=None)),

    # ---------- predictions: forbidden updates ----------
    Case("update_observation_id_forbidden", "forbidden update",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "observation_id", 2, error=cannot_change("observation_id")),
         Step("row", 1, returns=ROW_V1_WOMAN)),
    Case("update_observation_forbidden", "forbidden update",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "observation", MAN, error=cannot_change("observation")),
         Step("row", 1, returns=ROW_V1_WOMAN)),
    Case("update_proba_forbidden", "forbidden update",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "proba", 0.5, error=cannot_change("proba"))),
    Case("update_predicted_class_forbidden", "forbidden update",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "predicted_class", False, error=cannot_change("predicted_class"))),
    Case("update_model_forbidden", "forbidden update",
         *deployed("titanic"),
         Step("deploy", "strict", STRICT, returns=1),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "model", "strict", error=cannot_change("model"))),
    Case("update_model_version_forbidden", "forbidden update",
         *deployed("titanic"),
         Step("deploy", "titanic", TITANIC_V2, returns=2),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "model_version", 1, error=cannot_change("model_version"))),

    # ---------- predictions: outcomes ----------
    Case("outcome_set_and_reset", "outcome",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "true_class", 1, returns=None),
         Step("row", 1, returns=dict(ROW_V1_WOMAN, true_class=1)),
         Step("update", 1, "true_class", 0, returns=None),
         Step("row", 1, returns=dict(ROW_V1_WOMAN, true_class=0)),
         Step("update", 1, "true_class", None, returns=None),
         Step("row", 1, returns=ROW_V1_WOMAN)),
    Case("outcome_invalid", "outcome",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("update", 1, "true_class", 2,
              error=Error('new row for relation "predictions" violates check constraint '
                          '"predictions_true_class_check"', "23514", detail=ANY)),
         Step("row", 1, returns=ROW_V1_WOMAN)),

    # ---------- deletes ----------
    Case("delete_prediction", "delete",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("insert_scored", 2, MAN),
         Step("delete", 1, returns=None),
         Step("row", 1, returns=None),
         Step("row", 2, returns=dict(ROW_V1_WOMAN, proba=MAN_V1, predicted_class=False))),
    Case("delete_inactive_version", "delete",
         Step("deploy", "titanic", TITANIC, returns=1),
         Step("deploy", "titanic", TITANIC_V2, returns=2),
         Step("delete_version", "titanic", 1, returns=None),
         Step("versions", returns=[["titanic", 2]]),
         Step("proba", WOMAN, returns=WOMAN_V2)),
    Case("delete_active_version", "delete",
         *deployed("titanic"),
         Step("delete_version", "titanic", 1,
              error=Error('model "titanic" version 1 is active', "23503",
                          detail="The active version of a model cannot be deleted or renamed.",
                          hint="Activate another version first (predict_activate).")),
         Step("versions", returns=[["titanic", 1]]),
         Step("proba", WOMAN, returns=WOMAN_V1)),
    Case("delete_default_model", "delete",
         *deployed("titanic"),
         Step("deploy", "strict", STRICT, returns=1),
         Step("delete_model", "titanic", returns=None),
         Step("models", returns=[["strict", 1, False]]),
         Step("proba", WOMAN, error=NO_DEFAULT),
         Step("proba", WOMAN, "titanic", error=not_exist("titanic"))),

    # ---------- reports ----------
    Case("report_counts_rows_and_labels", "report",
         *deployed("titanic"),
         Step("insert_scored", 1, WOMAN),
         Step("insert_scored", 2, MAN),
         Step("update", 1, "true_class", 1),
         Step("report", None, returns={
             "model": "titanic", "active_version": 1,
             "versions": [{"version": 1, "active": True, "threshold": 0.5,
                           "metrics": {"rows": 2, "labelled_rows": 1, "positive_rate": 0.5,
                                       "true_positives": 1, "false_positives": 0},
                           "calibration": [{"bin": 9, "rows": 1, "lower": 0.9, "mean_proba": WOMAN_V1}]}]}),
         Step("report", "titanic", returns={"model": "titanic"})),
    Case("report_unknown_model", "report",
         *deployed("titanic"),
         Step("report", "nope", error=not_exist("nope"))),
    Case("report_since_after_until", "report",
         *deployed("titanic"),
         Step("report", None, "2026-12-02 00:00:00", "2026-12-01 00:00:00",
              error=Error("since (2026-12-02 00:00:00+00) is after until (2026-12-01 00:00:00+00)", "22023"))),
    Case("report_without_default", "report",
         Step("report", None, error=Error("no default model is deployed", "55000", hint=hint_deploy(None)))),

    # ---------- explanations ----------
    Case("explain_linear", "explain",
         Step("deploy", "linear", LINEAR, returns=1),
         Step("explain", {"x": 3, "c": "b"},
              returns={"space": "log-odds", "base": 2.25, "contributions": {"x": 3.0, "c": -2.5}}),
         Step("explain", {"x": 3, "c": "b"}, "linear",
              returns={"space": "log-odds", "base": 2.25, "contributions": {"x": 3.0, "c": -2.5}}),
         # an unknown category: what it did to the score
         Step("explain", {"x": 0, "c": "z"}, returns={"space": "log-odds", "base": 2.25,
                                                      "contributions": {"x": -1.5, "c": -0.5}}),
         # base + contributions is the decision function, 2.75
         Step("proba", {"x": 3, "c": "b"}, returns=Check("expit(2.75)",
                                                         lambda p: abs(_logit(p) - 2.75) <= 1e-12))),
    Case("explain_titanic_adds_up", "explain",
         Step("deploy", "titanic", TITANIC_EXPLAINED, returns=1),
         Step("explain", WOMAN, returns=adds_up("log-odds", _logit(WOMAN_V1), WOMAN)),
         Step("explain", MAN, "titanic", returns=adds_up("log-odds", _logit(MAN_V1), MAN)),
         Step("proba", WOMAN, returns=WOMAN_V1)),
    Case("explain_tree", "explain",
         Step("deploy", "tree", TREE, returns=1),
         Step("explain", {"a": 0, "b": 1},
              returns=close({"space": "probability", "base": 0.64, "contributions": {"a": TREE_A, "b": TREE_B}})),
         Step("explain", {"a": 0, "b": 1}, returns=adds_up("probability", 0.6, ["a", "b"])),
         Step("explain", {"a": 1, "b": 0}, returns=adds_up("probability", 0.9, ["a", "b"])),
         Step("proba", {"a": 0, "b": 1}, returns=0.6)),
    Case("explain_scoring_errors", "explain",
         Step("deploy", "titanic", TITANIC_EXPLAINED, returns=1),
         Step("explain", dict(WOMAN, Age="old"),
              error=Error('column "Age": expected a number, got the string "old"', "22023",
                          detail='The observation was scored with model "titanic" version 1.')),
         Step("reasons", dict(WOMAN, Age="old"), 3,
              error=Error('column "Age": expected a number, got the string "old"', "22023",
                          detail='The observation was scored with model "titanic" version 1.')),
         Step("explain", [1, 2], error=Error("observation: expected a JSON object, got an array", "22023")),
         Step("reasons", [1, 2], 3, error=Error("observation: expected a JSON object, got an array", "22023"))),
    Case("explain_unknown_model", "unknown model",
         Step("explain", WOMAN, error=NO_DEFAULT),
         Step("reasons", WOMAN, 3, error=NO_DEFAULT),
         *deployed("titanic"),
         Step("explain", WOMAN, "nope", error=not_exist("nope")),
         Step("reasons", WOMAN, 3, "nope", error=not_exist("nope"))),
    Case("explain_null_arguments", "null argument",
         Step("deploy", "linear", LINEAR, returns=1),
         Step("explain", None, returns=None),
         Step("explain", {"x": 3}, None, returns=None),
         Step("reasons", None, 3, returns=None),
         Step("reasons", {"x": 3}, None, returns=None),
         Step("reasons", {"x": 3}, 3, None, returns=None)),
    Case("explain_unsupported", "explain",
         # the model's fault, whatever the observation
         Step("deploy", "titanic", TITANIC_NO_MEANS, returns=1),
         Step("explain", WOMAN, error=CANNOT_NO_MEANS),
         Step("explain", [1, 2], error=CANNOT_NO_MEANS),
         Step("reasons", WOMAN, 3, "titanic", error=CANNOT_NO_MEANS),
         Step("deploy", "linear", LINEAR_NO_MEANS, returns=1),
         Step("explain", {"x": 3}, "linear", error=CANNOT_NO_MEANS),
         Step("deploy", "nb", GAUSSIAN_NB, returns=1),
         Step("explain", {"x": 1}, "nb", error=CANNOT_NB),
         Step("reasons", {"x": 1}, 1, "nb", error=CANNOT_NB),
         Step("proba", {"x": 1}, "nb", returns=Check("a probability", lambda p: 0 < p < 1))),
    Case("reasons_most_negative_first", "reasons",
         Step("deploy", "linear", LINEAR, returns=1),
         # x contributes -6, c -2.5
         Step("reasons", {"x": -3, "c": "b"}, 3,
              returns=[{"column": "x", "value": -3.0, "contribution": -6.0},
                       {"column": "c", "value": "b", "contribution": -2.5}]),
         Step("reasons", {"x": -3, "c": "b"}, 1, "linear",
              returns=[{"column": "x", "value": -3.0, "contribution": -6.0}]),
         # only what lowered the score: x contributes +3 here
         Step("reasons", {"x": 3, "c": "b"}, 100, returns=[{"column": "c", "value": "b", "contribution": -2.5}]),
         # a missing value is null; a string as it came (\u00e9 in the JSON text)
         Step("reasons", {"x": -3}, 2, returns=[{"column": "x", "value": -3.0, "contribution": -6.0},
                                                {"column": "c", "value": None, "contribution": -0.5}]),
         Step("reasons", {"x": 3, "c": "\u00e9t\u00e9"}, 2,
              returns=[{"column": "c", "value": "\u00e9t\u00e9", "contribution": -0.5}]),
         Step("reasons", {"x": 1, "c": "a"}, 2, returns=[])),
    Case("reasons_titanic", "reasons",
         Step("deploy", "titanic", TITANIC_EXPLAINED, returns=1),
         Step("reasons", MAN, 3, returns=notice_reasons(MAN, 3)),
         Step("reasons", WOMAN, 8, "titanic", returns=notice_reasons(WOMAN, 8))),
    Case("reasons_k_zero", "reasons",
         Step("deploy", "linear", LINEAR, returns=1),
         Step("reasons", {"x": -3, "c": "b"}, 0, returns=[])),
    # ---------- explanations in the log ----------
    Case("log_explain_explains_every_row", "explanation log",
         Step("deploy", "linear", LINEAR, True, returns=1),
         Step("explain", X3B, returns=X3B_EXPLAINED),
         Step("insert", 1, X3B, returns=None),
         Step("insert", 2, X0Z, explanation=None, returns=None),
         Step("insert", 3, X3B, explanation=False, returns=None),    # false leaves it to the version
         Step("insert_scored", 4, X0Z),                              # the gateway's rows too
         Step("explanation", 1, returns=X3B_EXPLAINED),
         Step("explanation", 2, returns=X0Z_EXPLAINED),
         Step("explanation", 3, returns=X3B_EXPLAINED),
         Step("explanation", 4, returns=X0Z_EXPLAINED),
         Step("row", 1, returns={"proba": Check("expit(2.75)", lambda p: abs(_logit(p) - 2.75) <= 1e-12),
                                 "model": "linear", "model_version": 1})),
    Case("log_explain_titanic_adds_up", "explanation log",
         Step("deploy", "titanic", TITANIC_EXPLAINED, True, returns=1),
         Step("insert", 1, WOMAN),
         Step("insert_scored", 2, MAN),
         Step("explanation", 1, returns=adds_up("log-odds", _logit(WOMAN_V1), WOMAN)),
         Step("explanation", 2, returns=adds_up("log-odds", _logit(MAN_V1), MAN))),
    Case("log_explain_off_leaves_null", "explanation log",
         Step("deploy", "linear", LINEAR, returns=1),
         Step("deploy", "linear", LINEAR, False, returns=2),
         Step("insert", 1, X3B),
         Step("insert", 2, X3B, explanation=False),
         Step("insert_scored", 3, X3B),
         Step("explanation", 1, returns=None),
         Step("explanation", 2, returns=None),
         Step("explanation", 3, returns=None),
         Step("row", 1, returns={"model": "linear", "model_version": 2})),
    Case("log_insert_asks_with_true", "explanation log",
         Step("deploy", "linear", LINEAR, returns=1),
         Step("insert", 1, X3B, explanation=True),
         Step("insert", 2, X0Z, explanation=True),
         Step("explanation", 1, returns=X3B_EXPLAINED),
         Step("explanation", 2, returns=X0Z_EXPLAINED)),
    Case("log_new_row_supplied_explanation", "explanation log",
         Step("deploy", "linear", LINEAR, True, returns=1),
         Step("insert", 1, X3B, explanation=X3B_EXPLAINED, error=EXPLANATION_SUPPLIED),
         Step("insert", 1, X3B, explanation={}, error=EXPLANATION_SUPPLIED),
         Step("insert", 1, X3B, explanation=2, error=EXPLANATION_SUPPLIED),
         Step("row", 1, returns=None)),
    Case("log_restored_row_keeps_its_explanation", "explanation log",
         Step("deploy", "linear", LINEAR, returns=1),
         Step("insert_scored", 1, X3B, X3B_RESTORED, returns=None),
         Step("explanation", 1, returns=X3B_EXPLAINED),
         Step("deploy", "linear", LINEAR, True, returns=2),
         Step("insert_scored", 2, X0Z, X0Z_EXPLAINED, returns=None),
         Step("explanation", 2, returns=X0Z_EXPLAINED)),
    Case("log_restored_row_other_explanation", "explanation log",
         Step("deploy", "linear", LINEAR, True, returns=1),
         Step("insert_scored", 1, X3B, dict(X3B_EXPLAINED, base=2.5), error=not_explained("linear", 1)),
         Step("insert_scored", 1, X3B, X0Z_EXPLAINED, error=not_explained("linear", 1)),
         Step("insert_scored", 1, X3B, dict(X3B_EXPLAINED, contributions={"x": 3.0}),
              error=not_explained("linear", 1)),
         Step("row", 1, returns=None)),
    Case("log_restored_row_filled", "explanation log",
         Step("deploy", "linear", LINEAR, True, returns=1),
         Step("insert_scored", 1, X3B, None),
         Step("insert_scored", 2, X0Z, False),
         Step("insert_scored", 3, X3B, True),
         Step("deploy", "linear", LINEAR, returns=2),
         Step("insert_scored", 4, X3B, None),
         Step("insert_scored", 5, X3B, False),
         Step("insert_scored", 6, X0Z, True),
         Step("explanation", 1, returns=X3B_EXPLAINED),
         Step("explanation", 2, returns=X0Z_EXPLAINED),
         Step("explanation", 3, returns=X3B_EXPLAINED),
         Step("explanation", 4, returns=None),
         Step("explanation", 5, returns=None),
         Step("explanation", 6, returns=X0Z_EXPLAINED),
         Step("row", 6, returns={"model": "linear", "model_version": 2})),
    Case("log_update_explanation_forbidden", "forbidden update",
         Step("deploy", "linear", LINEAR, True, returns=1),
         Step("insert", 1, X3B),
         Step("deploy", "linear", LINEAR, returns=2),
         Step("insert", 2, X3B),
         Step("update", 1, "explanation", None, error=cannot_change("explanation")),
         Step("update", 1, "explanation", X0Z_EXPLAINED, error=cannot_change("explanation")),
         Step("update", 2, "explanation", X3B_EXPLAINED, error=cannot_change("explanation")),
         Step("update", 2, "explanation", True, error=cannot_change("explanation")),
         Step("update", 1, "true_class", 1, returns=None),
         Step("explanation", 1, returns=X3B_EXPLAINED),
         Step("explanation", 2, returns=None)),
    Case("log_deploy_explain_unexplainable", "explanation log",
         Step("deploy", "titanic", TITANIC_NO_MEANS, True, error=CANNOT_NO_MEANS),
         Step("deploy", "linear", LINEAR_NO_MEANS, True, error=CANNOT_NO_MEANS),
         Step("versions", returns=[]),
         Step("deploy", "titanic", TITANIC_NO_MEANS, False, returns=1)),
    Case("log_deploy_explain_null", "null argument",
         Step("deploy", "linear", LINEAR, None, error=Error("explain must not be null", "22004", hint=ExplainHint())),
         Step("versions", returns=[])),
    Case("log_unexplainable_model_asked", "explanation log",
         Step("deploy", "titanic", TITANIC_NO_MEANS, returns=1),
         Step("insert", 1, WOMAN, returns=None),
         Step("insert", 2, WOMAN, explanation=True, error=CANNOT_NO_MEANS),
         Step("insert_scored", 3, WOMAN, True, error=CANNOT_NO_MEANS),
         Step("explanation", 1, returns=None),
         Step("row", 2, returns=None),
         Step("row", 3, returns=None)),
    Case("reasons_k_out_of_range", "reasons",
         # k is checked first: the caller's mistake whatever the registry holds
         Step("reasons", WOMAN, 101, error=k_out_of_range(101)),
         Step("deploy", "linear", LINEAR, returns=1),
         Step("reasons", {"x": -3}, -1, error=k_out_of_range(-1)),
         Step("reasons", {"x": -3}, 101, "linear", error=k_out_of_range(101)),
         Step("reasons", {"x": -3}, 100, returns=[{"column": "x", "value": -3.0, "contribution": -6.0},
                                                  {"column": "c", "value": None, "contribution": -0.5}])),
]

assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
