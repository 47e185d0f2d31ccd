"""Every case of cases.py on every host (hosts.py), parametrized from the one
table: a host that disagrees with PostgreSQL's extension fails the case.

XFAIL lists the disagreements known today, by (case, host), with what the
host does instead; each is strict, so that a fixed one fails until it is
taken off the list.
"""

import math

import pytest

from cases import ANY, CASES, DeployHint
from hosts import HostError

HOSTS = ("extension", "managed", "sqlite")

SQLITE_HINT_IN_MESSAGE = ("SQLite's message ends with a hint naming titanic whatever the model ('...; deploy one "
                          "with: SELECT predict_deploy('titanic', readfile(...))'), and an unknown model "
                          "'is not deployed' where the extension's does not exist")
SQLITE_TABLE = "SQLite's predictions table comes from the gateway: "

XFAIL = {
    # ---------- SQLite ----------
    ("bad_name_space", "sqlite"): "SQLite stores a model named 'bad name'",
    ("bad_name_empty", "sqlite"): "says 'predict_deploy: the model name must not be empty'",
    ("bad_name_too_long", "sqlite"): "SQLite stores a model name of 64 characters",
    ("bad_name_not_ascii", "sqlite"): "SQLite stores a model name that is not ASCII",
    ("deploy_null_name", "sqlite"): "says 'predict_deploy(name, model_json): name must be text and model_json not null'",
    ("deploy_null_document", "sqlite"): "says 'predict_deploy(name, model_json): name must be text and model_json "
                                        "not null'",
    ("activate_older_version", "sqlite"): "predict_activate returns the version; the extension's returns void",
    ("activate_unknown_model", "sqlite"): "says 'model \"nope\" has no version 1'",
    ("activate_null_name", "sqlite"): "says 'predict_activate(name, version): expected a text name and an integer "
                                      "version'",
    ("activate_null_version", "sqlite"): "says 'predict_activate(name, version): expected a text name and an integer "
                                         "version'",
    ("set_default_moves_the_default", "sqlite"): "predict_set_default returns 1; the extension's returns void",
    ("set_default_unknown_model", "sqlite"): "says 'model \"nope\" is not deployed'",
    ("set_default_null", "sqlite"): "says 'predict_set_default(name): expected a text name'",
    ("score_without_default", "sqlite"): SQLITE_HINT_IN_MESSAGE,
    ("score_unknown_model", "sqlite"): SQLITE_HINT_IN_MESSAGE,
    ("score_bad_name", "sqlite"): SQLITE_HINT_IN_MESSAGE,
    ("insert_scored_by_default_model", "sqlite"): SQLITE_TABLE + "an INSERT must carry the score",
    ("insert_uses_the_new_default", "sqlite"): "predict_set_default returns 1; and " + SQLITE_TABLE
                                               + "an INSERT must carry the score",
    ("insert_without_default", "sqlite"): SQLITE_TABLE + "an INSERT must carry the score",
    ("insert_version_without_model", "sqlite"): SQLITE_TABLE + "its trigger's one message for every refused row",
    ("insert_wrong_score", "sqlite"): SQLITE_TABLE + "its trigger's one message for every refused row",
    ("outcome_invalid", "sqlite"): SQLITE_TABLE + "says 'CHECK constraint failed: true_class IN (0, 1)'",
    ("report_without_default", "sqlite"): SQLITE_HINT_IN_MESSAGE,
}


def params():
    out = []
    for case in CASES:
        for h in HOSTS:
            marks = []
            if (case.name, h) in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[(case.name, h)]))
            out.append(pytest.param(case, h, id="%s-%s" % (case.name, h), marks=marks))
    return out


def test_xfail_names_real_cases():
    names = {c.name for c in CASES}
    assert not [k for k in XFAIL if k[0] not in names or k[1] not in HOSTS]


def same(want, got):
    """got equals want; for dicts, the keys of want (a report is compared
    as a subset); floats bit for bit."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and same(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(same(a, b) for a, b in zip(want, got))
    if isinstance(want, bool) or want is None:
        return got is want or (isinstance(got, bool) and got == want)
    if isinstance(want, float):
        return isinstance(got, float) and (got == want or (math.isnan(got) and math.isnan(want)))
    return type(got) is type(want) and got == want


@pytest.mark.parametrize("case, host", params(), indirect=["host"])
def test_case(case, host):
    for i, step in enumerate(case.steps):
        where = "step %d, %r" % (i + 1, step)
        try:
            got = getattr(host, step.op)(*step.args, **step.kwargs)
        except HostError as e:
            assert step.error is not None, "%s: unexpected error %r" % (where, e)
            for field in host.error_fields:
                want = getattr(step.error, field)
                if want is ANY:
                    continue
                if isinstance(want, DeployHint):
                    want = host.deploy_hint(want.name)
                assert getattr(e, field) == want, "%s: %s %r, expected %r" % (where, field, getattr(e, field), want)
            continue
        assert step.error is None, "%s: returned %r, expected %r" % (where, got, step.error)
        assert same(step.returns, got), "%s: returned %r, expected %r" % (where, got, step.returns)
