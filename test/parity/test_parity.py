"""Parity: every pipeline variant, exported and scored in C, against scikit-learn.

For each variant of variants.py: fit on the Titanic data, export with
tools/predict-export, score with bin/predict-score, and compare with
predict_proba[:, 1] on the same rows, built per docs/model-format.md
("Columns and input values"), for all 891 rows plus adversarial ones.
The rows scikit-learn rejects must be exactly the rows predict-score
answers with an error, and the probabilities must agree within 1e-12.
"""

import json
import os

import pytest

import predict_export as pe
from conftest import mismatch_report as _mismatch_report
from variants import VARIANTS

@pytest.mark.parametrize("name", list(VARIANTS))
def test_titanic_rows(name, variant_run):
    """All 891 rows: scored by both sides, max |difference| <= 1e-12."""
    r = variant_run(name)
    lines, ref, got = r["rows"]
    assert len(lines) == 891 or not lines
    max_diff, bad = pe.compare(ref, got)
    labels = ["row %d" % (i + 1) for i in range(len(lines))]
    assert not bad, "%d of %d rows differ (max |diff| %.3g):\n%s" % (
        len(bad), len(lines), max_diff, _mismatch_report(labels, lines, ref, got, bad))
    assert all(isinstance(p, float) for p in got), "training rows must all be scored"
    assert max_diff <= pe.TOLERANCE
    # the comparison is not vacuous: the probabilities vary
    assert max(got) - min(got) > 0.1


@pytest.mark.parametrize("name", list(VARIANTS))
def test_adversarial_rows(name, variant_run):
    """Adversarial rows: same rejected rows, same probabilities."""
    r = variant_run(name)
    labels, texts, ref, got = r["adversarial"]
    max_diff, bad = pe.compare(ref, got)
    assert not bad, "%d of %d adversarial rows differ:\n%s" % (
        len(bad), len(texts), _mismatch_report(labels, texts, ref, got, bad))
    assert max_diff <= pe.TOLERANCE
    n_err = sum(1 for g in got if isinstance(g, str))
    assert 0 < n_err < len(got), "expected some rejected and some scored adversarial rows"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_null_is_absent(name, variant_run):
    """docs (†1): a JSON null scores exactly like an absent key, for every column."""
    r = variant_run(name)
    labels, texts, ref, got = r["adversarial"]
    by_label = dict(zip(labels, got))
    checked = 0
    for col in r["doc"]["columns"]:
        a, n = by_label.get("%s absent" % col["name"]), by_label.get("%s null" % col["name"])
        if a is None and n is None:
            continue
        checked += 1
        if isinstance(a, str) or isinstance(n, str):
            assert isinstance(a, str) and isinstance(n, str), (col["name"], a, n)
        else:
            assert a == n, (col["name"], a, n)
    assert checked > 0


def test_tutorial_null_cabin_differs_from_tutorial_frame(variant_run, predict_score):
    """The docs' example: the tutorial's astype keeps a null Cabin as None, which
    SimpleImputer does not impute; predict-score treats null as missing (†1)."""
    import numpy as np
    import pandas as pd
    r = variant_run("tutorial")
    pipeline = r["variant"].estimator
    cols = [c["name"] for c in r["doc"]["columns"]]
    obs = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25,
           "Embarked": "S"}
    dtypes = r["variant"].X.dtypes
    with_none = pd.DataFrame([dict(obs, Cabin=None)], columns=cols).astype(dtypes)
    absent = pd.DataFrame([obs], columns=cols).astype(dtypes)
    p_none = pipeline.predict_proba(with_none)[0, 1]
    p_absent = pipeline.predict_proba(absent)[0, 1]
    assert p_none != p_absent        # the tutorial's behaviour
    got = pe.c_scores(str(r["model"]), [json.dumps(dict(obs, Cabin=None)), json.dumps(obs)],
                      predict_score)
    assert got[0] == got[1]
    assert abs(got[1] - p_absent) <= pe.TOLERANCE
    assert not np.isnan(p_none)


def test_coverage(variant_run):
    """The variants together exercise every step type and option of the format."""
    seen = set()
    for name in VARIANTS:
        doc = variant_run(name)["doc"]
        est = doc["estimator"]
        seen.add("link:" + est["link"])
        seen.add("intercept:%s" % ("zero" if est["intercept"] == 0 else "nonzero"))
        seen.add("positive_class:%s" % type(doc["positive_class"]).__name__)
        if not any(b["steps"] for b in doc["preprocessing"]):
            seen.add("no preprocessing")
        for block in doc["preprocessing"]:
            if not block["steps"]:
                seen.add("passthrough block")
            for i, s in enumerate(block["steps"]):
                t = s["type"]
                seen.add(t)
                after = "after_one_hot" if any(p["type"] == "one_hot"
                                               for p in block["steps"][:i]) else "scalar"
                if t == "impute":
                    seen.add("impute:%s" % type(s["value"]).__name__)
                elif t == "one_hot":
                    cats = s["categories"]
                    seen.add("one_hot:handle_unknown=%s" % s["handle_unknown"])
                    seen.add("one_hot:drop=%s" % ("null" if s["drop"] is None else
                                                  "0" if s["drop"] == 0 else "other"))
                    seen.add("one_hot:categories=%s" % (
                        "string" if isinstance(cats[0], str) else "number"))
                    if None in cats:
                        seen.add("one_hot:null category")
                elif t == "ordinal":
                    seen.add("ordinal:%s" % s["handle_unknown"])
                    if None in s["categories"]:
                        seen.add("ordinal:null category, encoded_missing_value=%s"
                                 % ("null" if s["encoded_missing_value"] is None else "number"))
                    if s["handle_unknown"] == "use_encoded_value":
                        seen.add("ordinal:unknown_value=%s"
                                 % ("null" if s["unknown_value"] is None else "number"))
                elif t in ("standardize", "multiply", "min_max"):
                    seen.add("%s:%s" % (t, after))
                    if t == "standardize":
                        seen.add("standardize:center=%s" % ("null" if s["center"] is None
                                                            else "set"))
                    if t == "min_max":
                        seen.add("min_max:clip=%s" % ("null" if s["clip"] is None else "set"))
                elif t == "indicator":
                    seen.add("indicator:%s" % ("with steps before" if i else "first"))
    expected = {
        "link:logistic", "link:softmax", "intercept:zero", "intercept:nonzero",
        "positive_class:int", "positive_class:str", "positive_class:bool", "no preprocessing",
        "passthrough block", "impute:str", "impute:float", "impute:int",
        "one_hot:handle_unknown=ignore", "one_hot:handle_unknown=error",
        "one_hot:drop=null", "one_hot:drop=0", "one_hot:drop=other",
        "one_hot:categories=string", "one_hot:categories=number", "one_hot:null category",
        "ordinal:error", "ordinal:use_encoded_value",
        "ordinal:null category, encoded_missing_value=number",
        "ordinal:null category, encoded_missing_value=null",
        "ordinal:unknown_value=number", "ordinal:unknown_value=null",
        "standardize:scalar", "standardize:after_one_hot", "standardize:center=null",
        "standardize:center=set", "multiply:scalar", "multiply:after_one_hot",
        "min_max:scalar", "min_max:clip=null", "min_max:clip=set", "indicator:first",
    }
    assert expected <= seen, "not covered: %s" % sorted(expected - seen)


def test_training_rows_and_provenance(variant_run):
    doc = variant_run("sparse_scalers")["doc"]
    assert doc["provenance"]["training_rows"] == 891
    assert doc["provenance"]["exporter"] == "predict-export 1.0"
    assert doc["provenance"]["exported_at"].endswith("Z")
    doc = variant_run("string_labels")["doc"]
    assert doc["positive_class"] == "dead"
    assert doc["name"] == "string_labels"
    assert os.path.basename(doc["provenance"]["source"]) == "string_labels.pkl"
    for name in VARIANTS:
        doc = variant_run(name)["doc"]
        types = {c["name"]: c["type"] for c in doc["columns"]}
        for col in ("Sex", "Cabin", "Embarked"):
            if col in types and any(b["column"] == col for b in doc["preprocessing"]):
                assert types[col] == "string", (name, col)
        for col in ("Age", "Fare", "SibSp", "Parch"):
            if col in types and any(b["column"] == col for b in doc["preprocessing"]):
                assert types[col] == "number", (name, col)
        assert doc["threshold"] is None     # predict() decides the class


def _reaches_estimator_sparse(pipeline, X):
    import scipy.sparse
    from sklearn.pipeline import Pipeline
    if type(pipeline) is not Pipeline:
        return False
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xt = X.iloc[:5]
        for _, step in pipeline.steps[:-1]:
            if step is not None and step != "passthrough":
                Xt = step.transform(Xt)
    return scipy.sparse.issparse(Xt)


def test_bit_identical_where_the_sum_order_is_defined(variant_run):
    """When the estimator gets a sparse matrix, scikit-learn sums coef * x over the stored
    features in order (scipy's csr_matvec) and the docs make predict-score do the same, then
    expit: with the logistic link the probabilities must be bit-identical.  (Dense input goes
    through BLAS, whose order may differ by a few ulp: only the 1e-12 bound applies there.)
    This is what catches a scaler dividing where scikit-learn multiplies by 1 / scale_."""
    exact = []
    for name in VARIANTS:
        r = variant_run(name)
        v = r["variant"]
        if r["doc"]["estimator"]["link"] != "logistic" or \
                not _reaches_estimator_sparse(v.estimator, v.X):
            continue
        _, ref, got = r["rows"]
        _, _, ref_adv, got_adv = r["adversarial"]
        max_diff, bad = pe.compare(ref + ref_adv, got + got_adv, tolerance=0.0)
        assert not bad and max_diff == 0.0, (name, max_diff, len(bad))
        exact.append(name)
    assert {"tutorial", "nested_sparse_maxabs", "sparse_scalers"} <= set(exact), exact


def test_sparse_scalers_multiply_by_the_reciprocal(variant_run):
    """Scalers on sparse data become multiply(1 / scale_), on dense data standardize(scale_)."""
    r = variant_run("nested_sparse_maxabs")
    scaler = r["variant"].estimator[1]
    factors = []
    for block in r["doc"]["preprocessing"]:
        last = block["steps"][-1]
        assert last["type"] == "multiply", block
        f = last["factor"]
        factors.extend(f if isinstance(f, list) else [f])
    assert factors == [float(x) for x in 1.0 / scaler.scale_]
    r = variant_run("scalers_after_dense_ct")
    std = r["variant"].estimator[1]
    scales = []
    for block in r["doc"]["preprocessing"]:
        step = block["steps"][-2]
        assert step["type"] == "standardize", block
        s = step["scale"]
        scales.extend(s if isinstance(s, list) else [s])
    assert scales == [float(x) for x in std.scale_]
