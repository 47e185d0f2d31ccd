"""A new user's first hour, from a fresh clone of this repository (the
committed tree: nothing built, no titanic.csv beside it), following the
README: `make run`, the tutorial's curls and a few more predictions, the page
in headless Chromium (metrics and drift tiles drawn from the bundled model's
reference), `make run-postgresql` with its psql line, then docs/your-model.md.
It asserts what the user looks at: the answers, the page, and a terminal that
shows nothing but what the README shows."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
sys.path[:0] = [HERE, os.path.join(TEST, "http")]

from harness import curl_json as curl, interrupt, wait_for_output as wait_for  # noqa: E402
from test_report_browser import Dom, chromium  # noqa: E402
from test_your_model import free_port, session  # noqa: E402
from titanic_data import load_titanic  # noqa: E402

# what make run may print: its banner, the gateway's info lines, the ready message
# and the curls (README, Quick start); anything else is noise
ALLOWED = [r"Starting bin/predict-gateway on \S+, port \d+ of 127\.0\.0\.1 \(Ctrl-C stops it\)",
           r'time=\S+ level=info msg=".*"',
           r'time=\S+ method="\w+" path="\S+" status=200 duration_ms=\S+( observation_id=\d+)?',
           r"predict-gateway is ready at http://localhost:\d+/ - try, in another terminal:",
           r"  curl .*", r"", r"make(\[\d+\])?: .*directory.*"]


def user_env(home, port):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOST", "TITANIC_CSV")
           and not k.startswith(("PREDICT_", "MAKE", "PG"))}
    env.update({"HOME": str(home), "PORT": str(port)})
    return env


def start(command, clone, env, out_path):
    return subprocess.Popen(command, cwd=clone, env=env, start_new_session=True,
                            stdout=open(out_path, "wb"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone of the committed tree; where the tree is no git checkout (an
    exported copy), a copy of it without what a build or a test run leaves."""
    where = tmp_path_factory.mktemp("first-hour") / "predict"
    inside = shutil.which("git") and subprocess.run(
        ["git", "-C", REPO, "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True)
    if inside and inside.returncode == 0 and inside.stdout.strip() == "true":
        subprocess.run(["git", "clone", "-q", REPO, str(where)], check=True, timeout=120)
    else:
        shutil.copytree(REPO, where, ignore=shutil.ignore_patterns(
            ".git", "build", "bin", "output", "results", "regression.*", "*.so", "*.o", "*.db",
            "*.db-*", "__pycache__"))
    return where


def test_make_run_the_curls_and_the_page(clone, tmp_path):
    port = free_port()
    out_path = tmp_path / "make-run.out"
    proc = start(["make", "run"], clone, user_env(tmp_path, port), out_path)
    try:
        text = wait_for(out_path, "list-db-contents", proc, 900)     # builds everything first
        start_at = text.index("Starting bin/predict-gateway")
        commands = [l.strip() for l in text.splitlines() if l.startswith("  curl ")]
        readme = open(os.path.join(clone, "README.md")).read()
        for c in commands:                              # the curls the README shows
            assert c.replace("localhost:%d" % port, "localhost:5000") in readme, c
        predicted, updated, listing = [curl(c) for c in commands]
        assert abs(predicted["proba"] - 0.09182825924632243) < 1e-12
        assert updated["true_class"] == 1 and [r["observation_id"] for r in listing] == [0]
        # a few more, as a user trying it does, with outcomes
        frame = load_titanic().head(40)
        for i, row in enumerate(frame.to_dict("records"), start=1):
            obs = {k: (None if v != v else v) for k, v in row.items()
                   if k in ("Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Cabin", "Embarked")}
            base = "curl -X POST http://localhost:%d" % port
            curl("%s/predict -d '%s'" % (base, json.dumps({"id": i, "observation": obs})))
            curl("%s/update -d '%s'" % (base, json.dumps({"id": i, "true_class": int(row["Survived"])})))
        # the page: metrics and drift drawn (the bundled model carries its reference)
        dom = Dom(chromium("--dump-dom", "http://localhost:%d/" % port))
        tiles = {e["attrs"]["data-metric"]: e for e in dom.find("div") if "data-metric" in e["attrs"]}
        for name in ("rows", "labelled_rows", "roc_auc", "log_loss", "accuracy"):
            assert "null" not in tiles[name]["attrs"].get("class", ""), name
        assert float(tiles["rows"]["attrs"]["data-value"]) == 41
        readings = [r["attrs"].get("data-reading") for r in dom.find("tr", inside="table#psi")
                    if "data-feature" in r["attrs"]]
        assert len(readings) == 9, readings
        assert all(r in ("stable", "moderate", "significant") for r in readings), readings
        assert "has no reference" not in " ".join(e["text"] for e in dom.find("body"))
        shot = os.path.join(TEST, "output", "first-hour-page.png")
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        chromium("--screenshot=" + shot, "--window-size=1200,1600", "--hide-scrollbars",
                 "http://localhost:%d/" % port)
    finally:
        interrupt(proc)
    text = out_path.read_text()
    assert 'msg="stopped"' in text
    # the terminal after the build: nothing but what the README shows
    noise = [l for l in text[start_at:].splitlines() if not any(re.fullmatch(p, l) for p in ALLOWED)]
    assert noise == [], noise


def test_make_run_postgresql_then_your_model(clone, tmp_path):
    port = free_port()
    out_path = tmp_path / "make-run-postgresql.out"
    proc = start(["make", "run-postgresql"], clone, user_env(tmp_path, port), out_path)
    try:
        text = wait_for(out_path, 'psql "', proc, 900)
        (url,) = re.findall(r'psql "(postgresql://[^"]+)"', text)
        commands = [l.strip() for l in text.splitlines() if l.startswith("  curl ")]
        assert abs(curl(commands[0])["proba"] - 0.09182825924632243) < 1e-12
        q = subprocess.run(["psql", url, "-AtXc", "SELECT count(*) FROM predictions"],
                           capture_output=True, text=True, timeout=30)
        assert q.stdout.strip() == "1", q
    finally:
        interrupt(proc)
    assert "the cluster is stopped and removed" in out_path.read_text()

    # then the own-model walkthrough, in the same clone
    home = tmp_path / "home"
    (home / "my-model").mkdir(parents=True)
    load_titanic().to_csv(home / "my-model" / "titanic.csv", index=False)
    port = free_port()
    run = subprocess.run(["bash", "-c", session(port)], cwd=clone, env=user_env(home, port),
                         capture_output=True, text=True, timeout=900, start_new_session=True)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "sent 300 predictions and their outcomes" in run.stdout
