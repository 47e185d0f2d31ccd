"""predict_report and its companions against scikit-learn on the same rows,
in both PostgreSQL modes: every metric within 1e-9 of roc_auc_score,
average_precision_score, log_loss, brier_score_loss, accuracy_score,
precision_score, recall_score, f1_score, confusion_matrix and
calibration_curve; the PSI, missing rates and unseen categories against an
independent numpy implementation of docs/monitoring.md; the days against
pandas. The largest differences go to test/output/report-parity.json."""

import datetime
import json
import math
import warnings

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss,
                             confusion_matrix, f1_score, log_loss, precision_score,
                             recall_score, roc_auc_score)

from conftest import DAY0, MODES, connect, record

TOLERANCE = 1e-9


def rows_of(dsn, version, since=None, until=None):
    """(proba, true_class, predicted_class, created_at, observation) of a version's rows."""
    conn = connect(dsn)
    with conn.cursor() as cur:
        cur.execute("""SELECT proba, true_class, predicted_class, created_at, observation
                         FROM predictions WHERE model = 'titanic' AND model_version = %s
                          AND (%s::timestamptz IS NULL OR created_at >= %s)
                          AND (%s::timestamptz IS NULL OR created_at < %s)
                        ORDER BY id""", (version, since, since, until, until))
        out = cur.fetchall()
    conn.close()
    return out


def metrics_of(dsn, since=None, until=None):
    """{version: {metric: (value, reason)}} from predict_report_metrics."""
    conn = connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM predict_report_metrics('titanic', %s, %s)", (since, until))
        out = {}
        for version, metric, value, reason in cur.fetchall():
            out.setdefault(version, {})[metric] = (value, reason)
    conn.close()
    return out


def sklearn_metrics(rows):
    """The same metrics from scikit-learn on the labelled rows."""
    labelled = [r for r in rows if r[1] is not None]
    y = np.array([r[1] for r in labelled])
    p = np.array([r[0] for r in labelled])
    pred = np.array([int(r[2]) for r in labelled])
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "rows": len(rows),
            "labelled_rows": len(labelled),
            "positive_rate": float(np.mean([r[2] for r in rows])),
            "mean_proba": float(np.mean([r[0] for r in rows])),
            "observed_positive_rate": float(np.mean(y)),
            "roc_auc": roc_auc_score(y, p),
            "average_precision": average_precision_score(y, p),
            "log_loss": log_loss(y, p, labels=[0, 1]),
            "brier_score": brier_score_loss(y, p),
            "accuracy": accuracy_score(y, pred),
            "precision": precision_score(y, pred, zero_division=0),
            "recall": recall_score(y, pred, zero_division=0),
            "f1": f1_score(y, pred, zero_division=0),
            "true_negatives": tn, "false_positives": fp, "false_negatives": fn, "true_positives": tp,
        }


@pytest.mark.parametrize("mode", MODES)
def test_metrics_match_scikit_learn(scenario, agreement, mode):
    got = metrics_of(scenario["dsn"][mode])
    assert sorted(got) == [1, 2]
    for version in (1, 2):
        rows = rows_of(scenario["dsn"][mode], version)
        want = sklearn_metrics(rows)
        assert list(got[version]) == list(want), "metric names and order"
        for name, value in want.items():
            value_got, reason = got[version][name]
            assert reason is None, (version, name, reason)
            d = record(agreement, name, value_got, float(value))
            assert d <= TOLERANCE, (mode, version, name, value_got, value)
    # version 1 has unlabelled rows: counted in the volume, not in the metrics
    assert got[1]["rows"][0] == 1191 and got[1]["labelled_rows"][0] == 891


def test_ties_are_exercised(scenario):
    """Version 2 (the tree) has few distinct probabilities, each shared by
    both classes: the ranking metrics' tie rules matter there."""
    rows = rows_of(scenario["dsn"]["extension"], 2)
    distinct = {r[0] for r in rows}
    assert len(distinct) <= 16
    mixed = [p for p in distinct if {r[1] for r in rows if r[0] == p} == {0, 1}]
    assert len(mixed) >= 3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bins", [1, 3, 5, 10, 20])
def test_calibration_matches_scikit_learn(scenario, agreement, mode, bins):
    conn = connect(scenario["dsn"][mode])
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM predict_report_calibration('titanic', bins => %s)", (bins,))
        got = cur.fetchall()
    conn.close()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for version in (1, 2):
        rows = [r for r in rows_of(scenario["dsn"][mode], version) if r[1] is not None]
        y = np.array([r[1] for r in rows])
        p = np.array([r[0] for r in rows])
        prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
        mine = [g for g in got if g[0] == version]
        assert len(mine) == len(prob_true)
        binids = np.searchsorted(edges[1:-1], p)
        for (v, b, lower, upper, n, mean_proba, observed), t, q in zip(mine, prob_true, prob_pred):
            assert lower == edges[b] and upper == edges[b + 1], (b, lower, upper)
            assert n == int(np.sum(binids == b))
            assert record(agreement, "calibration mean_proba", mean_proba, q) <= TOLERANCE
            assert record(agreement, "calibration observed_rate", observed, t) <= TOLERANCE


@pytest.mark.parametrize("mode", MODES)
def test_window_since_until(scenario, agreement, mode):
    """Only the rows created in [since, until) count."""
    since = DAY0 + datetime.timedelta(hours=24)
    until = DAY0 + datetime.timedelta(hours=60)
    got = metrics_of(scenario["dsn"][mode], since, until)
    assert sorted(got) == [1, 2]
    assert got[2]["rows"] == (0.0, None)    # the active version, listed: its rows are all on the fifth day
    rows = rows_of(scenario["dsn"][mode], 1, since, until)
    assert 0 < len(rows) < 891
    for name, value in sklearn_metrics(rows).items():
        assert record(agreement, name, got[1][name][0], float(value)) <= TOLERANCE, name


def psi_term(a, e):
    a, e = max(a, 1e-4), max(e, 1e-4)
    return (a - e) * math.log(a / e)


def read_number(v):
    """docs/model-format.md's reading of a number column's value (NaN = missing)."""
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        return float(v)
    return float(v)


def category(v):
    return v if isinstance(v, str) else json.dumps(v)


def expected_features(doc, rows):
    """The drift features of docs/monitoring.md, computed in numpy."""
    ref = doc["reference"]
    n = len(rows)
    out = {}
    edges = np.array(ref["proba"]["edges"])
    counts = np.bincount(np.searchsorted(edges, [r[0] for r in rows], side="right"),
                         minlength=len(edges) + 1)
    out["(probability)"] = {"psi": sum(psi_term(c / n, e) for c, e in zip(counts, ref["proba"]["fractions"]))}
    kinds = {c["name"]: c["type"] for c in doc["columns"]}
    for entry in ref["columns"]:
        name = entry["column"]
        values = [r[4].get(name) for r in rows]
        if kinds[name] == "number":
            x = np.array([read_number(v) for v in values])
            missing = np.isnan(x)
            bins = np.searchsorted(np.array(entry["edges"], dtype=float), x[~missing], side="right")
            counts = np.bincount(bins, minlength=len(entry["edges"]) + 1)
            pairs = [(missing.sum() / n, entry["missing"])] + \
                [(c / n, f) for c, f in zip(counts, entry["fractions"])]
            out[name] = {"psi": sum(psi_term(a, e) for a, e in pairs), "missing_rate": missing.sum() / n}
        else:
            cats = entry["categories"]
            text = [None if v is None else category(v) for v in values]
            missing = sum(t is None for t in text)
            head = cats[:20]
            pairs = [(missing / n, entry["missing"])]
            pairs += [(sum(t == c for t in text) / n, f) for c, f in zip(head, entry["fractions"])]
            rest = sum(t is not None and t not in head for t in text)
            pairs.append((rest / n, entry["other"] + sum(entry["fractions"][20:])))
            unseen = [t for t in text if t is not None and t not in cats]
            out[name] = {"psi": sum(psi_term(a, e) for a, e in pairs), "missing_rate": missing / n,
                         "unseen_rows": len(unseen),
                         "unseen_values": sorted({u: unseen.count(u) for u in unseen}.items(),
                                                 key=lambda kv: (-kv[1], kv[0]))[:10]}
    return out


@pytest.mark.parametrize("mode", MODES)
def test_psi_missing_and_unseen(scenario, agreement, mode):
    conn = connect(scenario["dsn"][mode])
    with conn.cursor() as cur:
        cur.execute("SELECT predict_report('titanic')")
        report = cur.fetchone()[0]
    conn.close()
    for v in report["versions"]:
        rows = rows_of(scenario["dsn"][mode], v["version"])
        want = expected_features(scenario["docs"][v["version"]], rows)
        got = {f["feature"]: f for f in v["drift"]["features"]}
        assert list(got) == ["(probability)"] + [c["name"] for c in scenario["docs"][1]["columns"]]
        for name, w in want.items():
            f = got[name]
            assert f["reason"] is None
            assert record(agreement, "psi", f["psi"], w["psi"]) <= TOLERANCE, (name, f["psi"], w["psi"])
            assert f["reading"] == ("stable" if w["psi"] < 0.1 else "moderate" if w["psi"] <= 0.25
                                    else "significant")
            if "missing_rate" in w:
                assert record(agreement, "missing_rate", f["missing_rate"], w["missing_rate"]) <= TOLERANCE
            if "unseen_rows" in w:
                assert f["unseen_rows"] == w["unseen_rows"], name
                assert [(u["value"], u["rows"]) for u in f["unseen_values"]] == w["unseen_values"], name
    # the drifted rows of version 1 show: unseen Embarked "X" and Cabin "Z*"
    v1 = {f["feature"]: f for f in report["versions"][0]["drift"]["features"]}
    assert v1["Embarked"]["unseen_values"][0] == {"value": "X", "rows": 43}
    assert v1["Embarked"]["unseen_rows"] == 43 and v1["Cabin"]["unseen_rows"] == 28
    assert v1["Age"]["missing_rate"] > report["versions"][1]["drift"]["features"][3]["missing_rate"]


@pytest.mark.parametrize("mode", MODES)
def test_daily_matches_pandas(scenario, mode):
    import pandas as pd
    conn = connect(scenario["dsn"][mode])
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM predict_report_daily('titanic')")
        got = cur.fetchall()
    conn.close()
    want = []
    for version in (1, 2):
        rows = rows_of(scenario["dsn"][mode], version)
        frame = pd.DataFrame({"day": [r[3].date() for r in rows], "p": [r[0] for r in rows],
                              "y": [r[1] for r in rows], "pred": [r[2] for r in rows]})
        for day, g in frame.groupby("day"):
            labelled = g["y"].dropna()
            want.append((version, day, len(g), len(labelled), g["pred"].mean(), g["p"].mean(),
                         labelled.mean() if len(labelled) else None))
    assert [w[:4] for w in want] == [g[:4] for g in got]
    for w, g in zip(want, got):
        assert abs(w[4] - g[4]) <= TOLERANCE and abs(w[5] - g[5]) <= TOLERANCE
        assert (w[6] is None) == (g[6] is None) and (w[6] is None or abs(w[6] - g[6]) <= TOLERANCE)


def test_modes_give_the_same_report(scenario):
    """The extension and managed mode run the same SQL over the same rows."""
    reports = {}
    for mode in MODES:
        conn = connect(scenario["dsn"][mode])
        with conn.cursor() as cur:
            cur.execute("SELECT predict_report('titanic')")
            reports[mode] = cur.fetchone()[0]
        conn.close()

    def close(a, b, path="report"):
        if isinstance(a, float) or isinstance(b, float):
            assert isinstance(a, (int, float)) and isinstance(b, (int, float)), path
            assert abs(a - b) <= 1e-12, (path, a, b)
        elif isinstance(a, dict):
            assert list(a) == list(b), path
            for k in a:
                close(a[k], b[k], "%s.%s" % (path, k))
        elif isinstance(a, list):
            assert len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b)):
                close(x, y, "%s[%d]" % (path, i))
        else:
            assert a == b, (path, a, b)

    close(reports["extension"], reports["managed"])


@pytest.mark.parametrize("mode", MODES)
def test_one_class_and_no_labels(scenario, agreement, mode):
    """Degenerate windows give null metrics with a reason, not an error."""
    dsn = scenario["dsn"][mode]
    # the fourth day: the drifted rows of version 1, none labelled
    got = metrics_of(dsn, DAY0 + datetime.timedelta(days=3), DAY0 + datetime.timedelta(days=4))
    assert sorted(got) == [1, 2]        # version 2 is the active one: listed, with no rows
    assert got[1]["rows"][0] == 300 and got[1]["labelled_rows"][0] == 0
    for name in ("roc_auc", "average_precision", "log_loss", "brier_score", "accuracy", "precision",
                 "recall", "f1", "observed_positive_rate"):
        assert got[1][name] == (None, "no labelled predictions (true_class is null in every row)"), name
    assert got[1]["true_positives"] == (0.0, None)
    assert got[2]["rows"] == (0.0, None)
    assert got[2]["mean_proba"] == (None, "no predictions")

    # the first seconds of the fifth day: version 2's rows with true_class 0 only
    rows = rows_of(dsn, 2)
    first_one = next(i for i, r in enumerate(rows) if r[1] == 1)
    assert first_one > 0
    until = rows[first_one][3]
    got = metrics_of(dsn, DAY0 + datetime.timedelta(days=4), until)[2]
    window = rows[:first_one]
    y = [r[1] for r in window]
    p = [r[0] for r in window]
    assert got["roc_auc"] == (None, "the labelled predictions have one class only (true_class 0); "
                                    "ROC AUC needs both")
    assert got["average_precision"] == (None, "no labelled prediction has true_class 1")
    assert got["recall"] == (None, "no labelled prediction has true_class 1")
    with pytest.raises(ValueError):
        roc_auc_score(y, p)                 # scikit-learn refuses it too
    assert record(agreement, "log_loss", got["log_loss"][0], log_loss(y, p, labels=[0, 1])) <= TOLERANCE
    assert record(agreement, "brier_score", got["brier_score"][0], brier_score_loss(y, p)) <= TOLERANCE
    assert record(agreement, "accuracy", got["accuracy"][0],
                  accuracy_score(y, [int(r[2]) for r in window])) <= TOLERANCE
