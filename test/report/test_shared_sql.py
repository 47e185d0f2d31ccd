"""The SQL of both PostgreSQL modes is put together from the parts in
src/pg/sql/ and src/managed/sql/ (mk/pg.mk, mk/gateway.mk): the tables and the reports are one
file each, used by the extension's install and upgrade scripts and by
managed mode's new schema and migration."""

import os
import re

import pytest

from conftest import REPO

FOLDERS = [os.path.join(REPO, "src", "pg", "sql"), os.path.join(REPO, "src", "managed", "sql")]
# every part but the scripts of released versions, kept as they shipped
PARTS = {f[:-4]: os.path.join(d, f) for d in FOLDERS for f in os.listdir(d)
         if f.endswith(".sql") and not f.startswith("predict--")}
BUILT = {
    "build/sql/predict--1.2.sql": ["extension-header", "extension-schema", "tables", "extension", "untyped", "report",
                                   "extension-backup", "extension-grants"],
    "build/sql/predict--1.1--1.2.sql": ["extension-header", "extension--1.1--1.2", "report"],
    "build/gateway/managed.sql": ["managed-schema", "tables", "managed", "untyped", "managed-constraints", "report"],
    "build/gateway/managed--1.0--1.1.sql": ["managed-schema", "managed--1.0--1.1", "managed", "untyped", "report"],
    "build/gateway/managed--1.1.sql": ["managed-schema", "managed", "untyped", "report"],
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
                                  "predict_report_psi", "predict_report_bins", "predict_report_daily"])
def test_every_public_report_function_is_in_the_shared_part(name):
    assert "FUNCTION @extschema@.%s(" % name in read(PARTS["report"])
