"""GET /report.json and GET / (issue 9): the Titanic rows scored and labelled
through the API, the report checked against scikit-learn on the same rows,
on each backend; the two backends against each other; the page's routes,
errors and token. (The browser's view of the page: test_report_browser.py.)"""

import base64
import json
import math
import os
import re
import sys
import warnings

import numpy as np
import pytest

from harness import BACKENDS, REPO, fresh_id

for path in (os.path.join(REPO, "tools"), os.path.join(REPO, "test")):
    if path not in sys.path:
        sys.path.insert(0, path)

TOLERANCE = 1e-9


def titanic_model(tmp_path_factory):
    """(model path, observations, labels): the tutorial's pipeline exported with its
    training reference (tools/predict_export.py), and the rows it was trained on."""
    import predict_export as pe
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from titanic_data import features_and_target, load_titanic

    X, y = features_and_target(load_titanic())
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Cabin", "Embarked"]),
        ("num", SimpleImputer(strategy="mean"), ["Pclass", "Age", "SibSp", "Parch", "Fare"]),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)
    doc = pe.export(pipeline, columns=list(X.columns), dtypes=dict(X.dtypes.items()), name="titanic")
    observations = pe.frame_to_observations(X, list(X.columns))
    doc["reference"] = pe.reference(doc, observations, pe.sklearn_scores(pipeline, doc, observations))
    path = str(tmp_path_factory.mktemp("report-model") / "titanic.json")
    pe.write_model(doc, path)
    return path, observations, [int(v) for v in y]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return titanic_model(tmp_path_factory)


def through_the_api(client, observations, labels):
    """POST /predict every row, POST /update its label; returns the ids."""
    ids = []
    for obs, label in zip(observations, labels):
        i = fresh_id()
        r = client.predict(i, obs)
        assert r.status == 200, r
        assert client.post("/update", {"id": i, "true_class": label}).status == 200
        ids.append(i)
    return ids


def stored_rows(client):
    """Every stored row, through GET /list-db-contents."""
    rows, after = [], None
    while True:
        r = client.get("/list-db-contents?limit=1000" + ("&after=%d" % after if after else ""))
        assert r.status == 200, r
        page = r.json
        rows += page
        if len(page) < 1000:
            return rows
        after = page[-1]["id"]


@pytest.fixture(scope="module")
def scored(backend, model):
    """A gateway on a fresh database with the Titanic rows scored and labelled through
    the API; yields (gateway, stored rows, report)."""
    from harness import Gateway
    gw = Gateway(backend.new_database(), env={"PREDICT_MODEL": model[0]}, threads=2)
    client = gw.client()
    through_the_api(client, model[1], model[2])
    rows = stored_rows(client)
    r = client.get("/report.json")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    yield gw, rows, r.json
    client.close()
    assert gw.stop() == 0, gw.stderr()[-3000:]


def test_report_metrics_match_scikit_learn(scored):
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss, f1_score,
                                 log_loss, precision_score, recall_score, roc_auc_score)
    _, rows, report = scored
    assert report["model"] == "titanic" and report["active_version"] == 1
    (version,) = report["versions"]
    m = version["metrics"]
    y = np.array([r["true_class"] for r in rows])
    p = np.array([float(r["proba"]) for r in rows])
    pred = np.array([int(r["predicted_class"]) for r in rows])
    assert m["rows"] == m["labelled_rows"] == len(rows) == 891
    want = {
        "roc_auc": roc_auc_score(y, p), "average_precision": average_precision_score(y, p),
        "log_loss": log_loss(y, p), "brier_score": brier_score_loss(y, p),
        "accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred),
        "recall": recall_score(y, pred), "f1": f1_score(y, pred),
        "mean_proba": float(np.mean(p)), "positive_rate": float(np.mean(pred)),
        "observed_positive_rate": float(np.mean(y)),
    }
    for name, value in want.items():
        assert abs(m[name] - value) <= TOLERANCE, (name, m[name], value)
    # every metric computed; only the importance is null (no row was logged explained)
    assert version["reasons"] == {"importance": "no row of this version has an explanation; "
                                                "deploy it with explain or insert with explanation = true"}
    assert version["importance"] is None
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10)
    assert [c["observed_rate"] for c in version["calibration"]] == pytest.approx(list(prob_true), abs=TOLERANCE)
    assert [c["mean_proba"] for c in version["calibration"]] == pytest.approx(list(prob_pred), abs=TOLERANCE)
    # the training rows themselves: no drift
    features = version["drift"]["features"]
    assert [f["feature"] for f in features][:3] == ["(probability)", "Pclass", "Sex"]
    assert all(f["reading"] == "stable" and f["psi"] < 1e-6 for f in features), features
    assert sum(d["rows"] for d in version["daily"]) == 891


def test_backends_give_the_same_report(tmp_path_factory, model):
    """The same rows through a PostgreSQL gateway and a SQLite gateway: the same
    report, every number within 1e-9 (SQLite's is computed in C)."""
    names = [b.strip() for b in os.environ.get("PREDICT_TEST_BACKENDS", "postgresql,sqlite").split(",")]
    if not {"postgresql", "sqlite"} <= set(names):
        pytest.skip("needs both backends (PREDICT_TEST_BACKENDS)")
    from harness import Gateway
    reports = {}
    for name in ("postgresql", "sqlite"):
        b = BACKENDS[name]()
        try:
            url = b.new_database()
            gw = Gateway(url, env={"PREDICT_MODEL": model[0]}, threads=1)
            client = gw.client()
            # 300 rows through the API (labelled), 300 drifted ones in the past
            through_the_api(client, model[1][:300], model[2][:300])
            drifted = []
            for k, obs in enumerate(model[1][300:600]):
                o = dict(obs)
                o["Embarked"] = "X" if k % 3 == 0 else o.get("Embarked")
                o["Fare"] = o.get("Fare", 10) * 3
                drifted.append((fresh_id(), o, None, "2026-11-0%d 12:00:00+00" % (1 + k % 5)))
            b.insert_scored(url, drifted)
            reports[name] = client.get("/report.json").json
            client.close()
            assert gw.stop() == 0
        finally:
            b.close()

    worst = [0.0]

    def close(a, x, path):
        if isinstance(a, bool) or a is None or isinstance(a, str):
            if path.endswith(("first_at", "last_at")):
                return
            assert a == x, (path, a, x)
        elif isinstance(a, (int, float)):
            assert isinstance(x, (int, float)) and not isinstance(x, bool), (path, a, x)
            worst[0] = max(worst[0], abs(a - x))
            assert abs(a - x) <= TOLERANCE, (path, a, x)
        elif isinstance(a, dict):
            assert set(a) == set(x), (path, set(a) ^ set(x))
            for k in a:
                close(a[k], x[k], path + "." + k)
        else:
            assert isinstance(x, list) and len(a) == len(x), (path, a, x)
            for i, (u, v) in enumerate(zip(a, x)):
                close(u, v, "%s[%d]" % (path, i))

    pg, sq = reports["postgresql"], reports["sqlite"]
    for key in ("since", "until"):
        assert pg[key] is None and sq[key] is None
    close(pg["versions"], sq["versions"], "versions")
    v = {f["feature"]: f for f in pg["versions"][0]["drift"]["features"]}
    assert v["Embarked"]["unseen_values"][0] == {"value": "X", "rows": 100}
    assert v["Fare"]["psi"] > 0.1, v["Fare"]
    assert len(pg["versions"][0]["daily"]) == 6


def test_window_and_bad_bounds(scored):
    gw, rows, report = scored
    client = gw.client()
    r = client.get("/report.json?since=2000-01-01&until=2999-01-01T00:00:00Z")
    assert r.status == 200 and r.json["versions"][0]["metrics"]["rows"] == 891
    assert r.json["since"] is not None and r.json["until"] is not None
    r = client.get("/report.json?since=2999-01-01")
    assert r.status == 200
    assert r.json["versions"][0]["metrics"]["rows"] == 0        # the active version, without rows
    assert r.json["versions"][0]["reasons"]["mean_proba"] == "no predictions"
    r = client.get("/report.json?since=yesterday-ish")
    assert r.status == 422, r
    assert "timestamp" in r.json["error"] and "yesterday-ish" in r.json["error"], r
    r = client.get("/report.json?since=2026-11-03&until=2026-11-02")
    assert r.status == 422 and "is after until" in r.json["error"], r
    r = client.get("/report.json?since=" + "9" * 100)
    assert r.status == 422, r
    # ?days=N: the last N days
    r = client.get("/report.json?days=1")
    assert r.status == 200 and r.json["since"] is not None, r
    assert r.json["versions"][0]["metrics"]["rows"] == 891
    r = client.get("/?days=7")
    assert r.status == 200 and "<b>last 7 days</b>" in r.body and 'href="report.json?days=7"' in r.body
    for query in ("days=0", "days=x", "days=36501", "days=1&since=2026-11-01"):
        assert client.get("/report.json?" + query).status == 422, query
    client.close()


def test_page_is_self_contained_html(scored):
    gw, _, report = scored
    client = gw.client()
    r = client.get("/")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'none'" in r.header("Content-Security-Policy")
    assert r.header("Cache-Control") == "no-store"
    page = r.body
    assert page.startswith("<!DOCTYPE html>")
    # nothing to fetch: no script, no external reference
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    for chart in ("daily", "probability", "calibration"):
        assert 'data-chart="%s"' % chart in page
    auc = report["versions"][0]["metrics"]["roc_auc"]
    assert 'data-metric="roc_auc" data-value="%s"' % json.dumps(auc) in page
    assert page.count('data-series="reference"') == 10 and page.count('data-series="predictions"') == 10
    r = client.request("HEAD", "/")
    assert r.status == 200 and r.body == ""
    client.close()


def test_page_and_report_need_the_token(backend, gateways, model):
    gw = gateways(backend.new_database(), env={"PREDICT_API_TOKEN": "s3cret", "PREDICT_MODEL": model[0]})
    anonymous = gw.client()
    for path in ("/", "/report.json"):
        r = anonymous.get(path)
        assert r.status == 401, r
        challenges = [v for k, v in r.headers if k.lower() == "www-authenticate"]
        assert "Bearer" in challenges and any(c.startswith("Basic realm=") for c in challenges)
        # what a browser user reads after cancelling the dialog says what works there
        assert "in a browser, enter the token as the password" in r.json["error"], r
        assert anonymous.get(path, headers={"Authorization": "Bearer s3cret"}).status == 200
        basic = base64.b64encode(b"anyone:s3cret").decode()
        assert anonymous.get(path, headers={"Authorization": "Basic " + basic}).status == 200
        wrong = base64.b64encode(b"anyone:s3cre").decode()
        assert anonymous.get(path, headers={"Authorization": "Basic " + wrong}).status == 401
        assert anonymous.get(path, headers={"Authorization": "Basic !!!"}).status == 401
    # Basic is for the page's routes only
    basic = base64.b64encode(b"anyone:s3cret").decode()
    r = anonymous.get("/list-db-contents", headers={"Authorization": "Basic " + basic})
    assert r.status == 401 and r.json["error"] == \
        "missing or wrong bearer token: send Authorization: Bearer <token>", r
    assert anonymous.get("/healthz").status == 200
    anonymous.close()


def test_no_default_model_is_503(backend, gateways, model):
    url = backend.new_database()
    gw = gateways(url, env={"PREDICT_MODEL": model[0]})
    backend.set_no_default_model(url)
    client = gw.client()
    r = client.get("/report.json")
    assert r.status == 503 and "no default model" in r.json["error"], r
    assert client.get("/").status == 503
    backend.restore_default_model(url)
    assert client.get("/report.json").status == 200
    client.close()


def test_without_a_reference_drift_reads_unknown_with_its_reason(backend, gateways, tmp_path):
    """The bundled model without its reference: /report.json says 'unknown' for
    every feature, with the reason, and the page shows both, on every backend."""
    doc = json.load(open(os.path.join(REPO, "models", "titanic.json")))
    del doc["reference"]
    path = str(tmp_path / "titanic-no-reference.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    gw = gateways(backend.new_database(), env={"PREDICT_MODEL": path})
    client = gw.client()
    for k in range(5):
        assert client.predict(fresh_id(), {"Pclass": 1 + k % 3, "Sex": "female", "Age": 20 + k}).status == 200
    reason = "the model version has no reference (export it with --reference)"
    features = client.get("/report.json").json["versions"][0]["drift"]["features"]
    assert len(features) == 1 + len(doc["columns"])
    assert all(f["psi"] is None and f["reading"] == "unknown" and f["reason"] == reason for f in features), features
    page = client.get("/").body
    client.close()
    rows = re.findall(r'<tr class="([^"]*)" data-feature="([^"]*)" data-reading="([^"]*)"[^>]*>(.*?)</tr>', page)
    assert [r[1] for r in rows] == [f["feature"] for f in features]
    for cls, feature, reading, cells in rows:
        assert cls == reading == "unknown", (feature, cls, reading)
        assert '<span class="badge unknown">unknown</span> <span class="note reason">%s</span>' % reason in cells, cells
    assert '<span class="psi">PSI unknown: %s</span>' % reason in page
