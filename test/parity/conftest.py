"""Shared fixtures of the parity suite: paths, the C CLI, the Titanic data, the exporter."""

import json
import os
import pickle
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


# ---------- fitting, exporting and scoring a variant ----------

_CACHE = {}


def describe(result):
    return ("error: %s" % result) if isinstance(result, (str, Exception)) else repr(result)


def mismatch_report(labels, texts, ref, got, bad, limit=15):
    lines = []
    for i in bad[:limit]:
        lines.append("  [%s] %s\n      scikit-learn: %s\n      predict-score: %s"
                     % (labels[i], texts[i], describe(ref[i]), describe(got[i])))
    if len(bad) > limit:
        lines.append("  ... and %d more" % (len(bad) - limit))
    return "\n".join(lines)


def _base_observation(observations):
    """The first Titanic row with the most columns present."""
    return max(observations, key=len)


def _all_variants():
    from tree_variants import TREE_VARIANTS
    from variants import VARIANTS
    from variants_estimators import ESTIMATOR_VARIANTS
    both = dict(VARIANTS)
    both.update(TREE_VARIANTS)
    both.update(ESTIMATOR_VARIANTS)
    return both


@pytest.fixture(scope="session")
def variant_run(titanic, predict_score, tmp_path_factory):
    """Fit, export and score a variant of variants.py or tree_variants.py (cached per name).

    Scores all Titanic rows and the adversarial rows of adversarial.py (which adds
    rows at the split thresholds for tree models) with scikit-learn and with the CLI.
    """
    import joblib

    import predict_export as pe
    from adversarial import adversarial_lines
    variants = _all_variants()

    def run(name):
        if name in _CACHE:
            return _CACHE[name]
        tmp = tmp_path_factory.mktemp(name)
        X, y = titanic_data.features_and_target(titanic)
        v = variants[name](X, y)
        pkl = tmp / ("%s.pkl" % name)
        joblib.dump(v.estimator, pkl)
        model = tmp / "model.json"
        args = [pkl, "-o", model]
        if v.use_dtypes:
            with open(tmp / "dtypes.pickle", "wb") as fh:
                pickle.dump(v.X.dtypes, fh)
            with open(tmp / "columns.json", "w") as fh:
                json.dump(list(v.X.columns), fh)
            args += ["--dtypes", tmp / "dtypes.pickle", "--columns", tmp / "columns.json"]
        proc = run_exporter(*args)
        assert proc.returncode == 0, "predict-export failed:\n%s" % proc.stderr
        with open(model) as fh:
            doc = json.load(fh)

        rows = pe.frame_to_observations(v.X, list(v.X.columns))
        row_lines = [pe.observation_line(o) for o in rows]
        adv = adversarial_lines(doc, _base_observation(rows))
        adv_obs = [json.loads(text) for _, text in adv]

        ref_rows = pe.sklearn_scores(v.estimator, doc, rows)
        ref_adv = pe.sklearn_scores(v.estimator, doc, adv_obs)
        classes = []     # predict-score's predicted_class per line (test_predict_class.py)
        got = pe.c_scores(str(model), row_lines + [text for _, text in adv], predict_score,
                          classes)
        result = {
            "variant": v, "doc": doc, "model": model, "classes": classes,
            "observations": rows + adv_obs,
            "rows": (row_lines, ref_rows, got[:len(rows)]),
            "adversarial": ([label for label, _ in adv], [text for _, text in adv],
                            ref_adv, got[len(rows):]),
        }
        ref_all = ref_rows + ref_adv
        max_diff, bad = pe.compare(ref_all, got)
        SUMMARY[name] = {
            "rows": len(got),
            "scored": sum(1 for r, g in zip(ref_all, got)
                          if not isinstance(r, Exception) and not isinstance(g, str)),
            "errors": sum(1 for g in got if isinstance(g, str)),
            "max_diff": max_diff, "mismatches": len(bad),
        }
        _CACHE[name] = result
        return result
    return run
