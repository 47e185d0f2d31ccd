"""tools/predict-export --reference: the "reference" of docs/model-format.md,
written from the training data (or the --verify data), accepted by the C
loader and ignored when scoring."""

import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pytest

import predict_export as pe
from conftest import PREDICT_SCORE, REPO, fit

EXPORTER = os.path.join(REPO, "tools", "predict-export")


def run(*args):
    return subprocess.run([sys.executable, EXPORTER] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """(pipeline.pkl, train.csv, X, pipeline) of the tutorial's pipeline."""
    d = tmp_path_factory.mktemp("export")
    pipeline, X, y = fit("lr")
    joblib.dump(pipeline, d / "pipeline.pkl")
    X.to_csv(d / "train.csv", index=False)
    return d / "pipeline.pkl", d / "train.csv", X, pipeline


def score(model, lines):
    proc = subprocess.run([PREDICT_SCORE, "--model", str(model), "-"], input="".join(l + "\n" for l in lines),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(l) for l in proc.stdout.splitlines()]


def test_reference_from_the_training_data(artifacts, tmp_path):
    pkl, csv, X, pipeline = artifacts
    out = tmp_path / "m.json"
    proc = run(pkl, "--reference", csv, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "reference of %d rows" % len(X) in proc.stderr
    doc = json.loads(out.read_text())
    ref = doc["reference"]
    assert ref["rows"] == len(X) == doc["provenance"]["training_rows"]
    assert ref["proba"]["edges"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    p = pipeline.predict_proba(X)[:, 1]
    counts = [np.sum((p >= lo) & (p < hi)) for lo, hi in zip([-1] + ref["proba"]["edges"],
                                                              ref["proba"]["edges"] + [2])]
    assert ref["proba"]["fractions"] == [c / len(X) for c in counts]
    assert [c["column"] for c in ref["columns"]] == list(X.columns)
    entries = {c["column"]: c for c in ref["columns"]}
    age = X["Age"].dropna().to_numpy()
    assert entries["Age"]["missing"] == X["Age"].isna().mean()
    assert entries["Age"]["edges"] == sorted(set(np.quantile(age, [i / 10 for i in range(1, 10)])))
    edges = entries["Age"]["edges"]
    assert entries["Age"]["fractions"][1] == np.sum((age >= edges[0]) & (age < edges[1])) / len(X)
    assert entries["Pclass"]["edges"] == [1.0, 2.0, 3.0]        # merged deciles: one bin per class
    assert entries["Pclass"]["fractions"][0] == 0.0
    sex = X["Sex"].value_counts()
    assert entries["Sex"]["categories"] == list(sex.index)
    assert entries["Sex"]["fractions"] == [n / len(X) for n in sex]
    assert entries["Sex"]["other"] == 0.0
    cabin = X["Cabin"].value_counts()
    assert len(entries["Cabin"]["categories"]) == len(cabin)    # fewer than 1,000: all of them
    # the C loader accepts it and scores exactly as without it
    plain = tmp_path / "plain.json"
    assert run(pkl, "--no-reference", "-o", plain).returncode == 0
    assert "reference" not in json.loads(plain.read_text())
    lines = [pe.observation_line(o) for o in pe.frame_to_observations(X.head(50), list(X.columns))]
    assert score(out, lines) == score(plain, lines)


def test_verify_data_is_the_default_reference(artifacts, tmp_path):
    pkl, csv, X, _ = artifacts
    out = tmp_path / "m.json"
    proc = run(pkl, "--verify", csv, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 mismatches" in proc.stdout
    assert json.loads(out.read_text())["reference"]["rows"] == len(X)
    proc = run(pkl, "--verify", csv, "--no-reference", "-o", out)
    assert proc.returncode == 0 and "reference" not in json.loads(out.read_text())
    # --reference wins over --verify for the reference
    half = tmp_path / "half.csv"
    X.head(100).to_csv(half, index=False)
    proc = run(pkl, "--verify", csv, "--reference", half, "-o", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["reference"]["rows"] == 100 and doc["provenance"]["training_rows"] == len(X)


def test_rows_scikit_learn_refuses_are_left_out(artifacts, tmp_path):
    pkl, csv, X, _ = artifacts
    bad = X.head(20).copy()
    bad["Fare"] = bad["Fare"].astype(object)
    bad.loc[bad.index[3], "Fare"] = "abc"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    proc = run(pkl, "--reference", path, "-o", tmp_path / "m.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m.json").read_text())["reference"]["rows"] == 19


def test_reference_errors(artifacts, tmp_path):
    pkl, csv, X, _ = artifacts
    proc = run(pkl, "--reference", csv, "--no-reference", "-o", tmp_path / "m.json")
    assert proc.returncode == 2 and "--reference and --no-reference exclude each other" in proc.stderr
    proc = run(pkl, "--reference", tmp_path / "absent.csv", "-o", tmp_path / "m.json")
    assert proc.returncode == 2 and "cannot read CSV" in proc.stderr
    bad = X.head(3).copy()
    bad["Fare"] = "abc"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    proc = run(pkl, "--reference", tmp_path / "bad.csv", "-o", tmp_path / "m.json")
    assert proc.returncode == 2
    assert "reference: no row of the data could be scored" in proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_string_column_categories_beyond_the_limit():
    """The most frequent categories are listed (ties in text order), the rest is "other"."""
    doc = {"columns": [{"name": "c", "type": "string"}, {"name": "n", "type": "number"}]}
    obs = [{"c": "b"}, {"c": "a"}, {"c": "b"}, {"c": 3}, {"c": 3.0}, {}, {"c": True}, {"n": "1_000"}]
    ref = pe.reference(doc, obs, [0.5] * len(obs), max_categories=2)
    c = ref["columns"][0]
    assert c["categories"] == ["3", "b"] and c["fractions"] == [2 / 8, 2 / 8]
    assert c["missing"] == 2 / 8 and c["other"] == 2 / 8        # "a" and true
    n = ref["columns"][1]
    assert n["missing"] == 7 / 8 and n["edges"] == [1000.0] and n["fractions"] == [0.0, 1 / 8]
    # a column with no value: one empty bin
    ref = pe.reference(doc, [{}], [0.5])
    assert ref["columns"][1] == {"column": "n", "missing": 1.0, "edges": [], "fractions": [0.0]}
