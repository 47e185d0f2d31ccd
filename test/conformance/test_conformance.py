"""Every case of cases.py on every host (hosts.py), parametrized from the one
table: a host that disagrees with PostgreSQL's extension fails the case.

XFAIL lists the disagreements known today, by (case, host), with what the
host does instead; each is strict, so that a fixed one fails until it is
taken off the list. A case that uses an operation a host lacks (hosts.py's
LACKS) is skipped on that host, saying which.
"""

import math

import pytest

from cases import ANY, CASES, Check, DeployHint, ExplainHint
from hosts import LACKS, ExtensionHost, HostError, ManagedHost, SqliteHost

HOSTS = ("extension", "managed", "sqlite")

# Known disagreements, by (case, host), each with what the host does instead
# of what the extension does; one is taken off when it is fixed.
XFAIL = {
    # ---------- managed mode ----------
    ("activate_version_stored_by_hand", "managed"):
        "a version stored by hand has no compiled scorer: predict_activate refuses it with 'model \"titanic\" "
        "version 2 has no compiled scorer' (55000) and the hint to deploy it with the gateway",
    ("activate_invalid_version_stored_by_hand", "managed"):
        "the document is not checked (managed mode has no loader in SQL): it has no compiled scorer, and "
        "predict_activate refuses it as such",
    ("score_invalid_value", "managed"): "no detail naming the model and version that scored the observation (the "
                                        "compiled scorer raises the core's message; adding it would put an "
                                        "exception block, a subtransaction, in every call)",
    ("explain_scoring_errors", "managed"): "no detail naming the model and version, as in score_invalid_value: "
                                           "the compiled explanation scores with the compiled scorer",
    ("explain_unsupported", "managed"): "managed mode does not compile gaussian_nb: deploy refuses the model "
                                        "(managed mode does not compile gaussian_nb estimators to SQL), so its "
                                        "explanation's refusal is never reached (test/managed/test_explain.py "
                                        "checks managed mode's refusals)",
}


def params():
    out = []
    for case in CASES:
        for h in HOSTS:
            marks = []
            lacking = sorted({step.op for step in case.steps} & LACKS.get(h, frozenset()))
            if lacking:
                marks.append(pytest.mark.skip(reason="%s has no %s" % (h, ", ".join(lacking))))
            elif (case.name, h) in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[(case.name, h)]))
            out.append(pytest.param(case, h, id="%s-%s" % (case.name, h), marks=marks))
    return out


def test_xfail_names_real_cases():
    names = {c.name for c in CASES}
    assert not [k for k in XFAIL if k[0] not in names or k[1] not in HOSTS]


HOST_CLASSES = {"extension": ExtensionHost, "managed": ManagedHost, "sqlite": SqliteHost}


def test_lacks_names_operations_the_host_has_not():
    """A host that gains an operation must be taken off LACKS, so that the
    cases run on it."""
    operations = {step.op for case in CASES for step in case.steps}
    for h, ops in LACKS.items():
        assert h in HOSTS and ops <= operations, (h, ops)
        assert not [op for op in ops if hasattr(HOST_CLASSES[h], op)], (h, ops)
    for h in HOSTS:
        missing = [op for op in operations - LACKS.get(h, frozenset()) if not hasattr(HOST_CLASSES[h], op)]
        assert not missing, (h, missing)


def same(want, got):
    """got equals want; for dicts, the keys of want (a report is compared
    as a subset); floats bit for bit; a Check says itself."""
    if isinstance(want, Check):
        return want(got)
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
            # a client's error (managed mode's deploy command) has a message only
            for field in ("message",) if e.client else host.error_fields:
                want = getattr(step.error, field)
                if want is ANY:
                    continue
                if isinstance(want, DeployHint):
                    want = host.deploy_hint(want.name)
                elif isinstance(want, ExplainHint):
                    want = host.explain_hint
                assert getattr(e, field) == want, "%s: %s %r, expected %r" % (where, field, getattr(e, field), want)
            continue
        assert step.error is None, "%s: returned %r, expected %r" % (where, got, step.error)
        assert same(step.returns, got), "%s: returned %r, expected %r" % (where, got, step.returns)


@pytest.mark.parametrize("host", ["managed"], indirect=True)
def test_managed_mode_refuses_a_version_without_its_compiled_scorer(host):
    """What managed mode does instead in the two activate_*_stored_by_hand
    cases: it scores only versions the gateway compiled, and says so."""
    from cases import TITANIC, TITANIC_V2
    assert host.deploy("titanic", TITANIC) == 1
    host.insert_version("titanic", 2, TITANIC_V2)
    with pytest.raises(HostError) as refused:
        host.activate("titanic", 2)
    e = refused.value
    assert (e.message, e.sqlstate) == ('model "titanic" version 2 has no compiled scorer', "55000"), e
    assert e.hint == "Deploy the model again: bin/predict-gateway deploy --name titanic /path/to/model.json", e
    assert host.models() == [["titanic", 1, True]]
