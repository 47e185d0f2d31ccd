"""The monitoring page in a real browser (issue 9): headless Chromium (Debian's
`chromium`, tools/install-deps test) loads GET / from a running gateway with
ten days of labelled Titanic predictions and a day of drifted ones, the DOM it
builds is checked chart by chart against /report.json, the confusion matrix's
numbers are measured under their headers as laid out, and a screenshot goes
to test/output/report-page-<backend>.png. A gateway started as `make run`
starts one (the bundled model, a new database) draws drift numbers from its
first predictions."""

import datetime
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

import pytest

from harness import REPO, Gateway, fresh_id
from test_report import through_the_api, titanic_model

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = os.path.join(REPO, "test", "output")


def chromium(*args):
    """Run headless Chromium with a new empty profile and no network of its own."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("%s not found: run tools/install-deps test (Debian package chromium)" % CHROMIUM,
                    pytrace=False)
    profile = tempfile.mkdtemp(prefix="predict-chromium-")
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--user-data-dir=" + profile, *args],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


class Dom(html.parser.HTMLParser):
    """Every element with its attributes and the text inside it, in document order."""

    def __init__(self, text):
        super().__init__()
        self.elements = []
        self.open = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": [e["tag"] + "#" + e["attrs"].get("id", "")
                                                                                 for e in self.open]}
        self.elements.append(element)
        if tag not in ("meta", "br", "hr", "img", "input", "link"):     # HTML's void elements
            self.open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.open and self.open[-1]["tag"] == tag:
            self.open.pop()

    def handle_endtag(self, tag):
        if any(e["tag"] == tag for e in self.open):
            while self.open.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        for e in self.open:
            e["text"] += data

    def find(self, tag, inside=None, **attrs):
        return [e for e in self.elements if e["tag"] == tag
                and (inside is None or inside in e["parents"])
                and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def page_gateway(backend, tmp_path_factory):
    """A gateway whose default model has a reference, with ten days of labelled history
    (written directly: the API writes only today's rows) and today's drifted rows."""
    path, observations, labels = titanic_model(tmp_path_factory)
    url = backend.new_database()
    gw = Gateway(url, env={"PREDICT_MODEL": path}, threads=2)
    today = datetime.datetime.now(datetime.timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    history = []
    for k, (obs, label) in enumerate(zip(observations, labels)):
        when = today - datetime.timedelta(days=10 - k % 10, minutes=k % 600)
        history.append((fresh_id(), obs, label, when.strftime("%Y-%m-%d %H:%M:%S+00")))
    backend.insert_scored(url, history)
    client = gw.client()
    drifted = []
    for k, obs in enumerate(observations[:600]):
        o = dict(obs)
        if k % 6 == 0:
            o["Embarked"] = "X"                  # a port never seen in training
        o["Fare"] = o.get("Fare", 10) * 3        # fares up
        drifted.append(o)
    through_the_api(client, drifted[:300], labels[:300])
    for o in drifted[300:]:
        assert client.predict(fresh_id(), o).status == 200
    client.close()
    yield gw
    assert gw.stop() == 0, gw.stderr()[-3000:]


# Run in a copy of the page (the gateway's own answer, which fetches nothing, so it lays
# out the same): for each table, the box of each cell and of the text in it.
MEASURE = """<script>
var tables = {};
for (var table of document.getElementsByTagName("table")) {
  var cells = [];
  for (var row of table.rows)
    for (var cell of row.cells) {
      var range = document.createRange();
      range.selectNodeContents(cell);
      var box = cell.getBoundingClientRect(), ink = range.getBoundingClientRect();
      cells.push({row: row.rowIndex, column: cell.cellIndex, text: cell.textContent,
                  header: cell.tagName == "TH", number: cell.classList.contains("num"),
                  box: [box.left, box.right], ink: [ink.left, ink.right]});
    }
  tables[table.id] = cells;
}
document.body.setAttribute("data-measured", JSON.stringify(tables));
</script>"""


def measured_tables(gateway):
    """Every table of the page as Chromium lays it out at 1200 pixels: table id -> its
    cells, each {row, column, text, header, number (class num), box: [left, right] of
    the cell, ink: [left, right] of its text}."""
    page = gateway.client().get("/").body
    assert page.count("</body>") == 1
    with tempfile.TemporaryDirectory(prefix="predict-page-") as tmp:
        copy = os.path.join(tmp, "page.html")
        with open(copy, "w") as fh:
            fh.write(page.replace("</body>", MEASURE + "</body>"))
        dom = Dom(chromium("--dump-dom", "--window-size=1200,1600", "file://" + copy))
    (body,) = dom.find("body")
    return json.loads(body["attrs"]["data-measured"])


def numbers_aligned_with_headers(cells):
    """In each column of numbers, the header's text must end where the numbers' text
    does; returns how many such columns were checked."""
    columns = {}
    for c in cells:
        columns.setdefault(c["column"], []).append(c)
    checked = 0
    for column in columns.values():
        header = [c for c in column if c["header"] and c["row"] == 0]
        values = [c for c in column if not c["header"] and c["text"].strip()]
        if not header or not values or not all(c["number"] for c in values):
            continue
        for cell in values:
            assert abs(cell["ink"][1] - header[0]["ink"][1]) < 1, (header[0], cell)
        checked += 1
    return checked


def test_browser_draws_the_report(page_gateway, backend):
    report = page_gateway.client().get("/report.json").json
    (version,) = report["versions"]
    dom = Dom(chromium("--dump-dom", page_gateway.base + "/"))

    # the headline metrics
    tiles = {e["attrs"]["data-metric"]: e for e in dom.find("div") if "data-metric" in e["attrs"]}
    for name in ("rows", "labelled_rows", "roc_auc", "log_loss", "brier_score", "accuracy"):
        assert float(tiles[name]["attrs"]["data-value"]) == version["metrics"][name], name
    assert version["metrics"]["rows"] == 891 + 600

    # predictions per day: eleven days, each bar the day's count
    (daily,) = dom.find("svg", id="daily-chart")
    bars = dom.find("rect", inside="svg#daily-chart")
    bars = [b for b in bars if "data-day" in b["attrs"]]
    assert daily["attrs"]["data-points"] == "11" and len(bars) == 11
    assert [(b["attrs"]["data-day"], float(b["attrs"]["data-rows"])) for b in bars] == \
        [(d["day"], d["rows"]) for d in version["daily"]]

    # the probability against the training reference: ten bins, two bars each
    probability = version["drift"]["features"][0]
    bars = [b for b in dom.find("rect", inside="svg#probability-chart") if "data-series" in b["attrs"]]
    assert len(bars) == 20
    assert [float(b["attrs"]["data-fraction"]) for b in bars if b["attrs"]["data-series"] == "reference"] == \
        [b["reference"] for b in probability["bins"]]
    assert [float(b["attrs"]["data-fraction"]) for b in bars if b["attrs"]["data-series"] == "predictions"] == \
        [b["fraction"] for b in probability["bins"]]

    # the calibration plot: one point per non-empty bin of the labelled rows
    points = dom.find("circle", inside="svg#calibration-chart")
    assert len(points) == len(version["calibration"]) >= 5
    assert [(float(p["attrs"]["data-mean-proba"]), float(p["attrs"]["data-observed-rate"]))
            for p in points] == [(c["mean_proba"], c["observed_rate"]) for c in version["calibration"]]

    # the PSI table: every feature, the drifted ones highlighted, the unseen port shown
    rows = {r["attrs"]["data-feature"]: r for r in dom.find("tr", inside="table#psi") if "data-feature" in r["attrs"]}
    assert list(rows) == [f["feature"] for f in version["drift"]["features"]]
    readings = {f["feature"]: f["reading"] for f in version["drift"]["features"]}
    assert readings["Fare"] in ("moderate", "significant")
    for name, row in rows.items():
        assert row["attrs"]["data-reading"] == readings[name]
        assert row["attrs"].get("class") == readings[name]
    assert "X (100)" in " ".join(rows["Embarked"]["text"].split())
    assert rows["Fare"]["attrs"]["class"] in ("moderate", "significant")

    # timestamps as a person reads them (the exact value kept in <time datetime>), and the
    # confusion matrix's counts aligned as their headers
    times = dom.find("time")
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", t["text"]) for t in times), times
    assert {t["attrs"]["datetime"] for t in times} >= {version["first_at"], version["last_at"]}
    tables = measured_tables(page_gateway)
    confusion = tables["confusion"]
    assert len(confusion) == 9, confusion
    for column in ([c for c in confusion if c["column"] == k] for k in (1, 2)):
        header, counts = column[0], column[1:]
        assert header["text"] in ("predicted 0", "predicted 1") and len(counts) == 2, column
        for cell in counts:
            assert cell["text"].replace(",", "").isdigit(), cell
            # the same column, and the number's text ends where its header's does
            assert abs(cell["box"][0] - header["box"][0]) < 0.5 and abs(cell["box"][1] - header["box"][1]) < 0.5
            assert abs(cell["ink"][1] - header["ink"][1]) < 1, (header, cell)
    # the PSI table's numbers sit under their headers too (PSI, missing now, in training)
    assert numbers_aligned_with_headers(tables["psi"]) == 3

    # and a picture of it
    os.makedirs(OUTPUT, exist_ok=True)
    shot = os.path.join(OUTPUT, "report-page-%s.png" % backend.name)
    if os.path.exists(shot):
        os.remove(shot)
    chromium("--screenshot=" + shot, "--window-size=1200,1600", "--hide-scrollbars", page_gateway.base + "/")
    with open(shot, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1200, 1600)
    assert os.path.getsize(shot) > 50_000             # a drawn page, not a blank one


@pytest.fixture(scope="module")
def first_run_gateway(backend):
    """As `make run` starts: the bundled model (PREDICT_MODEL=models/titanic.json) on a
    new database; then 60 Titanic rows through the API, as a first user's curls."""
    import predict_export as pe
    from titanic_data import features_and_target, load_titanic
    X, _ = features_and_target(load_titanic())
    gw = Gateway(backend.new_database(), env={"PREDICT_MODEL": os.path.join(REPO, "models", "titanic.json")},
                 threads=2)
    client = gw.client()
    for obs in pe.frame_to_observations(X, list(X.columns))[:60]:
        assert client.predict(fresh_id(), obs).status == 200
    client.close()
    yield gw
    assert gw.stop() == 0, gw.stderr()[-3000:]


def test_first_run_page_shows_drift_numbers(first_run_gateway):
    """The bundled model carries its training reference: from the first
    predictions, every drift row of the page has a PSI and a reading, and no
    row says the reference is missing."""
    dom = Dom(chromium("--dump-dom", first_run_gateway.base + "/"))
    rows = [r for r in dom.find("tr", inside="table#psi") if "data-feature" in r["attrs"]]
    assert [r["attrs"]["data-feature"] for r in rows] == \
        ["(probability)", "Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Cabin", "Embarked"]
    for row in rows:
        assert row["attrs"]["data-reading"] in ("stable", "moderate", "significant"), row
        assert float(row["attrs"]["data-psi"]) >= 0, row
        assert re.search(r"\d\.\d{3}", row["text"]), row["text"]
    text = " ".join(e["text"] for e in dom.find("main"))
    assert "no reference" not in text and "unknown" not in text.replace("unknown where it cannot", "")
    (heading,) = [e for e in dom.find("span") if e["attrs"].get("class") == "psi"]
    assert re.fullmatch(r"PSI \d\.\d{3} \((stable|moderate|significant)\)", heading["text"]), heading


def test_browser_shows_why_importance_is_missing(page_gateway):
    """No prediction of the shown version has an explanation: the importance
    section says why instead of drawing bars."""
    dom = Dom(chromium("--dump-dom", page_gateway.base + "/"))
    (section,) = dom.find("section", id="importance")
    assert "Why: global importance" in section["text"]
    assert "no row of this version has an explanation; deploy it with explain" in section["text"]
    assert not dom.find("div", inside="section#importance")


@pytest.fixture(scope="module")
def explained_gateway(backend):
    """The bundled model on a new database with 80 predictions explained on insert
    (explanation = true), 40 in each of two weeks."""
    import predict_export as pe
    from titanic_data import features_and_target, load_titanic
    X, _ = features_and_target(load_titanic())
    url = backend.new_database()
    gw = Gateway(url, env={"PREDICT_MODEL": os.path.join(REPO, "models", "titanic.json")}, threads=2)
    monday = datetime.datetime.now(datetime.timezone.utc).date()
    monday -= datetime.timedelta(days=monday.weekday() + 7)
    for k, obs in enumerate(pe.frame_to_observations(X, list(X.columns))[:80]):
        when = "%sT10:%02d:00.000Z" % (monday + datetime.timedelta(days=7 * (k // 40) + k % 5), k % 60)
        backend.execute(url, "INSERT INTO predictions (observation_id, observation, created_at, updated_at, "
                             "explanation) VALUES (%s, %s, %s, %s, 'true')",
                        (fresh_id(), json.dumps(obs), when, when))
    yield gw
    assert gw.stop() == 0, gw.stderr()[-3000:]


def test_browser_draws_global_importance(explained_gateway, backend):
    """A bar per input column, widths in the order of the report's ranks, and the
    weekly table with each column's change from the week before."""
    report = explained_gateway.client().get("/report.json").json
    (version,) = report["versions"]
    importance = version["importance"]
    assert importance["rows"] == 80 and len(importance["weekly"]) == 2
    dom = Dom(chromium("--dump-dom", explained_gateway.base + "/"))
    (section,) = dom.find("section", id="importance")
    assert "mean |contribution| in log-odds over 80 explained predictions" in section["text"]
    bars = [e for e in dom.find("div", inside="section#importance") if e["attrs"].get("class") == "imp"]
    assert [b["attrs"]["data-column"] for b in bars] == [c["column"] for c in importance["columns"]]
    assert sorted(b["attrs"]["data-column"] for b in bars) == \
        sorted(["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Cabin", "Embarked"])
    for bar, c in zip(bars, importance["columns"]):
        assert float(bar["attrs"]["data-mean"]) == c["mean_abs_contribution"]
        assert "%.3f" % c["mean_abs_contribution"] in bar["text"]
    widths = [float(re.search(r"width:([\d.]+)%", e["attrs"]["style"]).group(1))
              for e in dom.find("span", inside="section#importance") if e["attrs"].get("class") == "fill"]
    assert len(widths) == 8 and widths[0] == 100.0 and widths == sorted(widths, reverse=True) and widths[-1] > 0
    rows = [r for r in dom.find("tr", inside="table#importance-weekly") if "data-column" in r["attrs"]]
    assert len(rows) == 8
    second = {c["column"]: c for c in importance["weekly"][1]["columns"]}
    for row in rows:
        assert row["text"].count(".") >= 2, row["text"]
        change = second[row["attrs"]["data-column"]]["change"]
        assert ("%+.3f" % change) in row["text"], (row["text"], change)
    shot = os.path.join(OUTPUT, "report-page-importance-%s.png" % backend.name)
    os.makedirs(OUTPUT, exist_ok=True)
    chromium("--screenshot=" + shot, "--window-size=1200,2200", "--hide-scrollbars", explained_gateway.base + "/")
    assert os.path.getsize(shot) > 50_000
