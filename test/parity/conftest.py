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


# ---------- the suite's two-build run (test/suites/20-parity) ----------

def _shard_group(item):
    """Tests of one variant stay together (they share its fit); others go by file."""
    spec = getattr(item, "callspec", None)
    name = spec.params.get("name") if spec is not None else None
    return name if isinstance(name, str) else item.module.__name__


def pytest_collection_modifyitems(config, items):
    """$PARITY_SHARD=i/n keeps the i-th of n interleaved shares of the tests."""
    shard = os.environ.get("PARITY_SHARD")
    if not shard:
        return
    i, n = (int(part) for part in shard.split("/"))
    groups = sorted({_shard_group(item) for item in items})
    share = {group: k % n for k, group in enumerate(groups)}
    keep = [item for item in items if share[_shard_group(item)] == i]
    drop = [item for item in items if share[_shard_group(item)] != i]
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def _disagreements():
    path = os.environ.get("PARITY_DISAGREEMENTS")
    if not path or not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


@pytest.fixture(autouse=True)
def builds_agree():
    """Fail the test during which the plain and sanitized CLIs disagreed (both-builds)."""
    before = len(_disagreements())
    yield
    new = _disagreements()[before:]
    if new:
        pytest.fail("the plain and the sanitized predict-score disagree:\n" + new,
                    pytrace=False)


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


def export_in_process(*args):
    """tools/predict-export's main() in this interpreter: (exit status, stderr).

    The CLI's own code, without its start (1.4 s importing scikit-learn), which
    once per variant was a quarter of the suite; run_exporter tests the CLI as
    a process.
    """
    import contextlib
    import importlib.machinery
    import io
    global _EXPORTER_MODULE
    if _EXPORTER_MODULE is None:
        import importlib.util
        loader = importlib.machinery.SourceFileLoader("predict_export_cli", EXPORTER)
        _EXPORTER_MODULE = importlib.util.module_from_spec(
            importlib.util.spec_from_loader(loader.name, loader))
        loader.exec_module(_EXPORTER_MODULE)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            status = _EXPORTER_MODULE.main([str(a) for a in args])
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else 1
    return status, err.getvalue()


_EXPORTER_MODULE = None


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


def _fit_export_score(name, variant, titanic, predict_score, tmp):
    """Fit a variant, export it into tmp, score its rows with scikit-learn and the CLI."""
    import joblib

    import predict_export as pe
    from adversarial import adversarial_lines
    X, y = titanic_data.features_and_target(titanic)
    v = variant(X, y)
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
    status, stderr = export_in_process(*args)
    assert status == 0, "predict-export failed:\n%s" % stderr
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
    return {
        "variant": v, "doc": doc, "model": model, "classes": classes,
        "observations": rows + adv_obs,
        "rows": (row_lines, ref_rows, got[:len(rows)]),
        "adversarial": ([label for label, _ in adv], [text for _, text in adv],
                        ref_adv, got[len(rows):]),
    }


def _summarize(result):
    import predict_export as pe
    _, ref_rows, got_rows = result["rows"]
    _, _, ref_adv, got_adv = result["adversarial"]
    ref_all, got = ref_rows + ref_adv, got_rows + got_adv
    max_diff, bad = pe.compare(ref_all, got)
    return {
        "rows": len(got),
        "scored": sum(1 for r, g in zip(ref_all, got)
                      if not isinstance(r, Exception) and not isinstance(g, str)),
        "errors": sum(1 for g in got if isinstance(g, str)),
        "max_diff": max_diff, "mismatches": len(bad),
    }


def _shared_run(directory, name, compute):
    """The shards' common cache ($PARITY_CACHE): the first to need a variant fits it."""
    import fcntl
    import pathlib

    import joblib
    path = os.path.join(directory, name + ".pkl")
    with open(os.path.join(directory, name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(path):
            return joblib.load(path)
        tmp = pathlib.Path(directory) / name
        tmp.mkdir()
        result = compute(tmp)
        joblib.dump(result, path + ".part")
        os.rename(path + ".part", path)
        return result


@pytest.fixture(scope="session")
def variant_run(titanic, predict_score, tmp_path_factory):
    """Fit, export and score a variant of the parity suite (cached per name).

    Scores all Titanic rows and the adversarial rows of adversarial.py (which adds
    rows at the split thresholds for tree models) with scikit-learn and with the CLI.
    Under test/suites/20-parity the shards share one cache, so each variant is
    fitted once per suite run.
    """
    variants = _all_variants()
    shared = os.environ.get("PARITY_CACHE")

    def run(name):
        if name not in _CACHE:
            def compute(tmp):
                return _fit_export_score(name, variants[name], titanic, predict_score, tmp)
            _CACHE[name] = (_shared_run(shared, name, compute) if shared
                            else compute(tmp_path_factory.mktemp(name)))
            SUMMARY[name] = _summarize(_CACHE[name])
        return _CACHE[name]
    return run
