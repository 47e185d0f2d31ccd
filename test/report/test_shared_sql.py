"""The SQL of both PostgreSQL modes is put together from the parts in
src/pg/sql/ and src/managed/sql/ (mk/pg.mk, mk/gateway.mk): the tables, the
registry and the reports are one file each, used by the extension's install
and upgrade scripts and by managed mode's new schema and migration."""

import os
import re

import pytest

from conftest import REPO

FOLDERS = [os.path.join(REPO, "src", "pg", "sql"), os.path.join(REPO, "src", "managed", "sql")]
# every part but the scripts of released versions, kept as they shipped
PARTS = {f[:-4]: os.path.join(d, f) for d in FOLDERS for f in os.listdir(d)
         if f.endswith(".sql") and not f.startswith("predict--")}
# the one part that is made: registry_error, from the core's table of errors
PARTS["registry-errors"] = os.path.join(REPO, "build", "sql", "registry-errors.sql")
BUILT = {
    "build/sql/predict--1.5.sql": ["extension-header", "extension-schema", "tables", "registry-errors", "registry",
                                   "extension", "untyped", "explain", "report", "registry-checks", "extension-backup",
                                   "extension-grants"],
    "build/sql/predict--1.4--1.5.sql": ["extension-header", "extension--1.4--1.5", "registry-errors", "registry",
                                        "extension", "report", "extension-grants"],
    "build/gateway/managed.sql": ["managed-schema", "tables", "managed", "registry-errors", "registry",
                                  "registry-checks", "untyped", "managed-constraints", "report"],
    "build/gateway/managed--1.0--1.1.sql": ["managed-schema", "managed--1.0--1.1", "managed--1.8--1.9", "managed",
                                            "registry-errors", "registry", "managed--1.3--1.4", "registry-checks",
                                            "untyped", "report"],
    "build/gateway/managed--1.1.sql": ["managed-schema", "managed--1.8--1.9", "managed", "registry-errors",
                                       "registry", "managed--1.3--1.4", "registry-checks", "untyped", "report"],
}


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


@pytest.mark.parametrize("built", sorted(BUILT))
def test_each_script_is_its_parts_in_order(built):
    text = read(os.path.join(REPO, built))
    parts = "".join(read(PARTS[name]) for name in BUILT[built])
    if built.startswith("build/sql/"):
        first, text = text.split("\n", 1)
        assert first.startswith("/* " + os.path.basename(built) + ":"), first
    assert text == parts, "make %s" % built


def test_every_part_is_used():
    used = {name for names in BUILT.values() for name in names}
    assert set(PARTS) == used


def test_report_names_its_schema_only_as_an_identifier():
    """@extschema@ is replaced by a quoted identifier in both modes (the
    extension's scripts know no @extschema_name@): never inside a string."""
    block = read(PARTS["report"])
    assert "@extschema_name@" not in block
    for line in block.splitlines():
        for literal in re.findall(r"'[^']*'", line):
            assert "@extschema@" not in literal, line


@pytest.mark.parametrize("name", ["predict_report", "predict_report_metrics", "predict_report_calibration",
                                  "predict_report_psi", "predict_report_bins", "predict_report_daily",
                                  "predict_report_importance"])
def test_every_public_report_function_is_in_the_shared_part(name):
    assert "FUNCTION @extschema@.%s(" % name in read(PARTS["report"])


# What registry.sql defines for both modes: no other part may define it again.
REGISTRY = ["@extschema@.predict_activate(", "@extschema@.predict_set_default(", "@extschema@.predictions_protect(",
            "predict_internal.registry_raise(",
            "predict_internal.registry_check_deploy(", "predict_internal.registry_add(",
            "predict_internal.registry_set_active(", "predict_internal.registry_lock("]


@pytest.mark.parametrize("function", REGISTRY)
def test_the_registry_is_defined_once_for_both_modes(function):
    defining = sorted(name for name, path in PARTS.items()
                      if re.search(r"CREATE (OR REPLACE )?FUNCTION\s+" + re.escape(function), read(path)))
    assert defining == ["registry"], defining


# The upgrades that keep the registry's checks as the version before made them
# (1.4 to 1.5 creates the registry again, for explain, but not its checks).
KEEPS_THE_CHECKS = {"build/sql/predict--1.4--1.5.sql"}


def test_every_postgresql_script_has_the_registry():
    assert all({"registry", "registry-errors"} <= set(names) for names in BUILT.values())
    assert all("registry-checks" in names for script, names in BUILT.items() if script not in KEEPS_THE_CHECKS)


def test_registry_errors_are_written_once_for_every_host():
    """The registry's and the log's messages are written in the core's table
    (src/core/registry_errors.c) only: PostgreSQL's registry_error is made
    from it, and no host's code spells one, C or SQL."""
    messages = [r"no default model is deployed", r'model \\?"[%{][sn]?a?m?e?}?\\?" does not exist',
                r"has no version", r"model name must not be null", r"model version must not be null",
                r"model document must not be null", r"invalid model name", r"maximum version number",
                r"must name its model", r"does not carry the score", r"cannot be changed"]
    sources = {}
    for folder in ("src/pg", "src/sqlite", "src/core", "gateway"):
        for f in os.listdir(os.path.join(REPO, folder)):
            if f.endswith((".c", ".h")):
                sources[folder + "/" + f] = read(os.path.join(REPO, folder, f))
    for part in ("managed", "extension", "registry", "report", "untyped", "tables"):
        sources[part + ".sql"] = read(PARTS[part])
    spelled = {(f, m) for f, text in sources.items() for m in messages if re.search(m, text)}
    table = ("src/core/registry_errors.c", "src/core/registry_errors.h")
    assert {m for f, m in spelled if f in table} == set(messages)
    # the one exception: 1.0 to 1.2's audit trigger in C, kept for databases
    # not yet updated
    others = {(f, m) for f, m in spelled if f not in table}
    assert others == {("src/pg/triggers.c", r"cannot be changed")}, others
    made = read(PARTS["registry-errors"])
    assert all(re.search(m.replace("[%{][sn]?a?m?e?}?", "%1\\$s"), made) for m in messages), made
