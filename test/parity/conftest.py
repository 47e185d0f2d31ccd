"""Shared fixtures of the parity suite: paths, the C CLI, the Titanic data, the exporter."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
for path in (os.path.join(REPO, "tools"), TEST, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import titanic_data  # noqa: E402

# the CLI under test: $PREDICT_SCORE (e.g. a sanitizer build), else the repository's bin/
PREDICT_SCORE = os.environ.get("PREDICT_SCORE") or os.path.join(REPO, "bin", "predict-score")
EXPORTER = os.path.join(REPO, "tools", "predict-export")
PEER_TRAIN = os.path.normpath(os.path.join(REPO, "..", "shared", "peers", "flask", "train.py"))

# variant name -> summary dict, filled by test_parity.py, printed at the end
SUMMARY = {}


def pytest_report_header(config):
    source = ("real: %s" % titanic_data.csv_path()) if titanic_data.is_real() \
        else "synthetic (no %s)" % titanic_data.csv_path()
    return ["titanic data: %s" % source, "predict-score: %s" % PREDICT_SCORE]


def pytest_terminal_summary(terminalreporter):
    if not SUMMARY:
        return
    tr = terminalreporter
    tr.section("parity: scikit-learn predict_proba vs bin/predict-score")
    tr.write_line("%-36s %6s %6s %6s %12s %10s" % ("variant", "rows", "scored", "errors",
                                                   "max |diff|", "mismatches"))
    for name, s in SUMMARY.items():
        tr.write_line("%-36s %6d %6d %6d %12.3g %10d" % (
            name, s["rows"], s["scored"], s["errors"], s["max_diff"], s["mismatches"]))


@pytest.fixture(scope="session")
def predict_score():
    if not os.access(PREDICT_SCORE, os.X_OK):
        pytest.fail("%s not found: run `make` in %s first (the parity suite needs the C CLI; "
                    "$PREDICT_SCORE overrides its path)" % (PREDICT_SCORE, REPO), pytrace=False)
    return PREDICT_SCORE


@pytest.fixture(scope="session")
def titanic():
    return titanic_data.load_titanic()


def run_exporter(*args, timeout=300):
    """Run tools/predict-export with this interpreter; returns the CompletedProcess."""
    return subprocess.run([sys.executable, EXPORTER] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
