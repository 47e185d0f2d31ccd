"""Parity of `predict-score --explain` (issue 20) with the reference of shapley.py.

For each model of models.py: fit on the Titanic data, export with
tools/predict-export (the linear models with the training rows as their
reference, whose feature means the explanation centres on), score JSON lines
with `bin/predict-score --model M --explain -` and compare every line's

    "explanation": {"space": S, "base": b, "contributions": {"<column>": c, ...}}

with the brute-force reference: the same space, base and per-column
contributions within EXPLAIN_TOLERANCE (absolute), one entry per input column
of the model (0 for the columns it does not read); base + sum(c) equal to the
model's raw output (log-odds, or the probability for the probability trees);
the rows scikit-learn refuses refused.  Rows: all Titanic training rows, then
adversarial ones: each column absent and null, unseen categories, an empty
object, and numbers exactly on (and one float32 or float64 step around) the
split thresholds of the fitted trees.  Models that cannot be explained
(AdaBoost, GaussianNB, a PCA stage) must make --explain fail, saying why.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
for path in (os.path.join(REPO, "tools"), TEST, os.path.join(TEST, "parity"), HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import models  # noqa: E402
import predict_export as pe  # noqa: E402  (tools/)
import shapley  # noqa: E402
import titanic_data  # noqa: E402
from adversarial import (_feature_targets, _replace,  # noqa: E402  (test/parity/)
                         _xgboost_targets)


def _parity_conftest():
    """test/parity/conftest.py's helpers (the exporter run in-process, the CLI's path),
    loaded under their own name: another suite's conftest may be "conftest" here."""
    spec = importlib.util.spec_from_file_location(
        "parity_conftest", os.path.join(TEST, "parity", "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


parity = _parity_conftest()

EXPLAIN_TOLERANCE = 1e-9
# XGBoost models are compared with XGBoost's own explanation, pred_contribs summed per
# column, and its own output_margin and proba.  XGBoost computes these in float32:
# they differ from the float64 definition of shapley.py by up to about 1e-6
# (test_shapley.py bounds that by 1e-5). predict-score reproduces XGBoost's float32
# arithmetic, so its values equal pred_contribs: the parity bound stays 1e-9.
XGBOOST_TOLERANCE = 1e-9
# But XGBoost's own explanation adds up to its margin only to float32's precision (its
# contributions and bias are float32 values rounded apart; XGBoost's margin is another
# float32 sum): base + sum is held to 8 float32 units in the last place of the margin.
XGBOOST_ADDITIVITY = 2.0 ** -20
MAX_THRESHOLD_ROWS = 400    # rows aimed at split thresholds, per model


# ---------- running the CLI ----------

def run_explain(predict_score, model_path, lines, explain=True):
    """(exit status, one parsed JSON object per output line, stderr)."""
    args = [predict_score, "--model", str(model_path)] + (["--explain"] if explain else [])
    proc = subprocess.run(args + ["-"], input="".join(t + "\n" for t in lines).encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    out = []
    for text in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            out.append(json.loads(text))
        except ValueError:
            out.append({"error": "not JSON: %r" % text[:200]})
    return proc.returncode, out, proc.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="session")
def predict_score():
    path = parity.PREDICT_SCORE
    if not os.access(path, os.X_OK):
        pytest.fail("%s not found: run `make` in %s first ($PREDICT_SCORE overrides its "
                    "path)" % (path, REPO), pytrace=False)
    return path


@pytest.fixture(scope="session")
def titanic_xy():
    return titanic_data.features_and_target(titanic_data.load_titanic())


# ---------- adversarial rows ----------

def split_thresholds(est):
    """{(feature, threshold)} of the numeric splits of a fitted tree estimator, read from
    the estimator itself (not from the document), and how it compares: "standard"
    (float32 x <= float64 threshold), "float64" (HistGradientBoosting) or "xgboost"
    (float32 x < float32 condition)."""
    name = type(est).__name__
    pairs = set()
    if name == "HistGradientBoostingClassifier":
        for (p,) in est._predictors:
            nodes = p.nodes[(p.nodes["is_leaf"] == 0) & (p.nodes["is_categorical"] == 0)]
            pairs |= {(int(f), float(t)) for f, t in zip(nodes["feature_idx"],
                                                          nodes["num_threshold"])}
        return pairs, "float64"
    if name == "XGBClassifier":
        _, trees = shapley.xgboost_model(est.get_booster())
        for t in trees:
            inner = t.feature >= 0
            pairs |= {(int(f), float(c)) for f, c in zip(t.feature[inner], t.condition[inner])}
        return pairs, "xgboost"
    trees = [est] if hasattr(est, "tree_") else list(np.ravel(est.estimators_))
    for t in trees:
        inner = t.tree_.children_left >= 0
        pairs |= {(int(f), float(v)) for f, v in zip(t.tree_.feature[inner],
                                                     t.tree_.threshold[inner])}
    return pairs, "standard"


def _feature_is_value(pipeline, doc, base, column, feature, value):
    """Whether the estimator's feature is exactly the column's value (a passthrough or an
    imputer): checked by transforming the row, not assumed."""
    obs = json.loads(_replace(base, column, json.dumps(value)))
    frame = pe.reference_frame([obs], pe.model_columns(doc), pe.infinite_columns(doc))
    _, Xt = shapley.preprocess(pipeline, frame)
    return shapley._dense(Xt)[0, feature] == value


def threshold_lines(pipeline, doc, base, mapping):
    """[(label, json text)]: base with one number column set on a split's threshold and
    one step either side of it in the precision the estimator compares in."""
    pairs, rule = split_thresholds(pipeline.steps[-1][1])
    numbers = {c["name"] for c in doc["columns"] if c["type"] == "number"}
    is_value = {}
    lines = []
    for feature, thr in sorted(pairs):
        column = mapping[feature]
        if column not in numbers or not math.isfinite(thr):
            continue
        if feature not in is_value:
            is_value[feature] = _feature_is_value(pipeline, doc, base, column, feature, thr)
        if not is_value[feature]:
            continue        # the feature is not the raw value (scaled, encoded)
        targets = _feature_targets(thr, rule != "float64")
        if rule == "xgboost":
            targets += _xgboost_targets(thr) + [float(np.float32(thr))]
        for z in sorted({float(z) for z in targets}):
            lines.append(("%s=%r (split on feature %d at %r)" % (column, z, feature, thr),
                          _replace(base, column, json.dumps(z))))
    if len(lines) > MAX_THRESHOLD_ROWS:
        step = len(lines) / MAX_THRESHOLD_ROWS
        lines = [lines[int(i * step)] for i in range(MAX_THRESHOLD_ROWS)]
    return lines


def adversarial_rows(pipeline, doc, observations, mapping):
    """[(label, json text)]: missing values, unseen categories and split thresholds,
    on a complete Titanic row and on one with Age missing."""
    complete = max(observations, key=len)
    no_age = next(o for o in observations if "Age" not in o and "Embarked" in o)
    read = pe.used_columns(doc)
    lines = [("empty object", "{}"),
             ("every column null", json.dumps({c["name"]: None for c in doc["columns"]}))]
    for base, which in ((complete, "complete row"), (no_age, "row without Age")):
        for col in doc["columns"]:
            name = col["name"]
            lines.append(("%s: %s absent" % (which, name), _replace(base, name, None)))
            lines.append(("%s: %s null" % (which, name), _replace(base, name, "null")))
            if col["type"] == "string" and name in read:
                lines.append(("%s: %s unseen" % (which, name), _replace(base, name, '"Zzz"')))
    if type(pipeline.steps[-1][1]).__name__ != "LogisticRegression":
        lines += threshold_lines(pipeline, doc, complete, mapping)
    return lines


# ---------- fitting, exporting, explaining ----------

_EXPORTED = {}
_RUNS = {}


@pytest.fixture(scope="session")
def exported(titanic_xy, tmp_path_factory):
    """name -> dict of the fitted model, its document, the rows and the reference's
    explanations (computed once per model)."""
    import joblib
    X, y = titanic_xy

    def run(name):
        if name in _EXPORTED:
            return _EXPORTED[name]
        tmp = tmp_path_factory.mktemp(name)
        pipeline = models.MODELS[name](X, y)
        pkl = tmp / ("%s.pkl" % name)
        joblib.dump(pipeline, pkl)
        model = tmp / "model.json"
        args = [pkl, "-o", model]
        linear = name in models.LINEAR
        if linear:
            # the training rows as the reference: the explanation's feature means
            X.to_csv(tmp / "reference.csv", index=False)
            args += ["--reference", tmp / "reference.csv"]
        status, stderr = parity.export_in_process(*args)
        assert status == 0, "predict-export failed:\n%s" % stderr
        with open(model) as fh:
            doc = json.load(fh)
        columns = [c["name"] for c in doc["columns"]]
        assert columns == list(X.columns)
        mapping = shapley.feature_columns(pipeline, columns)

        observations = pe.frame_to_observations(X, columns)
        labelled = [("row %d" % (i + 1), pe.observation_line(o))
                    for i, o in enumerate(observations)]
        labelled += adversarial_rows(pipeline, doc, observations, mapping)
        labels = [label for label, _ in labelled]
        texts = [text for _, text in labelled]
        parsed = [json.loads(t) for t in texts]

        # the reference, on the rows scikit-learn scores (the docs' reading rules)
        scores = pe.sklearn_scores(pipeline, doc, parsed)
        kept = [i for i, s in enumerate(scores) if not isinstance(s, Exception)]
        frame = pe.reference_frame([parsed[i] for i in kept], pe.model_columns(doc),
                                   pe.infinite_columns(doc))
        means = shapley.reference_means(pipeline, X) if linear else None
        e = shapley.explain(pipeline, frame, means)
        by_column = shapley.per_column(e.phi, mapping, columns)
        raw = shapley.raw_output(pipeline, frame)
        reference = [None] * len(texts)
        for k, i in enumerate(kept):
            reference[i] = {"space": e.space, "base": float(e.base[k]),
                            "contributions": {c: float(by_column[c][k]) for c in columns},
                            "raw": float(raw[k])}
        if name.startswith("xgboost"):
            xgboost_own(pipeline, frame, mapping, columns, [reference[i] for i in kept])
        _EXPORTED[name] = {"pipeline": pipeline, "doc": doc, "model": model,
                           "columns": columns, "mapping": mapping, "means": means,
                           "labels": labels, "texts": texts, "reference": reference}
        return _EXPORTED[name]
    return run


@pytest.fixture(scope="session")
def explained(exported, predict_score):
    """name -> exported(name) with predict-score --explain's output lines ("got"), its
    exit status and stderr."""
    def run(name):
        if name not in _RUNS:
            r = dict(exported(name))
            status, got, stderr = run_explain(predict_score, r["model"], r["texts"])
            assert len(got) == len(r["texts"]), \
                "predict-score wrote %d lines for %d (exit %d): %s" % (
                    len(got), len(r["texts"]), status, stderr.strip()[:2000])
            r.update(got=got, status=status, stderr=stderr)
            _RUNS[name] = r
        return _RUNS[name]
    return run


def xgboost_own(pipeline, frame, mapping, columns, references):
    """Make XGBoost's own values the references: pred_contribs summed per column, its
    bias column as the base (raw stays output_margin); the float64 brute force is
    kept as "float64" to show beside a difference."""
    import xgboost
    est, Xt = shapley.preprocess(pipeline, frame)
    contribs = est.get_booster().predict(xgboost.DMatrix(Xt), pred_contribs=True)
    contribs = contribs.astype(np.float64)
    by_column = shapley.per_column(contribs[:, :-1], mapping, columns)
    for k, ref in enumerate(references):
        ref["float64"] = {"base": ref["base"], "contributions": ref["contributions"]}
        ref["base"] = float(contribs[k, -1])
        ref["contributions"] = {c: float(by_column[c][k]) for c in columns}


def tolerance(name):
    return XGBOOST_TOLERANCE if name.startswith("xgboost") else EXPLAIN_TOLERANCE


def explanation_problems(ref, line, tol):
    """What differs between a reference explanation (None: scikit-learn refuses the row)
    and predict-score's output line, as a list of strings."""
    if ref is None:
        return [] if "error" in line else ["scikit-learn refuses the row, predict-score "
                                           "answers %s" % json.dumps(line)[:300]]
    if "error" in line:
        return ["predict-score refuses the row: %s" % line["error"]]
    ex = line.get("explanation")
    if not isinstance(ex, dict):
        return ["no \"explanation\" object in %s" % json.dumps(line)[:300]]
    problems = []
    if ex.get("space") != ref["space"]:
        problems.append("space %r, expected %r" % (ex.get("space"), ref["space"]))
    base = ex.get("base")
    also = ref.get("float64")       # XGBoost: the float64 definition's value too
    if not isinstance(base, (int, float)) or not abs(base - ref["base"]) <= tol:
        problems.append("base %r, expected %r%s" % (
            base, ref["base"], " (float64 definition: %r)" % also["base"] if also else ""))
    contributions = ex.get("contributions")
    if not isinstance(contributions, dict):
        return problems + ["contributions %r is not an object" % (contributions,)]
    if set(contributions) != set(ref["contributions"]):
        problems.append("columns %s, expected %s" % (sorted(contributions),
                                                     sorted(ref["contributions"])))
    for col, want in ref["contributions"].items():
        c = contributions.get(col)
        if col in contributions and (not isinstance(c, (int, float)) or
                                     not abs(c - want) <= tol):
            problems.append("%s: %r, expected %r (difference %.3g)%s" % (
                col, c, want, abs(c - want) if isinstance(c, (int, float)) else math.nan,
                " (float64 definition: %r)" % also["contributions"][col] if also else ""))
    return problems


def report(r, bad, limit=12):
    out = []
    for i, problems in bad[:limit]:
        out.append("  [%s] %s\n      %s" % (r["labels"][i], r["texts"][i][:200],
                                           "\n      ".join(problems[:6])))
    if len(bad) > limit:
        out.append("  ... and %d more" % (len(bad) - limit))
    return "\n".join(out)


# ---------- the tests ----------

@pytest.mark.parametrize("name", list(models.MODELS))
def test_explanations_match_the_reference(name, explained):
    """Every line: the same space, base and per-column contributions as the brute-force
    reference within the tolerance, one entry per input column; refused rows refused."""
    r = explained(name)
    tol = tolerance(name)
    bad = [(i, p) for i, (ref, line) in enumerate(zip(r["reference"], r["got"]))
           for p in [explanation_problems(ref, line, tol)] if p]
    assert not bad, "%d of %d lines differ from the reference (%s, exit %d%s):\n%s" % (
        len(bad), len(r["got"]), r["model"], r["status"],
        ", stderr: " + r["stderr"].strip()[:500] if r["stderr"].strip() else "",
        report(r, bad))


@pytest.mark.parametrize("name", list(models.MODELS))
def test_base_plus_contributions_is_the_raw_output(name, explained):
    """On every scored line: base + sum(contributions) is scikit-learn's raw output (for
    XGBoost its float32 output_margin), and the same number as the line's own proba:
    expit of it (log-odds) or itself (probability)."""
    r = explained(name)
    bad = []
    for i, (ref, line) in enumerate(zip(r["reference"], r["got"])):
        ex = line.get("explanation")
        if ref is None or not isinstance(ex, dict):
            continue      # test_explanations_match_the_reference reports these
        total = ex["base"] + sum(ex["contributions"].values())
        tol = XGBOOST_ADDITIVITY * max(1.0, abs(ref["raw"])) if name.startswith("xgboost") \
            else EXPLAIN_TOLERANCE
        problems = []
        if not abs(total - ref["raw"]) <= tol:
            problems.append("base + sum = %r, raw output %r" % (total, ref["raw"]))
        implied = 1 / (1 + math.exp(-total)) if ex["space"] == "log-odds" else total
        if not abs(implied - line["proba"]) <= tol:
            problems.append("base + sum = %r implies proba %r, the line says %r"
                            % (total, implied, line["proba"]))
        if problems:
            bad.append((i, problems))
    scored = sum(1 for ref in r["reference"] if ref is not None)
    assert scored > 891 * 0.9
    assert not bad, "%d lines do not add up:\n%s" % (len(bad), report(r, bad))


@pytest.mark.parametrize("name", list(models.MODELS))
def test_explain_changes_no_score(name, explained, predict_score):
    """--explain adds "explanation" and changes nothing else of a line: proba and
    predicted_class as without it, bit for bit, the same errors."""
    r = explained(name)
    status, plain, _ = run_explain(predict_score, r["model"], r["texts"], explain=False)
    assert status in (0, 1) and len(plain) == len(r["got"])
    for i, (a, b) in enumerate(zip(plain, r["got"])):
        assert "explanation" not in a, r["labels"][i]
        assert {k: v for k, v in b.items() if k != "explanation"} == a, r["labels"][i]


@pytest.mark.parametrize("name", list(models.MODELS))
def test_rows_are_adversarial(name, exported):
    """The rows do what they are for: missing values and unseen categories are scored,
    trees get rows on their thresholds, and contributions are not trivially zero."""
    r = exported(name)
    labels = r["labels"]
    scored = [ref is not None for ref in r["reference"]]
    assert all(s for label, s in zip(labels, scored) if label.endswith((" absent", " null")))
    assert any(label.endswith(" unseen") for label in labels)
    if name not in models.LINEAR:
        aimed = [label for label in labels if "(split on feature" in label]
        assert len(aimed) >= 20, aimed
    refs = [ref for ref in r["reference"] if ref is not None]
    varying = [c for c in r["columns"] if np.ptp([ref["contributions"][c] for ref in refs]) > 1e-6]
    assert len(varying) >= 3, varying
    if "Parch" not in r["mapping"]:     # tree_pre reads no Parch: its entry is 0
        assert all(ref["contributions"]["Parch"] == 0.0 for ref in refs)


@pytest.mark.parametrize("name", list(models.LINEAR))
def test_linear_reference_feature_means(name, exported):
    """The exporter stores the reference rows' mean of every feature the estimator reads
    (reference.feature_means, in the estimator's feature order): the reference's mu."""
    r = exported(name)
    ref = r["doc"].get("reference") or {}
    assert "feature_means" in ref, "the document's reference has no feature_means: %s" % (
        sorted(ref))
    means = ref["feature_means"]
    est = r["pipeline"].steps[-1][1]
    assert r["doc"]["estimator"]["coef"] == [float(c) for c in est.coef_[0]]
    assert len(means) == len(r["means"])
    assert np.abs(np.array(means, dtype=np.float64) - r["means"]).max() <= 1e-12


@pytest.mark.parametrize("name", list(models.UNEXPLAINABLE))
def test_unexplainable_models_say_why(name, titanic_xy, predict_score, tmp_path):
    """AdaBoost, GaussianNB and a PCA stage have no per-column explanation defined:
    --explain fails (non-zero exit), with a message that names explain, at startup or
    on every line; without --explain the same model scores."""
    import joblib
    X, y = titanic_xy
    pipeline = models.UNEXPLAINABLE[name](X, y)
    pkl = tmp_path / ("%s.pkl" % name)
    joblib.dump(pipeline, pkl)
    model = tmp_path / "model.json"
    status, stderr = parity.export_in_process(pkl, "-o", model)
    assert status == 0, "predict-export failed:\n%s" % stderr
    lines = [pe.observation_line(o) for o in pe.frame_to_observations(X.iloc[:5], list(X))]
    plain_status, plain, _ = run_explain(predict_score, model, lines, explain=False)
    assert plain_status == 0 and all("proba" in line for line in plain)
    status, out, stderr = run_explain(predict_score, model, lines)
    assert status != 0, "--explain on %s exited 0: %s" % (name, out[:2])
    assert not any("explanation" in line for line in out)
    said = stderr + " ".join(str(line.get("error", "")) for line in out)
    assert "explain" in said.lower(), "no word of explain in: %r" % said[:500]
    # a CLI without the option also "names" it: that is not the refusal meant here
    assert "unrecognized option" not in said and "usage:" not in said, said[:500]
    if out:
        assert len(out) == len(lines) and all("error" in line for line in out)
