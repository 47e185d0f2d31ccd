"""predicted_class is the pipeline's own predict() (issue 18), on every row of
every parity variant: the exporter writes "threshold": null, and the core
applies each estimator's rule (docs/model-format.md, "threshold"), ties
included: an unlimited-depth tree's 50/50 leaves score exactly 0.5 and
predict() answers classes_[0] there."""

import pytest

import predict_export as pe
from conftest import _all_variants

NAMES = sorted(_all_variants())


def _check(r):
    doc, v = r["doc"], r["variant"]
    obs = r["observations"]
    lines, ref_rows, got_rows = r["rows"]
    _, _, ref_adv, got_adv = r["adversarial"]
    got = got_rows + got_adv
    scored = [i for i, g in enumerate(got) if not isinstance(g, str)]
    assert doc["threshold"] is None, "the default export has no threshold"
    expected = pe.sklearn_classes(v.estimator, doc, [obs[i] for i in scored])
    wrong = [(i, got[i], r["classes"][i], e) for i, e in zip(scored, expected)
             if r["classes"][i] is not e]
    assert not wrong, "%d rows: predicted_class is not predict(): %s" % (len(wrong), wrong[:5])
    assert all(r["classes"][i] is None for i in range(len(got)) if i not in set(scored))
    ties = sum(1 for i in scored if got[i] == 0.5)
    return len(scored), ties


@pytest.mark.parametrize("name", NAMES)
def test_predicted_class_is_predict(name, variant_run):
    n, _ = _check(variant_run(name))
    assert n >= 891


def test_unlimited_tree_ties(variant_run):
    """The ties are there, and predict() (classes_[0]) wins them, not proba >= 0.5."""
    r = variant_run("decision_tree_unlimited")
    n, ties = _check(r)
    _, _, got = r["rows"]
    row_ties = [i for i, g in enumerate(got) if g == 0.5]
    assert len(row_ties) >= 5, row_ties     # 14 of the 891 Titanic rows
    assert all(r["classes"][i] is False for i in row_ties)
